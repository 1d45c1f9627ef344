//! The Gaussian mixture on the device, beside its CPU twin
//! `ebm_core::mixture` (θ = [a (K), μ (K×d), per component the packed Lₖ
//! or log lₖ], see [`crate::families`]), one thread per sample:
//!
//! | kernel | function | math |
//! | --- | --- | --- |
//! | E, score, Hessian diagonal | [`mixture_eval()`] | [`crate::families`] |
//! | vᵀ∇ₓ²E v | [`mixture_vhv()`] | [`crate::vhv_families`] |
//! | row of ∇θE | [`mixture_grad()`] | [`crate::grad`] |
//! | rows of ∇θ(vᵀ∇ₓE), ∇θ𝒥, ∇θ(vᵀ∇ₓ²E v) | [`crate::grad_mixture::mixture_row()`] | [`crate::grad_mixture`] |
//!
//! The pieces they share:
//!
//! - [`logits_lse()`]: lse(a) = log Σₖ e^{aₖ} of the mixing logits;
//! - [`component_energy()`]: eₖ = lse(a) − aₖ + (d/2) log 2π − log|det Lₖ| + ½‖uₖ‖²;
//! - [`stream_step()`]: one step of the streaming log-sum-exp of −eₖ
//!   (rescaled when a smaller eₖ appears), so that sums over k need O(d)
//!   state;
//! - [`lt_logdet()`]: log|det Lₖ| of a packed factor;
//! - [`record_energy()`]: stores eₖ and keeps the running minimum;
//! - [`exp_shift()`]: e^{e_min − eₖ} in place, and their sum.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::families::XDerivs;
use crate::gaussian::{l_row, lt_mul};
use crate::packed::tri;
use crate::spec::Spec;
use cubecl::prelude::*;
use ebm_core::Covariance;

/// Where the mixture's θ keeps its parts: K = `k` logits, K means of `d`,
/// then K factors of `flen` values (log l when `diag`, else packed Lₖ) from
/// `fbase`.
#[derive(Clone, Copy)]
pub struct MixLayout {
    pub d: usize,
    pub k: usize,
    pub diag: bool,
    pub flen: usize,
    pub fbase: usize,
}

impl MixLayout {
    /// The layout of the mixture `spec`.
    pub fn of(spec: Spec) -> Self {
        let cov = spec.variant.covariance();
        MixLayout {
            d: spec.d,
            k: spec.a,
            diag: cov == Covariance::Diagonal,
            flen: cov.factor_len(spec.d),
            fbase: spec.a + spec.a * spec.d,
        }
    }
}

/// The offsets in θ of one component: its mean `mu` and its factor `f`.
#[derive(CubeType, Clone, Copy)]
pub struct CompAt {
    pub mu: usize,
    pub f: usize,
}

/// The [`CompAt`] offsets of component `c`.
#[cube]
pub fn comp_at(c: usize, #[comptime] lay: MixLayout) -> CompAt {
    CompAt { mu: lay.k + c * lay.d, f: lay.fbase + c * lay.flen }
}

/// `r ← x − w[mu .. mu + d]`, the residual against a component's mean.
#[cube]
pub fn residual(w: &[f32], x: &Array<f32>, mu: usize, r: &mut Array<f32>, #[comptime] d: usize) {
    for i in 0..d {
        r[i] = x[i] - w[mu + i];
    }
}

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

/// log|det L| = Σⱼ log|Lⱼⱼ| of the d × d lower triangle packed at `w[f ..]`,
/// summed in the order of j.
#[cube]
pub fn lt_logdet(w: &[f32], f: usize, #[comptime] d: usize) -> f32 {
    let mut s = 0.0f32;
    for j in 0..d {
        s += f32::ln(f32::abs(w[f + tri(j, j)]));
    }
    s
}

