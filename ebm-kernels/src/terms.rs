//! The per-sample loss terms of the fused training objectives, formed on
//! the device from the outputs of the energy kernels (then summed by
//! [`crate::reduce`]), so that a training step's loss and θ-gradient leave
//! the device together:
//!
//! - [`residual_kernel()`]: score regression (denoising score matching,
//!   eq 13): rᵦ = ∇ₓE(xᵦ) − tᵦ = −sᵦ − tᵦ from the score s, written for the
//!   vᵀ∇ₓE gradient kernel, and the term wᵦ·½‖rᵦ‖²;
//! - [`sm_terms_kernel()`]: exact score matching (eq 12): the term
//!   wᵦ·Σᵢ(½sᵢ² − hᵢ) from the score s and the Hessian diagonal h;
//! - [`nce_energy_kernel()`]: noise-contrastive estimation (eq 22–24)
//!   from the energies of the points (the logits, loss terms and gradient
//!   weights of [`crate::nce`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::nce::nce_point;
use cubecl::prelude::*;

/// `r[b·d + i] = −score[b·d + i] − target[b·d + i]` and
/// `terms[b] = weights[b]·½‖r_b‖²` for b < `batch`.
#[cube(launch)]
pub fn residual_kernel(
    score: &[f32],
    target: &[f32],
    weights: &[f32],
    r: &mut [f32],
    terms: &mut [f32],
    batch: u32,
    #[comptime] d: usize,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        let mut acc = 0.0f32;
        for i in 0..d {
            let k = b * d + i;
            let ri = -score[k] - target[k];
            r[k] = ri;
            acc += ri * ri;
        }
        terms[b] = weights[b] * (0.5f32 * acc);
    }
}

/// `terms[b] = weights[b]·Σᵢ(½ score[b·d + i]² − hess[b·d + i])` for
/// b < `batch`.
#[cube(launch)]
pub fn sm_terms_kernel(
    score: &[f32],
    hess: &[f32],
    weights: &[f32],
    terms: &mut [f32],
    batch: u32,
    #[comptime] d: usize,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        let mut acc = 0.0f32;
        for i in 0..d {
            let k = b * d + i;
            let s = score[k];
            acc += 0.5f32 * s * s - hess[k];
        }
        terms[b] = weights[b] * acc;
    }
}

/// Per point, from its energy: the logit, the loss term and the gradient
/// weight of NCE (the conventions of [`crate::nce`]).
#[cube(launch)]
pub fn nce_energy_kernel(
    energy: &[f32],
    log_pn: &[f32],
    logits: &mut [f32],
    terms: &mut [f32],
    weights: &mut [f32],
    n: u32,
    n_data: u32,
    c_plus_log_nu: f32,
    inv_n: f32,
) {
    let b = ABSOLUTE_POS;
    if b < n as usize {
        let p = nce_point(energy[b], log_pn[b], b < n_data as usize, c_plus_log_nu, inv_n);
        logits[b] = p.logit;
        terms[b] = p.term;
        weights[b] = p.weight;
    }
}
