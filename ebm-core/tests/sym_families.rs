//! Symbolic formulas of the hand-written families agree with them on every
//! output: energy, score, Hessian diagonal and the three parameter
//! gradients, in f64 (tight) and f32 (loose), with the **same flat θ** (the
//! `sym` layout of `mu[d], L[d,d] lower` etc. is the families' layout).

mod common;

use common::Twins;
use ebm_core::prelude::*;
use ebm_core::testing::{SumRef, Tolerance};
use ebm_core::Real;

/// Compares every output of `a` and `b` at the batch `x`.
fn agree<T: Real>(what: &str, a: &dyn Model<T>, b: &dyn Model<T>, x: &[f64], v: &[f64], w: &[f64], tol: Tolerance) {
    assert_eq!(a.dim(), b.dim(), "{what}: dim");
    assert_eq!(a.num_params(), b.num_params(), "{what}: parameter count");
    Tolerance::new(0.0, 0.0).assert_all_close(&format!("{what}: θ"), a.params(), b.params());
    let (d, n) = (a.dim(), w.len());
    let p = a.num_params();
    let c = |s: &[f64]| s.iter().map(|&t| T::from_f64(t)).collect::<Vec<T>>();
    let (x, v, w) = (c(x), c(v), c(w));
    let z = |len| vec![T::zero(); len];
    let (mut ea, mut sa, mut ha) = (z(n), z(n * d), z(n * d));
    let (mut eb, mut sb, mut hb) = (z(n), z(n * d), z(n * d));
    a.energy_score_hess_diag(&x, &mut ea, &mut sa, &mut ha).unwrap();
    b.energy_score_hess_diag(&x, &mut eb, &mut sb, &mut hb).unwrap();
    tol.assert_all_close(&format!("{what}: energy"), &ea, &eb);
    tol.assert_all_close(&format!("{what}: score"), &sa, &sb);
    tol.assert_all_close(&format!("{what}: hess_diag"), &ha, &hb);
    let mut e1 = z(n);
    a.energy(&x, &mut e1).unwrap();
    tol.assert_all_close(&format!("{what}: energy()"), &e1, &eb);
    // The gradients are batch sums: a's against the sum of b's per-row
    // terms, relative to their magnitude.
    let row = |r: usize| r * d..(r + 1) * d;
    let per_row = |grad: &dyn Fn(usize, &mut [T])| SumRef::over_rows(n, p, grad);
    let mut ga = z(p);
    a.grad_params_energy(&x, &w, &mut ga).unwrap();
    let want = per_row(&|r, t| b.grad_params_energy(&x[row(r)], &w[r..r + 1], t).unwrap());
    tol.assert_sum_close(&format!("{what}: grad_params_energy"), &ga, &want);
    a.grad_params_v_dot_grad_x(&x, &v, &w, &mut ga).unwrap();
    let want = per_row(&|r, t| b.grad_params_v_dot_grad_x(&x[row(r)], &v[row(r)], &w[r..r + 1], t).unwrap());
    tol.assert_sum_close(&format!("{what}: grad_params_v_dot_grad_x"), &ga, &want);
    a.grad_params_sm(&x, &w, &mut ga).unwrap();
    let want = per_row(&|r, t| b.grad_params_sm(&x[row(r)], &w[r..r + 1], t).unwrap());
    tol.assert_sum_close(&format!("{what}: grad_params_sm"), &ga, &want);
}

/// Every hand-written family against its `sym` twin, in f64 (tight) and f32.
#[test]
fn twins_agree_with_the_families() {
    let (tol64, tol32) = (Tolerance::new(1e-10, 1e-10), Tolerance::new(1e-4, 1e-4));
    Twins { agree64: agree::<f64>, agree32: agree::<f32>, tol64, tol32 }.all();
}
