//! Σᵦ wᵦ∇θ(vᵦᵀ∇ₓE(xᵦ)) and Σᵦ wᵦ∇θ𝒥(xᵦ) (seed eq 12–13) on the device
//! against the f64 CPU twins, at the usual batch sizes: the MLP at several
//! shapes and activations and with the launches split by a small loop
//! budget, the Gaussian, ICA, RBM and mixture families, the ReLU error,
//! and a budget too small for one sample (refused, or the opt-in CPU twin).

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::testing::SumRef;
use ebm_kernels::{Fallback, GpuDevice, GpuEnergy, GpuFamily, MlpKernels, Op, Placement};

/// Which gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Vdx,
    Sm,
}

/// Fresh seeded x, v (normal) and weights (uniform in [−1, 1): SSM and LSD
/// use negative weights) for `b` samples.
fn inputs(seed: u64, b: usize, d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = common::normal32(seed, b * d);
    let v = common::normal32(seed + 1, b * d);
    let w = common::uniform32(seed + 2, b, -1.0, 1.0);
    (x, v, w)
}

/// Runs `which` on the GPU (f32) and on the f64 twin `m64`; returns (got,
/// want), want as the sum of the twin's per-row terms.
fn run<M: GpuFamily, C: Model<f64>>(
    gpu: &GpuEnergy<M>,
    m64: &C,
    which: Which,
    x: &[f64],
    v: &[f64],
    w: &[f64],
) -> (Vec<f32>, SumRef) {
    let (d, p) = (m64.dim(), m64.num_params());
    let mut got = vec![f32::NAN; p];
    let want = match which {
        Which::Vdx => {
            gpu.grad_params_v_dot_grad_x(&common::to32(x), &common::to32(v), &common::to32(w), &mut got).unwrap();
            common::sum_of_rows(d, p, x, v, w, |x, v, w, g| m64.grad_params_v_dot_grad_x(x, v, w, g).unwrap())
        }
        Which::Sm => {
            gpu.grad_params_sm(&common::to32(x), &common::to32(w), &mut got).unwrap();
            common::sum_of_rows(d, p, x, &[], w, |x, _, w, g| m64.grad_params_sm(x, w, g).unwrap())
        }
    };
    (got, want)
}

/// Reduction length of one sample's gradient: a few sweeps through the
/// widest layer per layer (and, for 𝒥, over the d coordinates).
fn reduce_len(m: &Mlp<f32>, which: Which) -> usize {
    let dims = m.dims();
    let w = dims.iter().copied().max().unwrap();
    let per = w * (dims.len() + 1);
    if which == Which::Sm {
        per * (dims[0] + 1)
    } else {
        per
    }
}

fn check(dev: &GpuDevice, which: Which, m: &Mlp<f32>, budget: Option<Option<u64>>, seed: u64, batches: &[usize]) {
    let d = m.dim();
    let label = format!("{which:?} mlp d={d} {:?} {} budget {budget:?}", m.hidden(), m.activation());
    for (k, &b) in batches.iter().enumerate() {
        // The tiled MLP kernels have no loop-budget split: these are the
        // one-thread-per-sample kernels (the tiled ones: tests/objectives.rs).
        let mut gpu = GpuEnergy::with_mlp_kernels(dev, m.clone(), MlpKernels::PerSample).unwrap();
        if let Some(bud) = budget {
            gpu = gpu.with_loop_budget(bud);
        }
        check_batch(dev, &gpu, &m.cast::<f64>(), which, &label, b, seed * 100 + 10 * k as u64, reduce_len(m, which));
    }
}

/// `which` on `gpu` against `m64` for `b` samples of data seed `s`: the
/// per-sample gradients summed over the batch, against the terms'
/// magnitude (common::assert_sum; `reduce` is one sample's reduction
/// length).
#[allow(clippy::too_many_arguments)]
fn check_batch<M: GpuFamily, C: Model<f64>>(
    dev: &GpuDevice,
    gpu: &GpuEnergy<M>,
    m64: &C,
    which: Which,
    label: &str,
    b: usize,
    s: u64,
    reduce: usize,
) {
    let (x, v, w) = inputs(s, b, m64.dim());
    let (got, want) = run(gpu, m64, which, &x, &v, &w);
    assert!(common::max_abs(&want.sum) > 0.0, "{label}: the reference gradient is zero");
    common::assert_sum(&format!("{label} B={b} on {}", dev.info().label()), &got, &want, 1e-6, reduce + 16);
}

fn shapes() -> Vec<Mlp<f32>> {
    [
        (3usize, vec![5usize], Activation::Softplus),
        (4, vec![8, 6], Activation::Tanh),
        (2, vec![7, 3, 5], Activation::GeluTanh),
        (5, vec![6, 9], Activation::Silu),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (d, h, a))| Mlp::<f32>::init(d, &h, a, 11 + i as u64).unwrap())
    .collect()
}

