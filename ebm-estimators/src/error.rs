//! Typed errors of the estimators, samplers, optimizers and training loop.
//!
//! Everything a user can get wrong (a bad configuration, a data set with a
//! NaN, a batch that does not match the prepared state) is an [`EstError`];
//! panics are reserved for the crate's own invariants.

use ebm_core::EbmError;
use thiserror::Error;

/// What went wrong while estimating, sampling or training.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EstError {
    /// An error of the model (shape mismatch, non-finite input...).
    #[error(transparent)]
    Model(#[from] EbmError),
    /// A configuration value outside its domain (step size ≤ 0, no σ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A data set that cannot be used (empty, ragged, non-finite).
    #[error("invalid data set: {0}")]
    Data(String),
    /// `loss`/`loss_grad` was called without a `prepare` on a batch of
    /// this size.
    #[error("estimator {estimator} is not prepared for a batch of {got} samples (prepared: {prepared:?})")]
    NotPrepared {
        /// The estimator's name.
        estimator: &'static str,
        /// The batch size of the prepared state, if any.
        prepared: Option<usize>,
        /// The batch size passed.
        got: usize,
    },
    /// A gradient buffer of the wrong length.
    #[error("gradient buffer has length {got}, expected {expected} (model parameters + estimator parameters)")]
    GradLen {
        /// `model.num_params() + estimator.aux_params().len()`.
        expected: usize,
        /// The length passed.
        got: usize,
    },
    /// Training produced a non-finite value. The model (and the estimator's
    /// own parameters) still hold the last finite parameters, those after
    /// `last_good_step` completed updates.
    #[error("training diverged at step {step}: {cause}; parameters kept from after {last_good_step} updates")]
    Diverged {
        /// The step at which the non-finite value appeared.
        step: usize,
        /// What was non-finite.
        cause: Divergence,
        /// How many updates the kept parameters went through.
        last_good_step: usize,
    },
    /// A data-parallel step failed: a collective operation, or an error on
    /// another process (which reports it itself).
    #[error("data-parallel training: {0}")]
    Parallel(String),
}

/// What was non-finite when training diverged.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Divergence {
    /// The loss value.
    #[error("non-finite loss {0}")]
    Loss(f64),
    /// A gradient entry (index into `[θ, aux]`).
    #[error("non-finite gradient at index {index} ({value})")]
    Gradient {
        /// Index into the concatenated gradient.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A parameter after the optimizer step (the update was discarded).
    #[error("optimizer step produced a non-finite parameter at index {index} ({value})")]
    Params {
        /// Index into `[θ, aux]`.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A non-finite value inside the step: sampler chains, energies or
    /// scores (reported by the model's input checks).
    #[error("non-finite value inside the step: {0}")]
    Internal(EbmError),
    /// The held-out evaluation loss.
    #[error("non-finite held-out loss {0}")]
    Eval(f64),
    /// A non-finite value inside the step on another process (rank) of a
    /// data-parallel run, which reports the value itself.
    #[error("non-finite value inside the step on rank {0}")]
    OnRank(usize),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EstError>;

pub(crate) fn config<T>(msg: impl Into<String>) -> Result<T> {
    Err(EstError::Config(msg.into()))
}
