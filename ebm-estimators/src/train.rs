//! The training loop: data → batch → estimator (loss, gradient) → optimizer
//! → parameters, with progress callbacks, periodic held-out evaluation and
//! divergence detection.
//!
//! # Step t
//!
//! 1. batch t of the [`Batcher`] (seeded by the run seed);
//! 2. `prepare` + `loss_grad` with [`StepCtx`]`(seed, t)`;
//! 3. if the loss or any gradient entry is non-finite, or the step hit a
//!    non-finite value inside the model (sampler chains, energies), training
//!    stops with [`EstError::Diverged`] *before* any parameter is written;
//! 4. optional gradient-norm clipping;
//! 5. the optimizer updates a copy of [θ, aux]; if the result has a
//!    non-finite entry the update is discarded and training stops with
//!    [`Divergence::Params`]; otherwise it is written back;
//! 6. every `eval_every` steps, the mean [`Estimator::eval_loss`] over the
//!    whole held-out split (chunks of `eval_batch_size`, noise keyed by
//!    `derive_seed(seed, EVAL, t)`);
//! 7. the callback sees a [`Progress`] and may stop training.
//!
//! So the model always holds the last finite parameters, and the same seed
//! (and the same thread-independent model arithmetic) gives the same run.
//!
//! # Data parallelism
//!
//! [`Trainer::fit_on`] runs the same loop on each of N processes (ranks of
//! an [`ebm_dist::Communicator`]), each holding the same model, optimizer
//! and estimator. Step t's batch is drawn whole on every rank (a pure
//! function of (seed, t)); rank r runs [`Estimator::prepare_shard`] +
//! `loss_grad` on its rows [⌊rB/N⌋, ⌊(r+1)B/N⌋) with [`StepCtx::first`] =
//! ⌊rB/N⌋, the ranks add their partial sums bᵣ·[loss, gradient] in rank
//! order and divide by B ([`crate::parallel`]). Estimator state that every
//! rank holds (PCD's buffer, LSD's critic) is kept identical by the
//! exchanges of `prepare_shard`. Steps 3–7 then run on every rank on the
//! same numbers, so every replica applies the same update, diverges at the
//! same step and evaluates the same held-out loss. Only estimators whose
//! loss is a per-sample mean with noise addressed by the global sample
//! index ([`crate::EstimatorBase::data_parallel`]: every built-in one)
//! accept N > 1.
//!
//! # Resuming
//!
//! Every random draw of step t depends on (seed, t) only: the [`Batcher`] is
//! a pure function of (seed, t) and has no position to save, and the noise
//! of `prepare` is keyed by [`StepCtx`]`(seed, t)`. What else carries over
//! from one step to the next is the trainer's [`crate::state::Resumable`]
//! state: `step` (t), `optimizer.*` and `estimator.*`. A trainer built with
//! the same settings that loads the state saved after N steps (and the model
//! holding the θ of that moment) continues bit for bit like the
//! uninterrupted run; [`Trainer::set_steps_done`] alone gives the same
//! batches and noise with fresh optimizer and estimator state.

use crate::data::{Batcher, Dataset};
use crate::error::{Divergence, EstError, Result};
use crate::estimator::{Estimator, EstimatorBase, StepCtx, StepInfo};
use crate::optim::{clip_grad_norm, grad_norm, Optimizer};
use crate::parallel::{self, Communicator, Local};
use crate::seeds::{derive_seed, tags};
use crate::state::{nest_error, prefixed, Resumable, State, StateError, StateReader};
use ebm_core::{EbmError, Real, Trainable};
use std::marker::PhantomData;

/// The numbers of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Samples per batch (≤ the training set size; equal means full batch).
    pub batch_size: usize,
    /// Updates to run in one [`Trainer::fit`] call.
    pub steps: usize,
    /// The run seed: batches, noise, samplers all derive from it.
    pub seed: u64,
    /// Evaluate on the held-out split every this many steps (0 = never).
    pub eval_every: usize,
    /// Chunk size of the held-out evaluation.
    pub eval_batch_size: usize,
    /// Rescale gradients longer than this (Euclidean norm over [θ, aux]).
    pub clip_grad_norm: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { batch_size: 128, steps: 1000, seed: 0, eval_every: 0, eval_batch_size: 1024, clip_grad_norm: None }
    }
}

/// What the callback sees after every step.
#[derive(Debug)]
pub struct Progress<'a, T> {
    /// The step just done (0-based, counted over all `fit` calls).
    pub step: usize,
    /// The loss at the parameters before this step's update.
    pub loss: f64,
    /// The gradient norm before clipping.
    pub grad_norm: f64,
    /// The learning rate used.
    pub lr: f64,
    /// What `prepare` reported (sampler statistics...).
    pub info: &'a StepInfo,
    /// The held-out loss, on evaluation steps.
    pub eval_loss: Option<f64>,
    /// The parameters θ after the update.
    pub params: &'a [T],
}

