//! Contrastive divergence CD-k (Hinton 2002; seed §2.1, eq 3).
//!
//! The negative phase of the likelihood gradient (seed eq 2) uses samples of
//! p_θ^{(k)}, the law after k MCMC steps started **at the data batch**:
//! x⁻ = Π_θ^k x⁺. The loss differentiated is the contrastive loss of
//! [`crate::ml`] (mean E(x⁺) − mean E(x⁻), optional L2 energy penalty), whose
//! negative gradient is eq 3's estimate of ∇_θ log p_θ. CD approximately
//! minimises KL(p_data‖p_θ) − KL(p_θ^{(k)}‖p_θ) (eq 4) while dropping the
//! term (I) of eq 5; [`CD::with_kl`](Cd::with_kl) adds it back in the form of
//! improved CD ([`crate::icd`]).
//!
//! Data-parallel: rank r's chains start at its rows of the batch and draw
//! the noise of their global indices ([`Sampler::sample_at`]); the loss is
//! a per-sample mean ([`crate::ml`]), so CD needs no exchange of its own.
//!
//! The sampler (its step count is k) is any [`Sampler`]: use
//! [`crate::samplers::Mala`] for a CD fixed point that is exactly the data
//! law when the model matches it, [`crate::samplers::Ula`] for seed eq 14.

use crate::error::Result;
use crate::estimator::{batch_size, Estimator, EstimatorBase, StepCtx, StepInfo};
use crate::icd::KlTerm;
use crate::ml::{held_out_loss, prepared_loss, run_negatives, MlOptions, Negatives};
use crate::samplers::Sampler;
use ebm_core::{Langevin, Objectives, Real};

/// CD-k with a sampler `S` (k = the sampler's steps per call).
///
/// Needs: [`Objectives`] + [`Langevin`] (the energy-weighted gradient, and
/// improved CD's last ULA step), and `S: Sampler<T, M>`.
#[derive(Debug, Clone)]
pub struct Cd<T, S> {
    sampler: S,
    opts: MlOptions,
    state: Option<(usize, Negatives<T>)>,
}

impl<T: Real, S> Cd<T, S> {
    /// CD with negatives from `sampler` started at the data.
    pub fn new(sampler: S) -> Self {
        Self { sampler, opts: MlOptions::default(), state: None }
    }

    /// Adds the L2 energy penalty α(E⁺² + E⁻²).
    pub fn with_l2(mut self, alpha: f64) -> Self {
        self.opts.l2_alpha = alpha;
        self
    }

    /// Adds improved CD's KL term (weight λ, last-step size ε).
    pub fn with_kl(mut self, kl: KlTerm) -> Self {
        self.opts.kl = Some(kl);
        self
    }

    /// The options in use.
    pub fn options(&self) -> &MlOptions {
        &self.opts
    }

    /// The prepared negative samples, if any.
    pub fn negatives(&self) -> Option<&[T]> {
        self.state.as_ref().map(|s| s.1.x.as_slice())
    }

    /// The prepared improved-CD state, if any.
    pub fn kl_state(&self) -> Option<&crate::icd::KlState<T>> {
        self.state.as_ref().and_then(|s| s.1.kl.as_ref())
    }
}

/// Stateless between steps (negatives restart from the batch).
impl<T, S> crate::state::Resumable for Cd<T, S> {}

impl<T: Real, S: Send> EstimatorBase<T> for Cd<T, S> {
    fn name(&self) -> &'static str {
        self.opts.name("cd", "improved-cd")
    }

    fn data_parallel(&self) -> bool {
        true
    }
}

impl<T: Real, M: Objectives<T> + Langevin<T> + ?Sized, S: Sampler<T, M>> Estimator<T, M> for Cd<T, S> {
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        self.opts.validate()?;
        let b = batch_size(model, x)?;
        let neg = run_negatives(model, &self.sampler, &self.opts, x.to_vec(), ctx)?;
        let info = StepInfo { sampler: Some(neg.stats), ..Default::default() };
        self.state = Some((b, neg));
        Ok(info)
    }

    fn loss(&self, model: &M, x: &[T]) -> Result<f64> {
        prepared_loss(self.name(), &self.state, &self.opts, model, x, None)
    }

    fn loss_grad(&self, model: &M, x: &[T], grad: &mut [T]) -> Result<f64> {
        prepared_loss(self.name(), &self.state, &self.opts, model, x, Some(grad))
    }

    /// CD-k from the held-out batch: mean E(x) − mean E(Π^k x) (+ penalties).
    fn eval_loss(&self, model: &M, x: &[T], ctx: StepCtx) -> Result<f64> {
        self.opts.validate()?;
        held_out_loss(model, &self.sampler, &self.opts, x, ctx)
    }
}
