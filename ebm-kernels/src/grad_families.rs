//! Per-sample rows of Σᵦ wᵦ∇θ(vᵦᵀ∇ₓE(xᵦ)) (seed eq 13) and of
//! Σᵦ wᵦ∇θ𝒥(xᵦ) (seed eq 12) for the Gaussian, ICA, RBM and mixture
//! families, called
//! from [`crate::grad_vdx::vdx_rows_kernel()`] and
//! [`crate::grad_sm::sm_rows_kernel()`]; the formulas are those of the
//! module docs of `ebm_core::{gaussian, ica, rbm}`, items (b) and (c). The
//! score-matching rows are the vᵀ∇ₓE rows with v = ∇ₓE held fixed plus the
//! family's Hessian-trace terms (x-independent terms enter every row with
//! that row's weight, so they sum to Σᵦ wᵦ times the term):
//!
//! - Gaussian (r = x − μ, u = Lᵀr, a = Lᵀv): ∂f/∂μ = −L a,
//!   ∂f/∂Lᵢⱼ = vᵢuⱼ + aⱼrᵢ; 𝒥 takes v = g = L u and adds −2Lᵢⱼ;
//! - ICA (s = Wx, t = Wv, g = αĝ): ∂f/∂Wₖⱼ = gₖ″tₖxⱼ + gₖ′vⱼ,
//!   ∂f/∂αₖ = ĝₖ′tₖ; 𝒥 (y = Wᵀg′, z = Wy, nₖ = ‖wₖ‖²):
//!   ∂𝒥/∂Wₖⱼ = gₖ′yⱼ + (gₖ″zₖ − gₖ‴nₖ)xⱼ − 2gₖ″Wₖⱼ, ∂𝒥/∂αₖ = zₖĝₖ′ − nₖĝₖ″;
//! - RBM (ṽ = ρ∘v, t = Wṽ, C = −h′∘t, δ = x − b − Wᵀh): ∂f/∂bᵢ = −ṽᵢ,
//!   ∂f/∂cⱼ = Cⱼ, ∂f/∂Wⱼᵢ = Cⱼx̃ᵢ − hⱼṽᵢ, ∂f/∂log σᵢ = −2ṽᵢδᵢ − 2x̃ᵢ(WᵀC)ᵢ;
//!   𝒥 takes ṽ = ρ²∘δ, C += h″∘κ (κⱼ = Σᵢ Wⱼᵢ²ρᵢ²), and adds
//!   2h′ⱼWⱼᵢρᵢ² to ∂/∂Wⱼᵢ and 2ρᵢ − 4ρᵢ²Σⱼh′ⱼWⱼᵢ² to ∂/∂log σᵢ.
//!
//! The Gaussian mixture's rows are in [`crate::grad_mixture`].

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::lt_mul;
use crate::grad_mixture::{mixture_row, mixture_row_cost};
use crate::ica::source_fns;
use crate::packed::tri;
use crate::rbm::{rbm_hidden, rbm_preact};
use crate::spec::*;
use cubecl::prelude::*;

/// ĝ′, ĝ″, ĝ‴ of the ICA source at `s` (`variant` 0 log cosh, 1 logistic,
/// 2 Student-t, the latter with α = 1), as `ebm_core::ica`'s `source_fns`.
#[cube]
pub fn source_d123(s: f32, #[comptime] variant: u32) -> Line3 {
    let f = source_fns(s, variant);
    Line3 { a: f.g1, b: f.g2, c: f.g3 }
}

/// Three f32 values.
#[derive(CubeType, Clone, Copy)]
pub struct Line3 {
    pub a: f32,
    pub b: f32,
    pub c: f32,
}

