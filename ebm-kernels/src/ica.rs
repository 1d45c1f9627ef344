//! The ICA family's shared device piece (twin of `ebm_core::ica`'s
//! `source_fns`): the source function ĝ and its first three derivatives,
//! used by the energy, the Hessian form and the θ-gradient rows:
//!
//! | variant | ĝ(s) |
//! | --- | --- |
//! | 0 log cosh | log cosh s |
//! | 1 logistic | 2 log cosh(s/2) |
//! | 2 Student-t (α = 1) | log(1 + ½s²) |
//!
//! log cosh is evaluated as |h| + log1p(e^{−2|h|}) − log 2, tanh and sech²
//! through e = e^{−2|h|}, without overflow.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::act::log1p;
use cubecl::prelude::*;

/// ĝ, ĝ′, ĝ″ and ĝ‴ at one s.
#[derive(CubeType, Clone, Copy)]
pub struct Source {
    pub g0: f32,
    pub g1: f32,
    pub g2: f32,
    pub g3: f32,
}

/// ĝ and its derivatives at `s` for the source `variant` (module table).
#[cube]
pub fn source_fns(s: f32, #[comptime] variant: u32) -> Source {
    let mut out = Source { g0: 0.0f32, g1: 0.0f32, g2: 0.0f32, g3: 0.0f32 };
    if comptime!(variant == 2) {
        let hs2 = 0.5f32 * s * s;
        let q = 1.0f32 + hs2;
        out.g0 = log1p(hs2);
        out.g1 = s / q;
        out.g2 = (1.0f32 - hs2) / (q * q);
        out.g3 = -s * (3.0f32 - hs2) / (q * q * q);
    } else {
        let scale = comptime!(if variant == 1 { 0.5f32 } else { 1.0f32 });
        let h = s * scale;
        let a = f32::abs(h);
        let e = f32::exp(-2.0f32 * a);
        let t0 = (1.0f32 - e) / (1.0f32 + e);
        let t = select(h < 0.0f32, -t0, t0);
        let sech2 = 4.0f32 * e / ((1.0f32 + e) * (1.0f32 + e));
        out.g0 = (a + log1p(e) - core::f32::consts::LN_2) / scale;
        out.g1 = t;
        out.g2 = scale * sech2;
        out.g3 = -2.0f32 * scale * scale * t * sech2;
    }
    out
}
