//! The exact Hessian quadratic form q = vᵀ∇ₓ²E v and its parameter
//! gradient Σ_b w_b ∇_θ q_b (derivation in the module docs of [`super`]),
//! by forward-over-reverse: the forward tangent ȧ_l = J_l v of
//! [`super::grad_params`] against the curvature c_l = γ_l ⊙ σ″(a_l) of the
//! backward pass, q = Σ_l Σ_u c_{l,u} ȧ_{l,u}², then reverse mode through
//! the tangent, backward and forward passes.
//!
//! Everything is sample-major (n × H_l per layer and chunk of n samples),
//! so each layer costs a few GEMMs of shape (n × H_l)·(H_l × H_{l+1}): no
//! Jacobian is formed, and q costs about two backward passes, its gradient
//! about five.

use super::forward::{Fwd, Order};
use super::grad_params::{backward_adjoint, forward_adjoint, Adj};
use super::linalg::{acc_dt_z, d_w, x_wt};
use super::par::{samples_per_chunk, sum_over_chunks, FWD_ROWS};
use super::Mlp;
use crate::real::Real;
use rayon::prelude::*;

/// The forward tangents of a chunk along v, 1-based by layer:
/// ȧ_l = J_l v and ż_l = σ′(a_l) ⊙ ȧ_l, each n × H_l.
struct Tangent<T> {
    adot: Vec<Vec<T>>,
    zdot: Vec<Vec<T>>,
}

impl<T: Real> Tangent<T> {
    fn new(m: &Mlp<T>, cap: usize) -> Self {
        let dims = m.dims();
        let layers = || -> Vec<Vec<T>> {
            (0..=m.depth()).map(|l| if l > 0 { vec![T::zero(); cap * dims[l]] } else { Vec::new() }).collect()
        };
        Self { adot: layers(), zdot: layers() }
    }

    /// Ȧ₁ = V W₁ᵀ, Ż_l = σ′(A_l) ⊙ Ȧ_l, Ȧ_{l+1} = Ż_l W_{l+1}ᵀ for the n
    /// samples of `fw` (`v` is n × d).
    fn propagate(&mut self, m: &Mlp<T>, fw: &Fwd<T>, v: &[T]) {
        let n = fw.n;
        for l in 1..=m.depth() {
            let layer = m.layer(l);
            let len = n * layer.out;
            let input: &[T] = if l == 1 { v } else { &self.zdot[l - 1][..n * layer.inp] };
            x_wt(n, layer.inp, layer.out, input, layer.w, T::zero(), &mut self.adot[l][..len]);
            for ((z, &a), &s) in self.zdot[l][..len].iter_mut().zip(&self.adot[l][..len]).zip(&fw.s1[l][..len]) {
                *z = s * a;
            }
        }
    }
}

/// `out[b] = v_bᵀ ∇ₓ²E(x_b) v_b`, parallel over chunks.
pub(super) fn v_hess_v<T: Real>(m: &Mlp<T>, x: &[T], v: &[T], out: &mut [T]) {
    let d = m.dim_in();
    let dims = m.dims();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    x.par_chunks(n * d).zip(v.par_chunks(n * d)).zip(out.par_chunks_mut(n)).for_each_init(
        || (Fwd::new(m, n, Order::D2, true), Tangent::new(m, n)),
        |(fw, tg), ((xc, vc), oc)| {
            fw.forward(m, xc);
            fw.backward(m, false);
            tg.propagate(m, fw, vc);
            oc.fill(T::zero());
            for l in 1..=m.depth() {
                let h = dims[l];
                let len = fw.n * h;
                let rows = tg.adot[l][..len]
                    .chunks_exact(h)
                    .zip(fw.gamma[l][..len].chunks_exact(h))
                    .zip(fw.s2[l][..len].chunks_exact(h));
                for (q, ((ad, gam), s2)) in oc.iter_mut().zip(rows) {
                    let mut acc = T::zero();
                    for u in 0..h {
                        acc += gam[u] * s2[u] * ad[u] * ad[u];
                    }
                    *q += acc;
                }
            }
        },
    );
}

struct Scratch<T> {
    fw: Fwd<T>,
    adj: Adj<T>,
    tg: Tangent<T>,
    /// ǎ_l, the adjoint of the tangent ȧ_l (n × max H).
    acheck: Vec<T>,
    /// The adjoint of ż_l (n × max H).
    zbar: Vec<T>,
}

