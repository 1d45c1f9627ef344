//! The Fisher divergence (seed eq 8) from a target p whose score is known to
//! a model p_θ:
//!
//! D_F(p‖p_θ) = E_p[½ ‖∇ₓ log p(x) − ∇ₓ log p_θ(x)‖²].
//!
//! Score matching minimises it without knowing ∇ₓ log p (eq 9–12, which
//! only differ from D_F by a θ-independent constant); when p is known — a
//! synthetic data law, a teacher model — this metric gives the divergence
//! itself, so a trained model can be scored on the quantity its objective
//! stands for. Neither normaliser is needed.
//!
//! Three forms: Monte Carlo over samples of p with a standard error
//! ([`fisher_divergence`] for a target given as an [`Energy`],
//! [`fisher_divergence_with`] for a score given as a closure), and a
//! weighted sum for quadrature ([`fisher_divergence_weighted`], with the
//! weights wᵢ p(xᵢ) of [`super::quadrature`]).

use super::{rows_f64, Estimate};
use crate::error::Result;
use ebm_core::{Energy, EnergyExt, Real};

/// ½‖a − b‖² for every row.
fn half_sq_diff(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    a.chunks_exact(d)
        .zip(b.chunks_exact(d))
        .map(|(a, b)| 0.5 * a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f64>())
        .collect()
}

fn model_scores<T: Real, M: Energy<T> + ?Sized>(model: &M, x: &[T], n: usize) -> Result<Vec<f64>> {
    let d = model.dim();
    let (mut e, mut s) = (vec![T::zero(); n], vec![T::zero(); n * d]);
    model.energy_score(x, &mut e, &mut s)?;
    Ok(s.iter().map(|&v| v.to_f64()).collect())
}

fn check_same_dim(a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(ebm_core::EbmError::DimMismatch { what: "target dimension", expected: b, got: a }.into());
    }
    Ok(())
}

/// D_F(target‖model) by Monte Carlo over `x`, samples of the target
/// (row-major n×d): the mean of ½‖s_target − s_model‖² and its standard
/// error.
///
/// Errors: the two models' dimensions differ, or a model error on `x`.
pub fn fisher_divergence<T: Real, P: Energy<T> + ?Sized, M: Energy<T> + ?Sized>(
    target: &P,
    model: &M,
    x: &[T],
) -> Result<Estimate> {
    let d = model.dim();
    check_same_dim(target.dim(), d)?;
    let (_, n) = rows_f64("x", x, d)?;
    let st = model_scores(target, x, n)?;
    let sm = model_scores(model, x, n)?;
    Ok(Estimate::from_values(&half_sq_diff(&st, &sm, d)))
}

/// D_F(p‖model) by Monte Carlo over samples `x` of p, whose score at one
/// point `target_score(x_row, out_row)` writes ∇ₓ log p.
///
/// Errors: model errors on `x`.
pub fn fisher_divergence_with<T: Real, F, M: Energy<T> + ?Sized>(
    target_score: F,
    model: &M,
    x: &[T],
) -> Result<Estimate>
where
    F: Fn(&[f64], &mut [f64]),
{
    let d = model.dim();
    let (xf, n) = rows_f64("x", x, d)?;
    let mut st = vec![0.0; n * d];
    for (xr, sr) in xf.chunks_exact(d).zip(st.chunks_exact_mut(d)) {
        target_score(xr, sr);
    }
    let sm = model_scores(model, x, n)?;
    Ok(Estimate::from_values(&half_sq_diff(&st, &sm, d)))
}

/// Σᵢ wᵢ ½‖s_target(xᵢ) − s_model(xᵢ)‖² for quadrature nodes `points`
/// (row-major) with weights wᵢ that already include the target's density
/// (so they sum to ≈ 1).
///
/// Errors: dimensions differ, `weights` does not have one value per node,
/// model errors on `points`.
pub fn fisher_divergence_weighted<T: Real, P: Energy<T> + ?Sized, M: Energy<T> + ?Sized>(
    target: &P,
    model: &M,
    points: &[T],
    weights: &[f64],
) -> Result<f64> {
    let d = model.dim();
    check_same_dim(target.dim(), d)?;
    let (_, n) = rows_f64("points", points, d)?;
    ebm_core::check_len("weights", weights, n)?;
    let st = model_scores(target, points, n)?;
    let sm = model_scores(model, points, n)?;
    Ok(half_sq_diff(&st, &sm, d).iter().zip(weights).map(|(v, w)| v * w).sum())
}
