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

            fn grad_params(
                &self,
                x: $crate::Batch<'_, T>,
                target: $crate::Target<'_, T>,
                w: $crate::Weights<'_, T>,
                mut grad: $crate::ParamGrad<'_, T>,
            ) -> $crate::Result<()> {
                $crate::family::Pass::into_result(self.grad_target(&x, target, &w, &mut grad))
            }
        }

        impl<T: Real> $crate::Curvature<T> for $ty<T> {
            fn eval_v_hess_v(
                &self,
                x: $crate::Batch<'_, T>,
                v: $crate::Batch<'_, T>,
                mut out: $crate::PerSample<'_, T>,
            ) -> $crate::Result<()> {
                $crate::family::Pass::into_result(self.v_hess_v_impl(&x, &v, &mut out))
            }

            fn grad_v_hess_v(
                &self,
                x: $crate::Batch<'_, T>,
                v: $crate::Batch<'_, T>,
                w: $crate::Weights<'_, T>,
                mut grad: $crate::ParamGrad<'_, T>,
            ) -> $crate::Result<()> {
                $crate::family::Pass::into_result(self.grad_v_hess_v_impl(&x, &v, &w, &mut grad))
            }
        }
    };
}
pub(crate) use family_traits;
