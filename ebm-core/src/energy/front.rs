//! The front door on plain slices: checks every input once, makes the
//! checked types, and calls the traits.

use super::checked::{Batch, Chains, Outputs, ParamGrad, PerSample, Weights};
use super::nce::{NceBatch, NceLoss};
use super::objectives::Objectives;
use super::traits::{Curvature, Energy, Langevin, Target, Trainable};
use crate::error::Result;
use crate::langevin::NoiseAt;
use crate::real::Real;

/// The slice API of every energy: each method checks its inputs (shape,
/// finiteness, output lengths), wraps them in the checked types of
/// [`crate::energy`] and calls the trait method that does the work.
///
/// Implemented for every [`Energy`] (including `dyn Model<T>`); the methods
/// that need a capability are available where the model has it.
///
/// Errors: [`crate::EbmError::EmptyBatch`], [`crate::EbmError::RaggedBatch`],
/// [`crate::EbmError::NonFinite`] (with the row and column), and
/// [`crate::EbmError::DimMismatch`] for an output or auxiliary buffer of the wrong
/// length; then the model's own errors.
pub trait EnergyExt<T: Real>: Energy<T> {
    /// E(xᵦ) for every sample: `energy[b] = E(x[b])`.
    fn energy(&self, x: &[T], energy: &mut [T]) -> Result<()> {
        let x = Batch::new(x, self.dim())?;
        self.eval(x, Outputs::energy(&x, energy)?)
    }

    /// E(xᵦ) and the score −∇ₓE(xᵦ) (row-major B×d) in one pass.
    fn energy_score(&self, x: &[T], energy: &mut [T], score: &mut [T]) -> Result<()> {
        let x = Batch::new(x, self.dim())?;
        self.eval(x, Outputs::energy_score(&x, energy, score)?)
    }

    /// E(xᵦ), the score −∇ₓE(xᵦ) and the exact Hessian diagonal of the
    /// energy ∂²E/∂xᵢ² (row-major B×d), fused in one pass.
    fn energy_score_hess_diag(&self, x: &[T], energy: &mut [T], score: &mut [T], hess_diag: &mut [T]) -> Result<()> {
        let x = Batch::new(x, self.dim())?;
        self.eval(x, Outputs::energy_score_hess_diag(&x, energy, score, hess_diag)?)
    }

