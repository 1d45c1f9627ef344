//! Maximum likelihood with MCMC negatives (seed §2): the shared core of
//! [`crate::Cd`] and [`crate::Pcd`].
//!
//! The log-likelihood gradient (seed eq 2) is a positive phase on the data
//! minus a negative phase on model samples. Written as a loss whose gradient
//! it is (samples x⁻ held fixed):
//!
//! L(θ) = (1/B⁺) Σ E_θ(x⁺) − (1/B⁻) Σ E_θ(x⁻) + α[(1/B⁺) Σ E_θ(x⁺)² + (1/B⁻) Σ E_θ(x⁻)²]
//!
//! (the optional L2 energy penalty α keeps energies near 0, Du & Mordatch
//! 2019), so
//!
//! ∇_θ L = Σ (1 + 2αE⁺)/B⁺ ∇_θE(x⁺) − Σ (1 − 2αE⁻)/B⁻ ∇_θE(x⁻),
//!
//! one [`Objectives::energy_weighted_grad`] call (through
//! [`EnergyExt::grad_params_energy_with`]) on the concatenated batch
//! [x⁺; x⁻] with those weights. Without the penalty (α = 0) the weights
//! ±1/B± are fixed in advance and the call is
//! [`Objectives::weighted_energy_grad`] (through
//! [`EnergyExt::grad_params_energy_weighted`]), which a device backend runs
//! in one pass with no host round trip. Its descent direction is minus the
//! seed's eq 3 when x⁻ come from k MCMC steps started at the data (CD-k).
//!
//! With [`KlTerm`] set, the improved-CD term λ·L_KL of [`crate::icd`] is
//! added (negatives then end with the differentiated ULA step).
//!
//! With B⁺ = B⁻ = B (CD's chains start at the batch, PCD draws B chains)
//! the loss is the per-sample mean (1/B) Σᵦ [E(x⁺ᵦ) − E(x⁻ᵦ) + α(E(x⁺ᵦ)² +
//! E(x⁻ᵦ)²)], and chain b draws the noise of its global index
//! ([`StepCtx::first`] + b), so a data-parallel batch splits it exactly
//! ([`crate::parallel`]).

use crate::error::{config, Result};
use crate::estimator::{check_grad, to_f64};
use crate::icd::{self, KlState, KlTerm};
use crate::samplers::{NoiseAt, Sampler, SamplerStats};
use crate::seeds::tags;
use crate::StepCtx;
use ebm_core::{EnergyExt, Langevin, Objectives, Real};

/// Options shared by CD and PCD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MlOptions {
    /// Weight α of the L2 energy penalty α(E⁺² + E⁻²); 0 disables it.
    pub l2_alpha: f64,
    /// The improved-CD KL term; `None` for plain (P)CD.
    pub kl: Option<KlTerm>,
}

impl MlOptions {
    /// The estimator's name: `plain` without the KL term, `improved` with it.
    pub(crate) fn name(&self, plain: &'static str, improved: &'static str) -> &'static str {
        if self.kl.is_some() {
            improved
        } else {
            plain
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.l2_alpha.is_finite() && self.l2_alpha >= 0.0) {
            return config(format!("L2 energy penalty must be ≥ 0, got {}", self.l2_alpha));
        }
        if let Some(kl) = self.kl {
            if !(kl.weight.is_finite() && kl.weight >= 0.0) {
                return config(format!("KL weight must be ≥ 0, got {}", kl.weight));
            }
        }
        Ok(())
    }
}

/// The frozen negative phase of a step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Negatives<T> {
    pub x: Vec<T>,
    pub kl: Option<KlState<T>>,
    pub stats: SamplerStats,
}

/// Runs the sampler (and the KL term's last step) on `chains` in place;
/// row j is global chain `ctx.first` + j and draws that chain's noise.
pub(crate) fn run_negatives<T: Real, M: Langevin<T> + ?Sized, S: Sampler<T, M> + ?Sized>(
    model: &M,
    sampler: &S,
    opts: &MlOptions,
    mut chains: Vec<T>,
    ctx: StepCtx,
) -> Result<Negatives<T>> {
    let at = NoiseAt::new(ctx.key(tags::SAMPLER), 0).from_chain(ctx.first);
    let stats = sampler.sample_at(model, &mut chains, at)?;
    let kl = match &opts.kl {
        Some(k) => Some(icd::last_step_at(model, &mut chains, k, ctx.key(tags::ICD), ctx.first)?),
        None => None,
    };
    Ok(Negatives { x: chains, kl, stats })
}