#[test]
fn grad_params_v_dot_grad_x_matches_cpu_for_mlp_on_default_adapter() {
    let dev = common::device("grad_params_v_dot_grad_x_matches_cpu_for_mlp_on_default_adapter");
    let mut ms = shapes();
    ms.push(Mlp::<f32>::init(3, &[6, 4], Activation::Relu, 21).unwrap());
    for (i, m) in ms.iter().enumerate() {
        check(&dev, Which::Vdx, m, None, 1 + i as u64, &common::BATCHES);
    }
}

#[test]
fn grad_params_sm_matches_cpu_for_mlp_on_default_adapter() {
    let dev = common::device("grad_params_sm_matches_cpu_for_mlp_on_default_adapter");
    for (i, m) in shapes().iter().enumerate() {
        check(&dev, Which::Sm, m, None, 11 + i as u64, &common::BATCHES);
    }
}

#[test]
fn param_grads_split_by_a_loop_budget_match_cpu_on_default_adapter() {
    // 2 700 planned iterations: the 4 099 rows are reduced in two chunks,
    // and the 𝒥 rows of d = 6 are cut into coordinate ranges.
    let dev = common::device("param_grads_split_by_a_loop_budget_match_cpu_on_default_adapter");
    let m = Mlp::<f32>::init(6, &[8, 6], Activation::Softplus, 31).unwrap();
    for which in [Which::Vdx, Which::Sm] {
        check(&dev, which, &m, Some(Some(3000)), 41, &[7, 4099]);
    }
    // On the adapter's own budget (65 536 on llvmpipe), a model whose 𝒥
    // rows run about 110 000 loop iterations per sample: one launch would be
    // truncated there (this test fails with `Some(None)` below), the
    // planned coordinate ranges are not.
    let big = Mlp::<f32>::init(16, &[64, 48], Activation::Tanh, 33).unwrap();
    let on = GpuEnergy::with_mlp_kernels(&dev, big.clone(), MlpKernels::PerSample).unwrap();
    assert_eq!((on.placement(Op::GradVDotGradX), on.placement(Op::GradSm)), (Placement::Device, Placement::Device));
    for which in [Which::Vdx, Which::Sm] {
        check(&dev, which, &big, None, 43, &[7, 1000]);
    }
    // Too small for one sample: refused by default; the CPU twin serves it
    // (same result, recorded) when asked to.
    let per_sample = || GpuEnergy::with_mlp_kernels(&dev, m.clone(), MlpKernels::PerSample).unwrap();
    let refuse = per_sample().with_loop_budget(Some(500));
    let gpu = per_sample().with_loop_budget(Some(500)).with_fallback(Fallback::CpuTwin);
    let (x, v, w) = inputs(51, 9, 6);
    let (x, v, w) = (common::to32(&x), common::to32(&v), common::to32(&w));
    let mut g = vec![0f32; m.num_params()];
    let err = refuse.grad_params_v_dot_grad_x(&x, &v, &w, &mut g).unwrap_err();
    assert!(common::not_on_device(&err).is_some(), "{err}");
    let err = refuse.grad_params_sm(&x, &w, &mut g).unwrap_err();
    assert!(common::not_on_device(&err).is_some(), "{err}");
    common::assert_param_grads_are_the_twins(&gpu, &m, &x, &v, &w);
    assert_eq!(gpu.fallbacks().len(), 2, "{:?}", gpu.fallbacks());
}

#[test]
fn param_grad_errors_match_the_cpu_twin_on_default_adapter() {
    let dev = common::device("param_grad_errors_match_the_cpu_twin_on_default_adapter");
    let relu = Mlp::<f32>::init(3, &[4], Activation::Relu, 2).unwrap();
    let gpu = GpuEnergy::new(&dev, relu.clone()).unwrap();
    let x = [0.5f32; 6];
    let (mut g, mut c) = (vec![0f32; relu.num_params()], vec![0f32; relu.num_params()]);
    assert_eq!(
        gpu.grad_params_sm(&x, &[1.0; 2], &mut g).unwrap_err(),
        relu.grad_params_sm(&x, &[1.0; 2], &mut c).unwrap_err()
    );
    let m = Mlp::<f32>::init(3, &[4], Activation::Tanh, 2).unwrap();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let bad_v = [0.0f32, f32::NEG_INFINITY, 0.0, 0.0, 0.0, 0.0];
    for (v, w) in
        [(&[0.0f32; 5][..], &[1.0f32; 2][..]), (&bad_v[..], &[1.0; 2][..]), (&[0.0; 6][..], &[1.0, f32::INFINITY][..])]
    {
        assert_eq!(
            gpu.grad_params_v_dot_grad_x(&x, v, w, &mut g).unwrap_err(),
            m.grad_params_v_dot_grad_x(&x, v, w, &mut c).unwrap_err()
        );
    }
    assert_eq!(gpu.grad_params_sm(&x, &[1.0], &mut g).unwrap_err(), m.grad_params_sm(&x, &[1.0], &mut c).unwrap_err());
    assert_eq!(
        gpu.grad_params_sm(&x, &[1.0; 2], &mut g[1..]).unwrap_err(),
        m.grad_params_sm(&x, &[1.0; 2], &mut c[1..]).unwrap_err()
    );
}

