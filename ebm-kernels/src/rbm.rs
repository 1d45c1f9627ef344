//! The Gaussian–Bernoulli RBM's shared device pieces (twin of
//! `ebm_core::rbm`; θ = [b (d), c (H), W (H×d), log σ (d)], see
//! [`crate::families`]): a hidden unit's pre-activation and its sigmoid,
//! used by the energy, the Hessian form and the θ-gradient rows.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::spec::Spec;
use cubecl::prelude::*;

/// aⱼ = cⱼ + Σᵢ Wⱼᵢ x̃ᵢ of hidden unit `j`, x̃ = ρ∘x in `xt`.
#[cube]
pub fn rbm_preact(w: &[f32], xt: &Array<f32>, j: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let r = comptime!(spec.d + spec.a) + j * d;
    let mut a = w[d + j];
    for i in 0..d {
        a += w[r + i] * xt[i];
    }
    a
}

/// A hidden unit at pre-activation a, without overflow: e = e^{−|a|},
/// inv = 1/(1 + e), h = sigmoid(a) and hm = 1 − h (each inv or e·inv).
#[derive(CubeType, Clone, Copy)]
pub struct Hidden {
    pub e: f32,
    pub inv: f32,
    pub h: f32,
    pub hm: f32,
}

/// The [`Hidden`] values at `a`.
#[cube]
pub fn rbm_hidden(a: f32) -> Hidden {
    let e = f32::exp(-f32::abs(a));
    let inv = 1.0f32 / (1.0f32 + e);
    Hidden { e, inv, h: select(a >= 0.0f32, inv, e * inv), hm: select(a >= 0.0f32, e * inv, inv) }
}
