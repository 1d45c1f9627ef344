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
//!   state; the state is a [`Stream`] from [`stream_start()`];
//! - [`lt_logdet()`]: log|det Lₖ| of a packed factor; [`comp_logdet()`]
//!   and [`comp_mul()`] (uₖ = Lₖᵀ r): those of either factor form;
//! - [`component_weights()`]: pass 1 of the θ-gradient rows;
//! - [`record_energy()`]: stores eₖ and keeps the running minimum;
//! - [`exp_shift()`]: e^{e_min − eₖ} in place, and their sum.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::families::XDerivs;
use crate::gaussian::{l_dot, l_row, lt_mul, residual};
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

/// The state of the streaming log-sum-exp: the running minimum m of the
/// eₖ, the running sum `sum` = Σₖ e^{m − eₖ}, and the factors of the last
/// step: sums S of wₖ-weighted terms become S·`scale` + `wgt`·term, where
/// the weight of component k is e^{m − eₖ} for the current m.
#[derive(CubeType, Clone, Copy)]
pub struct Stream {
    pub m: f32,
    pub sum: f32,
    pub scale: f32,
    pub wgt: f32,
}

/// The state before the first component.
#[cube]
pub fn stream_start() -> Stream {
    Stream { m: 0.0f32, sum: 0.0f32, scale: 1.0f32, wgt: 1.0f32 }
}

/// The step of the streaming log-sum-exp for component `c` of energy `ec`
/// (the minimum before it is ignored for c = 0).
#[cube]
pub fn stream_step(st: &mut Stream, ec: f32, c: usize) {
    st.scale = 1.0f32;
    st.wgt = 1.0f32;
    if c == 0 {
        st.m = ec;
        st.scale = 0.0f32;
    } else if ec < st.m {
        st.scale = f32::exp(ec - st.m);
        st.m = ec;
    } else {
        st.wgt = f32::exp(st.m - ec);
    }
    st.sum = st.sum * st.scale + st.wgt;
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

/// `dst ← Lₖᵀ src` for the component factor at `w[f ..]` (diagonal:
/// `dst[i] = lᵢ src[i]`, lᵢ = e^{w[f + i]}); returns ‖dst‖², summed in
/// order.
#[cube]
pub fn comp_mul(w: &[f32], f: usize, src: &Array<f32>, dst: &mut Array<f32>, #[comptime] lay: MixLayout) -> f32 {
    let mut ss = 0.0f32;
    if comptime!(lay.diag) {
        for i in 0..lay.d {
            let di = f32::exp(w[f + i]) * src[i];
            dst[i] = di;
            ss += di * di;
        }
    } else {
        ss = lt_mul(w, f, src, dst, lay.d);
    }
    ss
}

/// log|det Lₖ| of the component factor at `w[f ..]` (diagonal: Σᵢ log lᵢ),
/// summed in order.
#[cube]
pub fn comp_logdet(w: &[f32], f: usize, #[comptime] lay: MixLayout) -> f32 {
    let mut s = 0.0f32;
    if comptime!(lay.diag) {
        for i in 0..lay.d {
            s += w[f + i];
        }
    } else {
        s = lt_logdet(w, f, lay.d);
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

/// Work vectors of one component: the residual r = x − μₖ and u = Lₖᵀr.
#[derive(CubeType)]
pub struct CompWork {
    pub r: Array<f32>,
    pub u: Array<f32>,
}

/// A [`CompWork`] of `d`-vectors.
#[cube]
pub fn comp_work(#[comptime] d: usize) -> CompWork {
    CompWork { r: Array::<f32>::new(d), u: Array::<f32>::new(d) }
}

/// Pass 1 of the θ-gradient rows ([`mixture_grad()`],
/// [`crate::grad_mixture::mixture_row()`]): the component energies eₖ at
/// `x`, left as e^{e_min − eₖ} in `e` ([`exp_shift()`]); returns their sum.
/// With `keep_g`, gₖ = Pₖrₖ goes to `g[k·d ..]` (else `g` is unread).
/// `cw` is the caller's work space.
#[cube]
pub fn component_weights(
    w: &[f32],
    x: &Array<f32>,
    lse: f32,
    e: &mut Array<f32>,
    g: &mut Array<f32>,
    cw: &mut CompWork,
    #[comptime] spec: Spec,
    #[comptime] keep_g: bool,
) -> f32 {
    let lay = comptime!(MixLayout::of(spec));
    let mut emin = 0.0f32;
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        let gc = c * lay.d;
        residual(w, x, at.mu, &mut cw.r, lay.d);
        let uu = comp_mul(w, at.f, &cw.r, &mut cw.u, lay);
        let logdet = comp_logdet(w, at.f, lay);
        if comptime!(keep_g) {
            for i in 0..lay.d {
                if comptime!(lay.diag) {
                    g[gc + i] = f32::exp(w[at.f + i]) * cw.u[i];
                } else {
                    g[gc + i] = l_dot(w, at.f + tri(i, 0), &cw.u, i);
                }
            }
        }
        emin = record_energy(e, c, component_energy(lse, w[c], logdet, uu, spec), emin);
    }
    exp_shift(e, emin, lay.k)
}

/// Gaussian mixture, full or diagonal precisions (`spec.variant`).
#[cube]
pub fn mixture_eval<'a>(w: &[f32], xin: &Array<f32>, o: XDerivs<'a>, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(MixLayout::of(spec));
    let lse = logits_lse(w, lay.k);
    let mut r = Array::<f32>::new(lay.d);
    let mut u = Array::<f32>::new(lay.d);
    let mut g = Array::<f32>::new(lay.d);
    let mut pd = Array::<f32>::new(lay.d);
    for i in 0..lay.d {
        o.grad[i] = 0.0f32;
        o.hess[i] = 0.0f32;
    }
    let mut st = stream_start();
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        residual(w, xin, at.mu, &mut r, lay.d);
        let uu = comp_mul(w, at.f, &r, &mut u, lay);
        let logdet = comp_logdet(w, at.f, lay);
        for i in 0..lay.d {
            if comptime!(lay.diag) {
                let l = f32::exp(w[at.f + i]);
                g[i] = l * u[i];
                pd[i] = l * l;
            } else {
                let lr = l_row(w, at.f + tri(i, 0), &u, i);
                g[i] = lr.lu;
                pd[i] = lr.ll;
            }
        }
        // Streaming log-sum-exp of −e around the smallest e so far.
        stream_step(&mut st, component_energy(lse, w[c], logdet, uu, spec), c);
        if comptime!(o.want_grad || o.want_hess) {
            for i in 0..lay.d {
                let gi = g[i];
                o.grad[i] = o.grad[i] * st.scale + st.wgt * gi;
                if comptime!(o.want_hess) {
                    o.hess[i] = o.hess[i] * st.scale + st.wgt * (pd[i] - gi * gi);
                }
            }
        }
    }
    if comptime!(o.want_grad || o.want_hess) {
        let inv = 1.0f32 / st.sum;
        for i in 0..lay.d {
            let gb = o.grad[i] * inv;
            o.grad[i] = gb;
            if comptime!(o.want_hess) {
                o.hess[i] = o.hess[i] * inv + gb * gb;
            }
        }
    }
    st.m - f32::ln(st.sum)
}

