//! Maximum mean discrepancy (Gretton, Borgwardt, Rasch, Schölkopf & Smola
//! 2012) between model samples and data: a two-sample distance that needs
//! neither the model's energy nor its score.
//!
//! # Definition
//!
//! For a kernel k with feature map into a Hilbert space H,
//! MMD(p, q) = ‖E_p k(x, ·) − E_q k(y, ·)‖_H, so
//!
//! MMD² = E k(x, x′) + E k(y, y′) − 2 E k(x, y),  x, x′ ~ p, y, y′ ~ q,
//!
//! zero iff p = q for a characteristic kernel (RBF, IMQ).
//!
//! # Estimators
//!
//! With m samples xᵢ and n samples yⱼ:
//!
//! - U (unbiased, Gretton et al. eq 3): off-diagonal means of the two
//!   within-sample kernel matrices minus twice the mean cross term;
//! - V (biased): the same with the diagonals included. When p = q its
//!   expectation is (1/m + 1/n)(E k(x, x) − E k(x, x′)) > 0, so the V
//!   estimate of MMD shrinks like n^{−1/2} (the rate the tests check).
//!
//! The standard error is the first-order (Hoeffding projection) one,
//! Var ≈ 4 Var(aᵢ)/m + 4 Var(bⱼ)/n with aᵢ = mean_{j≠i} k(xᵢ, xⱼ) −
//! mean_j k(xᵢ, yⱼ) and bⱼ likewise; it is accurate when MMD > 0 and of the
//! right order 1/n when p = q. Cost O((m + n)²d), rows in parallel.

use super::kernel::{sq_dist, Kernel, Statistic};
use super::{rows_f64, Estimate};
use crate::error::{config, Result};
use ebm_core::Real;
use rayon::prelude::*;

/// An MMD estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdEstimate {
    /// The estimate of MMD² (the U-statistic can be slightly negative).
    pub mmd2: f64,
    /// Its standard error (see the module docs).
    pub std_err: f64,
    /// The statistic used.
    pub statistic: Statistic,
}

impl MmdEstimate {
    /// MMD = √max(MMD², 0).
    pub fn mmd(&self) -> f64 {
        self.mmd2.max(0.0).sqrt()
    }
}

/// Per row r of `a`: (Σ_{j≠r} k(a_r, a_j), Σ_j k(a_r, b_j)).
fn row_sums(kernel: &Kernel, a: &[f64], b: &[f64], d: usize) -> Vec<(f64, f64)> {
    let (na, nb) = (a.len() / d, b.len() / d);
    (0..na)
        .into_par_iter()
        .map(|r| {
            let ar = &a[r * d..(r + 1) * d];
            let mut within = 0.0;
            for j in 0..na {
                if j != r {
                    within += kernel.radial(sq_dist(ar, &a[j * d..(j + 1) * d])).0;
                }
            }
            let cross: f64 = (0..nb).map(|j| kernel.radial(sq_dist(ar, &b[j * d..(j + 1) * d])).0).sum();
            (within, cross)
        })
        .collect()
}

/// MMD² between the samples `x` (m×`dim`) and `y` (n×`dim`), m, n ≥ 2.
///
/// Errors: ragged, empty or non-finite batches, fewer than two rows in
/// either, an invalid kernel.
pub fn mmd<T: Real>(x: &[T], y: &[T], dim: usize, kernel: Kernel, statistic: Statistic) -> Result<MmdEstimate> {
    kernel.validate()?;
    let (xf, m) = rows_f64("x", x, dim)?;
    let (yf, n) = rows_f64("y", y, dim)?;
    if m < 2 || n < 2 {
        return config(format!("MMD needs at least two samples on each side, got {m} and {n}"));
    }
    let rx = row_sums(&kernel, &xf, &yf, dim);
    let ry = row_sums(&kernel, &yf, &xf, dim);
    let (mf, nf) = (m as f64, n as f64);
    let kxx: f64 = rx.iter().map(|r| r.0).sum();
    let kyy: f64 = ry.iter().map(|r| r.0).sum();
    let kxy: f64 = rx.iter().map(|r| r.1).sum();
    let k0 = kernel.radial(0.0).0;
    let mmd2 = match statistic {
        Statistic::U => kxx / (mf * (mf - 1.0)) + kyy / (nf * (nf - 1.0)) - 2.0 * kxy / (mf * nf),
        Statistic::V => (kxx + mf * k0) / (mf * mf) + (kyy + nf * k0) / (nf * nf) - 2.0 * kxy / (mf * nf),
    };
    let a: Vec<f64> = rx.iter().map(|r| r.0 / (mf - 1.0) - r.1 / nf).collect();
    let b: Vec<f64> = ry.iter().map(|r| r.0 / (nf - 1.0) - r.1 / mf).collect();
    let (ea, eb) = (Estimate::from_values(&a), Estimate::from_values(&b));
    // Estimate::std_err² = Var/len, which is the Var(a)/m of the docs.
    let var = 4.0 * (ea.std_err * ea.std_err + eb.std_err * eb.std_err);
    Ok(MmdEstimate { mmd2, std_err: var.sqrt(), statistic })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The V-statistic on tiny samples against the double sum written out.
    #[test]
    fn v_statistic_matches_the_double_sum() {
        let k = Kernel::rbf(0.8);
        let x = [0.0f64, 0.5, 1.5];
        let y = [0.2f64, -1.0];
        let kk = |a: f64, b: f64| k.eval(&[a], &[b]);
        let mut want = 0.0;
        for &a in &x {
            for &b in &x {
                want += kk(a, b) / 9.0;
            }
        }
        for &a in &y {
            for &b in &y {
                want += kk(a, b) / 4.0;
            }
        }
        for &a in &x {
            for &b in &y {
                want -= 2.0 * kk(a, b) / 6.0;
            }
        }
        let got = mmd(&x, &y, 1, k, Statistic::V).unwrap().mmd2;
        assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        let u = mmd(&x, &y, 1, k, Statistic::U).unwrap().mmd2;
        let mut want_u = 0.0;
        for (i, &a) in x.iter().enumerate() {
            for (j, &b) in x.iter().enumerate() {
                if i != j {
                    want_u += kk(a, b) / 6.0;
                }
            }
        }
        want_u += 2.0 * kk(y[0], y[1]) / 2.0;
        for &a in &x {
            for &b in &y {
                want_u -= 2.0 * kk(a, b) / 6.0;
            }
        }
        assert!((u - want_u).abs() < 1e-14, "{u} vs {want_u}");
    }
}
