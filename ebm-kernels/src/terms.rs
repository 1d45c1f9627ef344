//! The per-sample loss terms of the fused training objectives, formed on
//! the device from the outputs of the energy kernels (then summed by
//! [`crate::reduce`]), so that a training step's loss and θ-gradient leave
//! the device together:
//!
//! - [`score_terms_kernel()`] for score regression (denoising score
//!   matching, eq 13): rᵦ = ∇ₓE(xᵦ) − tᵦ = −sᵦ − tᵦ from the score s,
//!   written for the vᵀ∇ₓE gradient kernel, and the term wᵦ·½‖rᵦ‖²;
//! - [`score_terms_kernel()`] for exact score matching (eq 12): the term
//!   wᵦ·Σᵢ(½sᵢ² − hᵢ) from the score s and the Hessian diagonal h;
//! - [`nce_energy_kernel()`]: noise-contrastive estimation (eq 22–24)
//!   from the energies of the points (the logits, loss terms and gradient
//!   weights of [`crate::nce`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::nce::{store_nce_point, NceArgs, NceOuts};
use cubecl::prelude::*;

/// The per-sample term of a score objective for b < `batch`, from the
/// score s = `score[b·d ..]`:
/// - `regression`: `r[b·d + i] = −sᵢ − other[b·d + i]` (the target t) and
///   `terms[b] = weights[b]·½‖r_b‖²`;
/// - otherwise: `terms[b] = weights[b]·Σᵢ(½sᵢ² − other[b·d + i])` (the
///   Hessian diagonal h; `r` is a 1-element dummy).
#[cube(launch)]
pub fn score_terms_kernel(
    score: &[f32],
    other: &[f32],
    weights: &[f32],
    r: &mut [f32],
    terms: &mut [f32],
    batch: u32,
    #[comptime] d: usize,
    #[comptime] regression: bool,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        let mut acc = 0.0f32;
        for i in 0..d {
            let k = b * d + i;
            let s = score[k];
            if comptime!(regression) {
                let ri = -s - other[k];
                r[k] = ri;
                acc += ri * ri;
            } else {
                acc += 0.5f32 * s * s - other[k];
            }
        }
        if comptime!(regression) {
            terms[b] = weights[b] * (0.5f32 * acc);
        } else {
            terms[b] = weights[b] * acc;
        }
    }
}

/// Per point, from its energy: the logit, the loss term and the gradient
/// weight of NCE (the conventions of [`crate::nce`]).
#[cube(launch)]
pub fn nce_energy_kernel(energy: &[f32], log_pn: &[f32], out: &mut NceOuts, args: NceArgs) {
    let b = ABSOLUTE_POS;
    if b < args.n as usize {
        store_nce_point(energy[b], b, log_pn, out, &args);
    }
}
