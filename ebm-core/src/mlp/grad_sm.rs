//! `grad ← Σ_b w_b ∇_θ 𝒥(x_b)` for the exact score-matching integrand
//! 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12), by reverse-over-forward through the
//! quantities of the Hessian diagonal (derivation in the module docs of
//! [`super`], steps 1–4).
//!
//! Per chunk of n samples, with the unit-major Jacobians of
//! [`super::hess_diag`] (H_l × n·d, column (b, i) = b·d + i):
//!
//! - forward: a_l, z_l, σ′, σ″, σ‴; backward: γ_l, δ_l; c_l = γ_l ⊙ σ″(a_l);
//!   J_{l+1} = W_{l+1} P_l (kept for every layer) and q_l = Σᵢ J²;
//! - J̄_L = −2 w_b diag(c_L) J_L; for l = L−1..1:
//!   W̄_{l+1} += J̄_{l+1} P_lᵀ (GEMM with inner dimension n·d),
//!   P̄_l = W_{l+1}ᵀ J̄_{l+1} (GEMM), then one pass over the segments
//!   (u, b): ā_l[b, u] += σ″·Σᵢ P̄ J and J̄_l = −2 w_b c_l J_l + σ′ P̄;
//!   W̄₁[u, i] += Σ_b J̄₁[u, (b, i)];
//! - seeds γ̄₀ = w_b γ₀, c̄_l = −w_b q_l, then [`backward_adjoint`] (whose
//!   direct terms add to the ā_l of the Jacobian sweep: the two are
//!   independent sums);
//! - [`forward_adjoint`] for ā.

use super::forward::{Fwd, Order};
use super::grad_params::{backward_adjoint, forward_adjoint, Adj};
use super::hess_diag::{curvature, first_p, propagate, Shared};
use super::par::{outer_samples, samples_per_chunk, sum_over_chunks, SM_ROWS};
use super::Mlp;
use crate::real::Real;

struct Scratch<T> {
    fw: Fwd<T>,
    adj: Adj<T>,
    /// c_l, 1-based, outer chunk × H_l.
    c: Vec<Vec<T>>,
    /// J_l for l = 2..=L of one inner chunk, H_l × inner·d (J₁ = W₁ is
    /// implicit).
    jt: Vec<Vec<T>>,
    /// P_l for l = 1..L of one inner chunk, H_l × inner·d.
    pt: Vec<Vec<T>>,
    /// J̄ and P̄ ping-pong, max H × inner·d.
    jbar: Vec<T>,
    pbar: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(m: &Mlp<T>, n: usize, inner: usize) -> Self {
        let dims = m.dims();
        let (d, l_max) = (dims[0], m.depth());
        let cols = inner * d;
        Self {
            fw: Fwd::new(m, n, Order::D3, true),
            adj: Adj::new(m, n, true),
            c: (0..=l_max).map(|l| if l > 0 { vec![T::zero(); n * dims[l]] } else { Vec::new() }).collect(),
            jt: (0..=l_max).map(|l| if l >= 2 { vec![T::zero(); cols * dims[l]] } else { Vec::new() }).collect(),
            pt: (0..=l_max)
                .map(|l| if l >= 1 && l < l_max { vec![T::zero(); cols * dims[l]] } else { Vec::new() })
                .collect(),
            jbar: vec![T::zero(); cols * m.max_width()],
            pbar: vec![T::zero(); cols * m.max_width()],
        }
    }
}

/// `grad ← Σ_b w_b ∇_θ 𝒥(x_b)` (seed eq 12), returning Σ_b w_b 𝒥(x_b).
///
/// Outer chunks run the forward, backward and adjoint passes; inner chunks
/// of about [`SM_ROWS`]`/d` samples run the Jacobian recursion forward and
/// in reverse, so that every layer's J_l and P_l stay in cache.
///
/// The loss comes free: the pass holds γ₀ = ∇ₓE, c_l and the seeds
/// c̄_l = −w_b q_l with q_l[u] = Σᵢ J_l[u, i]², and since
/// Σᵢ ∂²ᵢᵢE = Σ_l Σ_u c_l[u] q_l[u] (the decomposition of [`super`]),
/// Σ_b w_b 𝒥(x_b) = Σ_b ½ w_b ‖γ₀‖² + Σ_l ⟨c_l, c̄_l⟩. It is summed per
/// chunk in the slot after the gradient, so that it follows the gradient's
/// deterministic order.
pub(super) fn grad_sm<T: Real>(m: &Mlp<T>, x: &[T], weights: &[T], grad: &mut [T]) -> T {
    let p = grad.len();
    let mut acc = vec![T::zero(); p + 1];
    grad_sm_into(m, x, weights, &mut acc);
    grad.copy_from_slice(&acc[..p]);
    acc[p]
}

