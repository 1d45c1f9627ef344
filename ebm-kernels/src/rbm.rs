//! The Gaussian–Bernoulli RBM on the device, beside its CPU twin
//! `ebm_core::rbm` (free energy F, θ = [b (d), c (H), W (H×d), log σ (d)],
//! see [`crate::families`]), one thread per sample:
//!
//! | kernel | function | math |
//! | --- | --- | --- |
//! | F, score, Hessian diagonal | [`rbm_eval()`] | [`crate::families`] |
//! | vᵀ∇ₓ²F v | [`rbm_vhv()`] | [`crate::vhv_families`] |
//! | row of ∇θF | [`rbm_grad()`] | [`crate::grad`] |
//! | rows of ∇θ(vᵀ∇ₓF), ∇θ𝒥 | [`rbm_row()`] | [`crate::grad_families`] |
//! | row of ∇θ(vᵀ∇ₓ²F v) | [`rbm_vhv_row()`] | [`crate::grad_vhv`] |
//!
//! They share ρᵢ ([`rbm_rho()`], x̃ = ρ∘x by [`rbm_scaled()`]), a hidden
//! unit's pre-activation ([`rbm_preact()`], with a direction's projection
//! [`rbm_preact_dir()`]) and its sigmoid
//! ([`crate::act::sigmoid_pair()`]: h = s, 1 − h = sm, h′ = s·sm).

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::act::{log1p, sigmoid_pair};
use crate::families::XDerivs;
use crate::row_io::RowIo;
use crate::spec::Spec;
use cubecl::prelude::*;

/// Where the RBM's θ keeps its parts: b (`d`), c (`nh`), W (`nh`×`d`) from
/// `wbase`, log σ (`d`) from `sbase`.
#[derive(Clone, Copy)]
pub struct RbmLayout {
    pub d: usize,
    pub nh: usize,
    pub wbase: usize,
    pub sbase: usize,
}

impl RbmLayout {
    /// The layout of the RBM `spec`.
    pub fn of(spec: Spec) -> Self {
        let (d, nh) = (spec.d, spec.a);
        RbmLayout { d, nh, wbase: d + nh, sbase: d + nh + nh * d }
    }
}

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

/// A hidden unit's pre-activation a and its projection t of a direction.
#[derive(CubeType, Clone, Copy)]
pub struct PreactDir {
    pub a: f32,
    pub t: f32,
}

/// aⱼ as [`rbm_preact()`] and tⱼ = Σᵢ Wⱼᵢ ṽᵢ, ṽ = ρ∘v in `vt`, in one sweep.
#[cube]
pub fn rbm_preact_dir(w: &[f32], xt: &Array<f32>, vt: &Array<f32>, j: usize, #[comptime] spec: Spec) -> PreactDir {
    let d = spec.d;
    let r = comptime!(spec.d + spec.a) + j * d;
    let mut a = w[d + j];
    let mut t = 0.0f32;
    for i in 0..d {
        let wi = w[r + i];
        a += wi * xt[i];
        t += wi * vt[i];
    }
    PreactDir { a, t }
}

/// ρᵢ = e^{−2 log σᵢ} of visible unit `i`.
#[cube]
pub fn rbm_rho(w: &[f32], i: usize, #[comptime] spec: Spec) -> f32 {
    f32::exp(-2.0f32 * w[comptime!(spec.d + spec.a + spec.a * spec.d) + i])
}

/// x̃ = ρ∘x into `xt` (ρ from [`rbm_rho()`]).
#[cube]
pub fn rbm_scaled(w: &[f32], x: &Array<f32>, xt: &mut Array<f32>, #[comptime] spec: Spec) {
    for i in 0..spec.d {
        xt[i] = rbm_rho(w, i, spec) * x[i];
    }
}

