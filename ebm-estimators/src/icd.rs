//! The KL term of improved contrastive divergence (Du et al. 2020), the term
//! (I) of seed eq 5 that plain CD drops.
//!
//! # Derivation
//!
//! Let the negative chains end with one Langevin step (seed eq 14) from
//! x (the second-to-last state, held fixed):
//!
//! x′(θ) = x − (ε²/2) ∇ₓE_θ(x) + ε z.
//!
//! Du et al. minimise the KL between the sampler's law q_θ and p_θ through
//! its dependence on θ *via the samples only*, with the energy's own
//! parameters frozen at their current value θ̄ (a stop-gradient copy):
//!
//! L_KL(θ) = (1/B) Σᵦ E_θ̄(x′ᵦ(θ))   (the entropy term of the paper is not
//! included).
//!
//! L_KL is a mean of per-sample terms: sample b's term depends on θ, its own
//! chain and its own noise only (Du et al.'s entropy term, a
//! nearest-neighbour estimate *across* the batch, is the part that would
//! couple samples, and it is left out). So data-parallel training splits it
//! like any per-sample loss, with no exchange between ranks: rank r's
//! chains draw the noise of their global indices ([`last_step_at`]).
//!
//! By the chain rule, with vᵦ = ∇ₓE_θ̄(x′ᵦ) (a constant in θ),
//!
//! ∇_θ L_KL = (1/B) Σᵦ (∂x′ᵦ/∂θ)ᵀ vᵦ = −(ε²/2)(1/B) Σᵦ ∇_θ [vᵦᵀ ∇ₓE_θ(xᵦ)],
//!
//! which is exactly [`EnergyExt::grad_params_v_dot_grad_x`] at the
//! second-to-last states with directions vᵦ and weights −(ε²/2)/B. Only the
//! last step is differentiated (the paper's cheap variant); earlier steps
//! are treated as constants.
//!
//! The last step runs through [`EnergyExt::langevin_ula`] (so the model's
//! [`Langevin::ula`], a GPU override included, is used) with key
//! K = `ctx.key(ICD)` and stream 0; its noise z is then read back from
//! Philox with the same addressing (`normal(K, 0, b·d + i)`, b the chain's
//! global index).

use crate::error::Result;
use ebm_core::langevin::NoiseAt;
use ebm_core::{rng, Energy, EnergyExt, Langevin, Real, Trainable};

/// Weight and step size of the improved-CD KL term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KlTerm {
    /// The weight λ of L_KL in the objective.
    pub weight: f64,
    /// The step size ε of the differentiated last Langevin step.
    pub eps: f64,
}

/// The frozen state of the KL term: the last step's start, noise and the
/// direction v = ∇ₓE_θ̄(x′).
#[derive(Debug, Clone, PartialEq)]
pub struct KlState<T> {
    /// The second-to-last chain states x (B×d).
    pub x_prev: Vec<T>,
    /// The last step's noise z (B×d).
    pub z: Vec<T>,
    /// vᵦ = ∇ₓE_θ̄(x′ᵦ) (B×d), the negated score at the final samples.
    pub v: Vec<T>,
    /// E_θ̄(x′ᵦ).
    pub energy: Vec<T>,
}

/// Runs the last (differentiated) ULA step on `chains` in place and returns
/// the KL state. Needs: [`Langevin`].
pub fn last_step<T: Real, M: Langevin<T> + ?Sized>(
    model: &M,
    chains: &mut [T],
    kl: &KlTerm,
    key: u64,
) -> Result<KlState<T>> {
    last_step_at(model, chains, kl, key, 0)
}

/// [`last_step`] on a share of the chains whose first is global chain
/// `first_chain` (the noise of each chain is that of its global index).
pub fn last_step_at<T: Real, M: Langevin<T> + ?Sized>(
    model: &M,
    chains: &mut [T],
    kl: &KlTerm,
    key: u64,
    first_chain: u64,
) -> Result<KlState<T>> {
    crate::samplers::check_eps("improved-CD KL term", kl.eps)?;
    let d = model.dim();
    let b = ebm_core::check_batch("chains", chains, d)?;
    let x_prev = chains.to_vec();
    let at = NoiseAt::new(key, 0).from_chain(first_chain);
    model.langevin_ula_at(chains, T::from_f64(kl.eps), 1, at)?;
    let mut z = vec![T::zero(); b * d];
    rng::fill_normal(key, 0, first_chain * d as u64, &mut z);
    let mut energy = vec![T::zero(); b];
    let mut v = vec![T::zero(); b * d];
    model.energy_score(chains, &mut energy, &mut v)?;
    v.iter_mut().for_each(|s| *s = -*s);
    Ok(KlState { x_prev, z, v, energy })
}

/// x′(θ) = x + (ε²/2) s_θ(x) + ε z recomputed at the model's current θ.
/// Needs: [`Energy`].
pub fn x_next<T: Real, M: Energy<T> + ?Sized>(model: &M, st: &KlState<T>, eps: f64) -> Result<Vec<T>> {
    let b = st.x_prev.len() / model.dim();
    let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); st.x_prev.len()]);
    model.energy_score(&st.x_prev, &mut e, &mut s)?;
    let half = T::from_f64(0.5 * eps * eps);
    let eps = T::from_f64(eps);
    Ok(st.x_prev.iter().zip(&s).zip(&st.z).map(|((&x, &s), &z)| x + half * s + eps * z).collect())
}

/// L_KL(θ) = (1/B) Σᵦ E_θ̄(x′ᵦ(θ)) with x′ computed by `model` (θ) and the
/// energy by `frozen` (θ̄). With `frozen` = `model` this is the value the
/// estimators report. Needs: [`Energy`] (both).
pub fn kl_loss<T: Real, M: Energy<T> + ?Sized, F: Energy<T> + ?Sized>(
    model: &M,
    frozen: &F,
    st: &KlState<T>,
    eps: f64,
) -> Result<f64> {
    let xn = x_next(model, st, eps)?;
    let b = st.energy.len();
    let mut e = vec![T::zero(); b];
    frozen.energy(&xn, &mut e)?;
    Ok(e.iter().map(|&v| v.to_f64()).sum::<f64>() / b as f64)
}

/// `grad ← scale · ∇_θ L_KL = −scale·(ε²/2)/B Σᵦ ∇_θ[vᵦᵀ∇ₓE_θ(xᵦ)]`.
/// Needs: [`Trainable`].
pub fn kl_grad<T: Real, M: Trainable<T> + ?Sized>(
    model: &M,
    st: &KlState<T>,
    eps: f64,
    scale: f64,
    grad: &mut [T],
) -> Result<()> {
    let b = st.energy.len();
    let w = vec![T::from_f64(-scale * 0.5 * eps * eps / b as f64); b];
    model.grad_params_v_dot_grad_x(&st.x_prev, &st.v, &w, grad)?;
    Ok(())
}
