//! The Gaussian mixture's shared device pieces (twin of
//! `ebm_core::mixture`; θ = [a (K), μ (K×d), per component the packed Lₖ
//! or log lₖ], see [`crate::families`]), used by its energy, Hessian form
//! and θ-gradient rows:
//!
//! - [`logits_lse()`]: lse(a) = log Σₖ e^{aₖ} of the mixing logits;
//! - [`component_energy()`]: eₖ = lse(a) − aₖ + (d/2) log 2π − log|det Lₖ| + ½‖uₖ‖²;
//! - [`stream_step()`]: one step of the streaming log-sum-exp of −eₖ
//!   (rescaled when a smaller eₖ appears), so that sums over k need O(d)
//!   state;
//! - [`exp_shift()`]: e^{e_min − eₖ} in place, and their sum.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::spec::Spec;
use cubecl::prelude::*;

/// log Σₖ e^{aₖ} of the `k` logits at `w[0 .. k]`, around their maximum.
#[cube]
pub fn logits_lse(w: &[f32], #[comptime] k: usize) -> f32 {
    let mut amax = w[0];
    for c in 1..k {
        amax = f32::max(amax, w[c]);
    }
    let mut asum = 0.0f32;
    for c in 0..k {
        asum += f32::exp(w[c] - amax);
    }
    amax + f32::ln(asum)
}

/// eₖ from lse(a), the component's logit `ac`, log|det Lₖ| and ‖uₖ‖².
#[cube]
pub fn component_energy(lse: f32, ac: f32, logdet: f32, uu: f32, #[comptime] spec: Spec) -> f32 {
    let df = comptime!(spec.d as f32);
    lse - ac + 0.918_938_5f32 * df - logdet + 0.5f32 * uu
}

/// The running minimum m of the eₖ and the factors of one streaming step:
/// sums S of wₖ-weighted terms become S·`scale` + `wgt`·term, where
/// the weight of component k is e^{m − eₖ} for the current m.
#[derive(CubeType, Clone, Copy)]
pub struct Stream {
    pub m: f32,
    pub scale: f32,
    pub wgt: f32,
}

/// The step of the streaming log-sum-exp for component `c` of energy `ec`,
/// with `m` the minimum of the energies before it (ignored for c = 0).
#[cube]
pub fn stream_step(m: f32, ec: f32, c: usize) -> Stream {
    let mut out = Stream { m, scale: 1.0f32, wgt: 1.0f32 };
    if c == 0 {
        out.m = ec;
        out.scale = 0.0f32;
    } else if ec < m {
        out.scale = f32::exp(ec - m);
        out.m = ec;
    } else {
        out.wgt = f32::exp(m - ec);
    }
    out
}

/// `e[c] ← e^{emin − e[c]}` for the `k` components; returns their sum.
#[cube]
pub fn exp_shift(e: &mut Array<f32>, emin: f32, #[comptime] k: usize) -> f32 {
    let mut ssum = 0.0f32;
    for c in 0..k {
        let t = f32::exp(emin - e[c]);
        e[c] = t;
        ssum += t;
    }
    ssum
}
