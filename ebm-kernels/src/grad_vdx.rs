//! Σᵦ wᵦ ∇θ (vᵦᵀ∇ₓE(xᵦ)) on the device for the MLP (denoising score
//! matching, seed eq 13, and sliced score matching), in the two-kernel
//! shape of [`crate::grad`]: [`crate::param_rows::param_rows_kernel()`] with
//! `RowTarget::VDotGradX` writes one weighted per-sample gradient row per
//! thread, `crate::grad::reduce_rows_kernel`
//! sums the rows over the batch.
//!
//! Per sample (notation of [`crate::mlp`]; the twin of
//! `ebm_core::mlp::grad_params`, reverse-over-forward):
//!
//! 1. forward z_l, σ′(a_l), σ″(a_l); backward γ_l (γ_L = w_out,
//!    δ_l = γ_l ⊙ σ′(a_l), γ_{l−1} = W_lᵀ δ_l), every layer kept;
//! 2. the adjoint of the backward pass, l = 1..L, seeded with γ̄₀ = wᵦ vᵦ:
//!    δ̄_l = W_l γ̄_{l−1}, W̄_l = δ_l γ̄_{l−1}ᵀ, γ̄_l = σ′ ⊙ δ̄_l,
//!    ā_l = γ_l ⊙ σ″ ⊙ δ̄_l; then w̄_out = γ̄_L, b̄_out = 0;
//! 3. ā carried down the forward pass, l = L..1:
//!    ā_l += σ′(a_l) ⊙ W_{l+1}ᵀ ā_{l+1}, W̄_l += ā_l z_{l−1}ᵀ, b̄_l = ā_l.
//!
//! Per-thread state: z_l and γ̄_l (each d + ΣH_l), σ′, σ″, γ and ā of
//! every hidden unit (4·ΣH_l), one vector of the widest layer.
//!
//! Loop iterations per sample (for [`crate::plan`]'s budget): the forward
//! and backward passes plus three more sweeps over every weight, bounded
//! by [`vdx_loop_cost`]; a sample that does not fit goes to the CPU twin.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::mlp::{layer_down, layer_step, layer_up, mlp_forward, mlp_out_offset, mlp_tape, MlpTape};
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// Forward and backward passes of one sample into `tape` (which keeps
/// the backward slots): z_l, σ′ and σ″ (and σ‴ when `tape.with_s3`), γ_l of
/// every hidden layer and γ₀ = ∇ₓE. Shared with [`crate::grad_sm`] and
/// [`crate::vhv`].
#[cube]
pub fn mlp_fwd_bwd(w: &[f32], dims: &[u32], xin: &Array<f32>, tape: &mut MlpTape, #[comptime] spec: Spec) {
    let layers = spec.a;
    mlp_forward(w, dims, xin, tape, spec);
    let mut cur = Array::<f32>::new(spec.wmax);
    let n_in = dims[layers] as usize;
    let mut off = mlp_out_offset(dims, spec);
    let mut aoff = spec.wsum.runtime();
    // γ_L = w_out, then γ_{l−1} = W_lᵀ (γ_l ⊙ σ′(a_l)).
    aoff -= n_in;
    for k in 0..n_in {
        tape.gam[aoff + k] = w[off + k];
    }
    for t in 0..layers {
        let ld = layer_down(dims, t, layers);
        off -= ld.n_out * ld.n_prev + ld.n_out;
        for k in 0..ld.n_out {
            cur[k] = tape.gam[aoff + k] * tape.s1[aoff + k];
        }
        let mut dst = 0usize;
        if ld.l > 0 {
            dst = aoff - ld.n_prev;
        }
        for j in 0..ld.n_prev {
            let mut acc = 0.0f32;
            for k in 0..ld.n_out {
                acc += w[off + k * ld.n_prev + j] * cur[k];
            }
            if ld.l > 0 {
                tape.gam[dst + j] = acc;
            } else {
                tape.g0[j] = acc;
            }
        }
        aoff = dst;
    }
}

/// ā carried down the forward pass (step 3 of the module docs, also the
/// last step of [`crate::grad_sm`]): adds ā_l z_{l−1}ᵀ to the rows of W̄_l
/// and writes b̄_l = ā_l, for l = L..1, reading z_l and σ′ from `tape`.
#[cube]
pub fn forward_adjoint(
    w: &[f32],
    dims: &[u32],
    tape: &MlpTape,
    ab: &mut Array<f32>,
    out: &mut [f32],
    row: usize,
    #[comptime] spec: Spec,
) {
    let layers = spec.a;
    // From w_out in θ and z_L in the tape.
    let mut off = mlp_out_offset(dims, spec);
    let mut zin = comptime!(spec.d + spec.wsum) - dims[layers] as usize;
    let mut aoff = spec.wsum.runtime();
    for t in 0..layers {
        let ld = layer_down(dims, t, layers);
        off -= ld.n_out * ld.n_prev + ld.n_out;
        aoff -= ld.n_out;
        zin -= ld.n_prev;
        let boff = off + ld.n_out * ld.n_prev;
        for k in 0..ld.n_out {
            let a = ab[aoff + k];
            let r = row + off + k * ld.n_prev;
            for j in 0..ld.n_prev {
                out[r + j] += a * tape.z[zin + j];
            }
            out[row + boff + k] = a;
        }
        if ld.l > 0 {
            for j in 0..ld.n_prev {
                let mut acc = 0.0f32;
                for k in 0..ld.n_out {
                    acc += w[off + k * ld.n_prev + j] * ab[aoff + k];
                }
                ab[aoff - ld.n_prev + j] += tape.s1[aoff - ld.n_prev + j] * acc;
            }
        }
    }
}

