//! The batched energy interface that every model family implements.
//!
//! # Conventions
//!
//! A model defines an unnormalised density p(x) = exp(−E(x)) / Z (seed eq 1).
//! A *batch* is a row-major buffer of B samples by d coordinates: sample `b`
//! is `x[b*d .. (b+1)*d]`.
//!
//! **Sign convention.** ebm follows the seed (§3): the *score* is
//! ∇ₓ log p(x) = −∇ₓE(x). Every API that returns a first derivative in x
//! returns the **score** and says so in its name (`energy_score`, `score`).
//! Second derivatives are of the **energy**: `hess_diag` is ∂²E/∂xᵢ², so the
//! Laplacian of log p is −Σᵢ `hess_diag`ᵢ.
//!
//! **Parameter gradients** are of energy-valued quantities, summed over the
//! batch with per-sample weights wᵦ:
//! - [`Energy::grad_params_energy`]: Σᵦ wᵦ ∇_θ E(xᵦ) (the positive and
//!   negative phases of seed eq 2–3);
//! - [`Energy::grad_params_v_dot_grad_x`]: Σᵦ wᵦ ∇_θ (vᵦᵀ ∇ₓE(xᵦ)) for a
//!   per-sample direction vᵦ (denoising SM, eq 13, and sliced SM);
//! - [`Energy::grad_params_sm`]: Σᵦ wᵦ ∇_θ J(xᵦ) with the exact
//!   score-matching integrand J(x) = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12);
//! - [`Energy::grad_params_v_hess_v`]: Σᵦ wᵦ ∇_θ (vᵦᵀ ∇ₓ²E(xᵦ) vᵦ), the
//!   parameter gradient of the exact Hessian quadratic form
//!   [`Energy::v_hess_v`] (sliced score matching).
//!
//! Gradients *overwrite* `grad` (length [`Energy::num_params`]); they do not
//! accumulate.
//!
//! **Parameters** live in one flat buffer per model whose layout each family
//! documents, so the CPU, the GPU kernels and a checkpoint read the same bytes.

use crate::error::{EbmError, Result};
use crate::real::Real;

/// A batched energy function E_θ : ℝᵈ → ℝ with exact first and second
/// derivatives in x and exact parameter gradients.
///
/// Every method validates its inputs and returns a typed [`EbmError`] on a
/// dimension mismatch, a ragged or empty batch, or a non-finite input.
pub trait Energy<T: Real>: Send + Sync {
    /// The family's name, for messages and bench IDs (`"mlp"`, `"gaussian"`...).
    fn name(&self) -> &'static str;

    /// The data dimension d.
    fn dim(&self) -> usize;

    /// The flat parameter buffer θ in the family's documented layout.
    fn params(&self) -> &[T];

    /// Mutable access to θ (optimizers write here).
    fn params_mut(&mut self) -> &mut [T];

    /// The number of parameters, `params().len()`.
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

    /// E(xᵦ) for every sample: `energy[b] = E(x[b])`.
    fn energy(&self, x: &[T], energy: &mut [T]) -> Result<()>;

    /// E(xᵦ) and the score −∇ₓE(xᵦ) (row-major B×d) in one pass.
    fn energy_score(&self, x: &[T], energy: &mut [T], score: &mut [T]) -> Result<()>;

    /// E(xᵦ), the score −∇ₓE(xᵦ) and the exact Hessian diagonal of the
    /// energy ∂²E/∂xᵢ² (row-major B×d), fused in one pass.
    fn energy_score_hess_diag(&self, x: &[T], energy: &mut [T], score: &mut [T], hess_diag: &mut [T]) -> Result<()>;

