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
use crate::estimator::{batch_size, check_grad, prepared, Estimator, EstimatorBase, StepCtx, StepInfo};
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

impl<T: Real> EstimatorBase<T> for ExactSm {
    fn name(&self) -> &'static str {
        "exact-sm"
    }

    fn data_parallel(&self) -> bool {
        true
    }
}

impl<T: Real, M: Objectives<T> + ?Sized> Estimator<T, M> for ExactSm {
    fn prepare(&mut self, model: &M, x: &[T], _ctx: StepCtx) -> Result<StepInfo> {
        self.state = Some((batch_size(model, x)?, ()));
        Ok(StepInfo::default())
    }

    fn loss(&self, model: &M, x: &[T]) -> Result<f64> {
        prepared("exact-sm", &self.state, batch_size(model, x)?)?;
        sm_loss(model, x)
    }

    fn loss_grad(&self, model: &M, x: &[T], grad: &mut [T]) -> Result<f64> {
        let b = batch_size(model, x)?;
        prepared("exact-sm", &self.state, b)?;
        check_grad(grad, model.num_params())?;
        let w = vec![T::from_f64(1.0 / b as f64); b];
        Ok(model.sm_loss_grad_params(x, &w, grad)?)
    }

    fn eval_loss(&self, model: &M, x: &[T], _ctx: StepCtx) -> Result<f64> {
        sm_loss(model, x)
    }
}
