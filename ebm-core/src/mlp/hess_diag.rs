//! The fused energy + score + exact Hessian diagonal (module docs of
//! [`super`]): ∂²E/∂xᵢ² = Σ_l Σ_u c_{l,u} (J_l)²_{u,i}, c_l = γ_l ⊙ σ″(a_l).
//!
//! Per chunk of n samples, in the transposed layout Jᵀ (rows (b, i), columns
//! the units of the layer):
//!
//! 1. layer 1: J₁ = W₁ for every sample, so its term is one GEMM
//!    H (n × d) = C₁ (n × H₁) · (W₁ ⊙ W₁);
//! 2. P₁ᵀ[(b, i), u] = W₁[u, i]·σ′(a₁)[b, u];
//! 3. for l = 1..L−1: J_{l+1}ᵀ = P_lᵀ W_{l+1}ᵀ, one GEMM with
//!    (n·d × H_l)·(H_l × H_{l+1}); the epilogue walks each row (b, i) once,
//!    adding Σ_u c_{l+1}[b, u] J²[(b, i), u] to H[b, i] and scaling the row by
//!    σ′(a_{l+1})[b, ·] in place, which turns J_{l+1}ᵀ into P_{l+1}ᵀ.

use super::forward::{Fwd, Order};
use super::linalg::{d_w, dot_c_sq, scale_by, x_wt};
use super::par::{samples_per_chunk, HESS_ROWS};
use super::Mlp;
use crate::real::Real;
use rayon::prelude::*;

/// W₁ᵀ (d × H₁) and W₁ ⊙ W₁ (H₁ × d), shared by every chunk.
pub(super) struct FirstLayer<T> {
    pub w1t: Vec<T>,
    pub w1sq: Vec<T>,
}

impl<T: Real> FirstLayer<T> {
    pub fn new(m: &Mlp<T>) -> Self {
        let l1 = m.layer(1);
        let (h, d) = (l1.out, l1.inp);
        let mut w1t = vec![T::zero(); d * h];
        for u in 0..h {
            for i in 0..d {
                w1t[i * h + u] = l1.w[u * d + i];
            }
        }
        Self { w1t, w1sq: l1.w.iter().map(|&w| w * w).collect() }
    }

    /// P₁ᵀ for the n samples held: rows (b, i) are W₁ᵀ[i, ·] ⊙ σ′(a₁)[b, ·].
    pub fn p1t(&self, n: usize, s1: &[T], out: &mut [T]) {
        let h = s1.len() / n.max(1);
        for (sb, block) in s1.chunks_exact(h).zip(out.chunks_exact_mut(self.w1t.len())) {
            for (row, wrow) in block.chunks_exact_mut(h).zip(self.w1t.chunks_exact(h)) {
                for ((r, &w), &s) in row.iter_mut().zip(wrow).zip(sb) {
                    *r = w * s;
                }
            }
        }
    }
}

struct Scratch<T> {
    fw: Fwd<T>,
    /// c_l = γ_l ⊙ σ″(a_l) of one layer, n × H_l.
    c: Vec<T>,
    /// Ping-pong buffers of the stacked P_lᵀ / J_{l+1}ᵀ, n·d × max H.
    p: Vec<T>,
    j: Vec<T>,
}

/// Energy, score and Hessian diagonal of a batch, parallel over chunks.
pub(super) fn energy_score_hess_diag<T: Real>(
    m: &Mlp<T>,
    x: &[T],
    energy: &mut [T],
    score: &mut [T],
    hess: &mut [T],
) {
    let d = m.dim_in();
    let deep = m.depth() >= 2;
    let n = samples_per_chunk(d, m.max_width(), HESS_ROWS);
    let first = FirstLayer::new(m);
    let jlen = if deep { n * d * m.max_width() } else { 0 };
    x.par_chunks(n * d)
        .zip(energy.par_chunks_mut(n))
        .zip(score.par_chunks_mut(n * d))
        .zip(hess.par_chunks_mut(n * d))
        .for_each_init(
            || Scratch {
                fw: Fwd::new(m, n, Order::D2, true),
                c: vec![T::zero(); n * m.max_width()],
                p: vec![T::zero(); jlen],
                j: vec![T::zero(); jlen],
            },
            |ws, (((xc, ec), sc), hc)| {
                ws.fw.forward(m, xc);
                ws.fw.energy_into(m, ec);
                ws.fw.backward(m, true);
                for (s, &g) in sc.iter_mut().zip(&ws.fw.gamma[0]) {
                    *s = -g;
                }
                hess_chunk(m, &first, ws, hc);
            },
        );
}

/// c_l = γ_l ⊙ σ″(a_l) for the n samples held.
fn curvature<T: Real>(fw: &Fwd<T>, l: usize, len: usize, c: &mut [T]) {
    for ((c, &g), &s2) in c[..len].iter_mut().zip(&fw.gamma[l][..len]).zip(&fw.s2[l][..len]) {
        *c = g * s2;
    }
}

fn hess_chunk<T: Real>(m: &Mlp<T>, first: &FirstLayer<T>, ws: &mut Scratch<T>, hess: &mut [T]) {
    let fw = &ws.fw;
    let n = fw.n;
    let d = m.dim_in();
    let l_max = m.depth();
    let dims = m.dims();
    // Layer 1: H = C₁ · (W₁ ⊙ W₁).
    let h1 = dims[1];
    curvature(fw, 1, n * h1, &mut ws.c);
    d_w(n, h1, d, &ws.c[..n * h1], &first.w1sq, T::zero(), hess);
    if l_max == 1 {
        return;
    }
    let rows = n * d;
    first.p1t(n, &fw.s1[1][..n * h1], &mut ws.p[..rows * h1]);
    for l in 1..l_max {
        let next = m.layer(l + 1);
        let (hin, hout) = (next.inp, next.out);
        // J_{l+1}ᵀ = P_lᵀ W_{l+1}ᵀ for every row (b, i) of the chunk.
        x_wt(rows, hin, hout, &ws.p[..rows * hin], next.w, T::zero(), &mut ws.j[..rows * hout]);
        curvature(fw, l + 1, n * hout, &mut ws.c);
        let scale = l + 1 < l_max;
        let s1 = &fw.s1[l + 1][..n * hout];
        let jblocks = ws.j[..rows * hout].chunks_exact_mut(d * hout);
        for (((jb, cb), sb), hb) in jblocks
            .zip(ws.c.chunks_exact(hout))
            .zip(s1.chunks_exact(hout))
            .zip(hess.chunks_exact_mut(d))
        {
            for (row, h) in jb.chunks_exact_mut(hout).zip(hb.iter_mut()) {
                *h += dot_c_sq(cb, row);
                if scale {
                    scale_by(row, sb);
                }
            }
        }
        std::mem::swap(&mut ws.p, &mut ws.j);
    }
}
