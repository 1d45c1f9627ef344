//! The one CPU home of ebm's smooth scalar functions: the activations σ of
//! the MLP energy with their closed-form derivatives σ′, σ″, σ‴, and the
//! logistic sigmoid and softplus that other families (the RBM's free
//! energy, symbolic formulas, NCE's logistic loss) use. The GPU twins live
//! in `ebm_kernels::act`.
//!
//! The MLP's Hessian diagonal (see [`crate::mlp`]) needs σ″; the parameter
//! gradient of the exact score-matching integrand (eq 12) differentiates σ″
//! once more and needs σ‴. Every formula below is evaluated from a few shared,
//! overflow-free intermediates:
//!
//! | name | σ(a) | σ′ | σ″ | σ‴ |
//! | --- | --- | --- | --- | --- |
//! | softplus | log(1 + eᵃ) | s | s(1−s) | s(1−s)(1−2s) |
//! | tanh | t = tanh a | 1−t² | −2t(1−t²) | (1−t²)(6t²−2) |
//! | silu | a·s | s(1 + a(1−s)) | s(1−s)(2 + a(1−2s)) | s(1−s)[(1−2s)(3 + a(1−2s)) − 2a·s(1−s)] |
//! | gelu-tanh | ½a(1 + tanh u) | see below | | |
//! | relu | max(a, 0) | 𝟙(a > 0) | 0 | 0 |
//!
//! with s = 1/(1 + e⁻ᵃ) the logistic sigmoid. Softplus is evaluated as
//! max(a, 0) + log1p(e^(−|a|)) and s, 1 − s from e^(−|a|), so nothing
//! overflows for large |a|; tanh's 1 − t² is evaluated as 4e/(1 + e)² with
//! e = e^(−2|a|) so it keeps its relative precision in the tails. In f32,
//! e^x (x ≤ 0) and log(1 + e) (0 ≤ e ≤ 1) are branch-free polynomials
//! within 2 ulp (with fused multiply-adds), so the loops over a layer vectorise.
//!
//! **gelu-tanh** (PyTorch's `GELU(approximate="tanh")`): σ = ½a(1 + t) with
//! t = tanh u, u = k(a + c a³), k = √(2/π), c = 0.044715. With S = 1 − t²,
//! u′ = k(1 + 3ca²), u″ = 6kca, u‴ = 6kc and F = u′ + ½a(u″ − 2t u′²):
//! σ′ = ½(1 + t) + ½a S u′, σ″ = S F,
//! σ‴ = S(−2t u′ F + 3⁄2 u″ − t u′² + ½a(u‴ − 2S u′³ − 4t u′ u″)).
//!
//! **relu** has σ″ = 0 almost everywhere: exact for the energy, the score and
//! the parameter gradients of E and vᵀ∇ₓE, but the Hessian diagonal is a sum
//! of Dirac masses, so [`crate::Mlp`] refuses it for the Hessian diagonal and
//! the score-matching gradient with [`crate::EbmError::Activation`].

mod fastmath;

use crate::error::EbmError;
use crate::real::Real;
use fastmath::{exp_neg, log1p_unit};
use std::fmt;
use std::str::FromStr;

/// The nonlinearity σ between the linear layers of an [`crate::Mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// log(1 + eᵃ), smooth everywhere.
    Softplus,
    /// tanh a.
    Tanh,
    /// a · sigmoid(a) (also called swish).
    Silu,
    /// The tanh approximation of GELU, PyTorch's `GELU(approximate="tanh")`.
    GeluTanh,
    /// max(a, 0): not usable for the Hessian diagonal or exact score matching.
    Relu,
}

/// σ(a) and its first three derivatives at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Derivs<T> {
    /// σ(a).
    pub value: T,
    /// σ′(a).
    pub d1: T,
    /// σ″(a).
    pub d2: T,
    /// σ‴(a).
    pub d3: T,
}

/// The error of parsing an unknown activation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown activation `{name}` (expected one of softplus, tanh, silu, gelu-tanh, relu)")]
pub struct ParseActivationError {
    /// The name that was given.
    pub name: String,
}

