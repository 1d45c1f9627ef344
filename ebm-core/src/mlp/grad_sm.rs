//! `grad ← Σ_b w_b ∇_θ 𝒥(x_b)` for the exact score-matching integrand
//! 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12), by reverse-over-forward through the
//! quantities of the Hessian diagonal (derivation in the module docs of
//! [`super`], steps 1–4).
//!
//! Per chunk of n samples, with the stacked transposed Jacobians of
//! [`super::hess_diag`] (rows (b, i)):
//!
//! - forward: a_l, z_l, σ′, σ″, σ‴; backward: γ_l, δ_l; c_l = γ_l ⊙ σ″(a_l);
//!   J_{l+1}ᵀ = P_lᵀ W_{l+1}ᵀ (kept for every layer) and q_l = Σᵢ J²;
//! - seeds γ̄₀ = w_b γ₀, c̄_l = −w_b q_l, then [`backward_adjoint`];
//! - J̄_Lᵀ = −2 w_b J_Lᵀ diag(c_L); for l = L−1..1:
//!   W̄_{l+1} += (J̄_{l+1}ᵀ)ᵀ P_lᵀ (GEMM over the n·d rows),
//!   P̄_lᵀ = J̄_{l+1}ᵀ W_{l+1} (GEMM), then one pass over the rows:
//!   ā_l += σ″ ⊙ Σᵢ P̄ ⊙ J and J̄_lᵀ = −2 w_b J_lᵀ diag(c_l) + P̄_lᵀ diag(σ′);
//!   W̄₁ += Σ_b (J̄₁ᵀ)ᵀ;
//! - [`forward_adjoint`] for ā.

use super::forward::{Fwd, Order};
use super::grad_params::{backward_adjoint, forward_adjoint, Adj};
use super::hess_diag::FirstLayer;
use super::linalg::{acc_dt_z, d_w, scale_by, x_wt};
use super::par::{samples_per_chunk, sum_over_chunks, SM_ROWS};
use super::Mlp;
use crate::real::Real;

struct Scratch<T> {
    fw: Fwd<T>,
    adj: Adj<T>,
    /// c_l, 1-based, n × H_l.
    c: Vec<Vec<T>>,
    /// J_lᵀ for l = 2..=L, n·d × H_l (J₁ᵀ = W₁ᵀ is shared).
    jt: Vec<Vec<T>>,
    /// P_lᵀ for l = 1..L, n·d × H_l.
    pt: Vec<Vec<T>>,
    /// J̄ᵀ and P̄ᵀ ping-pong, n·d × max H.
    jbar: Vec<T>,
    pbar: Vec<T>,
    /// Σ_b J̄₁ᵀ, d × H₁.
    sum1: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(m: &Mlp<T>, n: usize) -> Self {
        let dims = m.dims();
        let (d, l_max) = (dims[0], m.depth());
        let rows = n * d;
        Self {
            fw: Fwd::new(m, n, Order::D3, true),
            adj: Adj::new(m, n, true),
            c: (0..=l_max).map(|l| if l > 0 { vec![T::zero(); n * dims[l]] } else { Vec::new() }).collect(),
            jt: (0..=l_max).map(|l| if l >= 2 { vec![T::zero(); rows * dims[l]] } else { Vec::new() }).collect(),
            pt: (0..=l_max)
                .map(|l| if l >= 1 && l < l_max { vec![T::zero(); rows * dims[l]] } else { Vec::new() })
                .collect(),
            jbar: vec![T::zero(); rows * m.max_width()],
            pbar: vec![T::zero(); rows * m.max_width()],
            sum1: vec![T::zero(); d * dims[1]],
        }
    }
}

/// `grad ← Σ_b w_b ∇_θ 𝒥(x_b)` (seed eq 12).
pub(super) fn grad_sm<T: Real>(m: &Mlp<T>, x: &[T], weights: &[T], grad: &mut [T]) {
    let d = m.dim_in();
    let n = samples_per_chunk(d, m.max_width(), SM_ROWS);
    let first = FirstLayer::new(m);
    // q₁[u] = Σᵢ W₁[u, i]², the same for every sample.
    let q1: Vec<T> = first.w1sq.chunks_exact(d).map(|r| r.iter().copied().sum()).collect();
    sum_over_chunks(
        weights.len(),
        n,
        grad,
        || Scratch::new(m, n),
        |ws, r, g| {
            let xc = &x[r.start * d..r.end * d];
            chunk(m, &first, &q1, xc, &weights[r], ws, g);
        },
    );
}