/// [`grad_sm`] into `acc` = [gradient, loss].
fn grad_sm_into<T: Real>(m: &Mlp<T>, x: &[T], weights: &[T], grad: &mut [T]) {
    let d = m.dim_in();
    let inner = samples_per_chunk(d, m.max_width(), SM_ROWS);
    let n = outer_samples(weights.len(), inner);
    let shared = Shared::new(m);
    // q₁[u] = Σᵢ W₁[u, i]², the same for every sample.
    let q1: Vec<T> = shared.w1sq.chunks_exact(d).map(|r| r.iter().copied().sum()).collect();
    sum_over_chunks(
        weights.len(),
        n,
        grad,
        || Scratch::new(m, n, inner),
        |ws, r, g| {
            let xc = &x[r.start * d..r.end * d];
            chunk(m, &shared, &q1, inner, xc, &weights[r], ws, g);
        },
    );
}

fn chunk<T: Real>(
    m: &Mlp<T>,
    shared: &Shared<T>,
    q1: &[T],
    inner: usize,
    xc: &[T],
    w: &[T],
    ws: &mut Scratch<T>,
    g: &mut [T],
) {
    // `g` is [gradient, loss].
    let (g, loss_out) = g.split_at_mut(g.len() - 1);
    let dims = m.dims();
    let (d, l_max) = (dims[0], m.depth());
    let fw = &mut ws.fw;
    fw.forward(m, xc);
    fw.backward(m, true);
    let n = fw.n;

    // c_l, and the seeds c̄₁ = −w_b q₁, γ̄₀ = w_b γ₀.
    for l in 1..=l_max {
        curvature(fw, l, n * dims[l], &mut ws.c[l]);
    }
    for (row, &wb) in ws.adj.cbar[1][..n * dims[1]].chunks_exact_mut(dims[1]).zip(w) {
        for (c, &q) in row.iter_mut().zip(q1) {
            *c = -wb * q;
        }
    }
    for ((s, &gm), &wb) in ws.adj.gbar[0][..n * d]
        .iter_mut()
        .zip(&fw.gamma[0][..n * d])
        .zip(w.iter().flat_map(|wb| std::iter::repeat_n(wb, d)))
    {
        *s = wb * gm;
    }
    ws.adj.zero_abar(m, n);
    for s0 in (0..n).step_by(inner) {
        jacobian_sweeps(m, shared, s0, inner.min(n - s0), w, ws, g);
    }
    // Σ_b w_b 𝒥(x_b) = Σ_b ½ w_b ‖γ₀‖² + Σ_l ⟨c_l, c̄_l⟩, before the adjoint
    // passes read the seeds.
    let half = T::from_f64(0.5);
    let mut loss = T::zero();
    for (gb, &wb) in ws.fw.gamma[0][..n * d].chunks_exact(d).zip(w) {
        loss += half * wb * gb.iter().map(|&v| v * v).sum::<T>();
    }
    for l in 1..=l_max {
        let len = n * dims[l];
        loss += ws.c[l][..len].iter().zip(&ws.adj.cbar[l][..len]).map(|(&c, &cb)| c * cb).sum::<T>();
    }
    loss_out[0] += loss;
    backward_adjoint(m, &ws.fw, &mut ws.adj, true, g);
    forward_adjoint(m, &ws.fw, &mut ws.adj, xc, g);
}

