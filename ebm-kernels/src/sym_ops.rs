//! The building blocks the symbolic-program kernel ([`crate::sym`]) unrolls:
//! one small `#[cube]` function per [`ebm_core::sym::Op`] and per
//! [`ebm_core::sym::Fn1`], whose generated `expand` functions the program
//! walker calls once per instruction.
//!
//! The elementary functions follow the stable forms of `ebm_core::sym::ops`
//! (no overflow for any finite argument), with accurate forms where the
//! shader built-ins lose relative precision near zero:
//!
//! | op | kernel form |
//! | --- | --- |
//! | `exp`, `log`, `sqrt`, `sin`, `cos` | the shader built-ins |
//! | `log1p` | ln(1 + a) for \|a\| ≥ ½ (the built-in `log1p` polyfill is exactly this); below, 2 atanh(s) with s = a/(2 + a) (\|s\| ≤ ⅓) by its series to s¹⁵ |
//! | `tanh` | sign(a)·(1 − e)/(1 + e) with e = e^{−2\|a\|} (never overflows) for \|a\| ≥ ¼; below, the Taylor series to a⁹ |
//! | `sigmoid` | 1/(1 + e) or e/(1 + e) with e = e^{−\|a\|} |
//! | `softplus` | max(a, 0) + log1p(e^{−\|a\|}) |
//! | `logcosh` | \|a\| + log1p(e^{−2\|a\|}) − ln 2 for \|a\| ≥ ¼; below, the Taylor series a²/2 − a⁴/12 + a⁶/45 − 17a⁸/2520 + 31a¹⁰/14175 (no cancellation) |
//! | `powi` | binary powering unrolled at compile time (as `powi`), 1/aⁿ for n < 0 |
//! | `powf` | the built-in `powf` (so NaN for a < 0, as on the CPU) |
//!
//! The series cut-offs keep the truncation error below 2⁻²⁴ relative.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The shared scalar functions (their one `#[cube]` home is [`crate::act`]).
pub use crate::act::{log1p, sigmoid, softplus};

/// `buf[b · stride + i]`.
#[cube]
pub fn load(buf: &[f32], b: usize, #[comptime] stride: usize, #[comptime] i: usize) -> f32 {
    buf[b * stride + i]
}

/// `buf[k]` (a parameter).
#[cube]
pub fn load_at(buf: &[f32], #[comptime] k: usize) -> f32 {
    buf[k]
}

/// `buf[b · stride + i] ← v`.
#[cube]
pub fn store(buf: &mut [f32], b: usize, #[comptime] stride: usize, #[comptime] i: usize, v: f32) {
    buf[b * stride + i] = v;
}

/// The constant `v` as a runtime value.
#[cube]
pub fn constant(#[comptime] v: f32) -> f32 {
    f32::new(v)
}

/// a + b.
#[cube]
pub fn add(a: f32, b: f32) -> f32 {
    a + b
}

/// a − b.
#[cube]
pub fn sub(a: f32, b: f32) -> f32 {
    a - b
}

/// a · b.
#[cube]
pub fn mul(a: f32, b: f32) -> f32 {
    a * b
}

/// a / b.
#[cube]
pub fn div(a: f32, b: f32) -> f32 {
    a / b
}

/// max(a, b).
#[cube]
pub fn max(a: f32, b: f32) -> f32 {
    f32::max(a, b)
}

/// −a.
#[cube]
pub fn neg(a: f32) -> f32 {
    -a
}

/// 1 / a.
#[cube]
pub fn recip(a: f32) -> f32 {
    1.0f32 / a
}

/// aᵖ.
#[cube]
pub fn powf(a: f32, #[comptime] p: f32) -> f32 {
    f32::powf(a, f32::new(p))
}

/// eᵃ.
#[cube]
pub fn exp(a: f32) -> f32 {
    f32::exp(a)
}

/// ln a.
#[cube]
pub fn ln(a: f32) -> f32 {
    f32::ln(a)
}

/// √a.
#[cube]
pub fn sqrt(a: f32) -> f32 {
    f32::sqrt(a)
}

/// sin a.
#[cube]
pub fn sin(a: f32) -> f32 {
    f32::sin(a)
}

/// cos a.
#[cube]
pub fn cos(a: f32) -> f32 {
    f32::cos(a)
}

/// tanh a (module table).
#[cube]
pub fn tanh(a: f32) -> f32 {
    let aa = f32::abs(a);
    let e = f32::exp(-(aa + aa));
    let t = (1.0f32 - e) / (1.0f32 + e);
    let big = select(a < 0.0f32, -t, t);
    let a2 = a * a;
    let small = a
        * (1.0f32
            + a2 * (-1.0f32 / 3.0f32
                + a2 * (2.0f32 / 15.0f32 + a2 * (-17.0f32 / 315.0f32 + a2 * (62.0f32 / 2835.0f32)))));
    select(aa < 0.25f32, small, big)
}

/// ln cosh a (module table).
#[cube]
pub fn logcosh(a: f32) -> f32 {
    let b = f32::abs(a);
    let big = b + log1p(f32::exp(-(b + b))) - core::f32::consts::LN_2;
    let b2 = b * b;
    let small = b2
        * (0.5f32
            + b2 * (-1.0f32 / 12.0f32
                + b2 * (1.0f32 / 45.0f32 + b2 * (-17.0f32 / 2520.0f32 + b2 * (31.0f32 / 14175.0f32)))));
    select(b < 0.25f32, small, big)
}
