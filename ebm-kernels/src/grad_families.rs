//! Per-sample rows of Σᵦ wᵦ∇θ(vᵦᵀ∇ₓE(xᵦ)) (seed eq 13) and of
//! Σᵦ wᵦ∇θ𝒥(xᵦ) (seed eq 12) for the Gaussian, ICA, RBM and mixture
//! families, called
//! from [`crate::param_rows::param_rows_kernel()`] (targets `VDotGradX` and
//! `ScoreMatching`); the formulas are those of the
//! module docs of `ebm_core::{gaussian, ica, rbm}`, items (b) and (c). The
//! score-matching rows are the vᵀ∇ₓE rows with v = ∇ₓE held fixed plus the
//! family's Hessian-trace terms (x-independent terms enter every row with
//! that row's weight, so they sum to Σᵦ wᵦ times the term):
//!
//! - Gaussian (r = x − μ, u = Lᵀr, a = Lᵀv): ∂f/∂μ = −L a,
//!   ∂f/∂Lᵢⱼ = vᵢuⱼ + aⱼrᵢ; 𝒥 takes v = g = L u and adds −2Lᵢⱼ;
//! - ICA (s = Wx, t = Wv, g = αĝ): ∂f/∂Wₖⱼ = gₖ″tₖxⱼ + gₖ′vⱼ,
//!   ∂f/∂αₖ = ĝₖ′tₖ; 𝒥 (y = Wᵀg′, z = Wy, nₖ = ‖wₖ‖²):
//!   ∂𝒥/∂Wₖⱼ = gₖ′yⱼ + (gₖ″zₖ − gₖ‴nₖ)xⱼ − 2gₖ″Wₖⱼ, ∂𝒥/∂αₖ = zₖĝₖ′ − nₖĝₖ″;
//! - RBM (ṽ = ρ∘v, t = Wṽ, C = −h′∘t, δ = x − b − Wᵀh): ∂f/∂bᵢ = −ṽᵢ,
//!   ∂f/∂cⱼ = Cⱼ, ∂f/∂Wⱼᵢ = Cⱼx̃ᵢ − hⱼṽᵢ, ∂f/∂log σᵢ = −2ṽᵢδᵢ − 2x̃ᵢ(WᵀC)ᵢ;
//!   𝒥 takes ṽ = ρ²∘δ, C += h″∘κ (κⱼ = Σᵢ Wⱼᵢ²ρᵢ²), and adds
//!   2h′ⱼWⱼᵢρᵢ² to ∂/∂Wⱼᵢ and 2ρᵢ − 4ρᵢ²Σⱼh′ⱼWⱼᵢ² to ∂/∂log σᵢ.
//!
//! The Gaussian mixture's rows are in [`crate::grad_mixture`].
//!
//! The rows live in the family modules [`crate::gaussian`], [`crate::ica`]
//! and [`crate::rbm`]; this module dispatches to them ([`family_row()`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::gaussian_row;
use crate::grad_mixture::{mixture_row, mixture_row_cost};
use crate::ica::ica_row;
pub use crate::ica::{source_d123, Line3};
use crate::rbm::rbm_row;
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// The row of `spec`'s family (not the MLP): ∇θ of
/// vᵀ∇ₓE (`sm` false, `vin` = v) or of 𝒥 (`sm` true, `vin` unused),
/// times `wb`.
#[cube]
pub fn family_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec, #[comptime] sm: bool) {
    match spec.family {
        Family::Gaussian => gaussian_row(w, io, spec, sm),
        Family::Ica => ica_row(w, io, spec, sm),
        Family::Rbm => rbm_row(w, io, spec, sm),
        Family::Mixture => mixture_row(w, io, spec, sm, false),
        // The MLP's rows are `crate::grad_vdx::mlp_vdx` and
        // `crate::grad_sm::mlp_sm`; this expands to nothing for it.
        Family::Mlp => {}
    }
}

/// Whether [`family_row()`] covers `family`.
pub fn has_family_row(family: Family) -> bool {
    family != Family::Mlp
}

/// The per-thread f32 values of one row of [`family_row()`] (the caller
/// keeps them within [`crate::family::MAX_THREAD_FLOATS`]; the MLP, which
/// has no such row, gets the RBM's figure).
pub fn family_row_floats(spec: &Spec) -> usize {
    let (d, k) = (spec.d, spec.a);
    match spec.family {
        Family::Gaussian => 6 * d,
        Family::Ica => 3 * d,
        Family::Mixture => k * d + 2 * k + 7 * d,
        Family::Rbm | Family::Mlp => 7 * d + 3 * k,
    }
}

/// An upper bound on the loop iterations of one row of [`family_row()`]
/// (either objective) plus the loads of x and v: `p` parameters (the MLP,
/// which has no such row, gets the RBM's figure).
pub fn family_row_cost(spec: &Spec) -> u64 {
    let d = spec.d as u64;
    let k = spec.a as u64;
    let n = match spec.family {
        Family::Gaussian => 8 * d + 4 * d * (d + 1),
        Family::Ica => 4 * d + k * (4 + 5 * d),
        Family::Mixture => return mixture_row_cost(spec),
        Family::Rbm | Family::Mlp => 6 * d + k * (3 + 4 * d) + d * (1 + k),
    };
    let n = n + 16;
    n + n / 4
}
