//! The elementary unary functions of the symbolic engine, with numerically
//! stable evaluation.
//!
//! | function | definition | stable form used here | derivative |
//! | --- | --- | --- | --- |
//! | `neg` | −a | | −1 |
//! | `exp` | eᵃ | | eᵃ |
//! | `log` | ln a | | 1/a |
//! | `log1p` | ln(1 + a) | `ln_1p` | 1/(1 + a) |
//! | `sqrt` | √a | | 1/(2√a) |
//! | `tanh` | tanh a | | 1 − tanh² a |
//! | `sigmoid` | σ(a) = 1/(1 + e⁻ᵃ) | e^{−\|a\|} never overflows | σ(a)(1 − σ(a)) |
//! | `softplus` | ln(1 + eᵃ) | max(a, 0) + ln(1 + e^{−\|a\|}) | σ(a) |
//! | `logcosh` | ln cosh a | \|a\| + ln(1 + e^{−2\|a\|}) − ln 2 | tanh a |
//! | `sin`, `cos` | | | cos a, −sin a |
//! | `square` | a² | | 2a |
//!
//! The n-ary log-sum-exp lse(a₁…aₙ) = m + ln Σᵢ e^{aᵢ − m} with m = maxᵢ aᵢ
//! (∂/∂aᵢ = e^{aᵢ − lse}) is a node of its own ([`crate::sym::Node::LogSumExp`])
//! and is lowered to `max`, `exp`, `+` and `log` in a [`crate::sym::Program`].

use crate::real::Real;

/// A unary elementary function (a node [`crate::sym::Node::Unary`] and an
/// instruction [`crate::sym::Op::Unary`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fn1 {
    /// −a.
    Neg,
    /// eᵃ.
    Exp,
    /// ln a.
    Log,
    /// ln(1 + a).
    Log1p,
    /// √a.
    Sqrt,
    /// tanh a.
    Tanh,
    /// σ(a) = 1 / (1 + e⁻ᵃ).
    Sigmoid,
    /// ln(1 + eᵃ).
    Softplus,
    /// ln cosh a.
    LogCosh,
    /// sin a.
    Sin,
    /// cos a.
    Cos,
    /// a².
    Square,
}

impl Fn1 {
    /// Every unary function, in declaration order.
    pub const ALL: [Fn1; 12] = [
        Fn1::Neg,
        Fn1::Exp,
        Fn1::Log,
        Fn1::Log1p,
        Fn1::Sqrt,
        Fn1::Tanh,
        Fn1::Sigmoid,
        Fn1::Softplus,
        Fn1::LogCosh,
        Fn1::Sin,
        Fn1::Cos,
        Fn1::Square,
    ];

    /// The function's name in the text syntax (`neg` is written `-a`).
    pub fn name(self) -> &'static str {
        match self {
            Fn1::Neg => "neg",
            Fn1::Exp => "exp",
            Fn1::Log => "log",
            Fn1::Log1p => "log1p",
            Fn1::Sqrt => "sqrt",
            Fn1::Tanh => "tanh",
            Fn1::Sigmoid => "sigmoid",
            Fn1::Softplus => "softplus",
            Fn1::LogCosh => "logcosh",
            Fn1::Sin => "sin",
            Fn1::Cos => "cos",
            Fn1::Square => "square",
        }
    }

    /// The function called `name` in the text syntax (every one but `neg`).
    pub fn from_name(name: &str) -> Option<Fn1> {
        Fn1::ALL.iter().copied().find(|f| *f != Fn1::Neg && f.name() == name)
    }

    /// f(a), with the stable forms of the module table.
    #[inline(always)]
    pub fn eval<T: Real>(self, a: T) -> T {
        match self {
            Fn1::Neg => -a,
            Fn1::Exp => a.exp(),
            Fn1::Log => a.ln(),
            Fn1::Log1p => a.ln_1p(),
            Fn1::Sqrt => a.sqrt(),
            Fn1::Tanh => a.tanh(),
            Fn1::Sigmoid => sigmoid(a),
            Fn1::Softplus => softplus(a),
            Fn1::LogCosh => logcosh(a),
            Fn1::Sin => a.sin(),
            Fn1::Cos => a.cos(),
            Fn1::Square => a * a,
        }
    }
}

pub use crate::activation::{sigmoid, softplus};

/// ln cosh a = |a| + ln(1 + e^{−2|a|}) − ln 2.
#[inline(always)]
pub fn logcosh<T: Real>(a: T) -> T {
    let b = a.abs();
    let two = T::one() + T::one();
    b + (-two * b).exp().ln_1p() - T::LN_2()
}

/// ln Σᵢ e^{aᵢ} = m + ln Σᵢ e^{aᵢ − m} with m = maxᵢ aᵢ (−∞ for no term).
pub fn logsumexp<T: Real>(a: &[T]) -> T {
    let m = a.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    if !m.is_finite() {
        return m;
    }
    m + a.iter().map(|&v| (v - m).exp()).sum::<T>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_forms_match_naive_ones_and_do_not_overflow() {
        for &a in &[-30.0f64, -2.0, -0.1, 0.0, 0.3, 4.0, 30.0] {
            assert!((softplus(a) - (1.0 + a.exp()).ln()).abs() < 1e-12);
            assert!((logcosh(a) - a.cosh().ln()).abs() < 1e-12);
            assert!((sigmoid(a) - 1.0 / (1.0 + (-a).exp())).abs() < 1e-15);
        }
        assert_eq!(softplus(1000.0f64), 1000.0);
        assert!((logcosh(-1000.0f64) - (1000.0 - 2f64.ln())).abs() < 1e-9);
        assert_eq!(sigmoid(-1000.0f64), 0.0);
        assert!((logsumexp(&[1000.0f64, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert!((softplus(100.0f32) - 100.0).abs() < 1e-5);
    }
}
