//! Denoising score matching (Vincent 2011; seed §3.2, eq 13), with one σ or
//! a geometric set of σ levels weighted by σ² (NCSN, Song & Ermon 2019).
//!
//! With q_σ(x̃|x) = N(x, σ²I), ∇_x̃ log q_σ(x̃|x) = −(x̃ − x)/σ², and the last
//! line of eq 13 gives (up to a constant) the per-sample loss
//!
//! ℓ(x, x̃) = ½ ‖s_θ(x̃) + (x̃ − x)/σ²‖²,   s_θ = −∇ₓE_θ.
//!
//! # Gradient
//!
//! Let r = s_θ(x̃) + (x̃ − x)/σ² = −∇ₓE_θ(x̃) + (x̃ − x)/σ². Then
//! ∇_θ ℓ = (∂r/∂θ)ᵀ r = −∇_θ[rᵀ∇ₓE_θ(x̃)] with r held fixed, i.e.
//!
//! ∇_θ ℓ = ∇_θ[vᵀ∇ₓE_θ(x̃)],  v = −r = ∇ₓE_θ(x̃) − (x̃ − x)/σ²,
//!
//! the gradient of a score regression ½‖∇ₓE_θ(x̃) − t‖² to the fixed target
//! t = (x̃ − x)/σ², which [`Objectives::score_regression_grad`] computes
//! with the loss in one pass at the noisy batch.
//!
//! # Several levels
//!
//! With levels σ₁ > … > σ_L each sample b draws its level lᵦ uniformly and
//! is weighted by λ(σ) = σ² (the NCSN weighting that makes every level's
//! loss O(1)): loss = (1/B) Σᵦ λ(σ_lᵦ) ℓ. The energy is not noise-conditional,
//! so the fit is a λ-weighted compromise between the perturbed laws q_σ; use
//! a small σ for density estimation. With one level the weight is 1.
//!
//! The learned score is that of q_σ = p_data ∗ N(0, σ²I), not p_data: the
//! estimator is biased by O(σ²) (for Gaussian data the precision is
//! (Σ + σ²I)⁻¹).
//!
//! # Antithetic noise
//!
//! [`Dsm::with_antithetic`] evaluates every sample at both x + σz and
//! x − σz (weights halved). −z has the law of z, so the loss keeps its
//! expectation, while the O(1/σ) term (z/σ)·∂_θ s_θ(x ± σz) of the gradient
//! cancels to first order between the pair, leaving O(1) noise: the variance
//! that makes small-σ DSM slow drops by a factor ~σ².
//!
//! Noise at step t (K = `ctx.key(DSM)`): z of sample b, coordinate i is
//! `normal(K, 0, b·d + i)`; the level of sample b is ⌊L·`uniform(K, 1, b)`⌋,
//! b the global index (`ctx.first` + the row: a share of a data-parallel
//! batch draws its samples' noise).

use crate::error::{config, Result};
use crate::estimator::{check_grad, data_parallel_base, frozen_state_methods, to_f64, Estimator, StepCtx};
use crate::seeds::tags;
use ebm_core::{rng, EnergyExt, Objectives, Real};

/// How the per-sample loss is weighted by its noise level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// λ(σ) = 1.
    Unit,
    /// λ(σ) = σ² (NCSN).
    SigmaSquared,
}

/// Denoising score matching.
///
/// Needs: [`Objectives`] (the fused score regression).
#[derive(Debug, Clone)]
pub struct Dsm<T> {
    sigmas: Vec<f64>,
    weighting: Weighting,
    antithetic: bool,
    state: Option<(usize, DsmState<T>)>,
}

/// The frozen noise of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct DsmState<T> {
    /// x̃ = x + σz (B×d), followed by x − σz with antithetic noise.
    pub noisy: Vec<T>,
    /// (x̃ − x)/σ² = ±z/σ, row by row with `noisy`.
    pub target: Vec<T>,
    /// The weight of each noisy row, λ(σ_lᵦ), halved for antithetic pairs.
    pub weight: Vec<f64>,
    /// The data batch size B.
    pub batch: usize,
}

/// L values geometrically spaced from `max` down to `min` (one value `max`
/// when L = 1).
pub fn geometric_sigmas(max: f64, min: f64, levels: usize) -> Vec<f64> {
    if levels <= 1 {
        return vec![max];
    }
    let r = (min / max).ln() / (levels - 1) as f64;
    (0..levels).map(|i| max * (r * i as f64).exp()).collect()
}