/// The Jacobian recursion of samples s0..s0+ns of the outer chunk, forward
/// (J_l, P_l, and c̄_l = −w_b q_l for l ≥ 2) then in reverse (W̄_l, and the
/// Jacobian terms of ā_l).
fn jacobian_sweeps<T: Real>(
    m: &Mlp<T>,
    shared: &Shared<T>,
    s0: usize,
    ns: usize,
    w_all: &[T],
    ws: &mut Scratch<T>,
    g: &mut [T],
) {
    let dims = m.dims();
    let (d, l_max) = (dims[0], m.depth());
    let offs = m.layer_offsets();
    let w1 = m.layer(1).w;
    let fw = &ws.fw;
    let cols = ns * d;
    let w = &w_all[s0..s0 + ns];
    let two = T::from_f64(2.0);
    // Rows s0..s0+ns of an outer-chunk per-unit array of layer l.
    let rows = |l: usize| s0 * dims[l]..(s0 + ns) * dims[l];

    // Forward: P₁, then J_{l+1} = W_{l+1} P_l, c̄_{l+1} = −w_b q_{l+1}, P_{l+1}.
    if l_max >= 2 {
        first_p(w1, d, ns, &fw.s1[1][rows(1)], &mut ws.pt[1][..dims[1] * cols]);
    }
    for l in 1..l_max {
        let (hin, hout) = (dims[l], dims[l + 1]);
        let (plo, phi) = ws.pt.split_at_mut(l + 1);
        let jt = &mut ws.jt[l + 1][..hout * cols];
        propagate(hin, hout, cols, &shared.wt[l + 1], &plo[l][..hin * cols], jt);
        let cbar = &mut ws.adj.cbar[l + 1][rows(l + 1)];
        for (u, jrow) in jt.chunks_exact(cols).enumerate() {
            for (b, seg) in jrow.chunks_exact(d).enumerate() {
                let q: T = seg.iter().map(|&j| j * j).sum();
                cbar[b * hout + u] = -w[b] * q;
            }
        }
        if l + 1 < l_max {
            let pt = &mut phi[0][..hout * cols];
            pt.copy_from_slice(jt);
            let s1 = &fw.s1[l + 1][rows(l + 1)];
            for (u, prow) in pt.chunks_exact_mut(cols).enumerate() {
                for (b, seg) in prow.chunks_exact_mut(d).enumerate() {
                    let s = s1[b * hout + u];
                    seg.iter_mut().for_each(|p| *p *= s);
                }
            }
        }
    }

    // Reverse: J̄_L = −2 w_b diag(c_L) J_L.
    let hl = dims[l_max];
    let cl = &ws.c[l_max][rows(l_max)];
    for (u, row) in ws.jbar[..hl * cols].chunks_exact_mut(cols).enumerate() {
        for (b, seg) in row.chunks_exact_mut(d).enumerate() {
            let f = -two * w[b] * cl[b * hl + u];
            let src = if l_max == 1 { &w1[u * d..(u + 1) * d] } else { &ws.jt[l_max][u * cols + b * d..][..d] };
            for (o, &j) in seg.iter_mut().zip(src) {
                *o = f * j;
            }
        }
    }
    for l in (1..l_max).rev() {
        let (hin, hout) = (dims[l], dims[l + 1]);
        let wl = m.layer(l + 1).w;
        let o = offs[l];
        // W̄_{l+1} (hout × hin) += J̄_{l+1} (hout × cols) · P_lᵀ (cols × hin).
        let jbar = &ws.jbar[..hout * cols];
        T::gemm(
            hout,
            cols,
            hin,
            T::one(),
            jbar,
            cols,
            1,
            &ws.pt[l][..hin * cols],
            1,
            cols,
            T::one(),
            &mut g[o.w..o.b],
            hin,
            1,
        );
        // P̄_l (hin × cols) = W_{l+1}ᵀ (hin × hout) · J̄_{l+1} (hout × cols).
        T::gemm(hin, hout, cols, T::one(), wl, 1, hin, jbar, cols, 1, T::zero(), &mut ws.pbar[..hin * cols], cols, 1);
        let abar = &mut ws.adj.abar[l][rows(l)];
        let (c, s1, s2) = (&ws.c[l][rows(l)], &fw.s1[l][rows(l)], &fw.s2[l][rows(l)]);
        for (u, prow) in ws.pbar[..hin * cols].chunks_exact_mut(cols).enumerate() {
            for (b, pseg) in prow.chunks_exact_mut(d).enumerate() {
                let k = b * hin + u;
                let f = -two * w[b] * c[k];
                let s = s1[k];
                let jseg = if l == 1 { &w1[u * d..(u + 1) * d] } else { &ws.jt[l][u * cols + b * d..][..d] };
                let mut acc = T::zero();
                for (p, &j) in pseg.iter_mut().zip(jseg) {
                    acc += *p * j;
                    *p = f * j + s * *p;
                }
                abar[k] += s2[k] * acc;
            }
        }
        std::mem::swap(&mut ws.jbar, &mut ws.pbar);
    }
    // W̄₁[u, i] += Σ_b J̄₁[u, (b, i)].
    let h1 = dims[1];
    let g1 = &mut g[offs[0].w..offs[0].b];
    for (grow, jrow) in g1.chunks_exact_mut(d).zip(ws.jbar[..h1 * cols].chunks_exact(cols)) {
        for seg in jrow.chunks_exact(d) {
            for (gi, &v) in grow.iter_mut().zip(seg) {
                *gi += v;
            }
        }
    }
}