impl From<ParseActivationError> for EbmError {
    fn from(e: ParseActivationError) -> Self {
        EbmError::InvalidConfig(e.to_string())
    }
}

impl Activation {
    /// Every activation, in declaration order.
    pub const ALL: [Activation; 5] =
        [Activation::Softplus, Activation::Tanh, Activation::Silu, Activation::GeluTanh, Activation::Relu];

    /// The activations with a usable second derivative.
    pub const SMOOTH: [Activation; 4] =
        [Activation::Softplus, Activation::Tanh, Activation::Silu, Activation::GeluTanh];

    /// The canonical name, accepted back by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Activation::Softplus => "softplus",
            Activation::Tanh => "tanh",
            Activation::Silu => "silu",
            Activation::GeluTanh => "gelu-tanh",
            Activation::Relu => "relu",
        }
    }

    /// Whether σ″ is a function (not a sum of Dirac masses): required by the
    /// Hessian diagonal and by exact score matching.
    pub const fn is_smooth(self) -> bool {
        !matches!(self, Activation::Relu)
    }

    /// σ(a).
    #[inline]
    pub fn value<T: Real>(self, a: T) -> T {
        match self {
            Activation::Softplus => {
                let e = exp_neg(-a.abs());
                a.max(T::zero()) + log1p_unit(e)
            }
            Activation::Relu => a.max(T::zero()),
            _ => self.derivs(a).value,
        }
    }

    /// σ(a) and σ′(a).
    #[inline]
    pub fn value_d1<T: Real>(self, a: T) -> (T, T) {
        match self {
            Activation::Relu => {
                if a > T::zero() {
                    (a, T::one())
                } else {
                    (T::zero(), T::zero())
                }
            }
            _ => {
                let d = self.derivs(a);
                (d.value, d.d1)
            }
        }
    }

    /// σ(a), σ′(a), σ″(a) and σ‴(a) in closed form (module docs).
    #[inline]
    pub fn derivs<T: Real>(self, a: T) -> Derivs<T> {
        match self {
            Activation::Softplus => softplus_derivs(a),
            Activation::Tanh => tanh(a),
            Activation::Silu => silu(a),
            Activation::GeluTanh => gelu_tanh(a),
            Activation::Relu => relu(a),
        }
    }

    /// Applies σ in place over the pre-activations `a` and writes σ′, σ″,
    /// σ‴ where asked, with the same arithmetic as [`Activation::derivs`]
    /// but the activation dispatched once per slice so the loop inlines.
    pub(crate) fn eval_slice<T: Real>(
        self,
        a: &mut [T],
        s1: Option<&mut [T]>,
        s2: Option<&mut [T]>,
        s3: Option<&mut [T]>,
    ) {
        crate::simd::dispatch(EvalSlice { act: self, a, s1, s2, s3 });
    }
}

/// [`Activation::eval_slice`]'s loop, compiled per vector ISA.
struct EvalSlice<'a, T> {
    act: Activation,
    a: &'a mut [T],
    s1: Option<&'a mut [T]>,
    s2: Option<&'a mut [T]>,
    s3: Option<&'a mut [T]>,
}

impl<T: Real> crate::simd::Kernel for EvalSlice<'_, T> {
    type Out = ();

    #[inline(always)]
    fn run(self) {
        let EvalSlice { act, a, s1, s2, s3 } = self;
        match act {
            Activation::Softplus => eval_with(softplus_derivs, a, s1, s2, s3),
            Activation::Tanh => eval_with(tanh, a, s1, s2, s3),
            Activation::Silu => eval_with(silu, a, s1, s2, s3),
            Activation::GeluTanh => eval_with(gelu_tanh, a, s1, s2, s3),
            Activation::Relu => eval_with(relu, a, s1, s2, s3),
        }
    }
}

