//! Kernel Stein discrepancy (Liu, Lee & Jordan 2016; Chwialkowski, Strathmann
//! & Gretton 2016; Gorham & Mackey 2017): how far samples xᵢ ~ q are from a
//! model p, using only the model's score s = ∇ₓ log p = −∇ₓE (so Z is never
//! needed, as in seed §3 and eq 25).
//!
//! # Definition
//!
//! Stein's identity (seed eq 25 with the critic f in a reproducing-kernel
//! Hilbert space of kernel k) gives the Stein kernel
//!
//! u(x, y) = s(x)ᵀs(y) k(x, y) + s(x)ᵀ∇_y k + s(y)ᵀ∇ₓk + tr ∇ₓ∇_y k,
//!
//! and KSD²(q‖p) = E_{x,y ~ q}[u(x, y)] = sup_{‖f‖_H ≤ 1} (E_q[sᵀf + ∇·f])²,
//! which is 0 iff q = p (for a characteristic kernel and smooth p).
//! For a radial kernel k = φ(‖r‖²), r = x − y, q = ‖r‖²
//! ([`super::kernel`]): ∇ₓk = 2φ′r = −∇_y k and
//! tr ∇ₓ∇_y k = −4φ″q − 2dφ′, so
//!
//! u(x, y) = φ s(x)ᵀs(y) − 2φ′ (s(x) − s(y))ᵀr − 4φ″q − 2dφ′.
//!
//! # Estimators and their standard error
//!
//! The U-statistic averages u over the n(n − 1) ordered pairs i ≠ j
//! (unbiased); the V-statistic over all n² pairs (biased by
//! (E[u(x, x)] − KSD²)/n, but ≥ 0). The standard error uses the exact
//! variance of a U-statistic of order two (Hoeffding 1948),
//!
//! Var U = 4(n − 2)/(n(n − 1)) ζ₁ + 2/(n(n − 1)) ζ₂,
//!
//! ζ₁ = Var h₁(X), h₁(x) = E_Y u(x, Y), ζ₂ = Var u(X, Y), with h₁(xᵢ)
//! estimated by the row means of u. When q = p the statistic is degenerate
//! (ζ₁ = 0) and the ζ₂ term, of order 1/n, is the whole error; that is why
//! it is kept. Cost O(n²d), rows in parallel.

use super::kernel::{Kernel, Statistic};
use super::rows_f64;
use crate::error::{config, Result};
use ebm_core::{Energy, EnergyExt, Real};
use rayon::prelude::*;

/// A kernel Stein discrepancy estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsdEstimate {
    /// The estimate of KSD² (the U-statistic can be slightly negative).
    pub ksd2: f64,
    /// Its standard error (see the module docs).
    pub std_err: f64,
    /// The number of samples.
    pub n: usize,
    /// The statistic used.
    pub statistic: Statistic,
}

impl KsdEstimate {
    /// KSD = √max(KSD², 0).
    pub fn ksd(&self) -> f64 {
        self.ksd2.max(0.0).sqrt()
    }
}

/// The Stein kernel u(x, y) for scores `sx` = s(x), `sy` = s(y).
#[inline]
pub fn stein_kernel(kernel: &Kernel, x: &[f64], sx: &[f64], y: &[f64], sy: &[f64]) -> f64 {
    let d = x.len();
    let (mut q, mut ss, mut dr) = (0.0, 0.0, 0.0);
    for i in 0..d {
        let r = x[i] - y[i];
        q += r * r;
        ss += sx[i] * sy[i];
        dr += (sx[i] - sy[i]) * r;
    }
    let (p, p1, p2) = kernel.radial(q);
    p * ss - 2.0 * p1 * dr - 4.0 * p2 * q - 2.0 * d as f64 * p1
}