/// `e[c] ← ec`; returns the minimum of the energies so far (`ec` for c = 0,
/// else the smaller of `ec` and `emin`).
#[cube]
pub fn record_energy(e: &mut Array<f32>, c: usize, ec: f32, emin: f32) -> f32 {
    e[c] = ec;
    let mut m = emin;
    if c == 0 || ec < emin {
        m = ec;
    }
    m
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

/// Gaussian mixture, full or diagonal precisions (`spec.variant`).
#[cube]
pub fn mixture_eval<'a>(w: &[f32], xin: &Array<f32>, o: XDerivs<'a>, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(MixLayout::of(spec));
    let mut r = Array::<f32>::new(lay.d);
    let mut u = Array::<f32>::new(lay.d);
    let mut g = Array::<f32>::new(lay.d);
    let mut pd = Array::<f32>::new(lay.d);

    let lse = logits_lse(w, lay.k);

    let mut m = 0.0f32;
    let mut ssum = 0.0f32;
    for i in 0..lay.d {
        o.grad[i] = 0.0f32;
        o.hess[i] = 0.0f32;
    }
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        residual(w, xin, at.mu, &mut r, lay.d);
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                let l = f32::exp(w[at.f + i]);
                logdet += w[at.f + i];
                let ui = l * r[i];
                uu += ui * ui;
                g[i] = l * ui;
                pd[i] = l * l;
            }
        } else {
            uu = lt_mul(w, at.f, &r, &mut u, lay.d);
            for i in 0..lay.d {
                let row = at.f + tri(i, 0);
                logdet += f32::ln(f32::abs(w[row + i]));
                let lr = l_row(w, row, &u, i);
                g[i] = lr.lu;
                pd[i] = lr.ll;
            }
        }
        let ec = component_energy(lse, w[c], logdet, uu, spec);
        // Streaming log-sum-exp of −e around the smallest e so far.
        let st = stream_step(m, ec, c);
        m = st.m;
        let scale = st.scale;
        let wgt = st.wgt;
        ssum = ssum * scale + wgt;
        if comptime!(o.want_grad || o.want_hess) {
            for i in 0..lay.d {
                let gi = g[i];
                o.grad[i] = o.grad[i] * scale + wgt * gi;
                if comptime!(o.want_hess) {
                    o.hess[i] = o.hess[i] * scale + wgt * (pd[i] - gi * gi);
                }
            }
        }
    }
    if comptime!(o.want_grad || o.want_hess) {
        let inv = 1.0f32 / ssum;
        for i in 0..lay.d {
            let gb = o.grad[i] * inv;
            o.grad[i] = gb;
            if comptime!(o.want_hess) {
                o.hess[i] = o.hess[i] * inv + gb * gb;
            }
        }
    }
    m - f32::ln(ssum)
}

/// Gaussian mixture: q = Σₖ γₖ(Aₖ − Bₖ²) + (Σₖ γₖBₖ)².
#[cube]
pub fn mixture_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(MixLayout::of(spec));
    let mut r = Array::<f32>::new(lay.d);
    let lse = logits_lse(w, lay.k);
    let mut m = 0.0f32;
    let mut ssum = 0.0f32;
    let mut sa = 0.0f32;
    let mut sb = 0.0f32;
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        for i in 0..lay.d {
            r[i] = x[b * lay.d + i] - w[at.mu + i];
        }
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        let mut aa = 0.0f32;
        let mut ab = 0.0f32;
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                let l = f32::exp(w[at.f + i]);
                logdet += w[at.f + i];
                let ui = l * r[i];
                let ai = l * v[b * lay.d + i];
                uu += ui * ui;
                aa += ai * ai;
                ab += ai * ui;
            }
        } else {
            for j in 0..lay.d {
                let mut u = 0.0f32;
                let mut a = 0.0f32;
                for i in j..lay.d {
                    let lv = w[at.f + tri(i, j)];
                    u += lv * r[i];
                    a += lv * v[b * lay.d + i];
                }
                uu += u * u;
                aa += a * a;
                ab += a * u;
                logdet += f32::ln(f32::abs(w[at.f + tri(j, j)]));
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

#[cube]
pub fn mixture_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let lay = comptime!(MixLayout::of(spec));
    let mut r = Array::<f32>::new(lay.d);
    let mut u = Array::<f32>::new(lay.d);
    let mut e = Array::<f32>::new(spec.a);
    let lse = logits_lse(w, lay.k);
    // Pass 1: component energies eₖ.
    let mut emin = 0.0f32;
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        residual(w, xin, at.mu, &mut r, lay.d);
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                logdet += w[at.f + i];
                let ui = f32::exp(w[at.f + i]) * r[i];
                uu += ui * ui;
            }
        } else {
            uu = lt_mul(w, at.f, &r, &mut u, lay.d);
            logdet = lt_logdet(w, at.f, lay.d);
        }
        emin = record_energy(&mut e, c, component_energy(lse, w[c], logdet, uu, spec), emin);
    }
    let ssum = exp_shift(&mut e, emin, lay.k);
    // Pass 2: γₖ and the per-component gradients.
    for c in 0..lay.k {
        let gam = e[c] / ssum;
        let pi = f32::exp(w[c] - lse);
        out[row + c] = wb * (pi - gam);
        let wg = wb * gam;
        let at = comp_at(c, lay);
        residual(w, xin, at.mu, &mut r, lay.d);
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                let l = f32::exp(w[at.f + i]);
                let ui = l * r[i];
                out[row + at.mu + i] = -wg * l * ui;
                out[row + at.f + i] = wg * (ui * ui - 1.0f32);
            }
        } else {
            lt_mul(w, at.f, &r, &mut u, lay.d);
            for i in 0..lay.d {
                let base = at.f + tri(i, 0);
                let mut g = 0.0f32;
                for j in 0..i + 1 {
                    g += w[base + j] * u[j];
                    out[row + base + j] = wg * r[i] * u[j];
                }
                out[row + base + i] = wg * (r[i] * u[i] - 1.0f32 / w[base + i]);
                out[row + at.mu + i] = -wg * g;
            }
        }
    }
}