    /// `grad ← Σᵦ wᵦ ∇θE(xᵦ)` ([`Target::Energy`]).
    fn grad_params_energy(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()>
    where
        Self: Trainable<T>,
    {
        let x = Batch::new(x, self.dim())?;
        self.grad_params(x, Target::Energy, Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// `grad ← Σᵦ wᵦ ∇θ (vᵦᵀ∇ₓE(xᵦ))`, with `v` row-major B×d
    /// ([`Target::VDotGradX`]).
    fn grad_params_v_dot_grad_x(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) -> Result<()>
    where
        Self: Trainable<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let v = x.paired("v", v)?;
        self.grad_params(x, Target::VDotGradX(v), Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// `grad ← Σᵦ wᵦ ∇θ J(xᵦ)` with J(x) = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (eq 12,
    /// [`Target::ScoreMatching`]).
    fn grad_params_sm(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()>
    where
        Self: Trainable<T>,
    {
        let x = Batch::new(x, self.dim())?;
        self.grad_params(x, Target::ScoreMatching, Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// `out[b] = vᵦᵀ ∇ₓ²E(xᵦ) vᵦ` ([`Curvature::eval_v_hess_v`]).
    fn v_hess_v(&self, x: &[T], v: &[T], out: &mut [T]) -> Result<()>
    where
        Self: Curvature<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let v = x.paired("v", v)?;
        self.eval_v_hess_v(x, v, PerSample::new("out", &x, out)?)
    }

    /// `grad ← Σᵦ wᵦ ∇θ (vᵦᵀ ∇ₓ²E(xᵦ) vᵦ)` ([`Curvature::grad_v_hess_v`]).
    fn grad_params_v_hess_v(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) -> Result<()>
    where
        Self: Curvature<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let v = x.paired("v", v)?;
        self.grad_v_hess_v(x, v, Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// One exact score-matching step (eq 12): `grad ← Σᵦ wᵦ ∇θ J(xᵦ)`,
    /// returning Σᵦ wᵦ J(xᵦ) ([`Objectives::sm_loss_grad`]).
    fn sm_loss_grad_params(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<f64>
    where
        Self: Objectives<T>,
    {
        let x = Batch::new(x, self.dim())?;
        self.sm_loss_grad(x, Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// Score regression to `target` (row-major B×d): `grad ← ∇θL`, returns
    /// L = Σᵦ wᵦ ½‖∇ₓE(xᵦ) − tᵦ‖² ([`Objectives::score_regression_grad`]).
    fn grad_params_score_regression(&self, x: &[T], target: &[T], weights: &[T], grad: &mut [T]) -> Result<f64>
    where
        Self: Objectives<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let t = x.paired("target", target)?;
        self.score_regression_grad(x, t, Weights::new(&x, weights)?, ParamGrad::new(self, grad)?)
    }

    /// `energy ← E(x)` and `grad ← Σᵦ f(b, E(xᵦ)) ∇θE(xᵦ)`
    /// ([`Objectives::energy_weighted_grad`]).
    fn grad_params_energy_with(
        &self,
        x: &[T],
        weight: &(dyn Fn(usize, T) -> T + Sync),
        energy: &mut [T],
        grad: &mut [T],
    ) -> Result<()>
    where
        Self: Objectives<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let energy = PerSample::new("energy", &x, energy)?;
        self.energy_weighted_grad(x, weight, energy, ParamGrad::new(self, grad)?)
    }

    /// `energy ← E(x)` and `grad ← Σᵦ wᵦ ∇θE(xᵦ)` with fixed weights
    /// ([`Objectives::weighted_energy_grad`]).
    fn grad_params_energy_weighted(&self, x: &[T], weights: &[T], energy: &mut [T], grad: &mut [T]) -> Result<()>
    where
        Self: Objectives<T>,
    {
        let x = Batch::new(x, self.dim())?;
        let w = Weights::new(&x, weights)?;
        let energy = PerSample::new("energy", &x, energy)?;
        self.weighted_energy_grad(x, w, energy, ParamGrad::new(self, grad)?)
    }

    /// One NCE step on `points` (`n_data` data points, then ν·`n_data`
    /// noise points, row-major) with the noise log-density `log_pn` at each:
    /// `grad ← ∇θL`, returns L and ∂L/∂c ([`Objectives::nce_loss_grad`]).
    fn nce_loss_grad_params(
        &self,
        points: &[T],
        n_data: usize,
        log_pn: &[f64],
        c: f64,
        nu: usize,
        grad: &mut [T],
    ) -> Result<NceLoss>
    where
        Self: Objectives<T>,
    {
        let x = Batch::new(points, self.dim())?;
        let batch = NceBatch::new(x, n_data, log_pn, c, nu)?;
        self.nce_loss_grad(batch, ParamGrad::new(self, grad)?)
    }

    /// `steps` ULA steps on the chains `x` (row-major B×d), in place
    /// ([`Langevin::ula`], eq 14). A step size that is not positive and
    /// finite is [`crate::EbmError::InvalidConfig`].
    fn langevin_ula(&self, x: &mut [T], eps: T, steps: usize, seed: u64, first_step: u64) -> Result<()>
    where
        Self: Langevin<T>,
    {
        self.ula(Chains::new(x, self.dim())?, eps, steps, seed, first_step)
    }

    /// `steps` MALA steps; increments `accepts[b]` per accepted move and
    /// returns the acceptance rate ([`Langevin::mala`]).
    fn langevin_mala(
        &self,
        x: &mut [T],
        eps: T,
        steps: usize,
        seed: u64,
        first_step: u64,
        accepts: &mut [u32],
    ) -> Result<f64>
    where
        Self: Langevin<T>,
    {
        self.langevin_mala_at(x, eps, steps, NoiseAt::new(seed, first_step), accepts)
    }

    /// [`EnergyExt::langevin_ula`] with the noise of global chains
    /// `at.first_chain..` ([`Langevin::ula_at`]).
    fn langevin_ula_at(&self, x: &mut [T], eps: T, steps: usize, at: NoiseAt) -> Result<()>
    where
        Self: Langevin<T>,
    {
        self.ula_at(Chains::new(x, self.dim())?, eps, steps, at)
    }

    /// [`EnergyExt::langevin_mala`] with the noise of global chains
    /// `at.first_chain..` ([`Langevin::mala_at`]).
    fn langevin_mala_at(&self, x: &mut [T], eps: T, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64>
    where
        Self: Langevin<T>,
    {
        let x = Chains::new(x, self.dim())?;
        let accepts = PerSample::for_chains("accepts", &x, accepts)?;
        self.mala_at(x, eps, steps, at, accepts)
    }
}

impl<T: Real, E: Energy<T> + ?Sized> EnergyExt<T> for E {}
