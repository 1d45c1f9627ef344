//! The Hessian quadratic form qᵦ = vᵦᵀ∇ₓ²E(xᵦ)vᵦ for the ICA, RBM and
//! Gaussian-mixture families (the MLP and the Gaussian are in
//! [`crate::vhv`]), one thread per sample, forward-over-reverse along v
//! written out per family (notation of [`crate::families`]):
//!
//! - **ICA** E = Σₖ αₖĝ(sₖ), s = Wx: ∇ₓ²E = Σₖ αₖĝ″(sₖ)wₖwₖᵀ, so
//!   q = Σₖ αₖĝ″(sₖ)tₖ² with t = Wv;
//! - **RBM**: ∇ₓ²F = diag(ρ) − Σⱼ h′ⱼ(ρ∘Wⱼ)(ρ∘Wⱼ)ᵀ, so
//!   q = Σᵢ ρᵢvᵢ² − Σⱼ h′ⱼtⱼ² with tⱼ = Σᵢ Wⱼᵢρᵢvᵢ;
//! - **mixture**: ∇ₓ²E = Σₖ γₖ(Pₖ − gₖgₖᵀ) + ḡḡᵀ, so
//!   q = Σₖ γₖ(Aₖ − Bₖ²) + (Σₖ γₖBₖ)² with Aₖ = ‖Lₖᵀv‖² and
//!   Bₖ = vᵀgₖ = (Lₖᵀv)ᵀ(Lₖᵀrₖ); the sums over k run as the streaming
//!   log-sum-exp of `mixture_eval` (rescaled when a smaller eₖ appears), so
//!   per-thread state is O(d).
//!
//! The functions live in the family modules [`crate::ica`], [`crate::rbm`]
//! and [`crate::mixture`] and are re-exported here.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

pub use crate::ica::ica_vhv;
pub use crate::mixture::mixture_vhv;
use crate::plan::LoopCost;
pub use crate::rbm::rbm_vhv;
use crate::spec::*;

/// An upper bound on the loop iterations of one ICA, RBM or mixture
/// `v_hess_v` invocation: twice the energy's (the tangent shares every
/// loop of the energy) plus the loads, padded by 64.
pub fn family_vhv_loop_cost(spec: &Spec, cost: &LoopCost) -> u64 {
    2 * cost.energy + 4 * spec.d as u64 + 64
}

/// Per-thread state of the family `v_hess_v` in f32 values.
pub fn family_vhv_thread_floats(spec: &Spec) -> usize {
    3 * spec.d + 4
}
