//! The estimator interface: a training objective's loss and its exact
//! parameter gradient on a batch, written once against the capability
//! traits of [`ebm_core::energy`] so it runs on every backend.
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
//! are exposed by [`EstimatorBase::aux_params`] and their gradient follows
//! θ's in the gradient buffer: `grad` has length `model.num_params() +
//! aux_params().len()`, laid out `[∂θ, ∂aux]`. The training loop updates both
//! with one optimizer.
//!
//! # Two traits: what does not depend on the model, and what does
//!
//! [`Estimator<T, M>`] is generic over the model type `M`, so that each
//! estimator names the capabilities it needs (see the crate docs). An
//! estimator implements it for every `M` that has them, which means a
//! method of `Estimator` called on a concrete estimator cannot tell which
//! `M` is meant unless a model argument says so. The methods that take no
//! model (the name, the estimator's own parameters, its estimate of log Z)
//! therefore live in the base trait [`EstimatorBase<T>`], which does not
//! mention `M`: after training, `nce.log_z()` and `est.name()` resolve
//! without naming a model type, and a `dyn Estimator<T>` still has them
//! (it is a supertrait).
//!
//! An estimator implements both: [`EstimatorBase`] once, [`Estimator`] for
//! the models it supports.
//!
//! ```
//! use ebm_core::Gaussian;
//! use ebm_estimators::{Dataset, Estimator, EstimatorBase, GaussianNoise, Nce, StepCtx};
//!
//! let model = Gaussian::<f64>::init(2, 0)?;
//! let data = Dataset::<f64>::gaussian(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], 64, 1)?;
//! let mut nce = Nce::new(GaussianNoise::fit(&data)?, 2).with_log_z(0.5);
//! let mut grad = vec![0.0; 5 + nce.aux_params().len()];
//! nce.step(&model, data.as_slice(), StepCtx::new(3, 0), &mut grad)?;
//! assert_eq!((nce.name(), nce.log_z()), ("nce", Some(0.5)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::{EstError, Result};
use crate::parallel::{Communicator, Local};
use crate::samplers::SamplerStats;
use crate::seeds::derive_seed;
use crate::state::Resumable;
use ebm_core::{Energy, Model, Real};

/// Where a step's randomness comes from: the run's seed, the step number,
/// and the global index of the batch's first sample.
///
/// `first` is 0 except in data-parallel training ([`crate::train`],
/// "# Data parallelism"), where a process holding the rows [lo, hi) of the
/// global batch passes `first = lo`: an estimator that supports it
/// ([`EstimatorBase::data_parallel`]) draws the noise of its local row j at
/// the counters of global sample lo + j, so a sample's noise does not depend
/// on how the batch is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepCtx {
    /// The run's seed.
    pub seed: u64,
    /// The step number (each step gets fresh noise).
    pub step: u64,
    /// The global index of the batch's first sample (0 unless the batch is a
    /// share of a larger one).
    pub first: u64,
}

impl StepCtx {
    /// A context for `step` of a run seeded `seed`, batch starting at sample 0.
    pub fn new(seed: u64, step: u64) -> Self {
        Self { seed, step, first: 0 }
    }

    /// The same context for a batch whose first row is global sample `first`.
    pub fn with_first(self, first: u64) -> Self {
        Self { first, ..self }
    }

    /// The Philox key of purpose `tag` (see [`crate::seeds::tags`]) at this step.
    pub fn key(&self, tag: u64) -> u64 {
        derive_seed(self.seed, tag, self.step)
    }
}

/// This process's place in a data-parallel step ([`crate::parallel`]):
/// the ranks that share the global batch and its size B. Rank r holds the
/// rows [`crate::parallel::share`]`(B, r, N)`, the first of which is
/// [`StepCtx::first`].
#[derive(Debug, Clone, Copy)]
pub struct Shard<'a> {
    /// The ranks computing the step together.
    pub comm: &'a dyn Communicator,
    /// The global batch size B (every rank's rows together).
    pub batch: usize,
}

