//! The fused energy + score + exact Hessian diagonal (module docs of
//! [`super`]): ∂²E/∂xᵢ² = Σ_l Σ_u c_{l,u} (J_l)²_{u,i}, c_l = γ_l ⊙ σ″(a_l).
//!
//! Per chunk of n samples, the Jacobians of all samples sit side by side in
//! one *unit-major* matrix: J_l is H_l × (n·d) with column (b, i) = b·d + i,
//! so every product below is a single GEMM whose long dimension n·d is
//! contiguous (which keeps the GEMM's packing a plain copy):
//!
//! 1. layer 1: J₁ = W₁ for every sample, so its term is one GEMM
//!    H (n × d) = C₁ (n × H₁) · (W₁ ⊙ W₁);
//! 2. P₁[u, (b, i)] = σ′(a₁)[b, u]·W₁[u, i];
//! 3. for l = 1..L−1: J_{l+1} = W_{l+1} P_l, one GEMM
//!    (H_{l+1} × H_l)·(H_l × n·d); the epilogue walks each segment
//!    J_{l+1}[u, (b, ·)] once, adding c_{l+1}[b, u]·J² to H[b, ·] and scaling
//!    it by σ′(a_{l+1})[b, u] in place, which turns J_{l+1} into P_{l+1}.

use super::forward::{Fwd, Order};
use super::linalg::d_w;
use super::par::{outer_samples, samples_per_chunk, HESS_ROWS};
use super::Mlp;
use crate::real::Real;
use rayon::prelude::*;

/// What every chunk shares: W₁ ⊙ W₁ (H₁ × d) and W_lᵀ (H_{l−1} × H_l,
/// row-major) for l = 2..=L, so that the GEMMs read W_l column by column
/// contiguously.
pub(super) struct Shared<T> {
    pub w1sq: Vec<T>,
    /// W_lᵀ, 1-based (empty for l < 2).
    pub wt: Vec<Vec<T>>,
}

impl<T: Real> Shared<T> {
    pub fn new(m: &Mlp<T>) -> Self {
        let wt = (0..=m.depth())
            .map(|l| {
                if l < 2 {
                    return Vec::new();
                }
                let layer = m.layer(l);
                let (out, inp) = (layer.out, layer.inp);
                let mut t = vec![T::zero(); out * inp];
                for u in 0..out {
                    for k in 0..inp {
                        t[k * out + u] = layer.w[u * inp + k];
                    }
                }
                t
            })
            .collect();
        Self { w1sq: m.layer(1).w.iter().map(|&w| w * w).collect(), wt }
    }
}

/// P₁[u, (b, i)] = σ′(a₁)[b, u]·W₁[u, i] for the n samples held (`s1` is
/// n × H₁, `out` is H₁ × n·d).
pub(super) fn first_p<T: Real>(w1: &[T], d: usize, n: usize, s1: &[T], out: &mut [T]) {
    let h = w1.len() / d;
    for (u, (prow, wrow)) in out.chunks_exact_mut(n * d).zip(w1.chunks_exact(d)).enumerate() {
        for (b, seg) in prow.chunks_exact_mut(d).enumerate() {
            let s = s1[b * h + u];
            for (p, &w) in seg.iter_mut().zip(wrow) {
                *p = s * w;
            }
        }
    }
}

/// J_{l+1} = W_{l+1} P_l: `wt` is W_{l+1}ᵀ (hin × hout), `p` is hin × cols,
/// `j` is hout × cols.
#[inline]
pub(super) fn propagate<T: Real>(hin: usize, hout: usize, cols: usize, wt: &[T], p: &[T], j: &mut [T]) {
    T::gemm(hout, hin, cols, T::one(), wt, 1, hout, p, cols, 1, T::zero(), j, cols, 1);
}

struct Scratch<T> {
    fw: Fwd<T>,
    /// c_l = γ_l ⊙ σ″(a_l), 1-based, outer chunk × H_l.
    c: Vec<Vec<T>>,
    /// Ping-pong buffers of the unit-major P_l / J_{l+1} of one inner
    /// chunk, max H × inner·d.
    p: Vec<T>,
    j: Vec<T>,
}