#[inline(always)]
fn eval_with<T: Real>(
    f: impl Fn(T) -> Derivs<T>,
    a: &mut [T],
    s1: Option<&mut [T]>,
    s2: Option<&mut [T]>,
    s3: Option<&mut [T]>,
) {
    match (s1, s2, s3) {
        (None, _, _) => a.iter_mut().for_each(|v| *v = f(*v).value),
        (Some(s1), None, _) => {
            for (v, s1) in a.iter_mut().zip(s1) {
                let dv = f(*v);
                (*v, *s1) = (dv.value, dv.d1);
            }
        }
        (Some(s1), Some(s2), None) => {
            for ((v, s1), s2) in a.iter_mut().zip(s1).zip(s2) {
                let dv = f(*v);
                (*v, *s1, *s2) = (dv.value, dv.d1, dv.d2);
            }
        }
        (Some(s1), Some(s2), Some(s3)) => {
            for (((v, s1), s2), s3) in a.iter_mut().zip(s1).zip(s2).zip(s3) {
                let dv = f(*v);
                (*v, *s1, *s2, *s3) = (dv.value, dv.d1, dv.d2, dv.d3);
            }
        }
    }
}

/// The logistic sigmoid σ(a) = 1/(1 + e⁻ᵃ), without overflow for any a.
#[inline]
pub fn sigmoid<T: Real>(a: T) -> T {
    sigmoid_pair(a).0
}

/// softplus(a) = log(1 + eᵃ) = max(a, 0) + log(1 + e^(−|a|)), without
/// overflow for any a.
#[inline]
pub fn softplus<T: Real>(a: T) -> T {
    Activation::Softplus.value(a)
}

#[inline(always)]
fn softplus_derivs<T: Real>(a: T) -> Derivs<T> {
    let (s, sm, e) = sigmoid_pair(a);
    let q = s * sm;
    Derivs { value: a.max(T::zero()) + log1p_unit(e), d1: s, d2: q, d3: q * (sm - s) }
}

#[inline(always)]
fn tanh<T: Real>(a: T) -> Derivs<T> {
    let two = T::from_f64(2.0);
    let (t, sech2) = tanh_sech2(a);
    Derivs { value: t, d1: sech2, d2: -two * t * sech2, d3: sech2 * (T::from_f64(6.0) * t * t - two) }
}

#[inline(always)]
fn silu<T: Real>(a: T) -> Derivs<T> {
    let (one, two) = (T::one(), T::from_f64(2.0));
    let (s, sm, _) = sigmoid_pair(a);
    let q = s * sm;
    let r = sm - s; // 1 − 2s
    Derivs {
        value: a * s,
        d1: s * (one + a * sm),
        d2: q * (two + a * r),
        d3: q * (r * (T::from_f64(3.0) + a * r) - two * a * q),
    }
}

#[inline(always)]
fn gelu_tanh<T: Real>(a: T) -> Derivs<T> {
    let (one, two) = (T::one(), T::from_f64(2.0));
    let k = T::from_f64(0.797_884_560_802_865_4); // √(2/π)
    let c = T::from_f64(0.044_715);
    let half = T::from_f64(0.5);
    let a2 = a * a;
    let u = k * (a + c * a2 * a);
    let u1 = k * (one + T::from_f64(3.0) * c * a2);
    let u3 = T::from_f64(6.0) * k * c;
    let u2 = u3 * a;
    let (t, s) = tanh_sech2(u);
    let f = u1 + half * a * (u2 - two * t * u1 * u1);
    let df =
        T::from_f64(1.5) * u2 - t * u1 * u1 + half * a * (u3 - two * s * u1 * u1 * u1 - T::from_f64(4.0) * t * u1 * u2);
    Derivs {
        value: half * a * (one + t),
        d1: half * (one + t) + half * a * s * u1,
        d2: s * f,
        d3: s * (df - two * t * u1 * f),
    }
}

#[inline(always)]
fn relu<T: Real>(a: T) -> Derivs<T> {
    let pos = a > T::zero();
    Derivs {
        value: if pos { a } else { T::zero() },
        d1: if pos { T::one() } else { T::zero() },
        d2: T::zero(),
        d3: T::zero(),
    }
}

