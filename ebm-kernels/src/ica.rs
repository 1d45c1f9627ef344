//! The ICA family (product of experts) on the device, beside its CPU twin
//! `ebm_core::ica` (E = Σₖ αₖĝ(wₖᵀx), θ = [W (K×d), α (K, Student-t
//! only)]), one thread per sample:
//!
//! | kernel | function | math |
//! | --- | --- | --- |
//! | E, score, Hessian diagonal | [`ica_eval()`] | [`crate::families`] |
//! | vᵀ∇ₓ²E v | [`ica_vhv()`] | [`crate::vhv_families`] |
//! | row of ∇θE | [`ica_grad()`] | [`crate::grad`] |
//! | rows of ∇θ(vᵀ∇ₓE), ∇θ𝒥 | [`ica_row()`] | [`crate::grad_families`] |
//! | row of ∇θ(vᵀ∇ₓ²E v) | [`ica_vhv_row()`] | [`crate::grad_vhv`] |
//!
//! Every one reads the source function ĝ and its derivatives from
//! [`source_fns()`] (the twin of `ebm_core::ica`'s `source_fns`):
//!
//! | `ebm_core::Source` | ĝ(s) |
//! | --- | --- |
//! | `LogCosh` | log cosh s |
//! | `Logistic` | 2 log cosh(s/2) |
//! | `StudentT` (α = 1) | log(1 + ½s²) |
//!
//! log cosh is evaluated as |h| + log1p(e^{−2|h|}) − log 2, tanh and sech²
//! through e = e^{−2|h|}, without overflow.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::act::log1p;
use crate::families::XDerivs;
use crate::row_io::RowIo;
use crate::spec::Spec;
use cubecl::prelude::*;
use ebm_core::Source as IcaSource;

/// ĝ, ĝ′, ĝ″ and ĝ‴ at one s.
#[derive(CubeType, Clone, Copy)]
pub struct Source {
    pub g0: f32,
    pub g1: f32,
    pub g2: f32,
    pub g3: f32,
}

/// ĝ and its derivatives at `s` for the source `src` (module table).
#[cube]
pub fn source_fns(s: f32, #[comptime] src: IcaSource) -> Source {
    let mut out = Source { g0: 0.0f32, g1: 0.0f32, g2: 0.0f32, g3: 0.0f32 };
    match src {
        IcaSource::StudentT => {
            let hs2 = 0.5f32 * s * s;
            let q = 1.0f32 + hs2;
            out.g0 = log1p(hs2);
            out.g1 = s / q;
            out.g2 = (1.0f32 - hs2) / (q * q);
            out.g3 = -s * (3.0f32 - hs2) / (q * q * q);
        }
        IcaSource::LogCosh | IcaSource::Logistic => {
            let scale = comptime!(if src == IcaSource::Logistic { 0.5f32 } else { 1.0f32 });
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
    }
    out
}

/// g, g′, g″ of an ICA source at s.
#[derive(CubeType, Clone, Copy)]
pub struct Src3 {
    pub g0: f32,
    pub g1: f32,
    pub g2: f32,
}

/// Three f32 values.
#[derive(CubeType, Clone, Copy)]
pub struct Line3 {
    pub a: f32,
    pub b: f32,
    pub c: f32,
}

/// ĝ, ĝ′, ĝ″ of the ICA source `src` at s ([`crate::ica::source_fns()`]).
#[cube]
pub fn ica_source(s: f32, #[comptime] src: IcaSource) -> Src3 {
    let f = source_fns(s, src);
    Src3 { g0: f.g0, g1: f.g1, g2: f.g2 }
}

/// The weight αₖ of expert `c`: θ's αₖ for Student-t, else 1.
#[cube]
pub fn ica_alpha(w: &[f32], c: usize, #[comptime] spec: Spec) -> f32 {
    let mut al = 1.0f32;
    if comptime!(spec.variant.source() == IcaSource::StudentT) {
        al = w[comptime!(spec.a * spec.d) + c];
    }
    al
}

/// Expert k against a sample x and a direction y: sₖ = wₖᵀx, tₖ = wₖᵀy
/// and its weight αₖ.
#[derive(CubeType, Clone, Copy)]
pub struct Expert {
    pub s: f32,
    pub t: f32,
    pub al: f32,
}

/// The [`Expert`] values of expert `c` (rows of W at `w[c·d ..]`), the
/// sums in the order of j.
#[cube]
pub fn expert_at(w: &[f32], x: &Array<f32>, y: &Array<f32>, c: usize, #[comptime] spec: Spec) -> Expert {
    let d = spec.d;
    let r = c * d;
    let mut s = 0.0f32;
    let mut t = 0.0f32;
    for j in 0..d {
        let wj = w[r + j];
        s += wj * x[j];
        t += wj * y[j];
    }
    Expert { s, t, al: ica_alpha(w, c, spec) }
}

/// ICA / product of experts.
#[cube]
pub fn ica_eval<'a>(w: &[f32], xin: &Array<f32>, o: XDerivs<'a>, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let k = spec.a;
    for i in 0..d {
        o.grad[i] = 0.0f32;
        o.hess[i] = 0.0f32;
    }
    let mut e = 0.0f32;
    for c in 0..k {
        let row = c * d;
        let mut s = 0.0f32;
        for j in 0..d {
            s += w[row + j] * xin[j];
        }
        let f = ica_source(s, spec.variant.source());
        let al = ica_alpha(w, c, spec);
        e += al * f.g0;
        if comptime!(o.want_grad || o.want_hess) {
            let g1 = al * f.g1;
            let g2 = al * f.g2;
            for j in 0..d {
                let wj = w[row + j];
                o.grad[j] += g1 * wj;
                if comptime!(o.want_hess) {
                    o.hess[j] += g2 * wj * wj;
                }
            }
        }
    }
    e
}

