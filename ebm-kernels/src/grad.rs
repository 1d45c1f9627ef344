//! Parameter gradients of the energy, Σᵦ wᵦ ∇θE(xᵦ) (seed eq 2–3), on the
//! device in two kernels:
//!
//! 1. [`crate::param_rows::param_rows_kernel()`] with
//!    [`RowTarget::Energy`](crate::param_rows::RowTarget::Energy): one
//!    thread per sample writes its weighted gradient wᵦ∇θE(xᵦ) as a row of
//!    a (chunk × P) buffer;
//! 2. [`reduce_rows_kernel()`]: one thread per parameter sums the rows
//!    (adding to the output for the second and later chunks).
//!
//! Per family (notation of `crate::families` and `crate::mlp`):
//!
//! - MLP: ∂E/∂W_l = δ_l z_{l−1}ᵀ, ∂E/∂b_l = δ_l, ∂E/∂w_out = z_L, ∂E/∂b_out = 1;
//! - Gaussian: ∂E/∂μ = −L u, ∂E/∂Lᵢⱼ = rᵢ uⱼ;
//! - ICA: ∂E/∂Wₖⱼ = αₖ ĝ′(sₖ) xⱼ, and for Student-t ∂E/∂αₖ = ĝ(sₖ);
//! - mixture: ∂E/∂aⱼ = πⱼ − γⱼ, ∂E/∂μₖ = −γₖ gₖ,
//!   ∂E/∂Lₖ,ᵢⱼ = γₖ(rᵢuⱼ − δᵢⱼ/Lₖ,ᵢᵢ) (full), ∂E/∂log lₖᵢ = γₖ(uᵢ² − 1) (diagonal);
//! - RBM: ∂F/∂bᵢ = −ρᵢ(xᵢ − bᵢ), ∂F/∂cⱼ = −hⱼ, ∂F/∂Wⱼᵢ = −hⱼ x̃ᵢ,
//!   ∂F/∂log σᵢ = −ρᵢ(xᵢ − bᵢ)² + 2x̃ᵢmᵢ.
//!
//! The non-MLP rows live in the family modules [`crate::gaussian`],
//! [`crate::ica`], [`crate::mixture`], [`crate::rbm`]; [`grad_any()`]
//! dispatches to them.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::gaussian_grad;
use crate::ica::ica_grad;
use crate::mixture::mixture_grad;
use crate::mlp::{layer_down, mlp_forward, mlp_out_offset, mlp_tape};
use crate::rbm::rbm_grad;
use crate::spec::*;
use cubecl::prelude::*;

#[cube]
fn mlp_grad(w: &[f32], dims: &[u32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let layers = spec.a;
    // z₀ = x and every z_l, σ′(a_l) of every hidden unit, two work vectors.
    let mut tape = mlp_tape(spec, false, false);
    let mut cur = Array::<f32>::new(spec.wmax);
    let mut nxt = Array::<f32>::new(spec.wmax);
    mlp_forward(w, dims, xin, &mut tape, spec);
    let n_in = dims[layers] as usize;
    let mut off = mlp_out_offset(dims, spec);
    let mut zin = comptime!(spec.d + spec.wsum) - n_in;
    let mut aoff = spec.wsum.runtime();
    // Output layer: ∂E/∂w_out = z_L, ∂E/∂b_out = 1; γ_L = w_out.
    for k in 0..n_in {
        out[row + off + k] = wb * tape.z[zin + k];
        cur[k] = w[off + k];
    }
    out[row + off + n_in] = wb;
    for t in 0..layers {
        let ld = layer_down(dims, t, layers);
        off -= ld.n_out * ld.n_prev + ld.n_out;
        aoff -= ld.n_out;
        zin -= ld.n_prev;
        for k in 0..ld.n_out {
            nxt[k] = cur[k] * tape.s1[aoff + k];
        }
        let boff = off + ld.n_out * ld.n_prev;
        for k in 0..ld.n_out {
            let dk = wb * nxt[k];
            let r = off + k * ld.n_prev;
            for j in 0..ld.n_prev {
                out[row + r + j] = dk * tape.z[zin + j];
            }
            out[row + boff + k] = dk;
        }
        if ld.l > 0 {
            for j in 0..ld.n_prev {
                let mut acc = 0.0f32;
                for k in 0..ld.n_out {
                    acc += w[off + k * ld.n_prev + j] * nxt[k];
                }
                cur[j] = acc;
            }
        }
    }
}

/// The row wᵦ∇θE(x) of `spec`'s family at `out[row ..]`.
#[cube]
pub fn grad_any(
    w: &[f32],
    meta: &[u32],
    xin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
) {
    match spec.family {
        Family::Mlp => mlp_grad(w, meta, xin, out, row, wb, spec),
        Family::Gaussian => gaussian_grad(w, xin, out, row, wb, spec),
        Family::Ica => ica_grad(w, xin, out, row, wb, spec),
        Family::Mixture => mixture_grad(w, xin, out, row, wb, spec),
        Family::Rbm => rbm_grad(w, xin, out, row, wb, spec),
    }
}

/// `out[p] (+)= Σ_{t<n} rows[t·P + p]` (overwrites when `accumulate` is 0).
#[cube(launch)]
pub fn reduce_rows_kernel(rows: &[f32], out: &mut [f32], n: u32, accumulate: u32, #[comptime] n_params: usize) {
    let p = ABSOLUTE_POS;
    if p < n_params {
        let mut acc = 0.0f32;
        for t in 0..n as usize {
            acc += rows[t * n_params + p];
        }
        if accumulate != 0u32 {
            out[p] += acc;
        } else {
            out[p] = acc;
        }
    }
}
