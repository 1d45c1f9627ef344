//! The few matrix shapes the MLP needs, as named wrappers of [`Real::gemm`]
//! on row-major buffers.

use crate::real::Real;

/// `C (n×out) ← X (n×inp) · Wᵀ + β·C` for a row-major W (out×inp).
#[inline]
pub(super) fn x_wt<T: Real>(n: usize, inp: usize, out: usize, x: &[T], w: &[T], beta: T, c: &mut [T]) {
    T::gemm(n, inp, out, T::one(), x, inp, 1, w, 1, inp, beta, c, out, 1);
}

/// `C (n×inp) ← D (n×out) · W + β·C` for a row-major W (out×inp).
#[inline]
pub(super) fn d_w<T: Real>(n: usize, out: usize, inp: usize, dm: &[T], w: &[T], beta: T, c: &mut [T]) {
    T::gemm(n, out, inp, T::one(), dm, out, 1, w, inp, 1, beta, c, inp, 1);
}

/// `G (out×inp) += Dᵀ · Z` for D (n×out) and Z (n×inp): a sum of outer
/// products over the n rows.
#[inline]
pub(super) fn acc_dt_z<T: Real>(n: usize, out: usize, inp: usize, dm: &[T], z: &[T], g: &mut [T]) {
    T::gemm(out, n, inp, T::one(), dm, 1, out, z, inp, 1, T::one(), g, inp, 1);
}

/// `g[u] += Σ_rows m[row, u]` for a row-major m with `g.len()` columns.
#[inline]
pub(super) fn acc_colsum<T: Real>(m: &[T], g: &mut [T]) {
    for row in m.chunks_exact(g.len()) {
        for (gu, &v) in g.iter_mut().zip(row) {
            *gu += v;
        }
    }
}
