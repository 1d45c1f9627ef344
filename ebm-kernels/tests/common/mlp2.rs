//! Helpers shared by `tests/mlp2.rs` and `tests/mlp2_more.rs`: the model
//! pair, the reduction length behind the relative tolerances, and the
//! gradient check against T_p = Σ_b |w_b ∂_p f(x_b)|.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_kernels::mlp2::Mlp2;
use ebm_kernels::GpuDevice;

/// f32 unit roundoff.
pub const U: f64 = 1.0 / 16_777_216.0;

/// Relative tolerance per unit of reduction length of the forward and
/// backward passes (as `tests/mlp.rs`).
pub const RTOL: f64 = 1e-6;

/// The widest layer times the number of layers: the reduction length of
/// the forward and backward passes.
pub fn reduce_len(d: usize, hidden: &[usize]) -> usize {
    let w = hidden.iter().copied().chain([d]).max().unwrap();
    w * (hidden.len() + 1)
}

/// The f32 model of `seed` and its f64 cast (same θ).
pub fn models(d: usize, hidden: &[usize], act: Activation, seed: u64) -> (Mlp<f32>, Mlp<f64>) {
    let m32 = Mlp::<f32>::init(d, hidden, act, seed).unwrap();
    let m64 = m32.cast::<f64>();
    (m32, m64)
}

/// Per-sample gradient rows of `f` (the CPU twin on one sample at a time,
/// weight 1): returns (Σ w_b g_b in f64, T_p = Σ |w_b g_b,p|).
pub fn reference_sum(
    m64: &Mlp<f64>,
    w: &[f64],
    mut f: impl FnMut(&Mlp<f64>, usize, &mut [f64]),
) -> (Vec<f64>, Vec<f64>) {
    let p = m64.params().len();
    let (mut sum, mut abs) = (vec![0.0; p], vec![0.0; p]);
    let mut row = vec![0.0; p];
    for (b, &wb) in w.iter().enumerate() {
        f(m64, b, &mut row);
        for ((s, a), &g) in sum.iter_mut().zip(abs.iter_mut()).zip(&row) {
            *s += wb * g;
            *a += (wb * g).abs();
        }
    }
    (sum, abs)
}

/// Worst |got − want| / (rel·(T_p + 0.01·max_q T_q)) and panics past 1: the
/// floor covers parameters whose per-sample terms come from cancelling sums.
pub fn check_grad(label: &str, got: &[f32], want: &[f64], terms: &[f64], rel: f64) -> f64 {
    let tmax = terms.iter().copied().fold(0.0, f64::max);
    let mut worst = 0.0f64;
    for (p, ((&g, &w), &t)) in got.iter().zip(want).zip(terms).enumerate() {
        let tol = rel * (t + 1e-2 * tmax);
        let r = (g as f64 - w).abs() / tol;
        assert!(r <= 1.0, "{label}: grad[{p}] got {g:e} want {w:e} (T_p {t:e}, tol {tol:e}); {} params", got.len());
        worst = worst.max(r);
    }
    worst
}

/// One check of an `Mlp2` op against the f64 twin: (label, device model,
/// twin, B, data seed) → the worst error / tolerance (panicking past 1).
pub type Check = fn(&str, &Mlp2, &Mlp<f64>, usize, u64) -> f64;

/// `check` on each of `shapes` (d, hidden widths, activation; the model of
/// shape i from seed `model_seed + i`) at each of `batches` (batch k with
/// data seed `seed + 10·i + k`); returns the worst error / tolerance.
pub fn over_shapes(
    dev: &GpuDevice,
    shapes: &[(usize, &[usize], Activation)],
    batches: &[usize],
    model_seed: u64,
    seed: u64,
    check: Check,
) -> f64 {
    let mut worst = 0.0f64;
    for (i, &(d, hidden, act)) in shapes.iter().enumerate() {
        let (m32, m64) = models(d, hidden, act, model_seed + i as u64);
        let gpu = Mlp2::new(dev, &m32).unwrap();
        let label = format!("d={d} hidden={hidden:?} {act}");
        for (k, &b) in batches.iter().enumerate() {
            worst = worst.max(check(&label, &gpu, &m64, b, seed + 10 * i as u64 + k as u64));
        }
    }
    worst
}

/// The two MLP shapes of the bench that the gradient checks run: d = 64,
/// [256, 256] softplus and d = 16, [1024] gelu-tanh.
pub const BENCH_SHAPES: [(usize, &[usize], Activation); 2] =
    [(64, &[256, 256], Activation::Softplus), (16, &[1024], Activation::GeluTanh)];

/// `checks` on the [`BENCH_SHAPES`] at small batches (lavapipe is slow):
/// the model of shape i from seed `model_seed + i`, check c at batch
/// `batches[i][c]` with data seed `seed + 2·i + c`.
pub fn on_bench_shapes(dev: &GpuDevice, model_seed: u64, seed: u64, checks: [Check; 2], batches: [[usize; 2]; 2]) {
    for (i, &(d, hidden, act)) in BENCH_SHAPES.iter().enumerate() {
        let (m32, m64) = models(d, hidden, act, model_seed + i as u64);
        let gpu = Mlp2::new(dev, &m32).unwrap();
        let label = format!("d={d} hidden={hidden:?} {act}");
        for (c, check) in checks.iter().enumerate() {
            check(&label, &gpu, &m64, batches[i][c], seed + 2 * i as u64 + c as u64);
        }
    }
}