/// The callback's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this step (not an error).
    Stop,
}

/// The outcome of a [`Trainer::fit`] call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainReport {
    /// Steps done in this call.
    pub steps: usize,
    /// The loss of every step.
    pub losses: Vec<f64>,
    /// (step, held-out loss) of every evaluation.
    pub evals: Vec<(usize, f64)>,
    /// Whether the callback stopped the run.
    pub stopped_early: bool,
    /// The last step's `prepare` report.
    pub last_info: StepInfo,
}

/// An estimator, an optimizer and a configuration.
///
/// The model is a parameter of [`Trainer::fit`] (any [`Trainable`] `M` the
/// estimator `E` runs on, `E: Estimator<T, M>`), so the same trainer type
/// serves a concrete family and a `dyn Model<T>`.
#[derive(Debug)]
pub struct Trainer<T, E, O> {
    /// The objective (holds its sampler, noise law, critic...).
    pub estimator: E,
    /// The optimizer of [θ, aux].
    pub optimizer: O,
    /// The run's numbers.
    pub config: TrainConfig,
    done: usize,
    _t: PhantomData<fn() -> T>,
}

fn first_non_finite<T: Real>(v: &[T]) -> Option<(usize, f64)> {
    v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i].to_f64()))
}

impl<T: Real, E, O: Optimizer<T>> Trainer<T, E, O> {
    /// A trainer that has done no step yet.
    pub fn new(estimator: E, optimizer: O, config: TrainConfig) -> Self {
        Self { estimator, optimizer, config, done: 0, _t: PhantomData }
    }

    /// Steps done over all `fit` calls (the next step's index).
    pub fn steps_done(&self) -> usize {
        self.done
    }

    /// Continues the step count at `n` (the absolute index of the next
    /// step), so batches and noise are those of step n of the run.
    pub fn set_steps_done(&mut self, n: usize) {
        self.done = n;
    }

    /// [`Resumable::load_state`], then checks that the optimizer's state
    /// fits `model`'s parameters and the estimator's own.
    pub fn load_state_for<M: Trainable<T> + ?Sized>(
        &mut self,
        model: &M,
        state: &[(String, Vec<f64>)],
    ) -> std::result::Result<(), StateError>
    where
        E: EstimatorBase<T>,
    {
        self.load_state(state)?;
        let n = model.num_params() + self.estimator.aux_params().len();
        match self.optimizer.state_len() {
            Some(got) if got != n => {
                Err(StateError::Length { name: "optimizer".into(), expected: format!("0 or {n}"), got })
            }
            _ => Ok(()),
        }
    }

    /// The mean held-out loss over `data` at the current parameters, with
    /// noise keyed by (seed, `tag_step`).
    pub fn evaluate<M: ?Sized>(&self, model: &M, data: &Dataset<T>, tag_step: usize) -> Result<f64>
    where
        E: Estimator<T, M>,
    {
        let d = data.dim();
        let chunk = self.config.eval_batch_size.max(1);
        let key = derive_seed(self.config.seed, tags::EVAL, tag_step as u64);
        let mut total = 0.0;
        for (i, c) in data.as_slice().chunks(chunk * d).enumerate() {
            let l = self.estimator.eval_loss(model, c, StepCtx::new(key, i as u64))?;
            total += l * (c.len() / d) as f64;
        }
        Ok(total / data.len() as f64)
    }

