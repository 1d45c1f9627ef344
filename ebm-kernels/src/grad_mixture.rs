//! Per-sample rows of Σᵦ wᵦ∇θ(vᵦᵀ∇ₓE(xᵦ)) (seed eq 13) and of
//! Σᵦ wᵦ∇θ𝒥(xᵦ) (seed eq 12) for the Gaussian mixture, called through
//! [`crate::grad_families::family_row()`]; the twin of `ebm_core::mixture`
//! (module docs, items (b) and (c)).
//!
//! With per-component energies eₖ, gradients gₖ = Pₖrₖ (rₖ = x − μₖ),
//! responsibilities γₖ and ḡ = Σₖγₖgₖ, every row is
//! Σₖ [αₖ∂eₖ + βₖ∂(wₖᵀgₖ)|_{wₖ fixed} − τₖ∂tr Pₖ], with the logit part
//! ∂/∂aⱼ = πⱼΣₖαₖ − αⱼ and
//!
//! - vᵀ∇ₓE: αₖ = −γₖvᵀ(gₖ − ḡ), βₖ = γₖ, wₖ = v, τ = 0;
//! - 𝒥 = Σₖγₖ(‖gₖ‖² − tr Pₖ) − ½‖ḡ‖²: with
//!   χₖ = ‖gₖ − ḡ‖² + ḡᵀ(gₖ − ḡ) − tr Pₖ and χ̄ = Σₖγₖχₖ,
//!   αₖ = γₖ(χ̄ − χₖ), βₖ = γₖ, wₖ = 2gₖ − ḡ, τₖ = γₖ;
//! - vᵀ∇ₓ²E v = Σₖγₖ(Aₖ − Bₖ²) + C² (Aₖ = ‖Lₖᵀv‖², Bₖ = vᵀgₖ,
//!   C = ΣₖγₖBₖ; `vhv`): with Qₖ = Aₖ − Bₖ² + 2CBₖ and Q̄ = ΣₖγₖQₖ,
//!   αₖ = −γₖ(Qₖ − Q̄), βₖ = 2γₖ(C − Bₖ), wₖ = v, τ = 0, plus γₖ∂Aₖ:
//!   2vᵢaⱼ (Lₖ, a = Lₖᵀv), 2lᵢ²vᵢ² (log l).
//!
//! Component pieces (full Lₖ; diagonal Lₖ = diag(l), ∂/∂log lᵢ = lᵢ∂/∂Lᵢᵢ;
//! uₖ = Lₖᵀrₖ, aₖ = Lₖᵀwₖ):
//! ∂eₖ: −gₖ (μₖ), rᵢuⱼ − δᵢⱼ/Lᵢᵢ (Lₖ), uᵢ² − 1 (log l);
//! ∂(wᵀgₖ): −Lₖaₖ (μₖ), wᵢuⱼ + aⱼrᵢ (Lₖ), 2wᵢgₖᵢ (log l);
//! ∂tr Pₖ: 2Lᵢⱼ (Lₖ), 2lᵢ² (log l).
//!
//! Per-thread state: every gₖ (K·d), eₖ → γₖ and αₖ (2K), five d-vectors.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::lt_mul;
use crate::mixture::{comp_at, comp_work, component_weights, logits_lse, MixLayout};
use crate::packed::tri;
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// The mixture's row (see the module docs) times `wb`.
#[cube]
pub fn mixture_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec, #[comptime] sm: bool, #[comptime] vhv: bool) {
    let row = io.row;
    let wb = io.wb;
    let lay = comptime!(MixLayout::of(spec));
    let mut g = Array::<f32>::new(comptime!(spec.a * spec.d));
    let mut e = Array::<f32>::new(spec.a);
    let mut al = Array::<f32>::new(spec.a);
    let mut cw = comp_work(lay.d);
    let mut gb = Array::<f32>::new(lay.d);
    let mut wv = Array::<f32>::new(lay.d);
    let mut a = Array::<f32>::new(lay.d);
    let lse = logits_lse(w, lay.k);
    // Pass 1: eₖ and gₖ.
    let ssum = component_weights(w, io.x, lse, &mut e, &mut g, &mut cw, spec, true);
    for c in 0..lay.k {
        e[c] /= ssum;
    }
    for i in 0..lay.d {
        let mut acc = 0.0f32;
        for c in 0..lay.k {
            acc += e[c] * g[c * lay.d + i];
        }
        gb[i] = acc;
    }
    // αₖ.
    let mut alsum = 0.0f32;
    let mut cv = 0.0f32;
    if comptime!(vhv) {
        // C = Σₖ γₖBₖ, Qₖ = Aₖ − Bₖ² + 2CBₖ (Bₖ, then Qₖ kept in `al`).
        for c in 0..lay.k {
            let mut bk = 0.0f32;
            for i in 0..lay.d {
                bk += io.v[i] * g[c * lay.d + i];
            }
            al[c] = bk;
            cv += e[c] * bk;
        }
        let mut qbar = 0.0f32;
        for c in 0..lay.k {
            let f = lay.fbase + c * lay.flen;
            let mut aa = 0.0f32;
            if comptime!(lay.diag) {
                for i in 0..lay.d {
                    let ai = f32::exp(w[f + i]) * io.v[i];
                    aa += ai * ai;
                }
            } else {
                for j in 0..lay.d {
                    let mut acc = 0.0f32;
                    for i in j..lay.d {
                        acc += w[f + tri(i, j)] * io.v[i];
                    }
                    aa += acc * acc;
                }
            }
            let bk = al[c];
            let qk = aa - bk * bk + 2.0f32 * cv * bk;
            al[c] = qk;
            qbar += e[c] * qk;
        }
        for c in 0..lay.k {
            let ac = -e[c] * (al[c] - qbar);
            al[c] = ac;
            alsum += ac;
        }
    } else if comptime!(sm) {
        let mut chibar = 0.0f32;
        for c in 0..lay.k {
            let f = lay.fbase + c * lay.flen;
            let mut tr = 0.0f32;
            for p in 0..lay.flen {
                let lv = w[f + p];
                if comptime!(lay.diag) {
                    tr += f32::exp(2.0f32 * lv);
                } else {
                    tr += lv * lv;
                }
            }
            let mut chi = -tr;
            for i in 0..lay.d {
                let dg = g[c * lay.d + i] - gb[i];
                chi += dg * dg + gb[i] * dg;
            }
            al[c] = chi;
            chibar += e[c] * chi;
        }
        for c in 0..lay.k {
            let ac = e[c] * (chibar - al[c]);
            al[c] = ac;
            alsum += ac;
        }
    } else {
        for c in 0..lay.k {
            let mut acc = 0.0f32;
            for i in 0..lay.d {
                acc += io.v[i] * (g[c * lay.d + i] - gb[i]);
            }
            let ac = -e[c] * acc;
            al[c] = ac;
            alsum += ac;
        }
    }
    for c in 0..lay.k {
        let pi = f32::exp(w[c] - lse);
        io.out[row + c] = wb * (pi * alsum - al[c]);
    }
    // Pass 2: the component pieces.
    for c in 0..lay.k {
        let gam = e[c];
        let ac = al[c];
        let at = comp_at(c, lay);
        let gc = c * lay.d;
        let mut bk = 0.0f32;
        for i in 0..lay.d {
            cw.r[i] = io.x[i] - w[at.mu + i];
            if comptime!(sm) {
                wv[i] = 2.0f32 * g[gc + i] - gb[i];
            } else {
                wv[i] = io.v[i];
                bk += io.v[i] * g[gc + i];
            }
        }
        // βₖ: γₖ, or 2γₖ(C − Bₖ) for vᵀ∇ₓ²E v.
        let mut beta = gam;
        if comptime!(vhv) {
            beta = 2.0f32 * gam * (cv - bk);
        }
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                let l = f32::exp(w[at.f + i]);
                let ui = l * cw.r[i];
                let gi = g[gc + i];
                let wi = wv[i];
                io.out[row + at.mu + i] = wb * (-ac * gi - beta * l * l * wi);
                let mut lg = ac * (ui * ui - 1.0f32) + 2.0f32 * beta * wi * gi;
                if comptime!(sm) {
                    lg -= 2.0f32 * gam * l * l;
                }
                if comptime!(vhv) {
                    lg += 2.0f32 * gam * l * l * wi * wi;
                }
                io.out[row + at.f + i] = wb * lg;
            }
        } else {
            lt_mul(w, at.f, &cw.r, &mut cw.u, lay.d);
            lt_mul(w, at.f, &wv, &mut a, lay.d);
            for i in 0..lay.d {
                let base = at.f + tri(i, 0);
                let mut la = 0.0f32;
                for j in 0..i + 1 {
                    let lv = w[base + j];
                    la += lv * a[j];
                    let mut gl = ac * cw.r[i] * cw.u[j] + beta * (wv[i] * cw.u[j] + a[j] * cw.r[i]);
                    if comptime!(sm) {
                        gl -= 2.0f32 * gam * lv;
                    }
                    if comptime!(vhv) {
                        gl += 2.0f32 * gam * wv[i] * a[j];
                    }
                    io.out[row + base + j] = wb * gl;
                }
                io.out[row + base + i] -= wb * ac / w[base + i];
                io.out[row + at.mu + i] = wb * (-ac * g[gc + i] - beta * la);
            }
        }
    }
}

/// An upper bound on the loop iterations of one [`mixture_row()`] (any
/// objective) plus the loads of x and v.
pub fn mixture_row_cost(spec: &Spec) -> u64 {
    let d = spec.d as u64;
    let k = spec.a as u64;
    let n = 8 * d + k * (12 + 10 * d + 4 * d * (d + 1)) + 16;
    n + n / 4
}
