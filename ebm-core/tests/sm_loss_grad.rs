//! `Energy::sm_loss_grad_params`: the weighted exact-SM loss Σᵦ wᵦ J(xᵦ)
//! (seed eq 12) together with its θ-gradient. The MLP computes the loss
//! inside its gradient pass (J = ½‖∇ₓE‖² − Σ_l ⟨c_l, q_l⟩); it must equal
//! the loss from the fused Hessian diagonal, and the gradient must be
//! `grad_params_sm`'s, bit for bit. The trait's default (two passes) is
//! checked on a family that does not override it.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::{normal_vec, uniform_vec};
use ebm_core::{sm_integrand, EbmError, Energy, Gaussian, Real};

/// Σᵦ wᵦ J(xᵦ) from `energy_score_hess_diag`, in f64.
fn reference_loss<T: Real, E: Model<T>>(m: &E, x: &[T], w: &[T]) -> f64 {
    let (d, b) = (m.dim(), w.len());
    let (mut e, mut s, mut h) = (vec![T::zero(); b], vec![T::zero(); b * d], vec![T::zero(); b * d]);
    m.energy_score_hess_diag(x, &mut e, &mut s, &mut h).unwrap();
    s.chunks_exact(d)
        .zip(h.chunks_exact(d))
        .zip(w)
        .map(|((s, h), &w)| Real::to_f64(w) * Real::to_f64(sm_integrand(s, h)))
        .sum()
}

fn check<T: Real, E: Model<T>>(m: &E, b: usize, seed: u64, tol: f64) {
    let d = m.dim();
    let x: Vec<T> = normal_vec(seed, b * d).into_iter().map(T::from_f64).collect();
    let w: Vec<T> = uniform_vec(seed + 1, b, 0.1, 1.0).into_iter().map(T::from_f64).collect();
    let p = m.num_params();
    let (mut g_fused, mut g_ref) = (vec![T::zero(); p], vec![T::zero(); p]);
    let loss = m.sm_loss_grad_params(&x, &w, &mut g_fused).unwrap();
    m.grad_params_sm(&x, &w, &mut g_ref).unwrap();
    let want = reference_loss(m, &x, &w);
    let scale = w.iter().map(|&w| Real::to_f64(w)).sum::<f64>().max(1.0);
    assert!(
        (loss - want).abs() <= tol * (want.abs() + scale),
        "{} b={b}: loss {loss} vs fused Hessian pass {want}",
        m.name()
    );
    let bits = |v: &[T]| v.iter().map(|&a| Real::to_f64(a).to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&g_fused), bits(&g_ref), "{} b={b}: gradient differs from grad_params_sm", m.name());
}

#[test]
fn mlp_loss_from_the_gradient_pass_matches_the_hessian_pass() {
    for act in Activation::SMOOTH {
        for (d, hidden) in [(1usize, vec![5usize]), (3, vec![7, 4]), (8, vec![16, 9, 5]), (64, vec![32, 32])] {
            let m64 = Mlp::<f64>::init(d, &hidden, act, 5 + d as u64).unwrap();
            for b in [1usize, 7, 130] {
                check(&m64, b, 17 + b as u64, 1e-12);
                check(&m64.cast::<f32>(), b, 17 + b as u64, 1e-4);
            }
        }
    }
}

#[test]
fn default_two_pass_matches_the_definition() {
    let g = Gaussian::<f64>::init(3, 4).unwrap();
    check(&g, 9, 3, 1e-12);
}

#[test]
fn relu_mlp_is_refused() {
    let m = Mlp::<f64>::init(2, &[4], Activation::Relu, 0).unwrap();
    let mut g = vec![0.0; m.num_params()];
    let r = m.sm_loss_grad_params(&[0.1, 0.2], &[1.0], &mut g);
    assert!(matches!(r, Err(EbmError::Activation { .. })), "{r:?}");
}

