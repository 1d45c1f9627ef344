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
use crate::estimator::{batch_size, data_parallel_base, Estimator, StepCtx, StepInfo};
use crate::ml::{ml_accessors, ml_loss_methods, run_negatives, MlOptions, Negatives};
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

    ml_accessors!();

    fn validate(&self) -> Result<()> {
        self.opts.validate()
    }
}

/// Stateless between steps (negatives restart from the batch).
impl<T, S> crate::state::Resumable for Cd<T, S> {}

data_parallel_base!([T: Real, S: Send] Cd<T, S>, |cd| cd.opts.name("cd", "improved-cd"));

impl<T: Real, M: Objectives<T> + Langevin<T> + ?Sized, S: Sampler<T, M>> Estimator<T, M> for Cd<T, S> {
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        self.validate()?;
        let b = batch_size(model, x)?;
        let neg = run_negatives(model, &self.sampler, &self.opts, x.to_vec(), ctx)?;
        let info = StepInfo { sampler: Some(neg.stats), ..Default::default() };
        self.state = Some((b, neg));
        Ok(info)
    }

    ml_loss_methods!();
}
