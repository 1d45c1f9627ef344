//! The one home of ebm's small dense linear algebra: the packed lower
//! triangle, the Cholesky factorisation A = L Lᵀ, and triangular solves.
//! Used by the Gaussian and mixture families (precision factors), the NCE
//! noise law and the data generators; d is small.
//!
//! Matrices are row-major d×d. A *packed* lower triangle stores Lᵢⱼ (j ≤ i)
//! row by row at index [`tri`]`(i, j)` = i(i + 1)/2 + j, the layout of the
//! families' parameter buffers and of the kernels.

use crate::error::{EbmError, Result};
use crate::real::Real;

/// Index of Lᵢⱼ (j ≤ i) in a packed row-major lower triangle.
#[inline(always)]
pub fn tri(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// The packed lower Cholesky factor L of the symmetric positive-definite
/// `a` (row-major d×d; only its lower triangle is read): A = L Lᵀ.
///
/// Errors: [`EbmError::DimMismatch`] if `a` is not d×d (or d = 0), and
/// [`EbmError::InvalidConfig`] naming the pivot if `a` is not positive
/// definite (or holds a non-finite value).
pub fn cholesky_packed<T: Real>(a: &[T], d: usize) -> Result<Vec<T>> {
    if d == 0 || a.len() != d * d {
        return Err(EbmError::DimMismatch { what: "cholesky: matrix", expected: d * d, got: a.len() });
    }
    let mut l = vec![T::zero(); d * (d + 1) / 2];
    for j in 0..d {
        let mut pivot = a[j * d + j];
        for k in 0..j {
            pivot -= l[tri(j, k)] * l[tri(j, k)];
        }
        if !(pivot > T::zero() && pivot.is_finite()) {
            return Err(EbmError::InvalidConfig(format!(
                "cholesky: matrix is not positive definite (pivot {j} is {pivot})"
            )));
        }
        let ljj = pivot.sqrt();
        l[tri(j, j)] = ljj;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[tri(i, k)] * l[tri(j, k)];
            }
            l[tri(i, j)] = s / ljj;
        }
    }
    Ok(l)
}

/// The lower Cholesky factor L as a dense row-major d×d matrix (zeros above
/// the diagonal): [`cholesky_packed`], unpacked.
pub fn cholesky<T: Real>(a: &[T], d: usize) -> Result<Vec<T>> {
    let packed = cholesky_packed(a, d)?;
    let mut l = vec![T::zero(); d * d];
    for i in 0..d {
        l[i * d..i * d + i + 1].copy_from_slice(&packed[tri(i, 0)..=tri(i, i)]);
    }
    Ok(l)
}

/// Solves L y = b in place for a dense lower-triangular L.
pub fn solve_lower<T: Real>(l: &[T], d: usize, b: &mut [T]) {
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * d + k] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

/// Solves Lᵀ y = b in place for a dense lower-triangular L.
pub fn solve_lower_t<T: Real>(l: &[T], d: usize, b: &mut [T]) {
    for i in (0..d).rev() {
        let mut s = b[i];
        for k in i + 1..d {
            s -= l[k * d + i] * b[k];
        }
        b[i] = s / l[i * d + i];
    }
}

/// The inverse of the symmetric positive-definite `a` (row-major d×d),
/// column by column through its Cholesky factor: A⁻¹eⱼ = L⁻ᵀL⁻¹eⱼ.
///
/// Errors: those of [`cholesky_packed`].
pub fn inverse_spd<T: Real>(a: &[T], d: usize) -> Result<Vec<T>> {
    let l = cholesky(a, d)?;
    let mut inv = vec![T::zero(); d * d];
    let mut col = vec![T::zero(); d];
    for j in 0..d {
        col.iter_mut().for_each(|c| *c = T::zero());
        col[j] = T::one();
        solve_lower(&l, d, &mut col);
        solve_lower_t(&l, d, &mut col);
        for i in 0..d {
            inv[i * d + j] = col[i];
        }
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reconstructs_and_solves() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((s - a[i * 3 + j]).abs() < 1e-12);
                if j > i {
                    assert_eq!(l[i * 3 + j], 0.0);
                }
            }
        }
        let packed = cholesky_packed(&a, 3).unwrap();
        assert_eq!(packed[tri(2, 1)], l[2 * 3 + 1]);
        // A x = b through L y = b, Lᵀ x = y.
        let b = [1.0, -2.0, 0.5];
        let mut x = b;
        solve_lower(&l, 3, &mut x);
        solve_lower_t(&l, 3, &mut x);
        for i in 0..3 {
            let s: f64 = (0..3).map(|k| a[i * 3 + k] * x[k]).sum();
            assert!((s - b[i]).abs() < 1e-12);
        }
        assert!(matches!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2), Err(EbmError::InvalidConfig(m)) if m.contains("pivot 1")));
        assert!(matches!(cholesky(&[1.0, 2.0, 2.0], 2), Err(EbmError::DimMismatch { .. })));
        // A·A⁻¹ = I.
        let inv = inverse_spd(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12, "(A A⁻¹)[{i}][{j}] = {s}");
            }
        }
    }
}