/// Gaussian–Bernoulli RBM free energy.
#[cube]
pub fn rbm_eval<'a>(w: &[f32], xin: &Array<f32>, o: XDerivs<'a>, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(RbmLayout::of(spec));
    let mut rho = Array::<f32>::new(lay.d);
    let mut xt = Array::<f32>::new(lay.d);
    let mut e = 0.0f32;
    for i in 0..lay.d {
        let p = rbm_rho(w, i, spec);
        rho[i] = p;
        xt[i] = p * xin[i];
        let dx = xin[i] - w[i];
        e += 0.5f32 * p * dx * dx;
        o.grad[i] = 0.0f32;
        o.hess[i] = 0.0f32;
    }
    for j in 0..lay.nh {
        let row = lay.wbase + j * lay.d;
        let a = rbm_preact(w, &xt, j, spec);
        let u = sigmoid_pair(a);
        let h = u.s;
        let h1 = u.s * u.sm;
        e -= f32::max(a, 0.0f32) + log1p(u.e);
        if comptime!(o.want_grad || o.want_hess) {
            for i in 0..lay.d {
                let wi = w[row + i];
                o.grad[i] += h * wi;
                if comptime!(o.want_hess) {
                    o.hess[i] += h1 * wi * wi;
                }
            }
        }
    }
    if comptime!(o.want_grad || o.want_hess) {
        for i in 0..lay.d {
            let p = rho[i];
            o.grad[i] = p * (xin[i] - w[i] - o.grad[i]);
            if comptime!(o.want_hess) {
                o.hess[i] = p - p * p * o.hess[i];
            }
        }
    }
    e
}

/// RBM: q = Σᵢ ρᵢvᵢ² − Σⱼ h′ⱼtⱼ².
#[cube]
pub fn rbm_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let lay = comptime!(RbmLayout::of(spec));
    let mut xt = Array::<f32>::new(lay.d);
    let mut vt = Array::<f32>::new(lay.d);
    let mut q = 0.0f32;
    for i in 0..lay.d {
        let p = rbm_rho(w, i, spec);
        let vi = v[b * lay.d + i];
        xt[i] = p * x[b * lay.d + i];
        vt[i] = p * vi;
        q += p * vi * vi;
    }
    for j in 0..lay.nh {
        let pt = rbm_preact_dir(w, &xt, &vt, j, spec);
        let t = pt.t;
        let u = sigmoid_pair(pt.a);
        q -= u.s * u.sm * t * t;
    }
    q
}

#[cube]
pub fn rbm_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let lay = comptime!(RbmLayout::of(spec));
    let mut xt = Array::<f32>::new(lay.d);
    let mut m = Array::<f32>::new(lay.d);
    rbm_scaled(w, xin, &mut xt, spec);
    for i in 0..lay.d {
        m[i] = 0.0f32;
    }
    for j in 0..lay.nh {
        let r = lay.wbase + j * lay.d;
        let h = sigmoid_pair(rbm_preact(w, &xt, j, spec)).s;
        out[row + lay.d + j] = -wb * h;
        for i in 0..lay.d {
            out[row + r + i] = -wb * h * xt[i];
            m[i] += h * w[r + i];
        }
    }
    for i in 0..lay.d {
        let p = rbm_rho(w, i, spec);
        let dx = xin[i] - w[i];
        out[row + i] = -wb * p * dx;
        out[row + lay.sbase + i] = wb * (2.0f32 * xt[i] * m[i] - p * dx * dx);
    }
}