/// Gaussian mixture: q = Σₖ γₖ(Aₖ − Bₖ²) + (Σₖ γₖBₖ)².
#[cube]
pub fn mixture_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(MixLayout::of(spec));
    // `r` holds rₖ, then v.
    let mut r = Array::<f32>::new(lay.d);
    let mut u = Array::<f32>::new(lay.d);
    let mut a = Array::<f32>::new(lay.d);
    let lse = logits_lse(w, lay.k);
    let mut st = stream_start();
    let mut sa = 0.0f32;
    let mut sb = 0.0f32;
    for c in 0..lay.k {
        let at = comp_at(c, lay);
        // uₖ = Lₖᵀrₖ, aₖ = Lₖᵀv: Aₖ = ‖aₖ‖², Bₖ = aₖᵀuₖ.
        for i in 0..lay.d {
            r[i] = x[b * lay.d + i] - w[at.mu + i];
        }
        let uu = comp_mul(w, at.f, &r, &mut u, lay);
        for i in 0..lay.d {
            r[i] = v[b * lay.d + i];
        }
        let aa = comp_mul(w, at.f, &r, &mut a, lay);
        let mut ab = 0.0f32;
        for j in 0..lay.d {
            ab += a[j] * u[j];
        }
        let logdet = comp_logdet(w, at.f, lay);
        stream_step(&mut st, component_energy(lse, w[c], logdet, uu, spec), c);
        sa = sa * st.scale + st.wgt * (aa - ab * ab);
        sb = sb * st.scale + st.wgt * ab;
    }
    let inv = 1.0f32 / st.sum;
    let cb = sb * inv;
    sa * inv + cb * cb
}

#[cube]
pub fn mixture_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let lay = comptime!(MixLayout::of(spec));
    let mut cw = comp_work(lay.d);
    let mut e = Array::<f32>::new(spec.a);
    let lse = logits_lse(w, lay.k);
    let mut no_g = Array::<f32>::new(1usize);
    let ssum = component_weights(w, xin, lse, &mut e, &mut no_g, &mut cw, spec, false);
    // Pass 2: γₖ and the per-component gradients.
    for c in 0..lay.k {
        let gam = e[c] / ssum;
        let pi = f32::exp(w[c] - lse);
        out[row + c] = wb * (pi - gam);
        let wg = wb * gam;
        let at = comp_at(c, lay);
        residual(w, xin, at.mu, &mut cw.r, lay.d);
        if comptime!(lay.diag) {
            for i in 0..lay.d {
                let l = f32::exp(w[at.f + i]);
                let ui = l * cw.r[i];
                out[row + at.mu + i] = -wg * l * ui;
                out[row + at.f + i] = wg * (ui * ui - 1.0f32);
            }
        } else {
            lt_mul(w, at.f, &cw.r, &mut cw.u, lay.d);
            for i in 0..lay.d {
                let base = at.f + tri(i, 0);
                let mut g = 0.0f32;
                for j in 0..i + 1 {
                    g += w[base + j] * cw.u[j];
                    out[row + base + j] = wg * cw.r[i] * cw.u[j];
                }
                out[row + base + i] = wg * (cw.r[i] * cw.u[i] - 1.0f32 / w[base + i]);
                out[row + at.mu + i] = -wg * g;
            }
        }
    }
}
