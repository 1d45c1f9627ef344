//! The Gaussian family's shared device piece: the product with the
//! transposed packed Cholesky factor, Lᵀs, used by the Gaussian's energy,
//! Hessian form and θ-gradient rows and by the full-precision mixture
//! components (twin of `ebm_core::gaussian`; L packed row by row as in
//! [`crate::packed`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::packed::tri;
use cubecl::prelude::*;

/// `dst[j] = Σ_{i ≥ j} L_ij src[i]` (dst = Lᵀ src) for the d × d lower
/// triangle packed at `w[f ..]`; returns ‖dst‖², summed in the order of j.
#[cube]
pub fn lt_mul(w: &[f32], f: usize, src: &Array<f32>, dst: &mut Array<f32>, #[comptime] d: usize) -> f32 {
    let mut ss = 0.0f32;
    for j in 0..d {
        let mut acc = 0.0f32;
        for i in j..d {
            acc += w[f + tri(i, j)] * src[i];
        }
        dst[j] = acc;
        ss += acc * acc;
    }
    ss
}
