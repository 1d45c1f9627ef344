//! Exact score matching (Hyvärinen 2005; seed §3.1, eq 8–12).
//!
//! Integration by parts (eq 10–11) turns the Fisher divergence (eq 8) into
//! a loss without the data score; per sample (eq 12),
//!
//! J(x) = Σᵢ ½(∂ᵢE_θ(x))² − ∂²ᵢᵢE_θ(x),
//!
//! and the loss is (1/B) Σᵦ J(xᵦ). The value comes from the fused
//! [`EnergyExt::energy_score_hess_diag`] (through [`ebm_core::sm_integrand`]);
//! a training step takes the loss and its gradient (weights 1/B) from
//! [`Objectives::sm_loss_grad`] (through [`EnergyExt::sm_loss_grad_params`]),
//! which for the MLP is one pass (the gradient pass holds every term of J).
//! There is no randomness: `prepare` only records the batch size.
//!
//! For a Gaussian model the minimiser on a data set is the maximum-likelihood
//! estimate (sample mean, inverse 1/n sample covariance).

use crate::error::Result;
use crate::estimator::{batch_size, check_grad, data_parallel_base, frozen_state_methods, no_state, Estimator};
use ebm_core::{sm_integrand, Energy, EnergyExt, Objectives, Real};

/// Exact score matching.
///
/// Needs: [`Objectives`] (the fused loss and gradient).
#[derive(Debug, Clone, Default)]
pub struct ExactSm {
    state: Option<(usize, ())>,
}

impl ExactSm {
    /// Exact score matching.
    pub fn new() -> Self {
        Self::default()
    }
}

/// (1/B) Σᵦ J(xᵦ) of seed eq 12. Needs: [`Energy`].
pub fn sm_loss<T: Real, M: Energy<T> + ?Sized>(model: &M, x: &[T]) -> Result<f64> {
    let d = model.dim();
    let b = batch_size(model, x)?;
    let (mut e, mut s, mut h) = (vec![T::zero(); b], vec![T::zero(); b * d], vec![T::zero(); b * d]);
    model.energy_score_hess_diag(x, &mut e, &mut s, &mut h)?;
    let total: f64 = s.chunks_exact(d).zip(h.chunks_exact(d)).map(|(s, h)| sm_integrand(s, h).to_f64()).sum();
    Ok(total / b as f64)
}

/// Stateless between steps.
impl crate::state::Resumable for ExactSm {}

data_parallel_base!([T: Real] ExactSm, |_| "exact-sm");

/// The loss (1/B) Σᵦ J(xᵦ), with its gradient from the fused
/// [`Objectives::sm_loss_grad`] when `grad` is given.
fn loss_and_grad<T: Real, M: Objectives<T> + ?Sized>(model: &M, x: &[T], grad: Option<&mut [T]>) -> Result<f64> {
    let Some(grad) = grad else { return sm_loss(model, x) };
    let b = batch_size(model, x)?;
    check_grad(grad, model.num_params())?;
    let w = vec![T::from_f64(1.0 / b as f64); b];
    Ok(model.sm_loss_grad_params(x, &w, grad)?)
}

/// No randomness: the state is the batch size alone.
impl<T: Real, M: Objectives<T> + ?Sized> Estimator<T, M> for ExactSm {
    frozen_state_methods! {
        draw: |_, _, _, _| no_state(),
        loss: |_, model, x, _, grad| loss_and_grad(model, x, grad),
    }
}
