//! `Energy::sm_loss_grad_params`: the weighted exact-SM loss Σᵦ wᵦ J(xᵦ)
//! (seed eq 12) together with its θ-gradient. The MLP computes the loss
//! inside its gradient pass (J = ½‖∇ₓE‖² − Σ_l ⟨c_l, q_l⟩); it must equal
//! the loss from the fused Hessian diagonal, and the gradient must be
//! `grad_params_sm`'s, bit for bit. The trait's default (two passes) is
//! checked on a family that does not override it.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::testing::{normal_vec, uniform_vec};
use ebm_core::{sm_integrand, EbmError, Energy, Gaussian, Real};

/// Σᵦ wᵦ J(xᵦ) from `energy_score_hess_diag`, in f64.
fn reference_loss<T: Real, E: Energy<T>>(m: &E, x: &[T], w: &[T]) -> f64 {
    let (d, b) = (m.dim(), w.len());
    let (mut e, mut s, mut h) = (vec![T::zero(); b], vec![T::zero(); b * d], vec![T::zero(); b * d]);
    m.energy_score_hess_diag(x, &mut e, &mut s, &mut h).unwrap();
    s.chunks_exact(d).zip(h.chunks_exact(d)).zip(w).map(|((s, h), &w)| Real::to_f64(w) * Real::to_f64(sm_integrand(s, h))).sum()
}

fn check<T: Real, E: Energy<T>>(m: &E, b: usize, seed: u64, tol: f64) {
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
