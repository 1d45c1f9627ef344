//! Symbolic energies against the hand-written families on the same model:
//! Gaussian d=16 and ICA (log cosh) d=16, B=4096, fused energy + score +
//! Hessian diagonal, and the score-matching parameter gradient.
//! The bar of the symbolic issue: the compiled program within 2× of the
//! hand-written code on energy + score + Hessian diagonal.

use criterion::{BenchmarkId, Criterion, Throughput};
use ebm_bench::summary::{register, Backend, Case};
use ebm_core::prelude::*;
use ebm_core::sym::SymEnergy;
use ebm_core::{Gaussian, Ica, Real, Source};

const GAUSSIAN: &str = "energy(x[d]; mu[d], L[d,d] lower) = \
    0.5 * sum(j, 0..d, square(sum(i, j..d, L[i,j] * (x[i] - mu[i]))))";
const ICA: &str = "energy(x[d]; W[K,d]) = sum(k, 0..K, logcosh(sum(i, 0..d, W[k,i] * x[i])))";

const D: usize = 16;
const B: usize = 4096;

const HESS: &str = "sym_vs_hand_energy_score_hess_diag";
const GRAD_SM: &str = "sym_vs_hand_grad_params_sm";

/// The bench-ID function part: model, d and precision.
fn function<T: Real>(model: &str) -> String {
    format!("{model}_d{D}_{}", T::NAME)
}

/// Registers one case for the summary (the symbolic case against its
/// hand-written twin; no FLOP model) and returns its bench-ID parameter.
fn record<T: Real>(group: &str, model: &str, label: &str) -> String {
    let parameter = format!("{label}_B{B}");
    register(Case {
        group: group.into(),
        function: function::<T>(model),
        parameter: parameter.clone(),
        b: B,
        flops: None,
        backend: if T::NAME == "f64" { Backend::CpuF64 } else { Backend::CpuF32 },
        gpu_roof: None,
        twin: (label == "sym")
            .then(|| (group.into(), function::<T>(model), format!("hand_B{B}"), "symbolic vs hand-written")),
    });
    parameter
}

/// The size policy's timing (`ebm_bench::policy::timing`), 20 samples
/// outside the quick mode.
fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let (samples, warm_up, measure, resamples) = ebm_bench::policy::timing();
    let samples = if ebm_bench::policy::quick() { samples } else { 20 };
    group.sample_size(samples).warm_up_time(warm_up).measurement_time(measure).nresamples(resamples);
}

fn pair<T: Real>(c: &mut Criterion, model: &str, hand: &dyn Model<T>, sym: &dyn Model<T>) {
    let x: Vec<T> = ebm_bench::normal_batch(3, B, D);
    let w = vec![T::from_f64(1.0 / B as f64); B];
    let (mut e, mut s, mut h) = (vec![T::zero(); B], vec![T::zero(); B * D], vec![T::zero(); B * D]);
    let mut g = vec![T::zero(); hand.num_params()];
    let mut group = c.benchmark_group(HESS);
    configure(&mut group);
    group.throughput(Throughput::Elements(B as u64));
    for (label, m) in [("hand", hand), ("sym", sym)] {
        let id = BenchmarkId::new(function::<T>(model), record::<T>(HESS, model, label));
        group.bench_function(id, |b| b.iter(|| m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).expect("hess")));
    }
    group.finish();
    let mut group = c.benchmark_group(GRAD_SM);
    configure(&mut group);
    group.throughput(Throughput::Elements(B as u64));
    for (label, m) in [("hand", hand), ("sym", sym)] {
        let id = BenchmarkId::new(function::<T>(model), record::<T>(GRAD_SM, model, label));
        group.bench_function(id, |b| b.iter(|| m.grad_params_sm(&x, &w, &mut g).expect("grad_sm")));
    }
    group.finish();
}

fn symbolic(c: &mut Criterion) {
    let sizes = [("d", D), ("K", D)];
    let gauss = Gaussian::<f64>::init(D, 11).expect("gaussian");
    let gauss_sym = SymEnergy::<f64>::parse_with(GAUSSIAN, &sizes, gauss.params()).expect("gaussian formula");
    let ica = Ica::<f64>::init(D, D, Source::LogCosh, 12).expect("ica");
    let ica_sym = SymEnergy::<f64>::parse_with(ICA, &sizes, ica.params()).expect("ica formula");
    pair::<f32>(c, "gaussian", &gauss.cast::<f32>(), &gauss_sym.cast::<f32>());
    pair::<f64>(c, "gaussian", &gauss, &gauss_sym);
    pair::<f32>(c, "ica_logcosh", &ica.cast::<f32>(), &ica_sym.cast::<f32>());
    pair::<f64>(c, "ica_logcosh", &ica, &ica_sym);
}

fn main() {
    ebm_bench::main_job::main_job("symbolic", symbolic);
}
