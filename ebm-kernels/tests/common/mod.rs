//! Shared test helpers: the adapter under test (from `EBM_ADAPTER`, the
//! default otherwise), which fails loudly with the install hint when there is
//! none, and seeded random data.
#![allow(dead_code)]

pub mod mlp2;

use ebm_core::prelude::*;
use ebm_kernels::GpuDevice;

/// The adapter under test. Panics (fails the test) with the install hint
/// when there is none: a GPU test never passes without running.
pub fn device(test: &str) -> GpuDevice {
    match GpuDevice::from_env() {
        Ok(d) => {
            eprintln!("[{test}] adapter {}", d.info());
            d
        }
        Err(e) => panic!("[{test}] no GPU adapter to run on: {e}"),
    }
}

/// The batch sizes every kernel is checked at (none a multiple of the
/// workgroup size but 1).
pub const BATCHES: [usize; 4] = [1, 7, 1000, 4099];

/// The [`BATCHES`], each with its data seed `seed·100 + 10·k` (k its
/// index).
pub fn seeded_batches(seed: u64) -> impl Iterator<Item = (usize, u64)> {
    BATCHES.into_iter().enumerate().map(move |(k, b)| (b, seed * 100 + 10 * k as u64))
}

/// Small MLPs of every smooth activation that the curvature kernels are
/// checked on: (d, hidden widths, activation).
pub const SMOOTH_MLPS: [(usize, &[usize], ebm_core::mlp::Activation); 4] = [
    (3, &[5], ebm_core::mlp::Activation::Softplus),
    (4, &[8, 6], ebm_core::mlp::Activation::Tanh),
    (2, &[7, 3, 5], ebm_core::mlp::Activation::GeluTanh),
    (5, &[6, 9], ebm_core::mlp::Activation::Silu),
];

/// q = vᵦᵀ∇ₓ²E(xᵦ)vᵦ of `b` standard-normal samples x and directions v of
/// d values (data seeds `s` and `s + 1`) from the f64 reference `cpu` and
/// the f32 device path `gpu` (its output starting as NaN): (want, got).
pub fn vhv_outputs(
    b: usize,
    d: usize,
    s: u64,
    cpu: impl Fn(&[f64], &[f64], &mut [f64]) -> ebm_core::Result<()>,
    gpu: impl Fn(&[f32], &[f32], &mut [f32]) -> ebm_core::Result<()>,
) -> (Vec<f64>, Vec<f32>) {
    let (x, v) = (normal32(s, b * d), normal32(s + 1, b * d));
    let mut want = vec![0.0f64; b];
    cpu(&x, &v, &mut want).unwrap();
    let mut got = vec![f32::NAN; b];
    gpu(&to32(&x), &to32(&v), &mut got).unwrap();
    (want, got)
}

/// ∇θ(vᵀ∇ₓE) and ∇θ𝒥 of `gpu` at (x, v, w) are those of `twin` bit for
/// bit (a device path that hands the work to its CPU twin).
pub fn assert_param_grads_are_the_twins(
    gpu: &impl Model<f32>,
    twin: &impl Model<f32>,
    x: &[f32],
    v: &[f32],
    w: &[f32],
) {
    let p = twin.num_params();
    let (mut g, mut c) = (vec![0f32; p], vec![0f32; p]);
    gpu.grad_params_v_dot_grad_x(x, v, w, &mut g).unwrap();
    twin.grad_params_v_dot_grad_x(x, v, w, &mut c).unwrap();
    assert_eq!(g, c);
    gpu.grad_params_sm(x, w, &mut g).unwrap();
    twin.grad_params_sm(x, w, &mut c).unwrap();
    assert_eq!(g, c);
}

/// Uniform f64 values in [lo, hi), rounded to f32 and back (so the f64
/// reference sees exactly the GPU's inputs).
pub fn uniform32(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    ebm_core::testing::uniform_vec(seed, n, lo, hi).into_iter().map(|v| v as f32 as f64).collect()
}

/// Standard normals rounded to f32 and back.
pub fn normal32(seed: u64, n: usize) -> Vec<f64> {
    ebm_core::testing::normal_vec(seed, n).into_iter().map(|v| v as f32 as f64).collect()
}

/// f64 → f32.
pub fn to32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

/// The largest |v|.
pub fn max_abs<T: Copy + Into<f64>>(v: &[T]) -> f64 {
    v.iter().map(|&a| a.into().abs()).fold(0.0, f64::max)
}

use ebm_core::testing::{SumRef, Tolerance};

/// Which outputs to compare.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Relative tolerance per unit of reduction length.
    pub rtol: f64,
    /// Reduction length of the energy / score / Hessian computations.
    pub reduce: usize,
}

