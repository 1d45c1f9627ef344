//! The one `#[cube]` home of the kernels' smooth scalar functions: the
//! activations σ with σ′ and σ″ (twins of `ebm_core::activation`, same
//! overflow-free formulas), the logistic sigmoid, softplus, and an accurate
//! `log1p`, shared by the MLP, RBM, ICA and symbolic kernels:
//!
//! | [`Activation`] | σ(a) | σ′ | σ″ |
//! | --- | --- | --- | --- |
//! | `Softplus` | max(a,0) + log1p(e^(−|a|)) | s | s(1−s) |
//! | `Tanh` | t | 1−t² = 4e/(1+e)², e = e^(−2|a|) | −2t(1−t²) |
//! | `Silu` | a s | s(1 + a(1−s)) | s(1−s)(2 + a(1−2s)) |
//! | `GeluTanh` | ½a(1+tanh u) | ½(1+t) + ½a S u′ | S (u′ + ½a(u″ − 2t u′²)) |
//! | `Relu` | max(a,0) | 𝟙(a > 0) | 0 |
//!
//! with s the logistic sigmoid, u = k(a + c a³), k = √(2/π), c = 0.044715,
//! S = 1 − tanh² u. [`act_d3()`] gives σ‴ (for the score-matching gradient),
//! with the formulas of `ebm_core::mlp::Activation::derivs`.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;
use ebm_core::mlp::Activation;

/// σ(a), σ′(a), σ″(a).
#[derive(CubeType, Clone, Copy)]
pub struct Act3 {
    /// σ(a).
    pub v: f32,
    /// σ′(a).
    pub d1: f32,
    /// σ″(a).
    pub d2: f32,
}

/// (s, 1 − s, e^(−|a|)) with s = sigmoid(a), without overflow.
#[derive(CubeType, Clone, Copy)]
pub struct Sig {
    /// sigmoid(a).
    pub s: f32,
    /// 1 − sigmoid(a).
    pub sm: f32,
    /// e^(−|a|).
    pub e: f32,
}

/// The logistic sigmoid pair, as `ebm_core`'s `sigmoid_pair`.
#[cube]
pub fn sigmoid_pair(a: f32) -> Sig {
    let e = f32::exp(-f32::abs(a));
    let r = 1.0f32 / (1.0f32 + e);
    let mut s = e * r;
    let mut sm = r;
    if a >= 0.0f32 {
        s = r;
        sm = e * r;
    }
    Sig { s, sm, e }
}

/// ln(1 + a), accurate near 0: ln(1 + a) for |a| ≥ ½ (WGSL's built-in
/// `log1p` polyfill is exactly this, and loses every digit for tiny a);
/// below, 2 atanh(s) with s = a/(2 + a) (|s| ≤ ⅓) by its series to s¹⁵.
#[cube]
pub fn log1p(a: f32) -> f32 {
    let s = a / (2.0f32 + a);
    let s2 = s * s;
    let p = 1.0f32
        + s2 * (1.0f32 / 3.0f32
            + s2 * (1.0f32 / 5.0f32
                + s2 * (1.0f32 / 7.0f32
                    + s2 * (1.0f32 / 9.0f32
                        + s2 * (1.0f32 / 11.0f32 + s2 * (1.0f32 / 13.0f32 + s2 * (1.0f32 / 15.0f32)))))));
    let small = 2.0f32 * s * p;
    let big = f32::ln(1.0f32 + a);
    select(f32::abs(a) < 0.5f32, small, big)
}

/// σ(a) = 1/(1 + e^{−a}).
#[cube]
pub fn sigmoid(a: f32) -> f32 {
    let e = f32::exp(-f32::abs(a));
    let r = 1.0f32 / (1.0f32 + e);
    select(a >= 0.0f32, r, e * r)
}

/// softplus(a) = ln(1 + eᵃ) = max(a, 0) + log1p(e^{−|a|}), without overflow.
#[cube]
pub fn softplus(a: f32) -> f32 {
    f32::max(a, 0.0f32) + log1p(f32::exp(-f32::abs(a)))
}

/// (tanh a, 1 − tanh² a) as `ebm_core`'s `tanh_sech2` (as `Sig { s: t, sm: sech², e }`).
#[cube]
pub fn tanh_sech2(a: f32) -> Sig {
    let aa = f32::abs(a);
    let e = f32::exp(-(aa + aa));
    let r = 1.0f32 / (1.0f32 + e);
    let t = (1.0f32 - e) * r;
    let sech2 = 4.0f32 * e * r * r;
    let mut ts = t;
    if a < 0.0f32 {
        ts = -t;
    }
    Sig { s: ts, sm: sech2, e }
}