impl Shard<'static> {
    /// The whole batch of `batch` rows on one process.
    pub fn whole(batch: usize) -> Self {
        Shard { comm: &Local, batch }
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

/// The part of an estimator that does not depend on the model type: its
/// name, its own trainable parameters and its estimate of log Z.
///
/// A supertrait of [`Estimator`]; it is separate so that these methods
/// resolve on a concrete estimator without naming a model type (see the
/// [module docs](self)). What persists from one step to the next (PCD's
/// buffer, LSD's critic, NCE's c) is saved and restored through the
/// [`Resumable`] supertrait.
pub trait EstimatorBase<T: Real>: Resumable + Send {
    /// The objective's name (`"cd"`, `"dsm"`...).
    fn name(&self) -> &'static str;

    /// The estimator's own trainable parameters (empty by default); their
    /// gradient follows θ's in the buffer of [`Estimator::loss_grad`].
    fn aux_params(&self) -> &[T] {
        &[]
    }

    /// Mutable access to [`EstimatorBase::aux_params`].
    fn aux_params_mut(&mut self) -> &mut [T] {
        &mut []
    }

    /// The model's log-normaliser log Z as estimated by the objective, if it
    /// estimates one (NCE's c).
    fn log_z(&self) -> Option<f64> {
        None
    }

    /// Whether the batch may be split across processes (data-parallel
    /// training): the loss is a mean over samples of terms ℓᵦ that depend
    /// only on θ, sample b, noise addressed by b's global index
    /// ([`StepCtx::first`]) and state every rank holds identically, and
    /// [`Estimator::prepare_shard`] keeps that state identical (PCD's
    /// buffer, LSD's critic). False by default.
    fn data_parallel(&self) -> bool {
        false
    }
}

/// A training objective with an exact parameter gradient on a batch.
///
/// `x` is always the row-major B×d batch of data; `prepare` must be called
/// on a batch of the same size before `loss` / `loss_grad`.
///
/// `M` is the model type the estimator runs on. Each estimator implements
/// the trait for every `M` that has the capabilities it uses (its docs say
/// which, after "Needs:"), so a model lacking one is a compile-time error.
/// The default, `dyn Model<T>`, is what a command line holding any model
/// uses: `Box<dyn Estimator<T>>` runs on a `&dyn Model<T>`. The methods that
/// take no model are in the supertrait [`EstimatorBase`].
pub trait Estimator<T: Real, M: ?Sized = dyn Model<T>>: EstimatorBase<T> {
    /// Draws the step's frozen state at the current parameters.
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo>;

    /// The loss with the prepared state frozen.
    fn loss(&self, model: &M, x: &[T]) -> Result<f64>;

    /// The loss and its gradient (layout `[∂θ, ∂aux]`), overwriting `grad`.
    fn loss_grad(&self, model: &M, x: &[T], grad: &mut [T]) -> Result<f64>;

    /// The loss on a held-out batch with fresh state drawn from `ctx`,
    /// without changing the estimator (PCD's buffer, LSD's critic are left
    /// alone).
    fn eval_loss(&self, model: &M, x: &[T], ctx: StepCtx) -> Result<f64>;

    /// [`Estimator::prepare`] as one rank of a data-parallel step: `x` is
    /// this rank's rows of a global batch of `shard.batch` rows, the first
    /// being global sample `ctx.first`. An estimator whose state is shared
    /// by every rank (PCD's buffer, LSD's critic) exchanges what it needs
    /// through `shard.comm` so that every rank's state stays identical, and
    /// calls the same collectives on every rank even when its own share
    /// fails (see [`crate::parallel`]); a rank may hold no row (B < N).
    /// The default is `prepare` (nothing on an empty share).
    fn prepare_shard(&mut self, model: &M, x: &[T], ctx: StepCtx, _shard: Shard<'_>) -> Result<StepInfo> {
        if x.is_empty() {
            return Ok(StepInfo::default());
        }
        self.prepare(model, x, ctx)
    }

    /// `prepare` then `loss_grad`.
    fn step(&mut self, model: &M, x: &[T], ctx: StepCtx, grad: &mut [T]) -> Result<(f64, StepInfo)> {
        let info = self.prepare(model, x, ctx)?;
        let loss = self.loss_grad(model, x, grad)?;
        Ok((loss, info))
    }
}

impl<T: Real, E: EstimatorBase<T> + ?Sized> EstimatorBase<T> for Box<E> {
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
    fn data_parallel(&self) -> bool {
        (**self).data_parallel()
    }
}

impl<T: Real, M: ?Sized, E: Estimator<T, M> + ?Sized> Estimator<T, M> for Box<E> {
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        (**self).prepare(model, x, ctx)
    }
    fn prepare_shard(&mut self, model: &M, x: &[T], ctx: StepCtx, shard: Shard<'_>) -> Result<StepInfo> {
        (**self).prepare_shard(model, x, ctx, shard)
    }
    fn loss(&self, model: &M, x: &[T]) -> Result<f64> {
        (**self).loss(model, x)
    }
    fn loss_grad(&self, model: &M, x: &[T], grad: &mut [T]) -> Result<f64> {
        (**self).loss_grad(model, x, grad)
    }
    fn eval_loss(&self, model: &M, x: &[T], ctx: StepCtx) -> Result<f64> {
        (**self).eval_loss(model, x, ctx)
    }
    fn step(&mut self, model: &M, x: &[T], ctx: StepCtx, grad: &mut [T]) -> Result<(f64, StepInfo)> {
        (**self).step(model, x, ctx, grad)
    }
}

