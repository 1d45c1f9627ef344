//! The two transcendental functions the activations need, on the only
//! ranges they need them, branch-free in f32 so that the activation loops
//! vectorise (libm's scalar `expf`/`logf` calls were over half the time of
//! a forward pass):
//!
//! - e^x for x ≤ 0 (every activation evaluates e^(−|a|) or e^(−2|a|));
//! - log(1 + e) for 0 ≤ e ≤ 1 (softplus).
//!
//! f64 keeps `std`'s `exp` and `ln` (it is the finite-difference reference).
//!
//! The polynomials use `f32::mul_add`, which rounds once on every path: a
//! hardware FMA where [`crate::simd`] compiles the loop for AVX2 + FMA or
//! AVX-512, libm's correctly rounded `fmaf` otherwise. So the bits do not
//! depend on the path, and each Horner step is one instruction instead of two.
//! The f32 versions are within 2 ulp (e^x and log(1 + e)) of the
//! exact value (tested against f64), except that e^x flushes to 0 below
//! x = −87 instead of returning a subnormal.

use crate::real::Real;
use std::mem::size_of;

/// `f32_fn(x)` when T is f32, else `None` (the caller's generic path).
#[inline(always)]
fn on_f32<T: Real>(x: T, f32_fn: impl FnOnce(f32) -> f32) -> Option<T> {
    if size_of::<T>() == 4 {
        if let Ok(xf) = bytemuck::try_cast::<T, f32>(x) {
            return bytemuck::try_cast::<f32, T>(f32_fn(xf)).ok();
        }
    }
    None
}

/// e^x for x ≤ 0.
#[inline(always)]
pub(super) fn exp_neg<T: Real>(x: T) -> T {
    on_f32(x, exp_neg_f32).unwrap_or_else(|| x.exp())
}

/// log(1 + e) for 0 ≤ e ≤ 1 (any e ≥ 0 in f64).
#[inline(always)]
pub(super) fn log1p_unit<T: Real>(e: T) -> T {
    on_f32(e, log1p_unit_f32).unwrap_or_else(|| log1p_via_ln(e))
}

/// log(1 + e) for e ≥ 0 to a few ulps through `ln` (Goldberg's trick: with
/// u = 1 + e rounded, log1p(e) = ln(u)·e/(u − 1), exact up to the rounding
/// of ln); glibc's `log1p` is several times slower than `log`.
#[inline(always)]
pub(super) fn log1p_via_ln<T: Real>(e: T) -> T {
    let u = T::one() + e;
    let um1 = u - T::one();
    if um1 == T::zero() {
        e
    } else {
        u.ln() * (e / um1)
    }
}

/// e^x for x ≤ 0: x = k ln 2 + r with |r| ≤ ½ ln 2 (Cody–Waite split of
/// ln 2), e^r by its Taylor polynomial to degree 7 (truncation < 2⁻²⁷),
/// then 2^k added to the exponent bits.
#[inline(always)]
pub(super) fn exp_neg_f32(x: f32) -> f32 {
    // Cephes' split: LN2_HI has 9 significant bits, so k·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.max(-87.0);
    // Round to nearest by adding and subtracting 1.5·2²³ (|x·log2 e| < 2²²);
    // `f32::round` is a libm call on the baseline x86-64 target and would
    // stop the loop from vectorising.
    const SHIFTER: f32 = 12_582_912.0;
    let shifted = xc * std::f32::consts::LOG2_E + SHIFTER;
    let k = shifted - SHIFTER;
    // The shifter's ulp is 1, so the low mantissa bits of `shifted` hold k
    // as an integer (no float-to-int conversion, which does not vectorise).
    let k_int = (shifted.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, xc));
    let mut p: f32 = 1.0 / 5040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p.mul_add(r, c);
    }
    let scaled = f32::from_bits((p.to_bits() as i32).wrapping_add(k_int << 23) as u32);
    if x < -87.0 {
        0.0
    } else {
        scaled
    }
}

/// log(1 + e) for 0 ≤ e ≤ 1 as e·P(e), where P (degree 8, P(0) = 1) is a
/// minimax fit of log(1 + e)/e on [0, 1] (relative error 2⁻²⁷ before
/// rounding; within 2 ulp in f32 with FMA Horner steps). Unlike the
/// 2·atanh(e/(2 + e)) series it replaced, it needs no division.
#[inline(always)]
pub(super) fn log1p_unit_f32(e: f32) -> f32 {
    const P: [f32; 8] = [
        0.005_364_739,
        -0.030_065_45,
        0.079_203_986,
        -0.137_537_55,
        0.191_536_34,
        -0.248_571_57,
        0.333_213_2,
        -0.499_996_48,
    ];
    let mut p: f32 = 0.0;
    for c in P {
        p = p.mul_add(e, c);
    }
    e * p.mul_add(e, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.to_bits() + 1) - w).abs() as f64;
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn exp_neg_is_within_two_ulp() {
        let mut worst = 0.0f64;
        for k in 0..=870_000 {
            let x = -(k as f32) * 1e-4;
            let want = (x as f64).exp();
            worst = worst.max(ulps(exp_neg_f32(x), want));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(exp_neg_f32(0.0), 1.0);
        assert_eq!(exp_neg_f32(-100.0), 0.0);
        assert_eq!(exp_neg_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_neg(-1.5f64), (-1.5f64).exp());
    }

    #[test]
    fn log1p_unit_is_within_two_ulp() {
        let mut worst = 0.0f64;
        for k in 0..=1_000_000 {
            let e = k as f32 * 1e-6;
            let want = (e as f64).ln_1p();
            if want > 0.0 {
                worst = worst.max(ulps(log1p_unit_f32(e), want));
            }
        }
        for k in 1..=300 {
            let e = (-(k as f32) * 0.3).exp(); // tiny arguments keep relative precision
            worst = worst.max(ulps(log1p_unit_f32(e), (e as f64).ln_1p()));
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(log1p_unit_f32(0.0), 0.0);
        assert_eq!(log1p_unit(0.25f64), 0.25f64.ln_1p());
    }
}