#[cube]
fn gaussian_row(
    w: &[f32],
    xin: &Array<f32>,
    vin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
    #[comptime] sm: bool,
) {
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    let mut v = Array::<f32>::new(d);
    let mut a = Array::<f32>::new(d);
    for i in 0..d {
        r[i] = xin[i] - w[i];
    }
    lt_mul(w, d, &r, &mut u, d);
    for i in 0..d {
        if comptime!(sm) {
            let base = d + tri(i, 0);
            let mut g = 0.0f32;
            for j in 0..i + 1 {
                g += w[base + j] * u[j];
            }
            v[i] = g;
        } else {
            v[i] = vin[i];
        }
    }
    lt_mul(w, d, &v, &mut a, d);
    for i in 0..d {
        let base = d + tri(i, 0);
        let mut la = 0.0f32;
        for j in 0..i + 1 {
            let l = w[base + j];
            la += l * a[j];
            let mut gl = v[i] * u[j] + a[j] * r[i];
            if comptime!(sm) {
                gl -= 2.0f32 * l;
            }
            out[row + base + j] = wb * gl;
        }
        out[row + i] = -wb * la;
    }
}

#[cube]
fn ica_row(
    w: &[f32],
    xin: &Array<f32>,
    vin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
    #[comptime] sm: bool,
) {
    let d = spec.d;
    let k = spec.a;
    let student = comptime!(spec.variant == 2);
    let mut y = Array::<f32>::new(d);
    if comptime!(sm) {
        // y = Wᵀ g′(s).
        for j in 0..d {
            y[j] = 0.0f32;
        }
        for c in 0..k {
            let r = c * d;
            let mut s = 0.0f32;
            for j in 0..d {
                s += w[r + j] * xin[j];
            }
            let mut al = 1.0f32;
            if comptime!(student) {
                al = w[k * d + c];
            }
            let g1 = al * source_d123(s, spec.variant).a;
            for j in 0..d {
                y[j] += g1 * w[r + j];
            }
        }
    } else {
        for j in 0..d {
            y[j] = vin[j];
        }
    }
    for c in 0..k {
        let r = c * d;
        let mut s = 0.0f32;
        let mut t = 0.0f32;
        let mut nk = 0.0f32;
        for j in 0..d {
            let wj = w[r + j];
            s += wj * xin[j];
            t += wj * y[j];
            nk += wj * wj;
        }
        let mut al = 1.0f32;
        if comptime!(student) {
            al = w[k * d + c];
        }
        let f = source_d123(s, spec.variant);
        // Row k: A xⱼ + B vⱼ (or yⱼ) + D Wₖⱼ.
        let mut ca = al * f.b * t;
        let cb = al * f.a;
        let mut cd = 0.0f32;
        if comptime!(sm) {
            ca = al * (f.b * t - f.c * nk);
            cd = -2.0f32 * al * f.b;
            if comptime!(student) {
                out[row + k * d + c] = wb * (t * f.a - nk * f.b);
            }
        } else if comptime!(student) {
            out[row + k * d + c] = wb * f.a * t;
        }
        for j in 0..d {
            out[row + r + j] = wb * (ca * xin[j] + cb * y[j] + cd * w[r + j]);
        }
    }
}

