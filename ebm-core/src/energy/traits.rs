//! The core trait and the capability traits (see the module docs of
//! [`crate::energy`] for the reason behind each).

use super::checked::{Batch, Chains, Outputs, ParamGrad, PerSample, Weights};
use super::objectives::Objectives;
use crate::error::{EbmError, Result};
use crate::langevin::NoiseAt;
use crate::real::Real;

/// A batched energy function E : ℝᵈ → ℝ with exact first and second
/// derivatives in x.
///
/// The one required computation is [`Energy::eval`] on a checked batch; call
/// it through the slice front door [`crate::EnergyExt`] (`energy`,
/// `energy_score`, `energy_score_hess_diag`), which checks the inputs once.
pub trait Energy<T: Real>: Send + Sync {
    /// The family's name, for messages and bench IDs (`"mlp"`, `"gaussian"`...).
    fn name(&self) -> &'static str;

    /// The data dimension d.
    fn dim(&self) -> usize;

    /// Writes E(xᵦ) for every sample, and the score −∇ₓE(xᵦ) and the exact
    /// Hessian diagonal ∂²E/∂xᵢ²(xᵦ) when `out` asks for them, in one pass.
    ///
    /// `x` is checked (shape, finiteness) and `out` is sized for it
    /// ([`Outputs`]); `x.dim()` equals [`Energy::dim`] when the call comes
    /// through [`crate::EnergyExt`]. Errors are the model's own (for example
    /// [`EbmError::Activation`] for a Hessian of a ReLU network) and, on a
    /// device, [`EbmError::Backend`].
    fn eval(&self, x: Batch<'_, T>, out: Outputs<'_, T>) -> Result<()>;
}

/// What [`Trainable::grad_params`] differentiates, per sample, before the
/// weighted sum over the batch.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a, T> {
    /// E(xᵦ): the positive and negative phases of eq 2–3.
    Energy,
    /// vᵦᵀ∇ₓE(xᵦ) for a per-sample direction vᵦ (same shape as x), held
    /// fixed: denoising SM (eq 13) and sliced SM.
    VDotGradX(Batch<'a, T>),
    /// The exact score-matching integrand J(x) = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (eq 12).
    ScoreMatching,
}

/// A model with parameters θ in one flat buffer and exact parameter
/// gradients.
pub trait Trainable<T: Real>: Energy<T> {
    /// The flat parameter buffer θ in the family's documented layout.
    fn params(&self) -> &[T];

    /// Mutable access to θ (optimizers write here).
    fn params_mut(&mut self) -> &mut [T];

    /// The number of parameters P, `params().len()`.
    fn num_params(&self) -> usize {
        self.params().len()
    }

    /// Replaces θ, checking its length against the layout.
    fn set_params(&mut self, theta: &[T]) -> Result<()> {
        let expected = self.num_params();
        if theta.len() != expected {
            return Err(EbmError::ParamLen { model: self.name(), expected, got: theta.len() });
        }
        self.params_mut().copy_from_slice(theta);
        Ok(())
    }

    /// `grad ← Σᵦ wᵦ ∇θ target(xᵦ)` (overwrites `grad`).
    fn grad_params(
        &self,
        x: Batch<'_, T>,
        target: Target<'_, T>,
        weights: Weights<'_, T>,
        grad: ParamGrad<'_, T>,
    ) -> Result<()>;
}

/// The exact Hessian quadratic form of the energy and its θ-gradient
/// (sliced score matching).
pub trait Curvature<T: Real>: Trainable<T> {
    /// `out[b] = vᵦᵀ ∇ₓ²E(xᵦ) vᵦ`, with `v` of the shape of `x`:
    /// equivalently d²/dt² E(xᵦ + t vᵦ) at t = 0. The Laplacian of log p
    /// along vᵦ is −`out[b]`.
    fn eval_v_hess_v(&self, x: Batch<'_, T>, v: Batch<'_, T>, out: PerSample<'_, T>) -> Result<()>;

    /// `grad ← Σᵦ wᵦ ∇θ (vᵦᵀ ∇ₓ²E(xᵦ) vᵦ)` with `v` held fixed.
    fn grad_v_hess_v(
        &self,
        x: Batch<'_, T>,
        v: Batch<'_, T>,
        weights: Weights<'_, T>,
        grad: ParamGrad<'_, T>,
    ) -> Result<()>;
}

/// K Langevin steps on a batch of chains, with the Philox noise addressing
/// of [`crate::langevin`] (so every backend draws the same noise).
///
/// Two methods carry the work, [`Langevin::ula_at`] and
/// [`Langevin::mala_at`]; their defaults are the CPU reference, written
/// against [`Energy::eval`], so `impl Langevin<T> for M {}` is a complete
/// implementation. A backend overrides those two to keep the chains on its
/// device. [`Langevin::ula`] and [`Langevin::mala`] are the same calls at
/// global chain 0 and are not overridden (so a wrapper that forwards the
/// two `_at` methods loses nothing). The step size ε is a scalar setting,
/// not part of the checked batch: every implementation returns
/// [`EbmError::InvalidConfig`] unless it is positive and finite (the
/// defaults do).
pub trait Langevin<T: Real>: Energy<T> {
    /// `steps` unadjusted Langevin steps x ← x + (ε²/2)·score(x) + ε z
    /// (eq 14) on every chain, in place; step k (from `first_step`) draws
    /// the noise of stream `first_step + k`. This is [`Langevin::ula_at`]
    /// with `first_chain` 0.
    fn ula(&self, x: Chains<'_, T>, eps: T, steps: usize, seed: u64, first_step: u64) -> Result<()> {
        self.ula_at(x, eps, steps, NoiseAt::new(seed, first_step))
    }

    /// `steps` MALA steps (the ULA move as a proposal plus the
    /// Metropolis–Hastings test); increments `accepts[b]` per accepted move
    /// of chain b and returns the acceptance rate of these steps. This is
    /// [`Langevin::mala_at`] with `first_chain` 0.
    fn mala(
        &self,
        x: Chains<'_, T>,
        eps: T,
        steps: usize,
        seed: u64,
        first_step: u64,
        accepts: PerSample<'_, u32>,
    ) -> Result<f64> {
        self.mala_at(x, eps, steps, NoiseAt::new(seed, first_step), accepts)
    }

    /// [`Langevin::ula`] with the noise of global chains
    /// `at.first_chain..` ([`crate::langevin`], "Noise addressing"): a
    /// batch that is a share of a larger population draws what the whole
    /// population would. The default is the CPU reference
    /// ([`crate::langevin::ula_chains_at`]).
    fn ula_at(&self, x: Chains<'_, T>, eps: T, steps: usize, at: NoiseAt) -> Result<()> {
        crate::langevin::ula_chains_at(self, x, eps, steps, at)
    }

    /// [`Langevin::mala`] with the noise of global chains
    /// `at.first_chain..`, as [`Langevin::ula_at`]; the default is
    /// [`crate::langevin::mala_chains_at`].
    fn mala_at(&self, x: Chains<'_, T>, eps: T, steps: usize, at: NoiseAt, accepts: PerSample<'_, u32>) -> Result<f64> {
        crate::langevin::mala_chains_at(self, x, eps, steps, at, accepts)
    }
}

/// Every capability at once: what a command line, a checkpoint loader or a
/// bench holds as `dyn Model<T>`. Implemented for every type that has them
/// all; never implemented by hand.
pub trait Model<T: Real>: Trainable<T> + Curvature<T> + Objectives<T> + Langevin<T> {}

impl<T: Real, M: Curvature<T> + Objectives<T> + Langevin<T> + ?Sized> Model<T> for M {}
