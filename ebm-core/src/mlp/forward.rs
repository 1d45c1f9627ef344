//! The batched forward pass (a_l, z_l and σ′, σ″, σ‴ at a_l) and backward
//! pass (γ_l = ∂E/∂z_l, δ_l = ∂E/∂a_l) on one chunk of samples, and the
//! energy and energy + score entry points built on them.
//!
//! Layer l of a chunk of n samples is an n × H_l row-major block; one GEMM
//! per layer computes A_l = Z_{l−1} W_lᵀ + b_l for the whole chunk, and
//! Γ_{l−1} = Δ_l W_l going back.

use super::linalg::{d_w, dot, x_wt};
use super::par::{samples_per_chunk, FWD_ROWS};
use super::Mlp;
use crate::real::Real;
use rayon::prelude::*;

/// How many derivatives of σ the forward pass keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Order {
    /// z only.
    Value = 0,
    /// z, σ′.
    D1 = 1,
    /// z, σ′, σ″.
    D2 = 2,
    /// z, σ′, σ″, σ‴.
    D3 = 3,
}

/// Per-task scratch of the forward and backward passes for up to `cap`
/// samples. Vectors indexed by layer are 1-based (index 0 is empty) except
/// `gamma`, where `gamma[0]` is ∇ₓE.
pub(super) struct Fwd<T> {
    /// Samples currently held.
    pub n: usize,
    order: Order,
    /// z_l = σ(a_l), n × H_l.
    pub z: Vec<Vec<T>>,
    /// σ′(a_l).
    pub s1: Vec<Vec<T>>,
    /// σ″(a_l).
    pub s2: Vec<Vec<T>>,
    /// σ‴(a_l).
    pub s3: Vec<Vec<T>>,
    /// γ_l = ∂E/∂z_l for l = 0..=L (γ₀ = ∇ₓE).
    pub gamma: Vec<Vec<T>>,
    /// δ_l = ∂E/∂a_l.
    pub delta: Vec<Vec<T>>,
}

impl<T: Real> Fwd<T> {
    /// Scratch for `cap` samples keeping σ's derivatives up to `order`, and
    /// room for the backward pass when `backward`.
    pub fn new(m: &Mlp<T>, cap: usize, order: Order, backward: bool) -> Self {
        let dims = m.dims();
        let l_max = m.depth();
        let per_layer = |keep: bool| -> Vec<Vec<T>> {
            (0..=l_max).map(|l| if keep && l > 0 { vec![T::zero(); cap * dims[l]] } else { Vec::new() }).collect()
        };
        Self {
            n: 0,
            order,
            z: per_layer(true),
            s1: per_layer(order >= Order::D1),
            s2: per_layer(order >= Order::D2),
            s3: per_layer(order >= Order::D3),
            gamma: (0..=l_max).map(|l| if backward { vec![T::zero(); cap * dims[l]] } else { Vec::new() }).collect(),
            delta: per_layer(backward),
        }
    }

    /// Runs the forward pass on the chunk `x` (n × d).
    pub fn forward(&mut self, m: &Mlp<T>, x: &[T]) {
        let dims = m.dims();
        let n = x.len() / dims[0];
        self.n = n;
        let act = m.activation();
        for l in 1..=m.depth() {
            let layer = m.layer(l);
            let (prev, rest) = self.z.split_at_mut(l);
            let input: &[T] = if l == 1 { x } else { &prev[l - 1][..n * layer.inp] };
            let a = &mut rest[0][..n * layer.out];
            for row in a.chunks_exact_mut(layer.out) {
                row.copy_from_slice(layer.b);
            }
            x_wt(n, layer.inp, layer.out, input, layer.w, T::one(), a);
            let len = n * layer.out;
            let o = self.order;
            act.eval_slice(
                a,
                (o >= Order::D1).then(|| &mut self.s1[l][..len]),
                (o >= Order::D2).then(|| &mut self.s2[l][..len]),
                (o >= Order::D3).then(|| &mut self.s3[l][..len]),
            );
        }
    }

    /// E = w_outᵀ z_L + b_out for every sample held.
    pub fn energy_into(&self, m: &Mlp<T>, e: &mut [T]) {
        let l_max = m.depth();
        let out = m.layer(l_max + 1);
        for (eb, zb) in e.iter_mut().zip(self.z[l_max].chunks_exact(out.inp)).take(self.n) {
            *eb = out.b[0] + dot(out.w, zb);
        }
    }

    /// The backward pass: γ_L = w_out, δ_l = γ_l ⊙ σ′(a_l),
    /// γ_{l−1} = δ_l W_l, down to γ₁ (and γ₀ = ∇ₓE when `input_grad`).
    pub fn backward(&mut self, m: &Mlp<T>, input_grad: bool) {
        let n = self.n;
        let l_max = m.depth();
        let w_out = m.layer(l_max + 1).w;
        for row in self.gamma[l_max][..n * w_out.len()].chunks_exact_mut(w_out.len()) {
            row.copy_from_slice(w_out);
        }
        for l in (1..=l_max).rev() {
            let layer = m.layer(l);
            let len = n * layer.out;
            for ((dl, &g), &s) in self.delta[l][..len].iter_mut().zip(&self.gamma[l][..len]).zip(&self.s1[l][..len]) {
                *dl = g * s;
            }
            if l > 1 || input_grad {
                d_w(
                    n,
                    layer.out,
                    layer.inp,
                    &self.delta[l][..len],
                    layer.w,
                    T::zero(),
                    &mut self.gamma[l - 1][..n * layer.inp],
                );
            }
        }
    }
}

/// `energy[b] = E(x_b)`, parallel over chunks.
pub(super) fn energy<T: Real>(m: &Mlp<T>, x: &[T], energy: &mut [T]) {
    let d = m.dim_in();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    x.par_chunks(n * d).zip(energy.par_chunks_mut(n)).for_each_init(
        || Fwd::new(m, n, Order::Value, false),
        |ws, (xc, ec)| {
            ws.forward(m, xc);
            ws.energy_into(m, ec);
        },
    );
}

/// `energy[b] = E(x_b)`, `score[b] = −∇ₓE(x_b)`, parallel over chunks.
pub(super) fn energy_score<T: Real>(m: &Mlp<T>, x: &[T], energy: &mut [T], score: &mut [T]) {
    let d = m.dim_in();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    x.par_chunks(n * d).zip(energy.par_chunks_mut(n)).zip(score.par_chunks_mut(n * d)).for_each_init(
        || Fwd::new(m, n, Order::D1, true),
        |ws, ((xc, ec), sc)| {
            ws.forward(m, xc);
            ws.energy_into(m, ec);
            ws.backward(m, true);
            for (s, &g) in sc.iter_mut().zip(&ws.gamma[0]) {
                *s = -g;
            }
        },
    );
}