/// The contrastive loss and optionally its gradient (see module docs).
pub(crate) fn contrastive<T: Real, M: Objectives<T> + ?Sized>(
    model: &M,
    pos: &[T],
    neg: &[T],
    alpha: f64,
    grad: Option<&mut [T]>,
) -> Result<f64> {
    let d = model.dim();
    let (bp, bn) = (pos.len() / d, neg.len() / d);
    let mut all = Vec::with_capacity(pos.len() + neg.len());
    all.extend_from_slice(pos);
    all.extend_from_slice(neg);
    let mut e = vec![T::zero(); bp + bn];
    match grad {
        // Without the penalty the weights ±1/B± do not depend on the
        // energies: one fused pass (on a device, no host round trip).
        Some(g) if alpha == 0.0 => {
            let w: Vec<T> =
                (0..bp + bn).map(|j| T::from_f64(if j < bp { 1.0 / bp as f64 } else { -1.0 / bn as f64 })).collect();
            model.grad_params_energy_weighted(&all, &w, &mut e, g)?;
        }
        // The weight of sample j is ∂loss/∂E_j: (±1 + 2αE_j)/B±, computed
        // from the energy inside the gradient pass.
        Some(g) => {
            let weight = |j: usize, ej: T| {
                let v = ej.to_f64();
                T::from_f64(if j < bp {
                    (1.0 + 2.0 * alpha * v) / bp as f64
                } else {
                    (-1.0 + 2.0 * alpha * v) / bn as f64
                })
            };
            model.grad_params_energy_with(&all, &weight, &mut e, g)?;
        }
        None => model.energy(&all, &mut e)?,
    }
    let e = to_f64(&e);
    let (ep, en) = e.split_at(bp);
    let mp = ep.iter().sum::<f64>() / bp as f64;
    let mn = en.iter().sum::<f64>() / bn as f64;
    let qp = ep.iter().map(|v| v * v).sum::<f64>() / bp as f64;
    let qn = en.iter().map(|v| v * v).sum::<f64>() / bn as f64;
    Ok(mp - mn + alpha * (qp + qn))
}

/// CD-k's loss on a held-out batch: negatives run from `x` itself, nothing
/// kept (CD's and PCD's `eval_loss`).
pub(crate) fn held_out_loss<T: Real, M: Objectives<T> + Langevin<T> + ?Sized, S: Sampler<T, M> + ?Sized>(
    model: &M,
    sampler: &S,
    opts: &MlOptions,
    x: &[T],
    ctx: StepCtx,
) -> Result<f64> {
    crate::estimator::batch_size(model, x)?;
    let neg = run_negatives(model, sampler, opts, x.to_vec(), ctx)?;
    ml_loss(model, x, &neg, opts, None)
}

/// The full ML loss (contrastive + KL) with its gradient if asked.
pub(crate) fn ml_loss<T: Real, M: Objectives<T> + ?Sized>(
    model: &M,
    pos: &[T],
    neg: &Negatives<T>,
    opts: &MlOptions,
    grad: Option<&mut [T]>,
) -> Result<f64> {
    if let Some(g) = &grad {
        check_grad(g, model.num_params())?;
    }
    match (&neg.kl, &opts.kl, grad) {
        (Some(st), Some(k), Some(g)) => {
            let loss = contrastive(model, pos, &neg.x, opts.l2_alpha, Some(&mut *g))?;
            let mut gk = vec![T::zero(); g.len()];
            icd::kl_grad(model, st, k.eps, k.weight, &mut gk)?;
            g.iter_mut().zip(&gk).for_each(|(a, b)| *a += *b);
            Ok(loss + k.weight * icd::kl_loss(model, model, st, k.eps)?)
        }
        (Some(st), Some(k), None) => {
            Ok(contrastive(model, pos, &neg.x, opts.l2_alpha, None)?
                + k.weight * icd::kl_loss(model, model, st, k.eps)?)
        }
        (_, _, g) => contrastive(model, pos, &neg.x, opts.l2_alpha, g),
    }
}

/// Writes the builder and accessor methods CD and PCD share, for a type
/// whose field `opts` holds its [`MlOptions`] and `state` the prepared
/// [`Negatives`].
macro_rules! ml_accessors {
    () => {
        /// Adds the L2 energy penalty α(E⁺² + E⁻²).
        pub fn with_l2(mut self, alpha: f64) -> Self {
            self.opts.l2_alpha = alpha;
            self
        }

        /// Adds improved CD's KL term (weight λ, last-step size ε).
        pub fn with_kl(mut self, kl: $crate::KlTerm) -> Self {
            self.opts.kl = Some(kl);
            self
        }

        /// The options in use.
        pub fn options(&self) -> &$crate::MlOptions {
            &self.opts
        }

        /// The prepared negative samples, if any.
        pub fn negatives(&self) -> Option<&[T]> {
            self.state.as_ref().map(|s| s.1.x.as_slice())
        }

        /// The prepared improved-CD state, if any.
        pub fn kl_state(&self) -> Option<&$crate::icd::KlState<T>> {
            self.state.as_ref().and_then(|s| s.1.kl.as_ref())
        }
    };
}
pub(crate) use ml_accessors;

/// Writes the [`crate::Estimator`] methods CD and PCD share, for a type with
/// the fields of [`ml_accessors`], a `sampler` and a `validate` method:
/// `loss` and `loss_grad` ([`ml_loss`] against the prepared negatives) and
/// `eval_loss` ([`held_out_loss`]).
macro_rules! ml_loss_methods {
    () => {
        $crate::estimator::frozen_loss_methods!(|est, model, x, neg, grad| {
            $crate::ml::ml_loss(model, x, neg, &est.opts, grad)
        });

        /// CD-k from the held-out batch: mean E(x) − mean E(Π^k x) (+
        /// penalties); nothing the estimator holds (PCD's buffer) changes.
        fn eval_loss(&self, model: &M, x: &[T], ctx: $crate::StepCtx) -> $crate::Result<f64> {
            self.validate()?;
            $crate::ml::held_out_loss(model, &self.sampler, &self.opts, x, ctx)
        }
    };
}
pub(crate) use ml_loss_methods;
