//! Fused training objectives: a step's loss and its θ-gradient from one pass
//! where the math allows it, with two-pass default bodies.

use super::checked::{Batch, Outputs, ParamGrad, PerSample, Weights};
use super::nce::{nce_reference, NceBatch, NceLoss};
use super::traits::{Target, Trainable};
use crate::error::Result;
use crate::real::Real;

/// The exact score-matching integrand of eq 12 for one sample,
/// J = Σᵢ ½ sᵢ² − hᵢ, from its score s = −∇ₓE and Hessian diagonal h = ∂²E/∂xᵢ²
/// (the sign of s does not matter since it is squared).
pub fn sm_integrand<T: Real>(score: &[T], hess_diag: &[T]) -> T {
    let half = T::from_f64(0.5);
    score.iter().zip(hess_diag).fold(T::zero(), |acc, (&s, &h)| acc + half * s * s - h)
}

/// Loss-and-gradient steps of the estimators that can share one pass.
///
/// Every method has a default body that runs the two passes it replaces
/// ([`crate::Energy::eval`] and [`Trainable::grad_params`]), so
/// `impl Objectives<T> for M {}` is complete. Families whose gradient pass
/// already holds every term override them (the MLP does), and so does a
/// device backend, to run a whole training step on the device with no host
/// round trip between the loss and the θ-gradient.
pub trait Objectives<T: Real>: Trainable<T> {
    /// Exact score matching (eq 12): `grad ← Σᵦ wᵦ ∇θ J(xᵦ)`, and returns the
    /// weighted loss Σᵦ wᵦ J(xᵦ) with J = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE.
    ///
    /// Default: the gradient, then [`crate::Energy::eval`] with the Hessian
    /// diagonal for J.
    fn sm_loss_grad(&self, x: Batch<'_, T>, weights: Weights<'_, T>, grad: ParamGrad<'_, T>) -> Result<f64> {
        self.grad_params(x, Target::ScoreMatching, weights, grad)?;
        let (b, d) = (x.rows(), x.dim());
        let (mut e, mut s, mut h) = (vec![T::zero(); b], vec![T::zero(); b * d], vec![T::zero(); b * d]);
        self.eval(x, Outputs::energy_score_hess_diag(&x, &mut e, &mut s, &mut h)?)?;
        Ok(s.chunks_exact(d)
            .zip(h.chunks_exact(d))
            .zip(weights.iter())
            .map(|((s, h), &w)| w.to_f64() * sm_integrand(s, h).to_f64())
            .sum())
    }

    /// Score regression to a fixed target t (the shape of x): sets
    /// `grad ← ∇θ L` and returns L = Σᵦ wᵦ ½‖∇ₓE(xᵦ) − tᵦ‖².
    ///
    /// With the residual rᵦ = ∇ₓE(xᵦ) − tᵦ held fixed, ∇θL is the gradient
    /// of [`Target::VDotGradX`] with v = r. Denoising score matching (eq 13)
    /// is this loss at the noisy batch with t = (x̃ − x)/σ². Default:
    /// [`crate::Energy::eval`] for r, then the gradient.
    fn score_regression_grad(
        &self,
        x: Batch<'_, T>,
        target: Batch<'_, T>,
        weights: Weights<'_, T>,
        grad: ParamGrad<'_, T>,
    ) -> Result<f64> {
        let (b, d) = (x.rows(), x.dim());
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        self.eval(x, Outputs::energy_score(&x, &mut e, &mut s)?)?;
        // ∇ₓE = −score, so r = −s − t.
        let r: Vec<T> = s.iter().zip(target.iter()).map(|(&si, &ti)| -si - ti).collect();
        let loss = r
            .chunks_exact(d)
            .zip(weights.iter())
            .map(|(rb, &wb)| wb.to_f64() * 0.5 * rb.iter().map(|&v| v.to_f64() * v.to_f64()).sum::<f64>())
            .sum();
        self.grad_params(x, Target::VDotGradX(x.paired("v", &r)?), weights, grad)?;
        Ok(loss)
    }

    /// `energy ← E(x)` and `grad ← Σᵦ f(b, E(xᵦ)) ∇θE(xᵦ)`: the θ-gradient of
    /// a loss that depends on θ only through the energies, each sample's
    /// weight computed from its energy (contrastive divergence, eq 3–4:
    /// f = ±1/B; NCE, eq 22–24: f is the logistic residual of the sample's
    /// logit). A weight that is not finite is [`crate::EbmError::NonFinite`].
    ///
    /// Default: [`crate::Energy::eval`], then the gradient.
    fn energy_weighted_grad(
        &self,
        x: Batch<'_, T>,
        weight: &(dyn Fn(usize, T) -> T + Sync),
        mut energy: PerSample<'_, T>,
        grad: ParamGrad<'_, T>,
    ) -> Result<()> {
        self.eval(x, Outputs::energy(&x, &mut energy)?)?;
        let w: Vec<T> = energy.iter().enumerate().map(|(j, &e)| weight(j, e)).collect();
        self.grad_params(x, Target::Energy, Weights::new(&x, &w)?, grad)
    }

    /// `energy ← E(x)` and `grad ← Σᵦ wᵦ ∇θE(xᵦ)` with weights fixed in
    /// advance (contrastive divergence without an energy penalty, eq 3–4:
    /// wᵦ = ±1/B): unlike [`Objectives::energy_weighted_grad`] the weights
    /// do not depend on the energies, so a device can run both in one pass.
    ///
    /// Default: [`crate::Energy::eval`], then the gradient.
    fn weighted_energy_grad(
        &self,
        x: Batch<'_, T>,
        weights: Weights<'_, T>,
        mut energy: PerSample<'_, T>,
        grad: ParamGrad<'_, T>,
    ) -> Result<()> {
        self.eval(x, Outputs::energy(&x, &mut energy)?)?;
        self.grad_params(x, Target::Energy, weights, grad)
    }

    /// One noise-contrastive estimation step (eq 22–24, conventions of
    /// [`crate::energy::NceBatch`]): `grad ← ∇θL`, returns L and ∂L/∂c.
    ///
    /// Default: [`Objectives::energy_weighted_grad`] with the logistic
    /// weights computed from the energies on the host, then the loss in f64
    /// ([`crate::energy::nce_reference`]).
    fn nce_loss_grad(&self, batch: NceBatch<'_, T>, grad: ParamGrad<'_, T>) -> Result<NceLoss> {
        nce_reference(self, batch, grad)
    }
}