/// KSD² of the samples `x` (row-major n×d, n ≥ 2) against `model`, whose
/// scores are computed at the samples.
///
/// Errors: model errors (shape, non-finite samples), an invalid kernel,
/// fewer than two samples.
pub fn ksd<T: Real, M: Energy<T> + ?Sized>(
    model: &M,
    x: &[T],
    kernel: Kernel,
    statistic: Statistic,
) -> Result<KsdEstimate> {
    let d = model.dim();
    let (xf, n) = rows_f64("x", x, d)?;
    let (mut e, mut s) = (vec![T::zero(); n], vec![T::zero(); n * d]);
    model.energy_score(x, &mut e, &mut s)?;
    let sf: Vec<f64> = s.iter().map(|&v| v.to_f64()).collect();
    ksd_from_scores(&xf, &sf, d, kernel, statistic)
}

/// KSD² from samples `x` and the model's scores `score` = ∇ₓ log p at them
/// (both row-major n×d).
///
/// Errors: mismatched or ragged buffers, non-finite values, an invalid
/// kernel, fewer than two samples.
pub fn ksd_from_scores(
    x: &[f64],
    score: &[f64],
    d: usize,
    kernel: Kernel,
    statistic: Statistic,
) -> Result<KsdEstimate> {
    kernel.validate()?;
    let n = ebm_core::check_batch("x", x, d)?;
    ebm_core::check_len("score", score, x.len())?;
    ebm_core::check_finite("score", score, d)?;
    if n < 2 {
        return config("KSD needs at least two samples");
    }
    // Per row i: Σ_{j≠i} u_ij, Σ_{j≠i} u_ij², u_ii.
    let rows: Vec<(f64, f64, f64)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (xi, si) = (&x[i * d..(i + 1) * d], &score[i * d..(i + 1) * d]);
            let (mut sum, mut sq) = (0.0, 0.0);
            for j in 0..n {
                if j == i {
                    continue;
                }
                let u = stein_kernel(&kernel, xi, si, &x[j * d..(j + 1) * d], &score[j * d..(j + 1) * d]);
                sum += u;
                sq += u * u;
            }
            (sum, sq, stein_kernel(&kernel, xi, si, xi, si))
        })
        .collect();
    let nf = n as f64;
    let pairs = nf * (nf - 1.0);
    let off: f64 = rows.iter().map(|r| r.0).sum();
    let u_stat = off / pairs;
    let zeta2 = (rows.iter().map(|r| r.1).sum::<f64>() / pairs - u_stat * u_stat).max(0.0);
    let zeta1 = rows
        .iter()
        .map(|r| {
            let h = r.0 / (nf - 1.0) - u_stat;
            h * h
        })
        .sum::<f64>()
        / (nf - 1.0).max(1.0);
    let var = 4.0 * (nf - 2.0) / pairs * zeta1 + 2.0 / pairs * zeta2;
    let ksd2 = match statistic {
        Statistic::U => u_stat,
        Statistic::V => (off + rows.iter().map(|r| r.2).sum::<f64>()) / (nf * nf),
    };
    Ok(KsdEstimate { ksd2, std_err: var.max(0.0).sqrt(), n, statistic })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// u(x, y) against its definition with the kernel's gradients taken by
    /// central differences.
    #[test]
    fn stein_kernel_matches_its_definition() {
        let k = Kernel::imq(1.1, -0.5);
        let (x, y) = ([0.3, -0.7, 1.2], [-0.4, 0.5, 0.9]);
        let (sx, sy) = ([1.0, -0.2, 0.4], [-0.3, 0.8, 0.1]);
        let h = 1e-5;
        let kk = |a: &[f64], b: &[f64]| k.eval(a, b);
        let mut want: f64 = sx.iter().zip(&sy).map(|(a, b)| a * b).sum::<f64>() * kk(&x, &y);
        for i in 0..3 {
            let (mut yp, mut ym, mut xp, mut xm) = (y, y, x, x);
            yp[i] += h;
            ym[i] -= h;
            xp[i] += h;
            xm[i] -= h;
            want += sx[i] * (kk(&x, &yp) - kk(&x, &ym)) / (2.0 * h);
            want += sy[i] * (kk(&xp, &y) - kk(&xm, &y)) / (2.0 * h);
            let mixed = (kk(&xp, &yp) - kk(&xp, &ym) - kk(&xm, &yp) + kk(&xm, &ym)) / (4.0 * h * h);
            want += mixed;
        }
        let got = stein_kernel(&k, &x, &sx, &y, &sy);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