/// Writes the [`EstimatorBase`] of a built-in estimator, `impl<$generics>`
/// for `$ty`: its name, the expression `$name` of the estimator `$s`, and
/// data-parallel, since every built-in loss is a per-sample mean over state
/// every rank holds alike (each module says how).
macro_rules! data_parallel_base {
    ([$($generics:tt)*] $ty:ty, |$s:pat_param| $name:expr) => {
        impl<$($generics)*> $crate::EstimatorBase<T> for $ty {
            fn name(&self) -> &'static str {
                let $s = self;
                $name
            }

            fn data_parallel(&self) -> bool {
                true
            }
        }
    };
}
pub(crate) use data_parallel_base;

/// Writes [`Estimator::loss`] and [`Estimator::loss_grad`] of an estimator
/// whose `prepare` left `Some((B, state))` in its field `state`: both take
/// the state prepared for a batch of this size and return `$loss`, an
/// expression of the estimator `$s`, the model `$m`, the batch `$x`, the
/// state `$st` and `$grad` (`None` for `loss`, the gradient buffer for
/// `loss_grad`).
macro_rules! frozen_loss_methods {
    (|$s:pat_param, $m:pat_param, $x:pat_param, $st:pat_param, $grad:pat_param| $loss:expr) => {
        fn loss(&self, model: &M, x: &[T]) -> $crate::Result<f64> {
            let b = $crate::estimator::batch_size(model, x)?;
            let $st = $crate::estimator::prepared($crate::EstimatorBase::<T>::name(self), &self.state, b)?;
            let ($s, $m, $x, $grad) = (self, model, x, None);
            $loss
        }

        fn loss_grad(&self, model: &M, x: &[T], grad: &mut [T]) -> $crate::Result<f64> {
            let b = $crate::estimator::batch_size(model, x)?;
            let $st = $crate::estimator::prepared($crate::EstimatorBase::<T>::name(self), &self.state, b)?;
            let ($s, $m, $x, $grad) = (self, model, x, Some(grad));
            $loss
        }
    };
}
pub(crate) use frozen_loss_methods;

/// Writes the [`Estimator`] methods of an estimator whose whole step state
/// is drawn by `$draw` (an expression of the estimator, the model, the batch
/// and the [`StepCtx`], returning a [`Result`]) and whose loss is `$loss`
/// (as in [`frozen_loss_methods`]): `prepare` keeps `(B, state)` in the
/// field `state`, `loss` and `loss_grad` use it, and `eval_loss` draws a
/// state of its own and keeps nothing.
macro_rules! frozen_state_methods {
    (
        draw: |$ds:pat_param, $dm:pat_param, $dx:pat_param, $ctx:pat_param| $draw:expr,
        loss: |$s:pat_param, $m:pat_param, $x:pat_param, $st:pat_param, $grad:pat_param| $loss:expr $(,)?
    ) => {
        fn prepare(&mut self, model: &M, x: &[T], ctx: $crate::StepCtx) -> $crate::Result<$crate::StepInfo> {
            let b = $crate::estimator::batch_size(model, x)?;
            let ($ds, $dm, $dx, $ctx) = (&*self, model, x, ctx);
            let state = $draw?;
            self.state = Some((b, state));
            Ok($crate::StepInfo::default())
        }

        $crate::estimator::frozen_loss_methods!(|$s, $m, $x, $st, $grad| $loss);

        fn eval_loss(&self, model: &M, x: &[T], ctx: $crate::StepCtx) -> $crate::Result<f64> {
            $crate::estimator::batch_size(model, x)?;
            let ($ds, $dm, $dx, $ctx) = (self, model, x, ctx);
            let state = $draw?;
            let ($s, $m, $x, $st, $grad) = (self, model, x, &state, None);
            $loss
        }
    };
}
pub(crate) use frozen_state_methods;

/// The step state of an estimator without randomness (its `draw` for
/// [`frozen_state_methods`]): nothing besides the batch size.
pub(crate) fn no_state() -> Result<()> {
    Ok(())
}

/// Checks the batch against the model and returns B.
pub(crate) fn batch_size<T: Real, M: Energy<T> + ?Sized>(model: &M, x: &[T]) -> Result<usize> {
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

/// Numerically stable log(1 + eˣ) and the logistic function (one home: `ebm_core::energy`).
pub(crate) use ebm_core::energy::{sigmoid_f64 as sigmoid, softplus_f64 as softplus};
