//! The estimator interface: a training objective's loss and its exact
//! parameter gradient on a batch, written once against
//! [`ebm_core::Energy`] so it runs on every backend.
//!
//! # Two phases
//!
//! A step is split in two so that the gradient can be checked against finite
//! differences of the very loss it differentiates:
//!
//! 1. [`Estimator::prepare`] draws everything random or θ-dependent that the
//!    objective treats as a constant (MCMC negatives in CD/PCD, noise in DSM,
//!    projections in SSM, noise samples in NCE, the critic update in LSD) at
//!    the current parameters, from Philox keyed by a [`StepCtx`];
//! 2. [`Estimator::loss`] and [`Estimator::loss_grad`] evaluate the objective
//!    with that state frozen; `loss_grad` returns the same value as `loss`
//!    and writes its exact gradient in θ (and in the estimator's own
//!    parameters, see below).
//!
//! # Estimator-owned parameters
//!
//! Some objectives learn parameters besides θ (NCE's log-normaliser c). They
//! are exposed by [`Estimator::aux_params`] and their gradient follows θ's in
//! the gradient buffer: `grad` has length `model.num_params() +
//! aux_params().len()`, laid out `[∂θ, ∂aux]`. The training loop updates both
//! with one optimizer.

use crate::error::{EstError, Result};
use crate::samplers::SamplerStats;
use crate::seeds::derive_seed;
use crate::state::Resumable;
use ebm_core::{Energy, Real};

/// Where a step's randomness comes from: the run's seed and the step number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepCtx {
    /// The run's seed.
    pub seed: u64,
    /// The step number (each step gets fresh noise).
    pub step: u64,
}

impl StepCtx {
    /// A context for `step` of a run seeded `seed`.
    pub fn new(seed: u64, step: u64) -> Self {
        Self { seed, step }
    }

    /// The Philox key of purpose `tag` (see [`crate::seeds::tags`]) at this step.
    pub fn key(&self, tag: u64) -> u64 {
        derive_seed(self.seed, tag, self.step)
    }
}

/// What `prepare` did, for progress reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepInfo {
    /// Statistics of the negative-phase sampler (CD, PCD).
    pub sampler: Option<SamplerStats>,
    /// Chains re-initialised from noise (PCD).
    pub reinitialised: Option<usize>,
    /// The critic's objective after its update (LSD).
    pub critic_objective: Option<f64>,
}

/// A training objective with an exact parameter gradient on a batch.
///
/// `x` is always the row-major B×d batch of data; `prepare` must be called
/// on a batch of the same size before `loss` / `loss_grad`. What persists
/// from one step to the next (PCD's buffer, LSD's critic, NCE's c) is saved
/// and restored through the [`Resumable`] supertrait.
pub trait Estimator<T: Real>: Resumable + Send {
    /// The objective's name (`"cd"`, `"dsm"`...).
    fn name(&self) -> &'static str;

    /// The estimator's own trainable parameters (empty by default).
    fn aux_params(&self) -> &[T] {
        &[]
    }

    /// Mutable access to [`Estimator::aux_params`].
    fn aux_params_mut(&mut self) -> &mut [T] {
        &mut []
    }

    /// The model's log-normaliser log Z as estimated by the objective, if it
    /// estimates one (NCE's c).
    fn log_z(&self) -> Option<f64> {
        None
    }

    /// Draws the step's frozen state at the current parameters.
    fn prepare(&mut self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<StepInfo>;

    /// The loss with the prepared state frozen.
    fn loss(&self, model: &dyn Energy<T>, x: &[T]) -> Result<f64>;

    /// The loss and its gradient (layout `[∂θ, ∂aux]`), overwriting `grad`.
    fn loss_grad(&self, model: &dyn Energy<T>, x: &[T], grad: &mut [T]) -> Result<f64>;

    /// The loss on a held-out batch with fresh state drawn from `ctx`,
    /// without changing the estimator (PCD's buffer, LSD's critic are left
    /// alone).
    fn eval_loss(&self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<f64>;

    /// `prepare` then `loss_grad`.
    fn step(&mut self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx, grad: &mut [T]) -> Result<(f64, StepInfo)> {
        let info = self.prepare(model, x, ctx)?;
        let loss = self.loss_grad(model, x, grad)?;
        Ok((loss, info))
    }
}

impl<T: Real, E: Estimator<T> + ?Sized> Estimator<T> for Box<E> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn aux_params(&self) -> &[T] {
        (**self).aux_params()
    }
    fn aux_params_mut(&mut self) -> &mut [T] {
        (**self).aux_params_mut()
    }
    fn log_z(&self) -> Option<f64> {
        (**self).log_z()
    }
    fn prepare(&mut self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        (**self).prepare(model, x, ctx)
    }
    fn loss(&self, model: &dyn Energy<T>, x: &[T]) -> Result<f64> {
        (**self).loss(model, x)
    }
    fn loss_grad(&self, model: &dyn Energy<T>, x: &[T], grad: &mut [T]) -> Result<f64> {
        (**self).loss_grad(model, x, grad)
    }
    fn eval_loss(&self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<f64> {
        (**self).eval_loss(model, x, ctx)
    }
}

/// Checks the batch against the model and returns B.
pub(crate) fn batch_size<T: Real>(model: &dyn Energy<T>, x: &[T]) -> Result<usize> {
    Ok(ebm_core::check_batch("x", x, model.dim())?)
}

/// Checks the gradient buffer's length.
pub(crate) fn check_grad<T>(grad: &[T], expected: usize) -> Result<()> {
    if grad.len() != expected {
        return Err(EstError::GradLen { expected, got: grad.len() });
    }
    Ok(())
}

/// Returns the prepared state if it was prepared for B samples.
pub(crate) fn prepared<'a, S>(name: &'static str, state: &'a Option<(usize, S)>, b: usize) -> Result<&'a S> {
    match state {
        Some((pb, s)) if *pb == b => Ok(s),
        Some((pb, _)) => Err(EstError::NotPrepared { estimator: name, prepared: Some(*pb), got: b }),
        None => Err(EstError::NotPrepared { estimator: name, prepared: None, got: b }),
    }
}

/// Converts a slice of T to f64.
pub(crate) fn to_f64<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&a| a.to_f64()).collect()
}

/// Numerically stable log(1 + eˣ).
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The logistic function 1/(1 + e⁻ˣ).
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}
