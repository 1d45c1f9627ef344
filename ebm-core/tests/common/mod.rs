//! Shared by the symbolic-twin tests: the formulas of the hand-written
//! families (their `sym` layouts are the families' flat θ) and a seeded
//! batch (x, v, weights).
#![allow(dead_code)]

use ebm_core::prelude::*;
use ebm_core::testing::{normal_vec, uniform_vec, SumRef, Tolerance};

// Not every test binary that includes this module uses the formulas.
#[allow(unused_imports)]
pub use ebm_core::testing::formulas::{ica_src, GAUSS as GAUSSIAN, MIXTURE as MIXTURE_DIAG, MIXTURE_FULL};

/// The batched vᵀ∇ₓ²E v and its θ-gradient of `m` (d = `d`) against the
/// same one row at a time: `same_row(n, row value, batched value)` checks
/// each row, and the gradient (its buffer filled with `g0` first, to show
/// it is overwritten) is the sum of the per-row gradients.
#[allow(clippy::too_many_arguments)]
pub fn check_batched_rows<M: Model<f64> + ?Sized>(
    m: &M,
    label: &str,
    d: usize,
    x: &[f64],
    v: &[f64],
    w: &[f64],
    g0: f64,
    same_row: impl Fn(usize, f64, f64),
) {
    let (b, np) = (w.len(), m.num_params());
    let mut q = vec![0.0; b];
    m.v_hess_v(x, v, &mut q).unwrap();
    let mut g = vec![g0; np];
    m.grad_params_v_hess_v(x, v, w, &mut g).unwrap();
    let mut want = SumRef::zeros(np);
    let (mut q1, mut g1) = ([0.0], vec![0.0; np]);
    for n in 0..b {
        let (xr, vr) = (&x[n * d..(n + 1) * d], &v[n * d..(n + 1) * d]);
        m.v_hess_v(xr, vr, &mut q1).unwrap();
        same_row(n, q1[0], q[n]);
        m.grad_params_v_hess_v(xr, vr, &w[n..n + 1], &mut g1).unwrap();
        want.add(&g1);
    }
    // A batch sum: against the magnitude of its terms, not grown with B.
    Tolerance::new(1e-13, 0.0).assert_sum_close(&format!("{label}: batched gradient"), &g, &want);
}

/// A seeded batch: x (scaled normals), v (normals) and weights in [−0.5, 1).
pub fn batch(seed: u64, b: usize, d: usize, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = normal_vec(seed, b * d).iter().map(|v| v * scale).collect();
    (x, normal_vec(seed + 1, b * d), uniform_vec(seed + 2, b, -0.5, 1.0))
}
