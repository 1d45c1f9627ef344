//! The computations behind the Python methods, on plain slices and a model
//! of either precision. No Python here: these run with the GIL released.
//!
//! Losses are batch means (per-sample weights wᵦ = 1/B), and each returns
//! its value with its θ-gradient in the model's flat layout.

use crate::arrays::Float;
use ebm_core::{EbmError, EnergyExt, Model, Result};
use ebm_estimators::ssm::{Projection, Ssm};
use ebm_estimators::EstError;

/// A model of precision `T` behind the seam.
pub type Dyn<T> = dyn Model<T>;

/// E, the score −∇ₓE and the Hessian diagonal ∂²E/∂xᵢ² (the last two only
/// when asked for), for B samples.
pub fn eval<T: Float>(m: &dyn ebm_core::Energy<T>, x: &[T], b: usize, score: bool, hess: bool) -> Result<(Vec<T>, Vec<T>, Vec<T>)> {
    let n = b * m.dim();
    let mut e = vec![T::zero(); b];
    let mut s = vec![T::zero(); if score || hess { n } else { 0 }];
    let mut h = vec![T::zero(); if hess { n } else { 0 }];
    match (score, hess) {
        (_, true) => m.energy_score_hess_diag(x, &mut e, &mut s, &mut h)?,
        (true, false) => m.energy_score(x, &mut e, &mut s)?,
        (false, false) => m.energy(x, &mut e)?,
    }
    Ok((e, s, h))
}

/// A loss of a batch x and a second batch of its shape (a target, a
/// direction per sample), B: its value and θ-gradient.
pub type PairedLoss<T> = fn(&Dyn<T>, &[T], &[T], usize) -> Result<(f64, Vec<T>)>;

fn mean_weights<T: Float>(b: usize) -> Vec<T> {
    vec![T::one() / T::from_f64(b as f64); b]
}

/// Exact score matching (eq 12): (1/B)Σᵦ ½‖∇ₓE(xᵦ)‖² − tr ∇ₓ²E(xᵦ) and its
/// θ-gradient, in one pass.
pub fn exact_sm<T: Float>(m: &Dyn<T>, x: &[T], b: usize) -> Result<(f64, Vec<T>)> {
    let mut g = vec![T::zero(); m.num_params()];
    let loss = m.sm_loss_grad_params(x, &mean_weights(b), &mut g)?;
    Ok((loss, g))
}

/// Score regression (DSM, eq 13): (1/B)Σᵦ ½‖∇ₓE(xᵦ) − tᵦ‖² and its
/// θ-gradient, in one pass.
pub fn score_regression<T: Float>(m: &Dyn<T>, x: &[T], target: &[T], b: usize) -> Result<(f64, Vec<T>)> {
    let mut g = vec![T::zero(); m.num_params()];
    let loss = m.grad_params_score_regression(x, target, &mean_weights(b), &mut g)?;
    Ok((loss, g))
}

/// Sliced score matching (§3.3) for M directions per sample (`v`: M·B
/// rows, sample-major), as `ebm train --estimator ssm` computes it
/// (`ebm_estimators::Ssm::loss_with`): the loss
/// (1/MB)Σᵦₘ ½(vᵦₘᵀ∇ₓE)² − vᵦₘᵀ∇ₓ²E vᵦₘ and its θ-gradient. The first
/// term's gradient Σᵦₘ (cᵦₘ/MB)∇θ(vᵦₘᵀ∇ₓE), cᵦₘ = vᵦₘᵀ∇ₓE, is linear in
/// the direction, so it is one pass ∇θ(uᵦᵀ∇ₓE) with uᵦ = Σₘ cᵦₘvᵦₘ/M; in
/// all 2 + 2M passes over B rows (the score, that gradient, then vᵀ∇ₓ²E v
/// and its gradient over the M·B rows) instead of 4M.
pub fn sliced_sm<T: Float>(m: &Dyn<T>, x: &[T], v: &[T], b: usize) -> Result<(f64, Vec<T>)> {
    let per_row = v.len() / (b * m.dim()).max(1);
    let mut g = vec![T::zero(); m.num_params()];
    let ssm = Ssm::<T>::new(per_row, Projection::Gaussian);
    let loss = ssm.loss_with(m, x, v, Some(&mut g)).map_err(|e| match e {
        EstError::Model(e) => e,
        other => EbmError::InvalidConfig(other.to_string()),
    })?;
    Ok((loss, g))
}

/// Noise-contrastive estimation (eq 22–24) on `points` (B data points,
/// then ν·B noise points) with log p_n at each and log-normaliser c: the
/// loss L (mean over the (1 + ν)B points), its θ-gradient and ∂L/∂c.
pub fn nce<T: Float>(m: &Dyn<T>, points: &[T], n_data: usize, log_pn: &[f64], c: f64) -> Result<(f64, Vec<T>, f64)> {
    let n = points.len() / m.dim().max(1);
    let nu = if n_data == 0 || !n.is_multiple_of(n_data) || n < 2 * n_data {
        return Err(ebm_core::EbmError::InvalidConfig(format!(
            "NCE needs ν·B noise points for B = {n_data} data points, ν ≥ 1 an integer; got {} noise points",
            n.saturating_sub(n_data)
        )));
    } else {
        n / n_data - 1
    };
    let mut g = vec![T::zero(); m.num_params()];
    let r = m.nce_loss_grad_params(points, n_data, log_pn, c, nu, &mut g)?;
    Ok((r.loss, g, r.dloss_dc))
}

/// `steps` ULA (eq 14) or MALA steps from `x0`; the chains' end points and,
/// for MALA, the acceptance rate.
pub fn langevin<T: Float>(
    m: &Dyn<T>,
    x0: &[T],
    b: usize,
    mala: bool,
    steps: usize,
    eps: T,
    seed: u64,
) -> Result<(Vec<T>, Option<f64>)> {
    let mut x = x0.to_vec();
    if mala {
        let mut accepts = vec![0u32; b];
        let rate = m.langevin_mala(&mut x, eps, steps, seed, 0, &mut accepts)?;
        Ok((x, Some(rate)))
    } else {
        m.langevin_ula(&mut x, eps, steps, seed, 0)?;
        Ok((x, None))
    }
}
