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

/// Lanes of [`dot`]'s partial sums: one AVX-512 register of f32.
const DOT_LANES: usize = 16;

/// `Σᵢ a[i]·b[i]` with [`DOT_LANES`] interleaved partial sums (so the loop
/// vectorises), added pairwise at the end, compiled for the CPU's widest
/// vector unit.
#[inline]
pub(super) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    crate::simd::dispatch(Dot { a, b })
}

struct Dot<'a, T> {
    a: &'a [T],
    b: &'a [T],
}

impl<T: Real> crate::simd::Kernel for Dot<'_, T> {
    type Out = T;

    #[inline(always)]
    fn run(self) -> T {
        let n = self.a.len().min(self.b.len());
        let (a, b) = (&self.a[..n], &self.b[..n]);
        let mut acc = [T::zero(); DOT_LANES];
        let full = n / DOT_LANES * DOT_LANES;
        for (ca, cb) in a[..full].chunks_exact(DOT_LANES).zip(b[..full].chunks_exact(DOT_LANES)) {
            for j in 0..DOT_LANES {
                acc[j] += ca[j] * cb[j];
            }
        }
        for (j, (&x, &y)) in a[full..].iter().zip(&b[full..]).enumerate() {
            acc[j] += x * y;
        }
        let mut w = DOT_LANES;
        while w > 1 {
            w /= 2;
            for j in 0..w {
                acc[j] += acc[j + w];
            }
        }
        acc[0]
    }
}