/// `which` of a family model against its f64 twin at every batch size
/// (`reduce`: the reduction length of one sample's row).
fn check_family<M: GpuFamily, C: Model<f64>>(
    dev: &GpuDevice,
    which: Which,
    label: &str,
    m32: M,
    m64: &C,
    seed: u64,
    reduce: usize,
) {
    for (b, s) in common::seeded_batches(seed) {
        let gpu = GpuEnergy::new(dev, m32.clone()).unwrap();
        check_batch(dev, &gpu, m64, which, &format!("{which:?} {label}"), b, s, reduce);
    }
}

#[test]
fn param_grads_match_cpu_for_gaussian_ica_rbm_on_default_adapter() {
    let dev = common::device("param_grads_match_cpu_for_gaussian_ica_rbm_on_default_adapter");
    for which in [Which::Vdx, Which::Sm] {
        // Gaussian: random μ and L with diagonals away from zero.
        let d = 5;
        let mut p = common::uniform32(60, d, -1.0, 1.0);
        let mut l = common::uniform32(61, d * (d + 1) / 2, -0.4, 0.4);
        for i in 0..d {
            l[i * (i + 1) / 2 + i] = if i % 2 == 0 { 0.8 + 0.1 * i as f64 } else { -1.1 };
        }
        p.extend(l);
        let g64 = Gaussian::<f64>::new(d, p.clone()).unwrap();
        check_family(&dev, which, "gaussian d=5", Gaussian::<f32>::new(d, common::to32(&p)).unwrap(), &g64, 61, 3 * d);
        for (i, src) in [Source::LogCosh, Source::Logistic, Source::StudentT].into_iter().enumerate() {
            let (d, k) = (4, 6);
            let mut p = common::uniform32(70 + i as u64, k * d, -1.0, 1.0);
            if src == Source::StudentT {
                p.extend(common::uniform32(75 + i as u64, k, 1.0, 3.0));
            }
            let i64_ = Ica::<f64>::new(d, k, src, p.clone()).unwrap();
            let i32_ = Ica::<f32>::new(d, k, src, common::to32(&p)).unwrap();
            check_family(&dev, which, &format!("ica {src:?}"), i32_, &i64_, 71 + i as u64, 3 * k * d);
        }
        let (d, h) = (4, 6);
        let mut p = common::uniform32(80, d + h, -0.5, 0.5);
        p.extend(common::uniform32(81, h * d, -0.6, 0.6));
        p.extend(common::uniform32(82, d, -0.3, 0.3));
        let r64 = GaussBernoulliRbm::<f64>::new(d, h, p.clone()).unwrap();
        let r32 = GaussBernoulliRbm::<f32>::new(d, h, common::to32(&p)).unwrap();
        check_family(&dev, which, "rbm", r32, &r64, 83, 3 * h * d);
    }
}

#[test]
fn param_grads_match_cpu_for_mixtures_on_default_adapter() {
    let dev = common::device("param_grads_match_cpu_for_mixtures_on_default_adapter");
    let (d, k) = (4, 3);
    for which in [Which::Vdx, Which::Sm] {
        for (ci, cov) in [Covariance::Full, Covariance::Diagonal].into_iter().enumerate() {
            // Means within the data's range so that several components share
            // each sample (γ away from 0 and 1).
            let mut p = common::uniform32(90 + ci as u64, k, -1.0, 1.0);
            p.extend(common::uniform32(91 + ci as u64, k * d, -1.0, 1.0));
            let fl = cov.factor_len(d);
            for c in 0..k {
                let mut f = common::uniform32(92 + 10 * ci as u64 + c as u64, fl, -0.3, 0.3);
                if cov == Covariance::Full {
                    for i in 0..d {
                        f[i * (i + 1) / 2 + i] = if i % 2 == 0 { 1.0 + 0.1 * c as f64 } else { -0.8 };
                    }
                }
                p.extend(f);
            }
            let m64 = GaussianMixture::<f64>::new(d, k, cov, p.clone()).unwrap();
            let m32 = GaussianMixture::<f32>::new(d, k, cov, common::to32(&p)).unwrap();
            check_family(&dev, which, &format!("mixture {cov:?}"), m32, &m64, 95 + ci as u64, 4 * k * d * d);
        }
    }
}