/// A tolerance for an output vector: relative `rtol`, plus an absolute part
/// `rtol · max|want|` (so values that cancel to near zero are judged on the
/// scale of the vector), grown with the reduction length.
pub fn tol_for(rtol: f64, reduce: usize, want: &[f64]) -> Tolerance {
    Tolerance::new(rtol, rtol * max_abs(want).max(1e-30)).grown(reduce)
}

/// Largest error of `got` against `want` in units of `tol` (≤ 1 passes; NaN
/// and a length mismatch count as infinite).
pub fn worst(got: &[f32], want: &[f64], tol: &Tolerance) -> f64 {
    tol.worst_ratio(got, want)
}

/// Compares every output of `gpu` with the f64 twin `cpu` at `x` (f32-exact
/// values): energy, then energy+score, then energy+score+Hessian diagonal.
pub fn check_outputs<G: Model<f32>, C: Model<f64>>(
    label: &str,
    gpu: &G,
    cpu: &C,
    x: &[f64],
    rtol: f64,
    reduce: usize,
    with_hess: bool,
) {
    let d = cpu.dim();
    let b = x.len() / d;
    let x32 = to32(x);
    let (mut e6, mut s6, mut h6) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    if with_hess {
        cpu.energy_score_hess_diag(x, &mut e6, &mut s6, &mut h6).expect("cpu");
    } else {
        cpu.energy_score(x, &mut e6, &mut s6).expect("cpu");
    }
    let te = tol_for(rtol, reduce, &e6);
    let ts = tol_for(rtol, reduce, &s6);
    let th = tol_for(rtol, reduce, &h6);

    let mut e = vec![f32::NAN; b];
    gpu.energy(&x32, &mut e).expect("gpu energy");
    te.assert_all_close(&format!("{label} B={b}: energy (energy-only kernel)"), &e, &e6);

    let (mut e, mut s) = (vec![f32::NAN; b], vec![f32::NAN; b * d]);
    gpu.energy_score(&x32, &mut e, &mut s).expect("gpu energy_score");
    te.assert_all_close(&format!("{label} B={b}: energy (energy+score kernel)"), &e, &e6);
    ts.assert_all_close(&format!("{label} B={b}: score (energy+score kernel)"), &s, &s6);
    let mut report =
        format!("{label} B={b}: worst/tol energy {:.3} score {:.3}", worst(&e, &e6, &te), worst(&s, &s6, &ts));

    if with_hess {
        let (mut e, mut s, mut h) = (vec![f32::NAN; b], vec![f32::NAN; b * d], vec![f32::NAN; b * d]);
        gpu.energy_score_hess_diag(&x32, &mut e, &mut s, &mut h).expect("gpu hess");
        te.assert_all_close(&format!("{label} B={b}: energy (fused hess kernel)"), &e, &e6);
        ts.assert_all_close(&format!("{label} B={b}: score (fused hess kernel)"), &s, &s6);
        th.assert_all_close(&format!("{label} B={b}: hess_diag (fused hess kernel)"), &h, &h6);
        report += &format!(" hess {:.3}", worst(&h, &h6, &th));
    }
    eprintln!("{report}");
}

/// The refusal inside `err`, if it is one: a [`ebm_kernels::KernelError::NotOnDevice`]
/// kept as the source of `EbmError::Backend` (not flattened into a string).
pub fn not_on_device(err: &ebm_core::EbmError) -> Option<ebm_kernels::NotOnDevice> {
    match err {
        ebm_core::EbmError::Backend(b) => match b.inner().downcast_ref::<ebm_kernels::KernelError>() {
            Some(ebm_kernels::KernelError::NotOnDevice(n)) => Some(n.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The reference of a batch sum Σ_b t_b over `b` rows of d coordinates:
/// `term(x_b, v_b, w_b, out)` writes row b's term (its θ-gradient with the
/// one-row weight `w_b`), in f64. `v` may be empty.
pub fn sum_of_rows(
    d: usize,
    p: usize,
    x: &[f64],
    v: &[f64],
    w: &[f64],
    term: impl Fn(&[f64], &[f64], &[f64], &mut [f64]),
) -> SumRef {
    let rows = |r: usize| r * d..(r + 1) * d;
    SumRef::over_rows(w.len(), p, |r, out| {
        let vr = if v.is_empty() { &[][..] } else { &v[rows(r)] };
        term(&x[rows(r)], vr, &w[r..r + 1], out)
    })
}

/// Checks a batch sum computed on the device against its per-row reference
/// with [`SumRef::tolerance`] at `rtol·reduce`: `reduce` is the reduction
/// length of one sample's term (its f32 rounding relative to the sample's
/// scale); the sum's own rounding is bounded by the terms' magnitude
/// Σ_b|t_b|, whatever the order of the adds. Nothing grows with B.
#[track_caller]
pub fn assert_sum(what: &str, got: &[f32], want: &SumRef, rtol: f64, reduce: usize) {
    want.tolerance(rtol * reduce.max(1) as f64).assert_sum_close(what, got, want);
}