/// Energy, score and Hessian diagonal of a batch, parallel over chunks.
///
/// Outer chunks (about [`super::par::FWD_ROWS`] samples) run the forward and backward
/// passes, whose GEMMs then amortise packing each weight matrix; inner
/// chunks of about [`HESS_ROWS`]`/d` samples propagate the Jacobians so that
/// they stay in cache.
pub(super) fn energy_score_hess_diag<T: Real>(m: &Mlp<T>, x: &[T], energy: &mut [T], score: &mut [T], hess: &mut [T]) {
    let d = m.dim_in();
    let deep = m.depth() >= 2;
    let inner = samples_per_chunk(d, m.max_width(), HESS_ROWS);
    let n = outer_samples(energy.len(), inner);
    let shared = Shared::new(m);
    let jlen = if deep { inner * d * m.max_width() } else { 0 };
    let dims = m.dims();
    x.par_chunks(n * d)
        .zip(energy.par_chunks_mut(n))
        .zip(score.par_chunks_mut(n * d))
        .zip(hess.par_chunks_mut(n * d))
        .for_each_init(
            || Scratch {
                fw: Fwd::new(m, n, Order::D2, true),
                c: (0..=m.depth()).map(|l| if l > 0 { vec![T::zero(); n * dims[l]] } else { Vec::new() }).collect(),
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
                hess_chunk(m, &shared, inner, ws, hc);
            },
        );
}

/// c_l = γ_l ⊙ σ″(a_l) for the samples held.
pub(super) fn curvature<T: Real>(fw: &Fwd<T>, l: usize, len: usize, c: &mut [T]) {
    for ((c, &g), &s2) in c[..len].iter_mut().zip(&fw.gamma[l][..len]).zip(&fw.s2[l][..len]) {
        *c = g * s2;
    }
}

fn hess_chunk<T: Real>(m: &Mlp<T>, shared: &Shared<T>, inner: usize, ws: &mut Scratch<T>, hess: &mut [T]) {
    let fw = &ws.fw;
    let n = fw.n;
    let d = m.dim_in();
    let l_max = m.depth();
    let dims = m.dims();
    for l in 1..=l_max {
        curvature(fw, l, n * dims[l], &mut ws.c[l]);
    }
    // Layer 1: H = C₁ · (W₁ ⊙ W₁).
    let h1 = dims[1];
    d_w(n, h1, d, &ws.c[1][..n * h1], &shared.w1sq, T::zero(), &mut hess[..n * d]);
    if l_max == 1 {
        return;
    }
    for s0 in (0..n).step_by(inner) {
        let ns = inner.min(n - s0);
        let cols = ns * d;
        let hs = &mut hess[s0 * d..(s0 + ns) * d];
        first_p(m.layer(1).w, d, ns, &fw.s1[1][s0 * h1..(s0 + ns) * h1], &mut ws.p[..h1 * cols]);
        for l in 1..l_max {
            let (hin, hout) = (dims[l], dims[l + 1]);
            propagate(hin, hout, cols, &shared.wt[l + 1], &ws.p[..hin * cols], &mut ws.j[..hout * cols]);
            let scale = l + 1 < l_max;
            let c = &ws.c[l + 1][s0 * hout..(s0 + ns) * hout];
            let s1 = &fw.s1[l + 1][s0 * hout..(s0 + ns) * hout];
            for (u, jrow) in ws.j[..hout * cols].chunks_exact_mut(cols).enumerate() {
                for (b, (seg, hb)) in jrow.chunks_exact_mut(d).zip(hs.chunks_exact_mut(d)).enumerate() {
                    let cu = c[b * hout + u];
                    for (h, &j) in hb.iter_mut().zip(seg.iter()) {
                        *h += cu * j * j;
                    }
                    if scale {
                        let su = s1[b * hout + u];
                        seg.iter_mut().for_each(|j| *j *= su);
                    }
                }
            }
            std::mem::swap(&mut ws.p, &mut ws.j);
        }
    }
}