    /// `grad ← Σᵦ wᵦ ∇_θ E(xᵦ)`.
    fn grad_params_energy(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()>;

    /// `energy ← E(x)` and `grad ← Σᵦ f(b, E(xᵦ)) ∇_θ E(xᵦ)`: the parameter
    /// gradient of a loss that depends on θ only through the energies, with
    /// each sample's weight computed from its energy (contrastive
    /// divergence, seed eq 3–4: f = ±1/B; NCE, seed eq 22–24: f is the
    /// logistic residual of the sample's logit).
    ///
    /// The default runs [`Energy::energy`] and then
    /// [`Energy::grad_params_energy`]; the MLP overrides it with one pass
    /// (its gradient pass computes E first). A weight that is not finite is
    /// [`EbmError::NonFinite`].
    fn grad_params_energy_with(
        &self,
        x: &[T],
        weight: &(dyn Fn(usize, T) -> T + Sync),
        energy: &mut [T],
        grad: &mut [T],
    ) -> Result<()> {
        self.energy(x, energy)?;
        let w: Vec<T> = energy.iter().enumerate().map(|(j, &e)| weight(j, e)).collect();
        self.grad_params_energy(x, &w, grad)
    }

    /// `grad ← Σᵦ wᵦ ∇_θ (vᵦᵀ ∇ₓE(xᵦ))`, with `v` row-major B×d.
    fn grad_params_v_dot_grad_x(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) -> Result<()>;

    /// Score regression to a fixed target t (row-major B×d): sets
    /// `grad ← ∇_θ L` and returns L = Σᵦ wᵦ ½‖∇ₓE(xᵦ) − tᵦ‖².
    ///
    /// With the residual rᵦ = ∇ₓE(xᵦ) − tᵦ held fixed, ∇_θ L is
    /// [`Energy::grad_params_v_dot_grad_x`] with v = r. Denoising score
    /// matching (seed eq 13) is this loss at the noisy batch with
    /// t = (x̃ − x)/σ². The default runs [`Energy::energy_score`] for r and
    /// then the gradient; the MLP overrides it with one pass (the gradient
    /// pass computes ∇ₓE anyway).
    fn grad_params_score_regression(&self, x: &[T], target: &[T], weights: &[T], grad: &mut [T]) -> Result<f64> {
        let d = self.dim();
        let b = check_batch("x", x, d)?;
        check_len("target", target, b * d)?;
        check_finite("target", target, d)?;
        check_len("weights", weights, b)?;
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        self.energy_score(x, &mut e, &mut s)?;
        let mut loss = 0.0;
        // ∇ₓE = −score, so r = −s − t.
        let r: Vec<T> = s.iter().zip(target).map(|(&si, &ti)| -si - ti).collect();
        for (rb, &wb) in r.chunks_exact(d).zip(weights) {
            loss += wb.to_f64() * 0.5 * rb.iter().map(|&v| v.to_f64() * v.to_f64()).sum::<f64>();
        }
        self.grad_params_v_dot_grad_x(x, &r, weights, grad)?;
        Ok(loss)
    }

    /// `grad ← Σᵦ wᵦ ∇_θ J(xᵦ)` with J(x) = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12).
    fn grad_params_sm(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()>;

    /// [`Energy::grad_params_sm`], and returns the weighted loss
    /// Σᵦ wᵦ J(xᵦ) (seed eq 12) with it: one exact score-matching step.
    ///
    /// The default runs the gradient and then
    /// [`Energy::energy_score_hess_diag`] for J. Families whose gradient
    /// pass already holds every term of J override it to skip that second
    /// Hessian pass (the MLP does: see `ebm_core::mlp`).
    fn sm_loss_grad_params(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<f64> {
        self.grad_params_sm(x, weights, grad)?;
        let d = self.dim();
        let b = weights.len();
        let (mut e, mut s, mut h) = (vec![T::zero(); b], vec![T::zero(); b * d], vec![T::zero(); b * d]);
        self.energy_score_hess_diag(x, &mut e, &mut s, &mut h)?;
        Ok(s.chunks_exact(d)
            .zip(h.chunks_exact(d))
            .zip(weights)
            .map(|((s, h), &w)| w.to_f64() * sm_integrand(s, h).to_f64())
            .sum())
    }

    /// The exact Hessian quadratic form of the energy along a per-sample
    /// direction: `out[b] = vᵦᵀ ∇ₓ²E(xᵦ) vᵦ`, with `v` row-major B×d (the
    /// same shape as `x`) and `out` of length B. Equivalently the second
    /// directional derivative d²/dt² E(xᵦ + t vᵦ) at t = 0, or vᵦᵀ of the
    /// Hessian-vector product; the Laplacian of log p along vᵦ is −`out[b]`.
    ///
    /// Every built-in family (Gaussian, mixture, ICA, RBM, MLP with a smooth
    /// activation) implements it exactly, in one batched pass. The default
    /// returns [`EbmError::Unsupported`], so that user-defined energies and
    /// backends compile without it; estimators that need it (sliced score
    /// matching) then fail with that typed error rather than approximate
    /// silently.
    fn v_hess_v(&self, x: &[T], v: &[T], out: &mut [T]) -> Result<()> {
        let _ = (x, v, out);
        Err(EbmError::Unsupported { model: self.name(), method: "v_hess_v" })
    }

    /// `grad ← Σᵦ wᵦ ∇_θ (vᵦᵀ ∇ₓ²E(xᵦ) vᵦ)`, with `v` row-major B×d held
    /// fixed (the parameter gradient of [`Energy::v_hess_v`]).
    ///
    /// Implemented exactly by every built-in family; the default returns
    /// [`EbmError::Unsupported`].
    fn grad_params_v_hess_v(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) -> Result<()> {
        let _ = (x, v, weights, grad);
        Err(EbmError::Unsupported { model: self.name(), method: "grad_params_v_hess_v" })
    }

    /// `steps` unadjusted Langevin steps x ← x + (ε²/2)·score(x) + ε·z
    /// (seed eq 14) on every chain of `x`, in place, with the Philox noise
    /// addressing of [`crate::langevin`]. Backends override this to keep the
    /// chains on the device; the default is the CPU reference.
    fn langevin_ula(&self, x: &mut [T], eps: T, steps: usize, seed: u64, first_step: u64) -> Result<()> {
        crate::langevin::ula(self, x, eps, steps, seed, first_step)
    }

    /// `steps` MALA steps (the ULA move as a proposal plus the
    /// Metropolis–Hastings test); increments `accepts[b]` per accepted move
    /// and returns the acceptance rate.
    fn langevin_mala(
        &self,
        x: &mut [T],
        eps: T,
        steps: usize,
        seed: u64,
        first_step: u64,
        accepts: &mut [u32],
    ) -> Result<f64> {
        crate::langevin::mala(self, x, eps, steps, seed, first_step, accepts)
    }
}

/// The exact score-matching integrand of seed eq 12 for one sample,
/// J = Σᵢ ½ sᵢ² − hᵢ, from its score s = −∇ₓE and Hessian diagonal h = ∂²E/∂xᵢ²
/// (the sign of s does not matter since it is squared).
pub fn sm_integrand<T: Real>(score: &[T], hess_diag: &[T]) -> T {
    let half = T::from_f64(0.5);
    score.iter().zip(hess_diag).fold(T::zero(), |acc, (&s, &h)| acc + half * s * s - h)
}

/// Checks a batch `x` against dimension `dim` and returns the batch size B.
///
/// Errors: [`EbmError::EmptyBatch`], [`EbmError::RaggedBatch`],
/// [`EbmError::NonFinite`].
pub fn check_batch<T: Real>(what: &'static str, x: &[T], dim: usize) -> Result<usize> {
    if x.is_empty() {
        return Err(EbmError::EmptyBatch { what });
    }
    if dim == 0 || !x.len().is_multiple_of(dim) {
        return Err(EbmError::RaggedBatch { what, len: x.len(), dim });
    }
    check_finite(what, x, dim)?;
    Ok(x.len() / dim)
}

/// Fails with [`EbmError::NonFinite`] at the first NaN or infinity in `x`,
/// reporting its (row, column) for a row length of `dim`.
pub fn check_finite<T: Real>(what: &'static str, x: &[T], dim: usize) -> Result<()> {
    // Summing is vectorisable; only look for the culprit when the sum is bad.
    let sum = x.iter().fold(T::zero(), |a, &v| a + v * T::zero());
    if sum.is_finite() {
        return Ok(());
    }
    let dim = dim.max(1);
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(EbmError::NonFinite { what, row: i / dim, col: i % dim, value: x[i].to_f64() }),
        None => Ok(()),
    }
}

/// Checks that an output or auxiliary buffer has exactly `expected` values.
pub fn check_len<T>(what: &'static str, buf: &[T], expected: usize) -> Result<()> {
    if buf.len() != expected {
        return Err(EbmError::DimMismatch { what, expected, got: buf.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_batch_reports_the_bad_entry() {
        let x = [0.0f64, 1.0, 2.0, f64::NAN, 4.0, 5.0];
        match check_batch("x", &x, 2) {
            Err(EbmError::NonFinite { row, col, .. }) => assert_eq!((row, col), (1, 1)),
            other => panic!("expected NonFinite, got {other:?}"),
        }
        assert!(matches!(check_batch("x", &x[..5], 2), Err(EbmError::RaggedBatch { len: 5, dim: 2, .. })));
        assert!(matches!(check_batch::<f64>("x", &[], 2), Err(EbmError::EmptyBatch { .. })));
        assert_eq!(check_batch("x", &x[..2], 2).unwrap(), 1);
    }

    #[test]
    fn sm_integrand_matches_definition() {
        let s = [1.0f64, -2.0];
        let h = [0.5, 3.0];
        assert_eq!(sm_integrand(&s, &h), 0.5 + 2.0 - 0.5 - 3.0);
    }
}