fn chunk<T: Real>(
    m: &Mlp<T>,
    first: &FirstLayer<T>,
    q1: &[T],
    xc: &[T],
    w: &[T],
    ws: &mut Scratch<T>,
    g: &mut [T],
) {
    let dims = m.dims();
    let (d, l_max) = (dims[0], m.depth());
    let offs = m.layer_offsets();
    let fw = &mut ws.fw;
    fw.forward(m, xc);
    fw.backward(m, true);
    let n = fw.n;
    let rows = n * d;
    let two = T::from_f64(2.0);

    // c_l, and the seeds c̄₁ = −w_b q₁, γ̄₀ = w_b γ₀.
    for l in 1..=l_max {
        let len = n * dims[l];
        for ((c, &gm), &s2) in ws.c[l][..len].iter_mut().zip(&fw.gamma[l][..len]).zip(&fw.s2[l][..len]) {
            *c = gm * s2;
        }
    }
    for (row, &wb) in ws.adj.cbar[1][..n * dims[1]].chunks_exact_mut(dims[1]).zip(w) {
        for (c, &q) in row.iter_mut().zip(q1) {
            *c = -wb * q;
        }
    }
    for ((s, &gm), &wb) in ws.adj.gbar[0][..rows]
        .iter_mut()
        .zip(&fw.gamma[0][..rows])
        .zip(w.iter().flat_map(|wb| std::iter::repeat_n(wb, d)))
    {
        *s = wb * gm;
    }

    // Forward Jacobians: P₁ᵀ, then J_{l+1}ᵀ = P_lᵀ W_{l+1}ᵀ, c̄_{l+1} = −w_b q_{l+1}, P_{l+1}ᵀ.
    if l_max >= 2 {
        first.p1t(n, &fw.s1[1][..n * dims[1]], &mut ws.pt[1][..rows * dims[1]]);
    }
    for l in 1..l_max {
        let next = m.layer(l + 1);
        let (hin, hout) = (next.inp, next.out);
        let (plo, phi) = ws.pt.split_at_mut(l + 1);
        let jt = &mut ws.jt[l + 1][..rows * hout];
        x_wt(rows, hin, hout, &plo[l][..rows * hin], next.w, T::zero(), jt);
        let cbar = &mut ws.adj.cbar[l + 1][..n * hout];
        for ((jb, cb), &wb) in jt.chunks_exact(d * hout).zip(cbar.chunks_exact_mut(hout)).zip(w) {
            cb.fill(T::zero());
            for row in jb.chunks_exact(hout) {
                for (c, &j) in cb.iter_mut().zip(row) {
                    *c += j * j;
                }
            }
            cb.iter_mut().for_each(|c| *c = -wb * *c);
        }
        if l + 1 < l_max {
            let pt = &mut phi[0][..rows * hout];
            pt.copy_from_slice(jt);
            for (pb, sb) in pt.chunks_exact_mut(d * hout).zip(fw.s1[l + 1].chunks_exact(hout)) {
                for row in pb.chunks_exact_mut(hout) {
                    scale_by(row, sb);
                }
            }
        }
    }

    backward_adjoint(m, fw, &mut ws.adj, true, g);

    // J̄_Lᵀ = −2 w_b J_Lᵀ diag(c_L).
    let hl = dims[l_max];
    {
        let jt: &[T] = if l_max == 1 { &first.w1t } else { &ws.jt[l_max][..rows * hl] };
        let jbar = &mut ws.jbar[..rows * hl];
        for (b, (jb, &wb)) in jbar.chunks_exact_mut(d * hl).zip(w).enumerate() {
            let cb = &ws.c[l_max][b * hl..(b + 1) * hl];
            let src = if l_max == 1 { jt } else { &jt[b * d * hl..(b + 1) * d * hl] };
            for (row, jrow) in jb.chunks_exact_mut(hl).zip(src.chunks_exact(hl)) {
                for ((o, &c), &j) in row.iter_mut().zip(cb).zip(jrow) {
                    *o = -two * wb * c * j;
                }
            }
        }
    }
    for l in (1..l_max).rev() {
        let next = m.layer(l + 1);
        let (hin, hout) = (next.inp, next.out);
        let o = offs[l];
        // W̄_{l+1} += Σ_rows J̄ᵀ[row, ·]ᵀ P_lᵀ[row, ·].
        acc_dt_z(rows, hout, hin, &ws.jbar[..rows * hout], &ws.pt[l][..rows * hin], &mut g[o.w..o.b]);
        // P̄_lᵀ = J̄_{l+1}ᵀ W_{l+1}.
        d_w(rows, hout, hin, &ws.jbar[..rows * hout], next.w, T::zero(), &mut ws.pbar[..rows * hin]);
        let pbar = &mut ws.pbar[..rows * hin];
        let jt: &[T] = if l == 1 { &first.w1t } else { &ws.jt[l][..rows * hin] };
        let abar = &mut ws.adj.abar[l][..n * hin];
        for b in 0..n {
            let wb2 = -two * w[b];
            let cb = &ws.c[l][b * hin..(b + 1) * hin];
            let s1 = &fw.s1[l][b * hin..(b + 1) * hin];
            let s2 = &fw.s2[l][b * hin..(b + 1) * hin];
            let ab = &mut abar[b * hin..(b + 1) * hin];
            let pb = &mut pbar[b * d * hin..(b + 1) * d * hin];
            let jb = if l == 1 { jt } else { &jt[b * d * hin..(b + 1) * d * hin] };
            for (prow, jrow) in pb.chunks_exact_mut(hin).zip(jb.chunks_exact(hin)) {
                for u in 0..hin {
                    let (p, j) = (prow[u], jrow[u]);
                    ab[u] += s2[u] * p * j;
                    prow[u] = wb2 * cb[u] * j + s1[u] * p;
                }
            }
        }
        std::mem::swap(&mut ws.jbar, &mut ws.pbar);
    }
    // W̄₁[u, i] += Σ_b J̄₁ᵀ[(b, i), u].
    let h1 = dims[1];
    ws.sum1.fill(T::zero());
    for jb in ws.jbar[..rows * h1].chunks_exact(d * h1) {
        for (s, &v) in ws.sum1.iter_mut().zip(jb) {
            *s += v;
        }
    }
    let g1 = &mut g[offs[0].w..offs[0].b];
    for i in 0..d {
        for u in 0..h1 {
            g1[u * d + i] += ws.sum1[i * h1 + u];
        }
    }

    forward_adjoint(m, &ws.fw, &mut ws.adj, xc, g);
}