    /// Runs `config.steps` steps on `train`, evaluating on `heldout`.
    ///
    /// Errors: configuration and shape errors before the first step;
    /// [`EstError::Diverged`] when a non-finite value appears (the model and
    /// the estimator keep the last finite parameters).
    pub fn fit<M: Trainable<T> + ?Sized>(
        &mut self,
        model: &mut M,
        train: &Dataset<T>,
        heldout: Option<&Dataset<T>>,
        callback: impl FnMut(&Progress<'_, T>) -> Control,
    ) -> Result<TrainReport>
    where
        E: Estimator<T, M>,
    {
        self.fit_on(&Local, model, train, heldout, callback)
    }

    /// [`Trainer::fit`] as one of `comm`'s ranks: every rank calls it with
    /// the same trainer, model and data, computes its share of each batch,
    /// and applies the same update (see "# Data parallelism" in the module
    /// docs). With [`Local`] it is `fit`.
    ///
    /// Errors: those of `fit`; [`EstError::Config`] before the first step
    /// if the estimator does not support data parallelism and `comm` has
    /// more than one rank; [`EstError::Parallel`] when a collective
    /// operation fails or another rank's share failed.
    pub fn fit_on<M: Trainable<T> + ?Sized>(
        &mut self,
        comm: &dyn Communicator,
        model: &mut M,
        train: &Dataset<T>,
        heldout: Option<&Dataset<T>>,
        mut callback: impl FnMut(&Progress<'_, T>) -> Control,
    ) -> Result<TrainReport>
    where
        E: Estimator<T, M>,
    {
        let cfg = self.config;
        parallel::check(&self.estimator, comm)?;
        let d = model.dim();
        if train.dim() != d || heldout.is_some_and(|h| h.dim() != d) {
            return Err(EstError::Data(format!(
                "data dimension {} (held-out {:?}) ≠ model dimension {d}",
                train.dim(),
                heldout.map(|h| h.dim())
            )));
        }
        if let Some(c) = cfg.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(EstError::Config(format!("gradient clip norm must be positive, got {c}")));
            }
        }
        let mut batcher = Batcher::new(train.len(), cfg.batch_size, cfg.seed)?;
        let np = model.num_params();
        let na = self.estimator.aux_params().len();
        let mut grad = vec![T::zero(); np + na];
        let mut theta = vec![T::zero(); np + na];
        let (mut idx, mut batch) = (Vec::new(), Vec::new());
        let mut report = TrainReport::default();
        for _ in 0..cfg.steps {
            let t = self.done;
            let diverged = |cause| EstError::Diverged { step: t, cause, last_good_step: t };
            batcher.indices(t, &mut idx);
            train.gather(&idx, &mut batch);
            let ctx = StepCtx::new(cfg.seed, t as u64);
            let step = parallel::step(&mut self.estimator, &*model, &batch, d, ctx, comm, &mut grad);
            let (loss, info) = match step {
                Ok(v) => v,
                Err(EstError::Model(e @ EbmError::NonFinite { .. })) => return Err(diverged(Divergence::Internal(e))),
                Err(e) => return Err(e),
            };
            if !loss.is_finite() {
                return Err(diverged(Divergence::Loss(loss)));
            }
            if let Some((index, value)) = first_non_finite(&grad) {
                return Err(diverged(Divergence::Gradient { index, value }));
            }
            let gnorm = match cfg.clip_grad_norm {
                Some(c) => clip_grad_norm(&mut grad, c),
                None => grad_norm(&grad),
            };
            let lr = self.optimizer.current_lr();
            theta[..np].copy_from_slice(model.params());
            theta[np..].copy_from_slice(self.estimator.aux_params());
            self.optimizer.step(&mut theta, &grad)?;
            if let Some((index, value)) = first_non_finite(&theta) {
                return Err(diverged(Divergence::Params { index, value }));
            }
            model.set_params(&theta[..np])?;
            self.estimator.aux_params_mut().copy_from_slice(&theta[np..]);
            self.done += 1;
            report.steps += 1;
            report.losses.push(loss);
            let mut eval_loss = None;
            if let Some(h) = heldout {
                if cfg.eval_every > 0 && self.done.is_multiple_of(cfg.eval_every) {
                    let l = match self.evaluate(&*model, h, t) {
                        Ok(l) => l,
                        Err(EstError::Model(e @ EbmError::NonFinite { .. })) => {
                            return Err(EstError::Diverged {
                                step: t,
                                cause: Divergence::Internal(e),
                                last_good_step: self.done,
                            })
                        }
                        Err(e) => return Err(e),
                    };
                    if !l.is_finite() {
                        return Err(EstError::Diverged {
                            step: t,
                            cause: Divergence::Eval(l),
                            last_good_step: self.done,
                        });
                    }
                    report.evals.push((t, l));
                    eval_loss = Some(l);
                }
            }
            let progress =
                Progress { step: t, loss, grad_norm: gnorm, lr, info: &info, eval_loss, params: model.params() };
            let control = callback(&progress);
            report.last_info = info;
            if control == Control::Stop {
                report.stopped_early = true;
                break;
            }
        }
        Ok(report)
    }
}

/// Entries `step` \[1\], `optimizer.*`, `estimator.*` (see [`crate::state`]).
impl<T: Real, E: Resumable, O: Optimizer<T>> Resumable for Trainer<T, E, O> {
    fn save_state(&self) -> State {
        let mut s = vec![("step".to_string(), vec![self.done as f64])];
        s.extend(prefixed("optimizer", self.optimizer.save_state()));
        s.extend(prefixed("estimator", self.estimator.save_state()));
        s
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), StateError> {
        let mut r = StateReader::new(state);
        let step = r.take_count("step")?;
        let (opt, est) = (r.take_prefixed("optimizer"), r.take_prefixed("estimator"));
        r.finish()?;
        self.optimizer.load_state(&opt).map_err(|e| nest_error("optimizer", e))?;
        self.estimator.load_state(&est).map_err(|e| nest_error("estimator", e))?;
        self.done = step;
        Ok(())
    }
}