/// ICA: q = Σₖ αₖĝ″(sₖ)tₖ².
#[cube]
pub fn ica_vhv(x: &[f32], v: &[f32], w: &[f32], b: usize, #[comptime] spec: Spec) -> f32 {
    let d = spec.d;
    let mut xs = Array::<f32>::new(d);
    let mut vs = Array::<f32>::new(d);
    for j in 0..d {
        xs[j] = x[b * d + j];
        vs[j] = v[b * d + j];
    }
    let mut q = 0.0f32;
    for c in 0..spec.a {
        let ex = expert_at(w, &xs, &vs, c, spec);
        q += ex.al * ica_source(ex.s, spec.variant.source()).g2 * ex.t * ex.t;
    }
    q
}

#[cube]
pub fn ica_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let k = spec.a;
    for c in 0..k {
        let r = c * d;
        let mut s = 0.0f32;
        for j in 0..d {
            s += w[r + j] * xin[j];
        }
        let g1 = if comptime!(spec.variant.source() == IcaSource::StudentT) {
            let hs2 = 0.5f32 * s * s;
            let q = 1.0f32 + hs2;
            out[row + k * d + c] = wb * log1p(hs2);
            w[k * d + c] * s / q
        } else {
            source_fns(s, spec.variant.source()).g1
        };
        for j in 0..d {
            out[row + r + j] = wb * g1 * xin[j];
        }
    }
}

/// ĝ′, ĝ″, ĝ‴ of the ICA source `src` at `s` (Student-t with α = 1), as
/// `ebm_core::ica`'s `source_fns`.
#[cube]
pub fn source_d123(s: f32, #[comptime] src: IcaSource) -> Line3 {
    let f = source_fns(s, src);
    Line3 { a: f.g1, b: f.g2, c: f.g3 }
}

#[cube]
pub fn ica_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec, #[comptime] sm: bool) {
    let row = io.row;
    let wb = io.wb;
    let d = spec.d;
    let k = spec.a;
    let student = comptime!(spec.variant.source() == IcaSource::StudentT);
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
                s += w[r + j] * io.x[j];
            }
            let g1 = ica_alpha(w, c, spec) * source_d123(s, spec.variant.source()).a;
            for j in 0..d {
                y[j] += g1 * w[r + j];
            }
        }
    } else {
        for j in 0..d {
            y[j] = io.v[j];
        }
    }
    for c in 0..k {
        let r = c * d;
        let ex = expert_at(w, io.x, &y, c, spec);
        let t = ex.t;
        let al = ex.al;
        let mut nk = 0.0f32;
        for j in 0..d {
            let wj = w[r + j];
            nk += wj * wj;
        }
        let f = source_d123(ex.s, spec.variant.source());
        // Row k: A xⱼ + B vⱼ (or yⱼ) + D Wₖⱼ.
        let mut ca = al * f.b * t;
        let cb = al * f.a;
        let mut cd = 0.0f32;
        if comptime!(sm) {
            ca = al * (f.b * t - f.c * nk);
            cd = -2.0f32 * al * f.b;
            if comptime!(student) {
                io.out[row + k * d + c] = wb * (t * f.a - nk * f.b);
            }
        } else if comptime!(student) {
            io.out[row + k * d + c] = wb * f.a * t;
        }
        for j in 0..d {
            io.out[row + r + j] = wb * (ca * io.x[j] + cb * y[j] + cd * w[r + j]);
        }
    }
}

#[cube]
pub fn ica_vhv_row<'a>(w: &[f32], io: RowIo<'a>, #[comptime] spec: Spec) {
    let row = io.row;
    let wb = io.wb;
    let d = spec.d;
    let k = spec.a;
    for c in 0..k {
        let r = c * d;
        let ex = expert_at(w, io.x, io.v, c, spec);
        let t = ex.t;
        let f = source_d123(ex.s, spec.variant.source());
        if comptime!(spec.variant.source() == IcaSource::StudentT) {
            io.out[row + k * d + c] = wb * f.b * t * t;
        }
        let cx = wb * ex.al * f.c * t * t;
        let cv = 2.0f32 * wb * ex.al * f.b * t;
        for j in 0..d {
            io.out[row + r + j] = cx * io.x[j] + cv * io.v[j];
        }
    }
}