/// (s, 1 − s, e^(−|a|)) with s = sigmoid(a), without overflow or cancellation.
#[inline(always)]
fn sigmoid_pair<T: Real>(a: T) -> (T, T, T) {
    let e = exp_neg(-a.abs());
    let r = T::one() / (T::one() + e);
    if a >= T::zero() {
        (r, e * r, e)
    } else {
        (e * r, r, e)
    }
}

/// (tanh a, 1 − tanh² a), the second without cancellation in the tails.
#[inline(always)]
fn tanh_sech2<T: Real>(a: T) -> (T, T) {
    let e = exp_neg(-(a.abs() + a.abs()));
    let r = T::one() / (T::one() + e);
    let t = (T::one() - e) * r;
    let sech2 = T::from_f64(4.0) * e * r * r;
    (if a < T::zero() { -t } else { t }, sech2)
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = ParseActivationError;

    /// Parses the canonical names (`softplus`, `tanh`, `silu`, `gelu-tanh`,
    /// `relu`), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseActivationError { name: s.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert!("gelu".parse::<Activation>().is_err());
    }

    #[test]
    fn log1p_matches_std() {
        for k in 0..=4000 {
            let e = (-(k as f64) * 0.01).exp(); // 1 down to e^-40
            let (got, want) = (log1p_unit(e), e.ln_1p());
            assert!(((got - want) / want).abs() < 4.0 * f64::EPSILON, "f64 at {e}: {got} vs {want}");
            let (got, want) = (log1p_unit(e as f32), (e as f32).ln_1p());
            assert!(((got - want) / want).abs() < 4.0 * f32::EPSILON, "f32 at {e}: {got} vs {want}");
        }
        assert_eq!(log1p_unit(0.0f32), 0.0);
    }

    /// The dispatched slice loop (AVX-512 or AVX2 + FMA on most machines)
    /// computes the same bits as the scalar formulas compiled for baseline
    /// x86-64, whose `mul_add` is libm's `fmaf`.
    #[test]
    fn eval_slice_is_bit_identical_to_the_scalar_formulas() {
        let a: Vec<f32> = (0..1037).map(|i| ((i as f32) * 0.618_034).sin() * 30.0 * ((i % 7) as f32 / 6.0)).collect();
        for act in Activation::ALL {
            let (mut z, mut s1, mut s2, mut s3) =
                (a.clone(), vec![0.0; a.len()], vec![0.0; a.len()], vec![0.0; a.len()]);
            act.eval_slice(&mut z, Some(&mut s1), Some(&mut s2), Some(&mut s3));
            let mut value_only = a.clone();
            act.eval_slice(&mut value_only, None, None, None);
            for (i, &ai) in a.iter().enumerate() {
                let d = act.derivs(ai);
                let got = [z[i], s1[i], s2[i], s3[i], value_only[i]];
                let want = [d.value, d.d1, d.d2, d.d3, act.value(ai)];
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{act} at {ai}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn softplus_and_tanh_are_stable_in_the_tails() {
        for a in [-1e4f64, -800.0, 800.0, 1e4] {
            for act in Activation::SMOOTH {
                let d = act.derivs(a);
                assert!(d.value.is_finite() && d.d1.is_finite(), "{act} at {a}");
                assert!(d.d2.is_finite() && d.d3.is_finite(), "{act} at {a}");
            }
        }
        let d = Activation::Softplus.derivs(1000.0f32);
        assert_eq!(d.value, 1000.0);
        assert_eq!(d.d1, 1.0);
        let d = Activation::Softplus.derivs(-50.0f64);
        assert!((d.value / (-50.0f64).exp() - 1.0).abs() < 1e-12);
        let d = Activation::Tanh.derivs(20.0f64);
        assert!((d.d1 / (4.0 * (-40.0f64).exp()) - 1.0).abs() < 1e-9);
    }
}
