//! The trait impls of a model family, written once: [`crate::Energy`],
//! [`crate::Trainable`] and [`crate::Curvature`] forwarded to the family's
//! inherent passes on checked slices.

use crate::error::Result;

/// What a family's inner pass returns: nothing (it cannot fail) or a [`Result`].
pub(crate) trait Pass {
    /// The pass's outcome as a [`Result`].
    fn into_result(self) -> Result<()>;
}

impl Pass for () {
    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

impl Pass for Result<()> {
    fn into_result(self) -> Result<()> {
        self
    }
}

/// `family_traits!(Ty, dim...)` implements `Energy`, `Trainable` and
/// `Curvature` for `Ty<T>`, which has the field `params: Vec<T>` and the
/// inherent methods `family_name(&self) -> &'static str`,
/// `forward(&self, x, Out)`, `grad_target(&self, x, Target, w, grad)`,
/// `v_hess_v_impl(&self, x, v, out)` and `grad_v_hess_v_impl(&self, x, v, w,
/// grad)` on checked slices, each returning `()` or `Result<()>` ([`Pass`]);
/// `dim...` are the tokens after `self.` that give the data dimension.
macro_rules! family_traits {
    ($ty:ident, $($dim:tt)+) => {
        impl<T: Real> $crate::Energy<T> for $ty<T> {
            fn name(&self) -> &'static str {
                self.family_name()
            }

            fn dim(&self) -> usize {
                self.$($dim)+
            }

            fn eval(&self, x: $crate::Batch<'_, T>, out: $crate::Outputs<'_, T>) -> $crate::Result<()> {
                $crate::family::Pass::into_result(self.forward(&x, out.into()))
            }
        }

        impl<T: Real> $crate::Trainable<T> for $ty<T> {
            fn params(&self) -> &[T] {
                &self.params
            }

            fn params_mut(&mut self) -> &mut [T] {
                &mut self.params
            }

            $crate::family::checked_pass! {
                grad_params(x: Batch, target: Target, w: Weights; mut grad: ParamGrad)
                    => grad_target(&x, target, &w, &mut grad)
            }
        }

        impl<T: Real> $crate::Curvature<T> for $ty<T> {
            $crate::family::checked_pass! {
                eval_v_hess_v(x: Batch, v: Batch; mut out: PerSample) => v_hess_v_impl(&x, &v, &mut out)
            }

            $crate::family::checked_pass! {
                grad_v_hess_v(x: Batch, v: Batch, w: Weights; mut grad: ParamGrad)
                    => grad_v_hess_v_impl(&x, &v, &w, &mut grad)
            }
        }
    };
}
pub(crate) use family_traits;

/// `checked_pass! { method(arg: Type, …; mut out: Type) => inner(expr, …) }`
/// writes the trait method `method` on the checked `crate::Type<'_, T>`
/// arguments, the output `out` last, as the inner pass `inner` on slices
/// ([`Pass`]).
macro_rules! checked_pass {
    ($method:ident($($arg:ident: $ty:ident),*; mut $out:ident: $out_ty:ident) => $inner:ident($($call:expr),*)) => {
        fn $method(&self, $($arg: $crate::$ty<'_, T>,)* mut $out: $crate::$out_ty<'_, T>) -> $crate::Result<()> {
            $crate::family::Pass::into_result(self.$inner($($call),*))
        }
    };
}
pub(crate) use checked_pass;