/// `grad_params_score_regression` (DSM's step, seed eq 13): the MLP's
/// one-pass loss and gradient against the definition — the loss from
/// `energy_score`, the gradient from `grad_params_v_dot_grad_x` with the
/// residual as v — and the trait default on the Gaussian.
#[test]
fn score_regression_matches_its_definition() {
    fn check_sr<T: Real, E: Model<T>>(m: &E, b: usize, seed: u64, tol: f64) {
        let d = m.dim();
        let x: Vec<T> = normal_vec(seed, b * d).into_iter().map(T::from_f64).collect();
        let t: Vec<T> = normal_vec(seed + 1, b * d).into_iter().map(T::from_f64).collect();
        let w: Vec<T> = uniform_vec(seed + 2, b, 0.1, 1.0).into_iter().map(T::from_f64).collect();
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        m.energy_score(&x, &mut e, &mut s).unwrap();
        let r: Vec<T> = s.iter().zip(&t).map(|(&si, &ti)| -si - ti).collect();
        let want: f64 = r
            .chunks_exact(d)
            .zip(&w)
            .map(|(rb, &wb)| Real::to_f64(wb) * 0.5 * rb.iter().map(|&v| Real::to_f64(v).powi(2)).sum::<f64>())
            .sum();
        let p = m.num_params();
        let (mut g, mut g_ref) = (vec![T::zero(); p], vec![T::zero(); p]);
        let loss = m.grad_params_score_regression(&x, &t, &w, &mut g).unwrap();
        m.grad_params_v_dot_grad_x(&x, &r, &w, &mut g_ref).unwrap();
        assert!((loss - want).abs() <= tol * want.abs().max(1.0), "{} b={b}: loss {loss} vs {want}", m.name());
        let gmax = g_ref.iter().map(|&v| Real::to_f64(v).abs()).fold(0.0, f64::max).max(1e-30);
        for (k, (&a, &bv)) in g.iter().zip(&g_ref).enumerate() {
            let (a, bv) = (Real::to_f64(a), Real::to_f64(bv));
            assert!((a - bv).abs() <= tol * (bv.abs() + gmax), "{} b={b} θ[{k}]: {a} vs {bv}", m.name());
        }
    }
    for act in Activation::ALL {
        for (d, hidden) in [(1usize, vec![5usize]), (3, vec![7, 4]), (16, vec![40, 9, 5])] {
            let m64 = Mlp::<f64>::init(d, &hidden, act, 9 + d as u64).unwrap();
            for b in [1usize, 7, 130] {
                check_sr(&m64, b, 31 + b as u64, 1e-12);
                check_sr(&m64.cast::<f32>(), b, 31 + b as u64, 1e-4);
            }
        }
    }
    check_sr(&Gaussian::<f64>::init(3, 4).unwrap(), 9, 5, 1e-12);
    let m = Mlp::<f64>::init(2, &[4], Activation::Tanh, 0).unwrap();
    let mut g = vec![0.0; m.num_params()];
    let bad = m.grad_params_score_regression(&[0.1, 0.2], &[f64::NAN, 0.0], &[1.0], &mut g);
    assert!(matches!(bad, Err(EbmError::NonFinite { .. })), "{bad:?}");
    let short = m.grad_params_score_regression(&[0.1, 0.2], &[0.0], &[1.0], &mut g);
    assert!(short.is_err());
}

/// `grad_params_energy_with` (the CD and NCE steps, seed eq 3–4, 22–24):
/// the MLP's one pass gives the same energies and gradient, bit for bit,
/// as `energy` then `grad_params_energy` with the weights computed from
/// those energies; a non-finite weight is a typed error.
#[test]
fn energy_weighted_gradient_is_the_two_pass_result() {
    fn check_w<T: Real>(m: &Mlp<T>, b: usize, seed: u64) {
        let d = m.dim();
        let x: Vec<T> = normal_vec(seed, b * d).into_iter().map(T::from_f64).collect();
        let weight = |j: usize, e: T| {
            T::from_f64(if j.is_multiple_of(3) { 1.0 } else { -0.5 } * (1.0 + 0.1 * Real::to_f64(e)) / b as f64)
        };
        let p = m.num_params();
        let (mut e1, mut g1) = (vec![T::zero(); b], vec![T::zero(); p]);
        m.grad_params_energy_with(&x, &weight, &mut e1, &mut g1).unwrap();
        let (mut e2, mut g2) = (vec![T::zero(); b], vec![T::zero(); p]);
        m.energy(&x, &mut e2).unwrap();
        let w: Vec<T> = e2.iter().enumerate().map(|(j, &e)| weight(j, e)).collect();
        m.grad_params_energy(&x, &w, &mut g2).unwrap();
        let bits = |v: &[T]| v.iter().map(|&a| Real::to_f64(a).to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&e1), bits(&e2), "b={b}: energies");
        assert_eq!(bits(&g1), bits(&g2), "b={b}: gradient");
    }
    for act in Activation::ALL {
        for (d, hidden) in [(1usize, vec![5usize]), (16, vec![40, 9, 5])] {
            let m64 = Mlp::<f64>::init(d, &hidden, act, 2 + d as u64).unwrap();
            for b in [1usize, 7, 130] {
                check_w(&m64, b, 3 + b as u64);
                check_w(&m64.cast::<f32>(), b, 3 + b as u64);
            }
        }
    }
    let m = Mlp::<f64>::init(2, &[4], Activation::Tanh, 0).unwrap();
    let (mut e, mut g) = (vec![0.0; 1], vec![0.0; m.num_params()]);
    let nan = m.grad_params_energy_with(&[0.1, 0.2], &|_, _| f64::NAN, &mut e, &mut g);
    assert!(matches!(nan, Err(EbmError::NonFinite { .. })), "{nan:?}");
}