#[cube]
pub fn rbm_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec, #[comptime] sm: bool) {
    let row = io.row;
    let wb = io.wb;
    let lay = comptime!(RbmLayout::of(spec));
    let mut xt = Array::<f32>::new(lay.d);
    let mut rho = Array::<f32>::new(lay.d);
    let mut m = Array::<f32>::new(lay.d);
    let mut vt = Array::<f32>::new(lay.d);
    let mut wc = Array::<f32>::new(lay.d);
    let mut h = Array::<f32>::new(spec.a);
    let mut h1 = Array::<f32>::new(spec.a);
    let mut h2 = Array::<f32>::new(spec.a);
    for i in 0..lay.d {
        let p = rbm_rho(w, i, spec);
        rho[i] = p;
        xt[i] = p * io.x[i];
        m[i] = 0.0f32;
        wc[i] = 0.0f32;
    }
    for j in 0..lay.nh {
        let r = lay.wbase + j * lay.d;
        let u = sigmoid_pair(rbm_preact(w, &xt, j, spec));
        let hj = u.s;
        let hm = u.sm;
        h[j] = hj;
        h1[j] = hj * hm;
        h2[j] = hj * hm * (hm - hj);
        for i in 0..lay.d {
            m[i] += hj * w[r + i];
        }
    }
    // δ = x − b − m (kept in m), ṽ = ρ∘v or ρ²∘δ.
    for i in 0..lay.d {
        let dl = io.x[i] - w[i] - m[i];
        m[i] = dl;
        if comptime!(sm) {
            vt[i] = rho[i] * rho[i] * dl;
        } else {
            vt[i] = rho[i] * io.v[i];
        }
    }
    for j in 0..lay.nh {
        let r = lay.wbase + j * lay.d;
        let mut t = 0.0f32;
        let mut kap = 0.0f32;
        for i in 0..lay.d {
            let wji = w[r + i];
            t += wji * vt[i];
            kap += wji * wji * rho[i] * rho[i];
        }
        let mut c = -h1[j] * t;
        if comptime!(sm) {
            c += h2[j] * kap;
        }
        io.out[row + lay.d + j] = wb * c;
        for i in 0..lay.d {
            let wji = w[r + i];
            wc[i] += c * wji;
            let mut g = c * xt[i] - h[j] * vt[i];
            if comptime!(sm) {
                g += 2.0f32 * h1[j] * wji * rho[i] * rho[i];
            }
            io.out[row + r + i] = wb * g;
        }
    }
    for i in 0..lay.d {
        io.out[row + i] = -wb * vt[i];
        let mut g = -2.0f32 * (vt[i] * m[i] + xt[i] * wc[i]);
        if comptime!(sm) {
            let p = rho[i];
            let mut q = 0.0f32;
            for j in 0..lay.nh {
                let wji = w[lay.wbase + j * lay.d + i];
                q += h1[j] * wji * wji;
            }
            g += 2.0f32 * p - 4.0f32 * p * p * q;
        }
        io.out[row + lay.sbase + i] = wb * g;
    }
}

#[cube]
pub fn rbm_vhv_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec) {
    let row = io.row;
    let wb = io.wb;
    let lay = comptime!(RbmLayout::of(spec));
    let mut xt = Array::<f32>::new(lay.d);
    let mut vt = Array::<f32>::new(lay.d);
    rbm_scaled(w, io.x, &mut xt, spec);
    rbm_scaled(w, io.v, &mut vt, spec);
    let mut wc = Array::<f32>::new(lay.d);
    let mut wd = Array::<f32>::new(lay.d);
    for i in 0..lay.d {
        wc[i] = 0.0f32;
        wd[i] = 0.0f32;
        io.out[row + i] = 0.0f32;
    }
    for j in 0..lay.nh {
        let r = lay.wbase + j * lay.d;
        let pt = rbm_preact_dir(w, &xt, &vt, j, spec);
        let t = pt.t;
        let u = sigmoid_pair(pt.a);
        let hj = u.s;
        let hm = u.sm;
        let h1 = hj * hm;
        let h2 = h1 * (hm - hj);
        let cj = h2 * t * t;
        let dj = h1 * t;
        io.out[row + lay.d + j] = -wb * cj;
        for i in 0..lay.d {
            let wji = w[r + i];
            wc[i] += cj * wji;
            wd[i] += dj * wji;
            io.out[row + r + i] = -wb * (cj * xt[i] + 2.0f32 * dj * vt[i]);
        }
    }
    for i in 0..lay.d {
        let p = rbm_rho(w, i, spec);
        let vi = io.v[i];
        io.out[row + lay.sbase + i] = wb * (-2.0f32 * p * vi * vi + 2.0f32 * xt[i] * wc[i] + 4.0f32 * vt[i] * wd[i]);
    }
}
