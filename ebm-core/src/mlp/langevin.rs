//! K unadjusted Langevin steps (seed eq 14) with the chains kept in cache.
//!
//! The reference ([`crate::langevin::ula`]) runs a whole-batch energy + score
//! pass per step and then a whole-batch update, so every step streams the
//! batch and its activations through memory twice and drops E, which ULA
//! does not need. Here each rayon task owns a chunk of chains and runs all K
//! steps on it: forward, backward to γ₀ = ∇ₓE, then
//! x ← x + (ε²/2)·(−γ₀) + ε·z in place, with z from the same Philox
//! addressing (stream `first_step + k`, index b·d + i, b the chain's global
//! index `first_chain` + row). The arithmetic is
//! the reference's, in the same order, so the chains are bit-identical to
//! it (tested in [`super`]'s tests).

use super::forward::{Fwd, Order};
use super::par::{samples_per_chunk, FWD_ROWS};
use super::Mlp;
use crate::langevin::NoiseAt;
use crate::real::Real;
use crate::rng;
use rayon::prelude::*;

/// `steps` ULA steps on every chain of `x` (B×d, already checked).
pub(super) fn ula<T: Real>(m: &Mlp<T>, x: &mut [T], eps: T, steps: usize, at: NoiseAt) {
    let d = m.dim_in();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    let half_eps2 = eps * eps * T::from_f64(0.5);
    x.par_chunks_mut(n * d).enumerate().for_each_init(
        || (Fwd::new(m, n, Order::D1, true), vec![T::zero(); n * d]),
        |(ws, z), (c, xc)| {
            let z = &mut z[..xc.len()];
            for k in 0..steps as u64 {
                ws.forward(m, xc);
                ws.backward(m, true);
                rng::fill_normal(at.seed, at.first_step + k, at.row_index(c * n, d), z);
                for ((xi, &g), &zi) in xc.iter_mut().zip(&ws.gamma[0]).zip(z.iter()) {
                    *xi += half_eps2 * (-g) + eps * zi;
                }
            }
        },
    );
}