/// `grad ← Σ_b w_b ∇_θ (v_bᵀ ∇ₓ²E(x_b) v_b)`.
///
/// Per chunk: forward (σ′, σ″, σ‴), backward (γ_l), tangents; seeds
/// c̄_l = w_b ȧ_l² and ǎ_L = 2 w_b c_L ⊙ ȧ_L; the tangent sweep in reverse,
/// l = L−1..1: W̄_{l+1} += Ǎ_{l+1}ᵀ Ż_l, Ż̄_l = Ǎ_{l+1} W_{l+1},
/// ā_l += σ″ ⊙ ȧ_l ⊙ ż̄_l, ǎ_l = 2 w_b c_l ⊙ ȧ_l + σ′ ⊙ ż̄_l; then
/// W̄₁ += Ǎ₁ᵀ V; then [`backward_adjoint`] with γ̄₀ = 0 and the c̄_l, and
/// [`forward_adjoint`].
pub(super) fn grad_v_hess_v<T: Real>(m: &Mlp<T>, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) {
    let d = m.dim_in();
    let dims = m.dims();
    let l_max = m.depth();
    let offs = m.layer_offsets();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    let two = T::from_f64(2.0);
    sum_over_chunks(
        weights.len(),
        n,
        grad,
        || Scratch {
            fw: Fwd::new(m, n, Order::D3, true),
            adj: Adj::new(m, n, true),
            tg: Tangent::new(m, n),
            acheck: vec![T::zero(); n * m.max_width()],
            zbar: vec![T::zero(); n * m.max_width()],
        },
        |ws, r, g| {
            let xc = &x[r.start * d..r.end * d];
            let vc = &v[r.start * d..r.end * d];
            let w = &weights[r];
            ws.fw.forward(m, xc);
            ws.fw.backward(m, false);
            let fw = &ws.fw;
            let nn = fw.n;
            ws.tg.propagate(m, fw, vc);
            // Seeds: γ̄₀ = 0 (q does not read ∇ₓE), c̄_l = w_b ȧ_l².
            ws.adj.gbar[0][..nn * d].fill(T::zero());
            ws.adj.zero_abar(m, nn);
            for l in 1..=l_max {
                let h = dims[l];
                let len = nn * h;
                let rows = ws.adj.cbar[l][..len].chunks_exact_mut(h).zip(ws.tg.adot[l][..len].chunks_exact(h));
                for ((crow, ad), &wb) in rows.zip(w) {
                    for (c, &a) in crow.iter_mut().zip(ad) {
                        *c = wb * a * a;
                    }
                }
            }
            // ǎ_L = 2 w_b γ_L ⊙ σ″(a_L) ⊙ ȧ_L.
            let h = dims[l_max];
            for (b, &wb) in w.iter().enumerate() {
                let f = two * wb;
                for k in b * h..(b + 1) * h {
                    ws.acheck[k] = f * fw.gamma[l_max][k] * fw.s2[l_max][k] * ws.tg.adot[l_max][k];
                }
            }
            // The tangent recursion in reverse.
            for l in (1..l_max).rev() {
                let (hin, hout) = (dims[l], dims[l + 1]);
                let o = offs[l];
                let wl = m.layer(l + 1).w;
                let ach = &ws.acheck[..nn * hout];
                acc_dt_z(nn, hout, hin, ach, &ws.tg.zdot[l][..nn * hin], &mut g[o.w..o.b]);
                let zbar = &mut ws.zbar[..nn * hin];
                d_w(nn, hout, hin, ach, wl, T::zero(), zbar);
                let abar = &mut ws.adj.abar[l][..nn * hin];
                let len = nn * hin;
                let (s1, s2, gam, ad) =
                    (&fw.s1[l][..len], &fw.s2[l][..len], &fw.gamma[l][..len], &ws.tg.adot[l][..len]);
                let ach = &mut ws.acheck[..len];
                for (b, &wb) in w.iter().enumerate() {
                    let f = two * wb;
                    for k in b * hin..(b + 1) * hin {
                        abar[k] += s2[k] * ad[k] * zbar[k];
                        ach[k] = f * gam[k] * s2[k] * ad[k] + s1[k] * zbar[k];
                    }
                }
            }
            acc_dt_z(nn, dims[1], d, &ws.acheck[..nn * dims[1]], vc, &mut g[offs[0].w..offs[0].b]);
            backward_adjoint(m, &ws.fw, &mut ws.adj, true, g);
            forward_adjoint(m, &ws.fw, &mut ws.adj, xc, g);
        },
    );
}
