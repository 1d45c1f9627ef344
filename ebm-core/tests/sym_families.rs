//! Symbolic formulas of the hand-written families agree with them on every
//! output: energy, score, Hessian diagonal and the three parameter
//! gradients, in f64 (tight) and f32 (loose), with the **same flat θ** (the
//! `sym` layout of `mu[d], L[d,d] lower` etc. is the families' layout).

mod common;

use common::{batch, ica_src, GAUSSIAN, MIXTURE_DIAG, MIXTURE_FULL};
use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::prelude::*;
use ebm_core::sym::SymEnergy;
use ebm_core::testing::{uniform_vec, SumRef, Tolerance};
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
    let per_row = |grad: &dyn Fn(usize, &mut [T])| {
        let (mut t, mut sum) = (z(p), SumRef::zeros(p));
        for r in 0..n {
            grad(r, &mut t);
            sum.add(&t);
        }
        sum
    };
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

const F64: Tolerance = Tolerance::new(1e-10, 1e-10);
const F32: Tolerance = Tolerance::new(1e-4, 1e-4);

#[test]
fn gaussian_agrees_with_sym() {
    for (d, seed) in [(1usize, 1u64), (3, 2), (6, 3)] {
        let hand = Gaussian::<f64>::init(d, seed).unwrap();
        let sym = SymEnergy::<f64>::parse_with(GAUSSIAN, &[("d", d)], hand.params()).unwrap();
        for b in [1usize, 37, 130] {
            let (x, v, w) = batch(seed * 10 + b as u64, b, d, 1.5);
            agree(&format!("gaussian d={d} B={b}"), &sym, &hand, &x, &v, &w, F64);
        }
        let (x, v, w) = batch(seed + 99, 50, d, 1.0);
        agree(&format!("gaussian f32 d={d}"), &sym.cast::<f32>(), &hand.cast::<f32>(), &x, &v, &w, F32);
    }
}

#[test]
fn ica_agrees_with_sym() {
    for source in [Source::LogCosh, Source::Logistic, Source::StudentT] {
        for (d, k, seed) in [(2usize, 3usize, 4u64), (4, 4, 5), (5, 2, 6)] {
            let mut hand = Ica::<f64>::init(d, k, source, seed).unwrap();
            if source == Source::StudentT {
                // α away from 1 so the α gradients are exercised non-trivially
                let mut t = hand.params().to_vec();
                let a = uniform_vec(seed, k, 0.5, 2.5);
                t[k * d..].copy_from_slice(&a);
                hand.set_params(&t).unwrap();
            }
            let sym = SymEnergy::<f64>::parse_with(ica_src(source), &[("d", d), ("K", k)], hand.params()).unwrap();
            for b in [1usize, 33, 100] {
                let (x, v, w) = batch(seed * 10 + b as u64, b, d, 2.0);
                agree(&format!("ica {source:?} d={d} K={k} B={b}"), &sym, &hand, &x, &v, &w, F64);
            }
            let (x, v, w) = batch(seed + 77, 40, d, 1.0);
            agree(&format!("ica {source:?} f32 d={d}"), &sym.cast::<f32>(), &hand.cast::<f32>(), &x, &v, &w, F32);
        }
    }
}

#[test]
fn mixture_agrees_with_sym() {
    for cov in [Covariance::Full, Covariance::Diagonal] {
        let src = match cov {
            Covariance::Full => MIXTURE_FULL,
            Covariance::Diagonal => MIXTURE_DIAG,
        };
        for (d, k, seed) in [(1usize, 2usize, 7u64), (2, 3, 8), (4, 3, 9)] {
            let hand = GaussianMixture::<f64>::init(d, k, cov, seed).unwrap();
            let sym = SymEnergy::<f64>::parse_with(src, &[("d", d), ("K", k)], hand.params()).unwrap();
            for b in [1usize, 45, 100] {
                let (x, v, w) = batch(seed * 10 + b as u64, b, d, 1.5);
                agree(&format!("mixture {cov:?} d={d} K={k} B={b}"), &sym, &hand, &x, &v, &w, F64);
            }
            let (x, v, w) = batch(seed + 55, 40, d, 1.0);
            agree(&format!("mixture {cov:?} f32 d={d}"), &sym.cast::<f32>(), &hand.cast::<f32>(), &x, &v, &w, F32);
        }
    }
}
