//! Branch-free elementary functions for the CPU evaluator.
//!
//! The evaluator applies a unary function to a whole register (one value
//! per lane of a block). The platform `libm` is called once per lane and
//! never vectorises; the functions here are straight-line arithmetic, bit
//! manipulation and selects, so the lane loops of [`super::eval`]
//! auto-vectorise (SSE2, or AVX2 where the CPU has it).
//!
//! Accuracy (checked by the tests below against `std`, whose results are
//! within about 1 ulp of the true value): exp, ln and ln(1 + a) within
//! 2 ulp, tanh within 3 ulp, over the whole range, with the IEEE special
//! values (±∞, NaN, ±0, subnormals) handled as `std` does. The stable
//! forms of [`super::ops`] (sigmoid, softplus, log cosh) are built from
//! them with the same formulas.
//!
//! Methods: exp by Cody–Waite reduction x = n ln 2 + r, |r| ≤ ½ ln 2, and a
//! Taylor polynomial for eʳ − 1 (degree 13 in f64, 8 in f32, truncation
//! below 0.1 ulp), scaled by 2ⁿ in two steps so that gradual underflow and
//! overflow round once; eˣ − 1 for x ≤ 0 (used by tanh) as
//! 2ⁿ(eʳ − 1) + (2ⁿ − 1); ln as in fdlibm (x = 2ᵏ(1 + f), 1 + f ∈ [√½, √2),
//! ln(1 + f) = 2 atanh(f / (2 + f)) by a minimax polynomial); ln(1 + a) as
//! ln u + c/u with u = 1 + a rounded and c the exact rounding error of u.

// The constants are fdlibm's, digit for digit.
#![allow(clippy::excessive_precision)]

/// The functions of this module for one scalar type.
pub(crate) trait VMath: Copy {
    /// eˣ.
    fn v_exp(self) -> Self;
    /// eˣ − 1 for x ≤ 0 (or NaN).
    fn v_expm1_neg(self) -> Self;
    /// ln x.
    fn v_ln(self) -> Self;
    /// ln(1 + x).
    fn v_ln_1p(self) -> Self;
}

/// A select the vectoriser turns into a blend.
#[inline(always)]
fn sel<T>(c: bool, a: T, b: T) -> T {
    if c {
        a
    } else {
        b
    }
}

mod f64_consts {
    pub const LOG2E: f64 = std::f64::consts::LOG2_E;
    /// 1.5·2⁵²: adding it rounds to an integer, kept in the low mantissa bits.
    pub const MAGIC: f64 = 6755399441055744.0;
    /// ln 2 split so that n·LN2_HI is exact for |n| < 2²⁰ (fdlibm).
    pub const LN2_HI: f64 = 6.93147180369123816490e-01;
    pub const LN2_LO: f64 = 1.90821492927058770002e-10;
    pub const LG1: f64 = 6.666666666666735130e-01;
    pub const LG2: f64 = 3.999999999940941908e-01;
    pub const LG3: f64 = 2.857142874366239149e-01;
    pub const LG4: f64 = 2.222219843214978396e-01;
    pub const LG5: f64 = 1.818357216161805012e-01;
    pub const LG6: f64 = 1.531383769920937332e-01;
    pub const LG7: f64 = 1.479819860511658591e-01;
}

/// `reduce_*(x)`: n and eʳ − 1 with x = n ln 2 + r, where `$c` holds the
/// constants and `$q` the Taylor coefficients 1/k! from the highest k down
/// to k = 2: eʳ − 1 = r + r²·Σₖ rᵏ⁻²/k! by Horner.
macro_rules! reduce {
    (fn $name:ident($t:ty) -> $i:ty; $c:ident::{$hi:ident, $lo:ident}; [$q0:expr $(, $q:expr)*]) => {
        #[inline(always)]
        fn $name(x: $t) -> ($i, $t) {
            use $c::*;
            let t = x * LOG2E + MAGIC;
            let nf = t - MAGIC;
            let n = t.to_bits() as $i - MAGIC.to_bits() as $i;
            let r = (x - nf * $hi) - nf * $lo;
            let mut q = $q0;
            $(q = q * r + $q;)*
            (n, r + (r * r) * q)
        }
    };
}

// x must lie in ±2⁵⁰; degree 13.
reduce!(fn reduce_f64(f64) -> i64; f64_consts::{LN2_HI, LN2_LO}; [
    1.0 / 6227020800.0,
    1.0 / 479001600.0,
    1.0 / 39916800.0,
    1.0 / 3628800.0,
    1.0 / 362880.0,
    1.0 / 40320.0,
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5
]);