#[cube]
fn rbm_row(
    w: &[f32],
    xin: &Array<f32>,
    vin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
    #[comptime] sm: bool,
) {
    let d = spec.d;
    let nh = spec.a;
    let wbase = d + nh;
    let sbase = wbase + nh * d;
    let mut xt = Array::<f32>::new(d);
    let mut rho = Array::<f32>::new(d);
    let mut m = Array::<f32>::new(d);
    let mut vt = Array::<f32>::new(d);
    let mut wc = Array::<f32>::new(d);
    let mut h = Array::<f32>::new(spec.a);
    let mut h1 = Array::<f32>::new(spec.a);
    let mut h2 = Array::<f32>::new(spec.a);
    for i in 0..d {
        let p = f32::exp(-2.0f32 * w[sbase + i]);
        rho[i] = p;
        xt[i] = p * xin[i];
        m[i] = 0.0f32;
        wc[i] = 0.0f32;
    }
    for j in 0..nh {
        let r = wbase + j * d;
        let u = rbm_hidden(rbm_preact(w, &xt, j, spec));
        let hj = u.h;
        let hm = u.hm;
        h[j] = hj;
        h1[j] = hj * hm;
        h2[j] = hj * hm * (hm - hj);
        for i in 0..d {
            m[i] += hj * w[r + i];
        }
    }
    // δ = x − b − m (kept in m), ṽ = ρ∘v or ρ²∘δ.
    for i in 0..d {
        let dl = xin[i] - w[i] - m[i];
        m[i] = dl;
        if comptime!(sm) {
            vt[i] = rho[i] * rho[i] * dl;
        } else {
            vt[i] = rho[i] * vin[i];
        }
    }
    for j in 0..nh {
        let r = wbase + j * d;
        let mut t = 0.0f32;
        let mut kap = 0.0f32;
        for i in 0..d {
            let wji = w[r + i];
            t += wji * vt[i];
            kap += wji * wji * rho[i] * rho[i];
        }
        let mut c = -h1[j] * t;
        if comptime!(sm) {
            c += h2[j] * kap;
        }
        out[row + d + j] = wb * c;
        for i in 0..d {
            let wji = w[r + i];
            wc[i] += c * wji;
            let mut g = c * xt[i] - h[j] * vt[i];
            if comptime!(sm) {
                g += 2.0f32 * h1[j] * wji * rho[i] * rho[i];
            }
            out[row + r + i] = wb * g;
        }
    }
    for i in 0..d {
        out[row + i] = -wb * vt[i];
        let mut g = -2.0f32 * (vt[i] * m[i] + xt[i] * wc[i]);
        if comptime!(sm) {
            let p = rho[i];
            let mut q = 0.0f32;
            for j in 0..nh {
                let wji = w[wbase + j * d + i];
                q += h1[j] * wji * wji;
            }
            g += 2.0f32 * p - 4.0f32 * p * p * q;
        }
        out[row + sbase + i] = wb * g;
    }
}

/// The row of `spec`'s family (not the MLP): ∇θ of
/// vᵀ∇ₓE (`sm` false, `vin` = v) or of 𝒥 (`sm` true, `vin` unused),
/// times `wb`.
#[cube]
pub fn family_row(
    w: &[f32],
    xin: &Array<f32>,
    vin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
    #[comptime] sm: bool,
) {
    if comptime!(spec.family == FAM_GAUSSIAN) {
        gaussian_row(w, xin, vin, out, row, wb, spec, sm);
    } else if comptime!(spec.family == FAM_ICA) {
        ica_row(w, xin, vin, out, row, wb, spec, sm);
    } else if comptime!(spec.family == FAM_RBM) {
        rbm_row(w, xin, vin, out, row, wb, spec, sm);
    } else if comptime!(spec.family == FAM_MIXTURE) {
        mixture_row(w, xin, vin, out, row, wb, spec, sm, false);
    }
}

/// Whether [`family_row()`] covers `family`.
pub fn has_family_row(family: u32) -> bool {
    matches!(family, FAM_GAUSSIAN | FAM_ICA | FAM_RBM | FAM_MIXTURE)
}

/// The per-thread f32 values of one row of [`family_row()`] (the caller
/// keeps them within [`crate::family::MAX_THREAD_FLOATS`]).
pub fn family_row_floats(spec: &Spec) -> usize {
    let (d, k) = (spec.d, spec.a);
    match spec.family {
        FAM_GAUSSIAN => 6 * d,
        FAM_ICA => 3 * d,
        FAM_MIXTURE => k * d + 2 * k + 7 * d,
        _ => 7 * d + 3 * k,
    }
}

/// An upper bound on the loop iterations of one row of [`family_row()`]
/// (either objective) plus the loads of x and v: `p` parameters.
pub fn family_row_cost(spec: &Spec) -> u64 {
    let d = spec.d as u64;
    let k = spec.a as u64;
    let n = match spec.family {
        FAM_GAUSSIAN => 8 * d + 4 * d * (d + 1),
        FAM_ICA => 4 * d + k * (4 + 5 * d),
        FAM_MIXTURE => return mixture_row_cost(spec),
        _ => 6 * d + k * (3 + 4 * d) + d * (1 + k),
    };
    let n = n + 16;
    n + n / 4
}
