//! Small dense f64 linear algebra for d×d matrices (row-major): Cholesky and
//! triangular solves (from [`ebm_core::linalg`], their one home), SPD
//! inverse, log-determinant, sample moments. Used by the NCE noise model,
//! the data generators and tests; d is small.

use crate::error::{config, Result};
use ebm_core::Real;

pub use ebm_core::linalg::{solve_lower, solve_lower_t};

/// Lower Cholesky factor L (row-major d×d, zeros above the diagonal) of the
/// symmetric positive-definite `a`, with A = L Lᵀ ([`ebm_core::linalg::cholesky`]).
///
/// Errors: [`crate::EstError::Config`] if `a` is not d×d or not positive
/// definite.
pub fn cholesky(a: &[f64], d: usize) -> Result<Vec<f64>> {
    spd("cholesky", a, d, ebm_core::linalg::cholesky)
}

/// Runs a core SPD routine `f` with this crate's errors: a matrix that is
/// not d×d, or not positive definite, is a [`crate::EstError::Config`].
fn spd(what: &str, a: &[f64], d: usize, f: fn(&[f64], usize) -> ebm_core::Result<Vec<f64>>) -> Result<Vec<f64>> {
    if a.len() != d * d || d == 0 {
        return config(format!("{what}: expected a {d}×{d} matrix, got {} values", a.len()));
    }
    f(a, d).or_else(|e| match e {
        ebm_core::EbmError::InvalidConfig(m) => config(m),
        e => Err(e.into()),
    })
}

/// log det A = 2 Σᵢ log Lᵢᵢ from the Cholesky factor of A.
pub fn log_det_from_chol(l: &[f64], d: usize) -> f64 {
    (0..d).map(|i| 2.0 * l[i * d + i].ln()).sum()
}

/// The inverse of the SPD matrix `a` (row-major d×d)
/// ([`ebm_core::linalg::inverse_spd`]).
///
/// Errors: as [`cholesky`].
pub fn inverse_spd(a: &[f64], d: usize) -> Result<Vec<f64>> {
    spd("inverse_spd", a, d, ebm_core::linalg::inverse_spd)
}

/// The inverse of the general square matrix `a` (row-major d×d) and
/// log |det A|, by LU decomposition with partial pivoting.
///
/// Errors: [`crate::EstError::Config`] if `a` is not d×d or is singular to
/// working precision.
pub fn inverse_log_abs_det(a: &[f64], d: usize) -> Result<(Vec<f64>, f64)> {
    if a.len() != d * d || d == 0 {
        return config(format!("inverse: expected a {d}×{d} matrix, got {} values", a.len()));
    }
    let mut lu = a.to_vec();
    let mut perm: Vec<usize> = (0..d).collect();
    let mut log_det = 0.0;
    for c in 0..d {
        let p =
            (c..d).max_by(|&i, &j| lu[i * d + c].abs().total_cmp(&lu[j * d + c].abs())).expect("non-empty pivot range");
        let piv = lu[p * d + c];
        if !(piv.abs() > 0.0 && piv.is_finite()) {
            return config(format!("inverse: matrix is singular (pivot {c} is {piv})"));
        }
        if p != c {
            for j in 0..d {
                lu.swap(p * d + j, c * d + j);
            }
            perm.swap(p, c);
        }
        log_det += piv.abs().ln();
        for i in c + 1..d {
            let f = lu[i * d + c] / piv;
            lu[i * d + c] = f;
            for j in c + 1..d {
                lu[i * d + j] -= f * lu[c * d + j];
            }
        }
    }
    // Solve A X = I column by column: P A = L U.
    let mut inv = vec![0.0; d * d];
    let mut col = vec![0.0; d];
    for j in 0..d {
        for i in 0..d {
            col[i] = if perm[i] == j { 1.0 } else { 0.0 };
        }
        for i in 0..d {
            let s: f64 = (0..i).map(|k| lu[i * d + k] * col[k]).sum();
            col[i] -= s;
        }
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|k| lu[i * d + k] * col[k]).sum();
            col[i] = (col[i] - s) / lu[i * d + i];
        }
        for i in 0..d {
            inv[i * d + j] = col[i];
        }
    }
    Ok((inv, log_det))
}

/// Sample mean (length d) and maximum-likelihood covariance (1/n, row-major
/// d×d) of the rows of `x`, accumulated in f64.
pub fn mean_cov<T: Real>(x: &[T], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len() / d;
    let mut mean = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for i in 0..d {
            mean[i] += row[i].to_f64();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; d * d];
    let mut r = vec![0.0; d];
    for row in x.chunks_exact(d) {
        for i in 0..d {
            r[i] = row[i].to_f64() - mean[i];
        }
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += r[i] * r[j];
            }
        }
    }
    for i in 0..d {
        for j in 0..=i {
            let v = cov[i * d + j] / n as f64;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mean, cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A·inv = I (3×3) within 1e-12.
    fn assert_inverse(a: &[f64], inv: &[f64]) {
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn cholesky_inverse_and_log_det() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        // The factor is ebm_core's (tested there).
        let l = cholesky(&a, 3).unwrap();
        assert_eq!(l, ebm_core::linalg::cholesky(&a, 3).unwrap());
        assert_inverse(&a, &inverse_spd(&a, 3).unwrap());
        // det by cofactors
        let det = 4.0 * (5.0 * 3.0 - 1.0) - 2.0 * (2.0 * 3.0 - 0.6) + 0.6 * (2.0 - 5.0 * 0.6);
        assert!((log_det_from_chol(&l, 3) - f64::ln(det)).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
    }

    #[test]
    fn general_inverse_and_log_abs_det() {
        // Not symmetric, and a₀₀ = 0 forces a row swap.
        let a = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, -1.0, 2.0];
        let (inv, ld) = inverse_log_abs_det(&a, 3).unwrap();
        assert_inverse(&a, &inv);
        // det by cofactors along row 0: 0·2 − 2·2 + 1·(−4) = −8
        assert!((ld - 8f64.ln()).abs() < 1e-12);
        assert!(inverse_log_abs_det(&[1.0, 2.0, 2.0, 4.0], 2).is_err());
    }
}