/// 2ⁿ for a normal exponent n.
#[inline(always)]
fn pow2_f64(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// k as f64 for |k| < 2⁵¹, without an int-to-float conversion instruction.
#[inline(always)]
fn i64_to_f64(k: i64) -> f64 {
    const M: f64 = 6755399441055744.0;
    f64::from_bits((M.to_bits() as i64 + k) as u64) - M
}

/// ln(1 + f) − f + f²/2 = s(f²/2 + R(s²)) with s = f/(2 + f): the minimax
/// polynomial R of fdlibm's log (f64, seven terms).
#[inline(always)]
fn ln_poly_f64(z: f64, w: f64) -> f64 {
    use f64_consts::*;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    t2 + t1
}

/// `VMath` for one float type: `$reduce`/`$pow2` as above, `$ln_poly` the
/// logarithm's polynomial, `$to_float` the exponent conversion; the rest are
/// the type's clamps (exp, expm1), subnormal scale 2^`$sub_k`, mantissa and
/// exponent field layout.
macro_rules! impl_vmath {
    (
        $t:ident, $i:ty, $c:ident, $reduce:ident, $pow2:ident, $ln_poly:ident, $to_float:expr,
        exp_clamp: $ec:expr, expm1_clamp: $mc:expr,
        subnormal: ($sub_scale:expr, $sub_k:expr),
        mantissa: ($mask:expr, $one:expr), exponent: ($shift:expr, $emask:expr, $bias:expr)
    ) => {
        impl VMath for $t {
            #[inline(always)]
            fn v_exp(self) -> $t {
                let x = self;
                // e^±clamp is ∞ / 0; the clamp keeps NaN.
                let xc = sel(x > $ec, $ec, sel(x < -$ec, -$ec, x));
                let (n, em) = $reduce(xc);
                let n1 = n >> 1;
                ((1.0 + em) * $pow2(n1)) * $pow2(n - n1)
            }

            #[inline(always)]
            fn v_expm1_neg(self) -> $t {
                // e^-clamp − 1 rounds to −1.
                let x = sel(self < -$mc, -$mc, self);
                let (n, em) = $reduce(x);
                let s = $pow2(n);
                s * em + (s - 1.0)
            }

            #[inline(always)]
            fn v_ln(self) -> $t {
                use $c::*;
                let x = self;
                let sub = x < $t::MIN_POSITIVE;
                let xs = sel(sub, x * $sub_scale, x);
                let bits = xs.to_bits();
                let m = $t::from_bits((bits & $mask) | $one);
                let big = m > std::$t::consts::SQRT_2;
                let m = sel(big, m * 0.5, m);
                let k = ((bits >> $shift) & $emask) as $i - $bias - sel(sub, $sub_k, 0) + sel(big, 1, 0);
                let dk = $to_float(k);
                let f = m - 1.0;
                let s = f / (2.0 + f);
                let z = s * s;
                let w = z * z;
                let r = $ln_poly(z, w);
                let hfsq = 0.5 * f * f;
                let y = dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
                // x < 0 → NaN, 0 → −∞, +∞ → +∞, NaN → NaN
                sel(x > 0.0 && x < $t::INFINITY, y, sel(x == 0.0, $t::NEG_INFINITY, sel(x == $t::INFINITY, x, $t::NAN)))
            }

            #[inline(always)]
            fn v_ln_1p(self) -> $t {
                let x = self;
                let u = 1.0 + x;
                // the rounding error of u, exactly (Sterbenz in both branches)
                let c = sel(u >= 2.0, 1.0 - (u - x), x - (u - 1.0));
                let y = u.v_ln() + c / u;
                // x = −1 → −∞, x < −1 → NaN (from ln), +∞ → +∞
                sel(u > 0.0 && x < $t::INFINITY, y, sel(u == 0.0, $t::NEG_INFINITY, u.v_ln()))
            }
        }
    };
}

impl_vmath!(
    f64, i64, f64_consts, reduce_f64, pow2_f64, ln_poly_f64, i64_to_f64,
    exp_clamp: 760.0, expm1_clamp: 100.0,
    subnormal: (18014398509481984.0, 54), // 2⁵⁴
    mantissa: (0x000f_ffff_ffff_ffff, 0x3ff0_0000_0000_0000), exponent: (52, 0x7ff, 1023)
);

mod f32_consts {
    pub const LOG2E: f32 = std::f32::consts::LOG2_E;
    /// 1.5·2²³.
    pub const MAGIC: f32 = 12582912.0;
    /// ln 2 split so that n·LN2_HI is exact for |n| < 2¹⁴.
    pub const LN2_HI_E: f32 = 0.693359375;
    pub const LN2_LO_E: f32 = -2.121944400e-4;
    /// ln 2 split for the logarithm (fdlibm e_logf.c).
    pub const LN2_HI: f32 = 6.9313812256e-01;
    pub const LN2_LO: f32 = 9.0580006145e-06;
    pub const LG1: f32 = 0xaaaaaa as f32 / 16777216.0;
    pub const LG2: f32 = 0xccce13 as f32 / 33554432.0;
    pub const LG3: f32 = 0x91e9ee as f32 / 33554432.0;
    pub const LG4: f32 = 0xf89e26 as f32 / 67108864.0;
}

// x must lie in ±2²¹; degree 8.
reduce!(fn reduce_f32(f32) -> i32; f32_consts::{LN2_HI_E, LN2_LO_E}; [1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5]);

/// 2ⁿ for a normal exponent n.
#[inline(always)]
fn pow2_f32(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// fdlibm's logf polynomial (four terms), as [`ln_poly_f64`].
#[inline(always)]
fn ln_poly_f32(z: f32, w: f32) -> f32 {
    use f32_consts::*;
    let t1 = w * (LG2 + w * LG4);
    let t2 = z * (LG1 + w * LG3);
    t2 + t1
}

impl_vmath!(
    f32, i32, f32_consts, reduce_f32, pow2_f32, ln_poly_f32, |k: i32| k as f32,
    exp_clamp: 110.0, expm1_clamp: 40.0,
    subnormal: (33554432.0, 25), // 2²⁵
    mantissa: (0x007f_ffff, 0x3f80_0000), exponent: (23, 0xff, 127)
);

/// The vectorisable forms of the [`Fn1`](super::ops::Fn1) functions that
/// need exp or ln, for one scalar type.
pub(crate) trait VFns: VMath + crate::real::Real {
    /// tanh a = sign(a)·(−m)/(2 + m) with m = e^{−2|a|} − 1.
    #[inline(always)]
    fn v_tanh(self) -> Self {
        let two = Self::one() + Self::one();
        let m = (-two * self.abs()).v_expm1_neg();
        (-m / (two + m)).copysign(self)
    }

    /// σ(a) through e^{−|a|} (as [`super::ops::sigmoid`]).
    #[inline(always)]
    fn v_sigmoid(self) -> Self {
        let e = (-self.abs()).v_exp();
        let one = Self::one();
        let d = one + e;
        sel(self >= Self::zero(), one / d, e / d)
    }

    /// max(a, 0) + ln(1 + e^{−|a|}) (as [`super::ops::softplus`]).
    #[inline(always)]
    fn v_softplus(self) -> Self {
        self.max(Self::zero()) + (-self.abs()).v_exp().v_ln_1p()
    }

    /// |a| + ln(1 + e^{−2|a|}) − ln 2 (as [`super::ops::logcosh`]).
    #[inline(always)]
    fn v_logcosh(self) -> Self {
        let b = self.abs();
        let two = Self::one() + Self::one();
        b + (-two * b).v_exp().v_ln_1p() - Self::LN_2()
    }
}

impl VFns for f32 {}
impl VFns for f64 {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place, through the ordered integer
    /// representation (0 for equal values, NaN = NaN, ±∞ exact).
    fn ulps64(a: f64, b: f64) -> u64 {
        ulps(a.is_nan(), b.is_nan(), a == b, [a.to_bits() as i64, b.to_bits() as i64], i64::MIN)
    }

    fn ulps32(a: f32, b: f32) -> u64 {
        ulps(a.is_nan(), b.is_nan(), a == b, [a.to_bits() as i32 as i64, b.to_bits() as i32 as i64], i32::MIN as i64)
    }

    /// The ulp distance of two floats given their NaN-ness, equality and
    /// sign-magnitude bit patterns (as signed integers; `min` is the sign bit
    /// alone), through the ordered integer representation.
    fn ulps(nan_a: bool, nan_b: bool, eq: bool, bits: [i64; 2], min: i64) -> u64 {
        if nan_a || nan_b {
            return if nan_a && nan_b { 0 } else { u64::MAX };
        }
        if eq {
            return 0;
        }
        let key = |i: i64| if i < 0 { min - i } else { i };
        key(bits[0]).abs_diff(key(bits[1]))
    }

    /// Test points: a log-uniform sweep of both signs over [1e-30, lim]
    /// plus the special values.
    fn points(lim: f64) -> Vec<f64> {
        let mut v = vec![0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.0, -1.0, 0.5, -0.5, 2.0, lim, -lim];
        let n = 20000;
        let (lo, hi) = (1e-30f64.ln(), lim.ln());
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let jitter = (s >> 11) as f64 / (1u64 << 53) as f64;
            let t = lo + (hi - lo) * (i as f64 + jitter) / n as f64;
            v.push(t.exp());
            v.push(-t.exp());
        }
        v
    }

    fn check64(name: &str, f: impl Fn(f64) -> f64, want: impl Fn(f64) -> f64, lim: f64, max_ulps: u64) {
        for x in points(lim) {
            let (g, w) = (f(x), want(x));
            assert!(ulps64(g, w) <= max_ulps, "{name}({x:e}) = {g:e}, std {w:e} ({} ulp)", ulps64(g, w));
        }
    }

    /// f32 against the f64 `std` function rounded to f32.
    fn check32(name: &str, f: impl Fn(f32) -> f32, want: impl Fn(f64) -> f64, lim: f64, max_ulps: u64) {
        for x in points(lim) {
            let x = x as f32;
            let (g, w) = (f(x), want(x as f64) as f32);
            assert!(ulps32(g, w) <= max_ulps, "{name}({x:e}) = {g:e}, want {w:e} ({} ulp)", ulps32(g, w));
        }
    }

    #[test]
    fn exp_ln_ln1p_are_within_two_ulp() {
        check64("exp", f64::v_exp, f64::exp, 800.0, 2);
        check64("ln", f64::v_ln, f64::ln, 1e308, 2);
        check64("ln", f64::v_ln, f64::ln, 1e-300, 2);
        check64("ln_1p", f64::v_ln_1p, f64::ln_1p, 1e300, 2);
        check64("expm1", |x| (-x.abs()).v_expm1_neg(), |x| (-x.abs()).exp_m1(), 800.0, 2);
        check32("exp", f32::v_exp, f64::exp, 120.0, 2);
        check32("ln", f32::v_ln, f64::ln, 3e38, 2);
        check32("ln_1p", f32::v_ln_1p, f64::ln_1p, 3e38, 2);
        check32("expm1", |x| (-x.abs()).v_expm1_neg(), |x| (-x.abs()).exp_m1(), 120.0, 2);
        // subnormal arguments and results
        for x in [5e-324f64, 1e-310, 2.2e-308] {
            assert!(ulps64(x.v_ln(), x.ln()) <= 2, "ln({x:e})");
        }
        for x in [-708.5f64, -720.0, -744.0, -745.1, -746.0, 709.7, 709.8] {
            assert!(ulps64(x.v_exp(), x.exp()) <= 2, "exp({x:e}) = {:e} vs {:e}", x.v_exp(), x.exp());
        }
        for x in [1e-45f32, 1e-40, 1.1e-38] {
            assert!(ulps32(x.v_ln(), (x as f64).ln() as f32) <= 2, "ln({x:e})");
        }
        for x in [-87.5f32, -90.0, -100.0, -103.9, -104.0, 88.7, 88.8] {
            assert!(ulps32(x.v_exp(), (x as f64).exp() as f32) <= 2, "exp({x:e})");
        }
        assert_eq!((-1.0f64).v_ln_1p(), f64::NEG_INFINITY);
        assert!((-1.5f64).v_ln_1p().is_nan() && (-1.0f64).v_ln().is_nan() && f64::NAN.v_exp().is_nan());
        assert_eq!((-1.0f32).v_ln_1p(), f32::NEG_INFINITY);
        assert!((-1.5f32).v_ln_1p().is_nan() && (-1.0f32).v_ln().is_nan() && f32::NAN.v_exp().is_nan());
    }

    #[test]
    fn stable_forms_are_within_a_few_ulp() {
        use super::super::ops::{logcosh, sigmoid, softplus};
        check64("tanh", f64::v_tanh, f64::tanh, 800.0, 3);
        check32("tanh", f32::v_tanh, f64::tanh, 120.0, 3);
        check64("sigmoid", f64::v_sigmoid, sigmoid::<f64>, 800.0, 3);
        check32("sigmoid", f32::v_sigmoid, sigmoid::<f64>, 120.0, 3);
        check64("softplus", f64::v_softplus, softplus::<f64>, 800.0, 3);
        check32("softplus", f32::v_softplus, softplus::<f64>, 120.0, 3);
        // log cosh cancels near 0: compare in absolute terms there
        for x in points(800.0) {
            let (g, w) = (x.v_logcosh(), logcosh(x));
            assert!(ulps64(g, w) <= 3 || (g - w).abs() <= 4.0 * f64::EPSILON, "logcosh({x:e}) = {g:e} vs {w:e}");
            let xf = x as f32;
            let (g, w) = (xf.v_logcosh(), logcosh(xf as f64) as f32);
            assert!(ulps32(g, w) <= 3 || (g - w).abs() <= 4.0 * f32::EPSILON, "logcosh32({xf:e}) = {g:e} vs {w:e}");
        }
        assert_eq!((-0.0f64).v_tanh().to_bits(), (-0.0f64).to_bits());
        assert_eq!(f64::INFINITY.v_tanh(), 1.0);
        assert_eq!(f32::NEG_INFINITY.v_tanh(), -1.0);
        assert!(f64::NAN.v_tanh().is_nan() && f32::NAN.v_logcosh().is_nan() && f64::NAN.v_softplus().is_nan());
    }
}
