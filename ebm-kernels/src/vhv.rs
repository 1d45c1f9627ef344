//! The Hessian quadratic form qᵦ = vᵦᵀ∇ₓ²E(xᵦ) vᵦ on the device for the
//! MLP (the Hessian term of sliced score matching, and the decomposed
//! Hessian-diagonal baseline with vᵦ = eᵢ), one thread per sample:
//! [`vhv_kernel()`]. The Gaussian (E = ½‖Lᵀ(x − μ)‖², so q = ‖Lᵀv‖²)
//! shares the kernel, and so do the ICA, RBM and mixture families
//! ([`crate::vhv_families`]).
//!
//! Per sample (notation of [`crate::mlp`]; the same math as the CPU twin
//! `ebm_core::mlp::v_hess_v`, forward-over-reverse):
//!
//! 1. forward z_l, σ′(a_l), σ″(a_l) and backward γ_l = ∂E/∂z_l of every
//!    hidden layer ([`crate::grad_vdx::mlp_fwd_bwd()`]);
//! 2. the forward tangent along v: ż₀ = v, ȧ_l = W_l ż_{l−1},
//!    ż_l = σ′(a_l) ⊙ ȧ_l, accumulating
//!    q = Σ_l Σ_u γ_l\[u\] σ″(a_l\[u\]) ȧ_l\[u\]².
//!
//! (The output layer is linear, so only the hidden layers curve E.)
//!
//! Per-thread state: z_l and ż_l (each d + ΣH_l), σ′, σ″, γ of every
//! hidden unit (3·ΣH_l), one vector of the widest layer, x, v and ∇ₓE
//! (3d), bounded by [`vhv_thread_floats`].
//!
//! Loop iterations per sample (for [`crate::plan`]'s budget): the loads,
//! the forward, backward and tangent sweeps, bounded by [`vhv_loop_cost`];
//! `GpuEnergy::v_hess_v` refuses a sample that does not fit (or runs it on
//! the CPU twin when the caller opted in, [`crate::fallback`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::gaussian_vhv;
use crate::grad_vdx::mlp_fwd_bwd;
use crate::mlp::{layer_step, layer_up, mlp_tape, row_dot};
use crate::spec::*;
use crate::vhv_families::{ica_vhv, mixture_vhv, rbm_vhv};
use cubecl::prelude::*;

/// `out[b] = v_bᵀ ∇ₓ²E(x_b) v_b` for the `n` samples (every family: the
/// ICA, RBM and mixture forms are in [`crate::vhv_families`]; θ read from
/// global memory).
#[cube(launch)]
pub fn vhv_kernel(x: &[f32], v: &[f32], theta: &[f32], meta: &[u32], out: &mut [f32], n: u32, #[comptime] spec: Spec) {
    let b = ABSOLUTE_POS;
    if b < n as usize {
        match spec.family {
            Family::Mlp => out[b] = mlp_vhv(x, v, theta, meta, b, spec),
            Family::Gaussian => out[b] = gaussian_vhv(v, theta, b, spec),
            Family::Ica => out[b] = ica_vhv(x, v, theta, b, spec),
            Family::Rbm => out[b] = rbm_vhv(x, v, theta, b, spec),
            Family::Mixture => out[b] = mixture_vhv(x, v, theta, b, spec),
        }
    }
}

/// MLP: steps 1–2 of the module docs for sample `b`.
#[cube]
fn mlp_vhv(x: &[f32], v: &[f32], theta: &[f32], meta: &[u32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let layers = spec.a;
    let mut xs = Array::<f32>::new(d);
    let mut zd = Array::<f32>::new(comptime!(spec.d + spec.wsum));
    for i in 0..d {
        xs[i] = x[b * d + i];
        zd[i] = v[b * d + i];
    }
    let mut tape = mlp_tape(spec, true, false);
    mlp_fwd_bwd(theta, meta, &xs, &mut tape, spec);
    // The tangent along v and q = Σ γ σ″ ȧ².
    let mut q = 0.0f32;
    let mut at = layer_up(d);
    for l in 0..layers {
        let n_out = meta[l + 1] as usize;
        let zout = at.zin + at.n_in;
        for k in 0..n_out {
            let ad = row_dot(theta, at.off + k * at.n_in, &zd, at.zin, at.n_in);
            let u = at.aoff + k;
            zd[zout + k] = tape.s1[u] * ad;
            q += tape.gam[u] * tape.s2[u] * ad * ad;
        }
        layer_step(&mut at, n_out);
    }
    q
}

/// Per-thread state of [`vhv_kernel()`] for the MLP in f32 values (see
/// the module docs).
pub fn vhv_thread_floats(spec: &Spec) -> usize {
    5 * spec.d + 5 * spec.wsum + spec.wmax + 1
}

/// The loop iterations of one Gaussian [`vhv_kernel()`] invocation: the
/// load (d) and the triangle (d + d(d+1)/2), padded by 64.
pub fn gaussian_vhv_loop_cost(d: usize) -> u64 {
    let d = d as u64;
    2 * d + d * (d + 1) / 2 + 64
}

/// An upper bound on the loop iterations of one [`vhv_kernel()`]
/// invocation (`meta` holds the MLP widths d, H₁ … H_L, 1): the counted
/// loops of the kernel — the loads (2d), the forward and tangent passes
/// (H_l·(H_{l−1} + 1) each per layer), the backward pass
/// (H_l + H_{l−1}·(H_l + 1) per layer, H_L to seed it), one iteration per
/// layer of each layer loop — padded by an eighth and 64.
pub fn vhv_loop_cost(meta: &[u32]) -> u64 {
    let m: Vec<u64> = meta.iter().map(|&v| v as u64).collect();
    let hidden = &m[..m.len().saturating_sub(1)];
    let layers = hidden.len().saturating_sub(1) as u64;
    let d = m.first().copied().unwrap_or(0);
    let last = hidden.last().copied().unwrap_or(0);
    let pass: u64 = hidden.windows(2).map(|w| w[1] * (w[0] + 1)).sum();
    let back: u64 = hidden.windows(2).map(|w| w[1] + w[0] * (w[1] + 1)).sum();
    let n = 2 * d + 2 * pass + back + last + 3 * layers;
    n + n / 8 + 64
}

#[cfg(test)]
mod tests {
    use super::vhv_loop_cost;

    #[test]
    fn loop_cost_counts_the_passes() {
        // d = 2, H = 3: loads 4, forward and tangent 9 each, backward
        // 3 + 2·4 = 11, seed 3, layer loops 3: 39, padded to 39 + 4 + 64.
        assert_eq!(vhv_loop_cost(&[2, 3, 1]), 107);
        // The bench's smallest shape fits llvmpipe's planned 58 977.
        assert!(vhv_loop_cost(&[2, 128, 128, 1]) < 58_977);
    }
}