impl<T: Real> Dsm<T> {
    /// One noise level σ, unit weight.
    pub fn new(sigma: f64) -> Self {
        Self { sigmas: vec![sigma], weighting: Weighting::Unit, antithetic: false, state: None }
    }

    /// L geometric levels from `sigma_max` to `sigma_min`, σ²-weighted (NCSN).
    pub fn geometric(sigma_max: f64, sigma_min: f64, levels: usize) -> Self {
        Self {
            sigmas: geometric_sigmas(sigma_max, sigma_min, levels),
            weighting: Weighting::SigmaSquared,
            antithetic: false,
            state: None,
        }
    }

    setters! {
        /// Replaces the weighting.
        with_weighting(weighting: Weighting);
    }

    /// Uses antithetic pairs x ± σz (see the module docs).
    pub fn with_antithetic(mut self) -> Self {
        self.antithetic = true;
        self
    }

    /// The noise levels.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }

    /// The prepared state, if any.
    pub fn state(&self) -> Option<&DsmState<T>> {
        self.state.as_ref().map(|s| &s.1)
    }

    fn validate(&self) -> Result<()> {
        if self.sigmas.is_empty() || self.sigmas.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return config(format!("DSM noise levels must be positive and finite, got {:?}", self.sigmas));
        }
        Ok(())
    }

    /// Draws the noise of a step for the batch `x`.
    pub fn draw(&self, d: usize, x: &[T], ctx: StepCtx) -> Result<DsmState<T>> {
        self.validate()?;
        let b = x.len() / d;
        let key = ctx.key(tags::DSM);
        let mut z = vec![0f64; b * d];
        rng::fill_normal(key, 0, ctx.first * d as u64, &mut z);
        let l = self.sigmas.len();
        let mut u = vec![0f64; b];
        if l > 1 {
            rng::fill_uniform(key, 1, ctx.first, &mut u);
        }
        let copies = if self.antithetic { 2 } else { 1 };
        let mut noisy = vec![T::zero(); copies * b * d];
        let mut target = vec![T::zero(); copies * b * d];
        let mut weight = vec![0.0; copies * b];
        for c in 0..copies {
            let sign = if c == 0 { 1.0 } else { -1.0 };
            for j in 0..b {
                let level = ((u[j] * l as f64) as usize).min(l - 1);
                let s = self.sigmas[level];
                weight[c * b + j] = match self.weighting {
                    Weighting::Unit => 1.0,
                    Weighting::SigmaSquared => s * s,
                } / copies as f64;
                for i in 0..d {
                    let k = j * d + i;
                    noisy[c * b * d + k] = T::from_f64(x[k].to_f64() + sign * s * z[k]);
                    target[c * b * d + k] = T::from_f64(sign * z[k] / s);
                }
            }
        }
        Ok(DsmState { noisy, target, weight, batch: b })
    }

    /// The loss of a frozen state, and its gradient if asked.
    pub fn loss_with<M: Objectives<T> + ?Sized>(
        &self,
        model: &M,
        st: &DsmState<T>,
        grad: Option<&mut [T]>,
    ) -> Result<f64> {
        let d = model.dim();
        let rows = st.weight.len();
        let b = st.batch;
        if let Some(g) = grad {
            // Loss and gradient in one pass: score regression to the target
            // (x̃ − x)/σ² with weights λ/B (see the module docs).
            check_grad(g, model.num_params())?;
            let w: Vec<T> = st.weight.iter().map(|&l| T::from_f64(l / b as f64)).collect();
            return Ok(model.grad_params_score_regression(&st.noisy, &st.target, &w, g)?);
        }
        let (mut e, mut s) = (vec![T::zero(); rows], vec![T::zero(); rows * d]);
        model.energy_score(&st.noisy, &mut e, &mut s)?;
        let s = to_f64(&s);
        let mut loss = 0.0;
        for j in 0..rows {
            let mut sq = 0.0;
            for i in 0..d {
                let k = j * d + i;
                let r = s[k] + st.target[k].to_f64();
                sq += r * r;
            }
            loss += st.weight[j] * 0.5 * sq;
        }
        Ok(loss / b as f64)
    }
}

/// Stateless between steps (noise is keyed by the step).
impl<T> crate::state::Resumable for Dsm<T> {}

data_parallel_base!([T: Real] Dsm<T>, |_| "dsm");

impl<T: Real, M: Objectives<T> + ?Sized> Estimator<T, M> for Dsm<T> {
    frozen_state_methods! {
        draw: |dsm, model, x, ctx| dsm.draw(model.dim(), x, ctx),
        loss: |dsm, model, _, st, grad| dsm.loss_with(model, st, grad),
    }
}