/// The MLP row wᵦ∇θ(vᵀ∇ₓE(x)) (module docs) at `out[row ..]`.
#[cube]
pub fn mlp_vdx<'a>(w: &[f32], dims: &[u32], io: RowIo<'a>, #[comptime] spec: Spec) {
    let mut tape = mlp_tape(spec, true, false);
    let mut gb = Array::<f32>::new(comptime!(spec.d + spec.wsum));
    let mut ab = Array::<f32>::new(spec.wsum);
    mlp_fwd_bwd(w, dims, io.x, &mut tape, spec);
    // Adjoint of the backward pass, γ̄₀ = wᵦ vᵦ.
    for i in 0..spec.d {
        gb[i] = io.wb * io.v[i];
    }
    let no_cb = Array::<f32>::new(1usize);
    adjoint_passes(w, dims, &tape, &no_cb, &mut gb, &mut ab, io.out, io.row, spec, false);
}

/// Steps 2–3 of the module docs (and steps 3–4 of [`crate::grad_sm`]):
/// the adjoint of the backward pass in `tape` seeded with γ̄₀ in `gb`,
/// writing W̄_l (added to the row when `sm`) and w̄_out = γ̄_L, then ā
/// carried down the forward pass ([`forward_adjoint()`]). With `sm` the
/// score-matching seeds c̄ enter (γ̄_l += σ″ ⊙ c̄_l,
/// ā_l += γ_l ⊙ (σ″ ⊙ δ̄_l + σ‴ ⊙ c̄_l)); without, ā_l = γ_l ⊙ σ″ ⊙ δ̄_l,
/// b̄_out = 0, and σ‴, `cb` are unused.
#[cube]
pub fn adjoint_passes(
    w: &[f32],
    dims: &[u32],
    tape: &MlpTape,
    cb: &Array<f32>,
    gb: &mut Array<f32>,
    ab: &mut Array<f32>,
    out: &mut [f32],
    row: usize,
    #[comptime] spec: Spec,
    #[comptime] sm: bool,
) {
    let layers = spec.a;
    let mut at = layer_up(spec.d);
    for l in 0..layers {
        let n_out = dims[l + 1] as usize;
        let off = at.off;
        let zin = at.zin;
        let n_in = at.n_in;
        for k in 0..n_out {
            let u = at.aoff + k;
            let s1 = tape.s1[u];
            let s2 = tape.s2[u];
            let gam = tape.gam[u];
            let dk = gam * s1;
            let r = off + k * n_in;
            let mut acc = 0.0f32;
            for j in 0..n_in {
                let g = gb[zin + j];
                acc += w[r + j] * g;
                if comptime!(sm) {
                    out[row + r + j] += dk * g;
                } else {
                    out[row + r + j] = dk * g;
                }
            }
            if comptime!(sm) {
                gb[zin + n_in + k] = s1 * acc + s2 * cb[u];
                ab[u] += gam * (s2 * acc + tape.s3[u] * cb[u]);
            } else {
                gb[zin + n_in + k] = s1 * acc;
                ab[u] = gam * s2 * acc;
            }
        }
        layer_step(&mut at, n_out);
    }
    // w̄_out = γ̄_L.
    for k in 0..at.n_in {
        out[row + at.off + k] = gb[at.zin + k];
    }
    if comptime!(!sm) {
        out[row + at.off + at.n_in] = 0.0f32;
    }
    forward_adjoint(w, dims, tape, ab, out, row, spec);
}

/// Sum of Σ_l H_l·(H_{l−1} + 1) over the linear layers (output included):
/// the iterations of one sweep over θ.
pub fn sweep_cost(meta: &[u32]) -> u64 {
    meta.windows(2).map(|w| w[1] as u64 * (w[0] as u64 + 1)).sum()
}

/// An upper bound on the loop iterations of one MLP invocation of
/// [`crate::param_rows::param_rows_kernel()`] with `RowTarget::VDotGradX` (`meta` holds the MLP widths d, H₁ … H_L, 1): loads, the
/// forward and backward passes and the two adjoint sweeps, each at most
/// one sweep over θ plus a few iterations per unit (the forward adjoint
/// two sweeps), padded by a quarter.
pub fn vdx_loop_cost(meta: &[u32]) -> u64 {
    let units: u64 = meta.iter().map(|&v| v as u64).sum();
    let n = 6 * sweep_cost(meta) + 8 * units + 8 * meta.len() as u64 + 16;
    n + n / 4
}