/// The pieces of GELU-tanh σ(a) = ½a(1 + tanh u) shared by [`act3()`] and
/// [`act_d3()`]: u = k(a + c a³) with k = √(2/π), c = 0.044715, its
/// derivatives u′, u″, u‴, t = tanh u, S = 1 − t², and
/// f = u′ + ½a(u″ − 2t u′²) (σ″ = S f).
#[derive(CubeType, Clone, Copy)]
pub struct GeluTanh {
    /// u′(a).
    pub u1: f32,
    /// u″(a).
    pub u2: f32,
    /// u‴ (a constant).
    pub u3: f32,
    /// tanh u.
    pub t: f32,
    /// 1 − tanh² u.
    pub s: f32,
    /// u′ + ½a(u″ − 2t u′²).
    pub f: f32,
}

/// [`GeluTanh`] at `a`.
#[cube]
pub fn gelu_tanh_parts(a: f32) -> GeluTanh {
    let k = 0.797_884_6f32;
    let c = 0.044_715f32;
    let a2 = a * a;
    let u = k * (a + c * a2 * a);
    let u1 = k * (1.0f32 + 3.0f32 * c * a2);
    let u3 = 6.0f32 * k * c;
    let u2 = u3 * a;
    let ts = tanh_sech2(u);
    let t = ts.s;
    let s = ts.sm;
    let f = u1 + 0.5f32 * a * (u2 - 2.0f32 * t * u1 * u1);
    GeluTanh { u1, u2, u3, t, s, f }
}

/// σ, σ′, σ″ of activation `act` (see the module table) at `a`.
#[cube]
pub fn act3(a: f32, #[comptime] act: Activation) -> Act3 {
    let mut out = Act3 { v: 0.0f32, d1: 0.0f32, d2: 0.0f32 };
    match act {
        Activation::Softplus => {
            let p = sigmoid_pair(a);
            out.v = f32::max(a, 0.0f32) + log1p(p.e);
            out.d1 = p.s;
            out.d2 = p.s * p.sm;
        }
        Activation::Tanh => {
            let t = tanh_sech2(a);
            out.v = t.s;
            out.d1 = t.sm;
            out.d2 = -2.0f32 * t.s * t.sm;
        }
        Activation::Silu => {
            let p = sigmoid_pair(a);
            let q = p.s * p.sm;
            let r = p.sm - p.s;
            out.v = a * p.s;
            out.d1 = p.s * (1.0f32 + a * p.sm);
            out.d2 = q * (2.0f32 + a * r);
        }
        Activation::GeluTanh => {
            let g = gelu_tanh_parts(a);
            out.v = 0.5f32 * a * (1.0f32 + g.t);
            out.d1 = 0.5f32 * (1.0f32 + g.t) + 0.5f32 * a * g.s * g.u1;
            out.d2 = g.s * g.f;
        }
        Activation::Relu => {
            if a > 0.0f32 {
                out.v = a;
                out.d1 = 1.0f32;
            }
        }
    }
    out
}

/// σ‴(a) of activation `act` (0 for ReLU), as `ebm_core`'s `Derivs::d3`.
#[cube]
pub fn act_d3(a: f32, #[comptime] act: Activation) -> f32 {
    let mut out = 0.0f32;
    match act {
        Activation::Softplus => {
            let p = sigmoid_pair(a);
            let q = p.s * p.sm;
            out = q * (p.sm - p.s);
        }
        Activation::Tanh => {
            let t = tanh_sech2(a);
            out = t.sm * (6.0f32 * t.s * t.s - 2.0f32);
        }
        Activation::Silu => {
            let p = sigmoid_pair(a);
            let q = p.s * p.sm;
            let r = p.sm - p.s;
            out = q * (r * (3.0f32 + a * r) - 2.0f32 * a * q);
        }
        Activation::GeluTanh => {
            let g = gelu_tanh_parts(a);
            let df = 1.5f32 * g.u2 - g.t * g.u1 * g.u1
                + 0.5f32 * a * (g.u3 - 2.0f32 * g.s * g.u1 * g.u1 * g.u1 - 4.0f32 * g.t * g.u1 * g.u2);
            out = g.s * (df - 2.0f32 * g.t * g.u1 * g.f);
        }
        Activation::Relu => {}
    }
    out
}
