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

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::families::ica_source;
use crate::mixture::{component_energy, logits_lse, stream_step};
use crate::packed::tri;
use crate::plan::LoopCost;
use crate::rbm::rbm_hidden;
use crate::spec::*;
use cubecl::prelude::*;

/// ICA: q = Σₖ αₖĝ″(sₖ)tₖ².
#[cube]
pub fn ica_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let k = spec.a;
    let mut q = 0.0f32;
    for c in 0..k {
        let r = c * d;
        let mut s = 0.0f32;
        let mut t = 0.0f32;
        for j in 0..d {
            let wj = w[r + j];
            s += wj * x[b * d + j];
            t += wj * v[b * d + j];
        }
        let mut al = 1.0f32;
        if comptime!(spec.variant == 2) {
            al = w[k * d + c];
        }
        q += al * ica_source(s, spec.variant).g2 * t * t;
    }
    q
}

/// RBM: q = Σᵢ ρᵢvᵢ² − Σⱼ h′ⱼtⱼ².
#[cube]
pub fn rbm_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let nh = spec.a;
    let wbase = d + nh;
    let sbase = wbase + nh * d;
    let mut xt = Array::<f32>::new(d);
    let mut vt = Array::<f32>::new(d);
    let mut q = 0.0f32;
    for i in 0..d {
        let p = f32::exp(-2.0f32 * w[sbase + i]);
        let vi = v[b * d + i];
        xt[i] = p * x[b * d + i];
        vt[i] = p * vi;
        q += p * vi * vi;
    }
    for j in 0..nh {
        let row = wbase + j * d;
        let mut a = w[d + j];
        let mut t = 0.0f32;
        for i in 0..d {
            let wi = w[row + i];
            a += wi * xt[i];
            t += wi * vt[i];
        }
        let u = rbm_hidden(a);
        q -= u.e * u.inv * u.inv * t * t;
    }
    q
}

/// Gaussian mixture: q = Σₖ γₖ(Aₖ − Bₖ²) + (Σₖ γₖBₖ)².
#[cube]
pub fn mixture_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let k = spec.a;
    let diag = comptime!(spec.variant == 1);
    let flen = comptime!(if spec.variant == 1 { spec.d } else { spec.d * (spec.d + 1) / 2 });
    let fbase = k + k * d;
    let mut r = Array::<f32>::new(d);
    let lse = logits_lse(w, k);
    let mut m = 0.0f32;
    let mut ssum = 0.0f32;
    let mut sa = 0.0f32;
    let mut sb = 0.0f32;
    for c in 0..k {
        let mu = k + c * d;
        let f = fbase + c * flen;
        for i in 0..d {
            r[i] = x[b * d + i] - w[mu + i];
        }
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        let mut aa = 0.0f32;
        let mut ab = 0.0f32;
        if comptime!(diag) {
            for i in 0..d {
                let l = f32::exp(w[f + i]);
                logdet += w[f + i];
                let ui = l * r[i];
                let ai = l * v[b * d + i];
                uu += ui * ui;
                aa += ai * ai;
                ab += ai * ui;
            }
        } else {
            for j in 0..d {
                let mut u = 0.0f32;
                let mut a = 0.0f32;
                for i in j..d {
                    let lv = w[f + tri(i, j)];
                    u += lv * r[i];
                    a += lv * v[b * d + i];
                }
                uu += u * u;
                aa += a * a;
                ab += a * u;
                logdet += f32::ln(f32::abs(w[f + tri(j, j)]));
            }
        }
        let ec = component_energy(lse, w[c], logdet, uu, spec);
        let st = stream_step(m, ec, c);
        m = st.m;
        let scale = st.scale;
        let wgt = st.wgt;
        ssum = ssum * scale + wgt;
        sa = sa * scale + wgt * (aa - ab * ab);
        sb = sb * scale + wgt * ab;
    }
    let inv = 1.0f32 / ssum;
    let cb = sb * inv;
    sa * inv + cb * cb
}

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
