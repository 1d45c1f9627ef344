//! The Gaussian family on the device, beside its CPU twin
//! `ebm_core::gaussian` (E = ½‖Lᵀ(x − μ)‖², θ = [μ (d), L packed row by
//! row as in [`crate::packed`]]), one thread per sample:
//!
//! | kernel | function | math |
//! | --- | --- | --- |
//! | E, score, Hessian diagonal | [`gaussian_eval()`] | [`crate::families`] |
//! | vᵀ∇ₓ²E v | [`gaussian_vhv()`] | [`crate::vhv`] |
//! | row of ∇θE | [`gaussian_grad()`] | [`crate::grad`] |
//! | rows of ∇θ(vᵀ∇ₓE), ∇θ𝒥 | [`gaussian_row()`] | [`crate::grad_families`] |
//! | row of ∇θ(vᵀ∇ₓ²E v) | [`gaussian_vhv_row()`] | [`crate::grad_vhv`] |
//!
//! [`lt_mul()`], the product Lᵀs with the packed factor, is shared with the
//! full-precision mixture components ([`crate::mixture`]).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::families::XDerivs;
use crate::packed::tri;
use crate::row_io::RowIo;
use crate::spec::Spec;
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

/// Row i of a packed lower triangle L (at `w[row ..]`, `row` = f + tri(i, 0))
/// against `u`: `lu` = Σ_{j ≤ i} Lᵢⱼuⱼ and `ll` = Σ_{j ≤ i} Lᵢⱼ².
#[derive(CubeType, Clone, Copy)]
pub struct LRow {
    pub lu: f32,
    pub ll: f32,
}

/// The [`LRow`] sums of row `i`, in the order of j.
#[cube]
pub fn l_row(w: &[f32], row: usize, u: &Array<f32>, i: usize) -> LRow {
    let mut lu = 0.0f32;
    let mut ll = 0.0f32;
    for j in 0..i + 1 {
        let l = w[row + j];
        lu += l * u[j];
        ll += l * l;
    }
    LRow { lu, ll }
}

/// Σ_{j ≤ i} Lᵢⱼuⱼ of row i of a packed lower triangle (at `w[row ..]`,
/// `row` = f + tri(i, 0)), in the order of j.
#[cube]
pub fn l_dot(w: &[f32], row: usize, u: &Array<f32>, i: usize) -> f32 {
    let mut acc = 0.0f32;
    for j in 0..i + 1 {
        acc += w[row + j] * u[j];
    }
    acc
}

/// `r ← x − w[mu .. mu + d]`, the residual against a mean in θ.
#[cube]
pub fn residual(w: &[f32], x: &Array<f32>, mu: usize, r: &mut Array<f32>, #[comptime] d: usize) {
    for i in 0..d {
        r[i] = x[i] - w[mu + i];
    }
}

/// Gaussian with Cholesky-factored precision.
#[cube]
pub fn gaussian_eval<'a>(w: &[f32], xin: &Array<f32>, o: XDerivs<'a>, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    residual(w, xin, 0usize, &mut r, d);
    let e = lt_mul(w, d, &r, &mut u, d);
    if comptime!(o.want_grad || o.want_hess) {
        for i in 0..d {
            let lr = l_row(w, d + tri(i, 0), &u, i);
            o.grad[i] = lr.lu;
            if comptime!(o.want_hess) {
                o.hess[i] = lr.ll;
            }
        }
    }
    0.5f32 * e
}

/// Gaussian: q = ‖Lᵀv‖² (independent of x), L packed as in
/// [`crate::families`].
#[cube]
pub fn gaussian_vhv(v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let mut vs = Array::<f32>::new(d);
    for i in 0..d {
        vs[i] = v[b * d + i];
    }
    let mut a = Array::<f32>::new(d);
    lt_mul(w, d, &vs, &mut a, d)
}

#[cube]
pub fn gaussian_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    residual(w, xin, 0usize, &mut r, d);
    lt_mul(w, d, &r, &mut u, d);
    for i in 0..d {
        let base = d + tri(i, 0);
        let mut g = 0.0f32;
        for j in 0..i + 1 {
            g += w[base + j] * u[j];
            out[row + base + j] = wb * r[i] * u[j];
        }
        out[row + i] = -wb * g;
    }
}

#[cube]
pub fn gaussian_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec, #[comptime] sm: bool) {
    let row = io.row;
    let wb = io.wb;
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    let mut v = Array::<f32>::new(d);
    let mut a = Array::<f32>::new(d);
    residual(w, io.x, 0usize, &mut r, d);
    lt_mul(w, d, &r, &mut u, d);
    for i in 0..d {
        if comptime!(sm) {
            v[i] = l_dot(w, d + tri(i, 0), &u, i);
        } else {
            v[i] = io.v[i];
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
            io.out[row + base + j] = wb * gl;
        }
        io.out[row + i] = -wb * la;
    }
}

#[cube]
pub fn gaussian_vhv_row(w: &[f32], vin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let mut a = Array::<f32>::new(d);
    lt_mul(w, d, vin, &mut a, d);
    for i in 0..d {
        out[row + i] = 0.0f32;
        let base = d + tri(i, 0);
        let two_v = 2.0f32 * wb * vin[i];
        for j in 0..i + 1 {
            out[row + base + j] = two_v * a[j];
        }
    }
}
