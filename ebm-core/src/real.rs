//! The scalar types ebm computes in: `f32` (the GPU's and the fast CPU path)
//! and `f64` (the reference every finite-difference test uses).

use num_traits::{Float, FloatConst};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point scalar ebm can compute in: implemented for `f32` and `f64`.
pub trait Real:
    Float
    + FloatConst
    + bytemuck::Pod
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// The type's name, `"f32"` or `"f64"` (used in bench and test names).
    const NAME: &'static str;

    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;

    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;

    /// General matrix product `C ← α·A·B + β·C` with arbitrary strides
    /// (`rs*` = row stride, `cs*` = column stride, in elements), where A is
    /// m×k, B is k×n and C is m×n. Single-threaded: callers parallelise over
    /// the batch.
    ///
    /// # Panics
    /// If a slice is too short for its shape and strides (an internal
    /// invariant: callers size their scratch from the same shapes).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: &[Self],
        rsa: usize,
        csa: usize,
        b: &[Self],
        rsb: usize,
        csb: usize,
        beta: Self,
        c: &mut [Self],
        rsc: usize,
        csc: usize,
    ) {
        assert!(a.len() >= span(m, k, rsa, csa), "gemm: A too short");
        assert!(b.len() >= span(k, n, rsb, csb), "gemm: B too short");
        assert!(c.len() >= span(m, n, rsc, csc), "gemm: C too short");
        if m == 0 || n == 0 {
            return;
        }
        // SAFETY: the three asserts above bound every index the kernel
        // touches; strides fit in isize for any slice that exists in memory.
        unsafe {
            Self::RAW_GEMM(
                m,
                k,
                n,
                alpha,
                a.as_ptr(),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                beta,
                c.as_mut_ptr(),
                rsc as isize,
                csc as isize,
            )
        }
    }

    /// The unchecked kernel behind [`Real::gemm`] (`matrixmultiply`'s).
    #[doc(hidden)]
    const RAW_GEMM: RawGemm<Self>;
}

/// The signature of `matrixmultiply`'s `sgemm`/`dgemm`: [`Real::gemm`] on raw
/// pointers and signed strides.
#[doc(hidden)]
pub type RawGemm<T> =
    unsafe fn(usize, usize, usize, T, *const T, isize, isize, *const T, isize, isize, T, *mut T, isize, isize);

fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

macro_rules! impl_real {
    ($t:ty, $name:literal, $gemm:path) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            const RAW_GEMM: RawGemm<Self> = $gemm;
        }
    };
}

impl_real!(f32, "f32", matrixmultiply::sgemm);
impl_real!(f64, "f64", matrixmultiply::dgemm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_product() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut c = vec![1.0; m * n];
        f64::gemm(m, k, n, 2.0, &a, k, 1, &b, n, 1, 0.5, &mut c, n, 1);
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                assert!((c[i * n + j] - (2.0 * s + 0.5)).abs() < 1e-12);
            }
        }
    }
}
