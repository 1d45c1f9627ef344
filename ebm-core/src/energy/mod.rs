//! The seam between estimators and devices: a narrow core trait over checked
//! inputs, and capability traits for the rest.
//!
//! # Conventions
//!
//! A model defines an unnormalised density p(x) = exp(−E(x)) / Z
//! (eq 1; every "eq N" and "§N" in ebm refers to `docs/equations.md` in the
//! repository, which states each equation). A *batch* is a
//! row-major buffer of B samples by d coordinates: sample `b` is
//! `x[b*d .. (b+1)*d]`.
//!
//! **Sign convention.** The *score* is ∇ₓ log p(x) = −∇ₓE(x) (§3). Every API
//! that returns a first derivative in x returns the **score** and says so
//! in its name. Second derivatives are of the **energy**: `hess_diag` is
//! ∂²E/∂xᵢ², so the Laplacian of log p is −Σᵢ `hess_diag`ᵢ.
//!
//! **Parameter gradients** are of energy-valued quantities, summed over the
//! batch with per-sample weights wᵦ, and they *overwrite* the gradient
//! buffer (length [`Trainable::num_params`]). **Parameters** live in one
//! flat buffer per model whose layout each family documents, so the CPU, the
//! GPU kernels and a checkpoint read the same bytes.
//!
//! # The traits, and why each exists
//!
//! | trait | methods | why it is separate |
//! | --- | --- | --- |
//! | [`Energy`] | `name`, `dim`, [`Energy::eval`] | what every energy is: E, the score and the Hessian diagonal on a checked batch. Noise densities, fixed targets and tempered wrappers implement only this |
//! | [`Trainable`] | `params`, `params_mut`, [`Trainable::grad_params`] | a model with parameters: the flat θ buffer and Σᵦ wᵦ∇θ of a chosen [`Target`] (E, vᵀ∇ₓE, or the score-matching integrand of eq 12). A parameter-free energy does not implement it, so it stubs nothing |
//! | [`Curvature`] | [`Curvature::eval_v_hess_v`], [`Curvature::grad_v_hess_v`] | the exact Hessian quadratic form vᵀ∇ₓ²E v and its θ-gradient; only sliced score matching needs it, and a user model without it still trains with every other estimator |
//! | [`Objectives`] | [`Objectives::sm_loss_grad`], [`Objectives::score_regression_grad`], [`Objectives::energy_weighted_grad`], [`Objectives::weighted_energy_grad`], [`Objectives::nce_loss_grad`] | a training step's loss and θ-gradient in one pass where the math allows it (exact SM, DSM, CD, NCE). Each has a two-pass default body on [`Trainable`], so `impl Objectives<T> for M {}` is a complete implementation; the MLP and the GPU override them (the GPU to keep a whole step on the device) |
//! | [`Langevin`] | [`Langevin::ula_at`], [`Langevin::mala_at`] (and [`Langevin::ula`], [`Langevin::mala`], the same at global chain 0) | K sampler steps on chains; the `_at` defaults are the CPU reference ([`crate::langevin`]), and a backend overrides those two to keep the chains on its device |
//! | [`Model`] | none | the union of all of the above, implemented for every type that has them all: `dyn Model<T>` is what a command line or a checkpoint loader holds |
//! | [`EnergyExt`] | `energy`, `energy_score`, `grad_params_sm`, `v_hess_v`, `langevin_ula`, … | the front door on plain slices: it makes the checked types ([`Batch`], [`Outputs`], [`Weights`], [`ParamGrad`]) once and calls the traits above. Implemented for every energy; never implemented by hand, so no override can be lost |
//!
//! Estimators name the capabilities they need in their bounds (sliced score
//! matching needs `Curvature`, contrastive divergence `Objectives +
//! Langevin`), so a model that lacks one is a compile-time error rather than
//! a run-time `Unsupported`.
//!
//! A wrapper (a tempered energy, a device copy) implements the traits it
//! offers. Since the provided bodies live in [`Objectives`] and
//! [`Langevin`] and nowhere else, a wrapper that forwards them says so in
//! one `impl` block each, and one that does not gets the documented
//! two-pass default, never a silently different override.

//!
//! # A user-defined energy
//!
//! A parameter-free energy implements [`Energy`] alone and gets the whole
//! front door; it cannot be trained, and it has no Hessian quadratic form
//! unless it implements [`Curvature`]:
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_core::{Batch, Outputs};
//!
//! /// E(x) = ½‖x‖² (a standard normal), in any dimension.
//! struct StdNormal(usize);
//!
//! impl Energy<f64> for StdNormal {
//!     fn name(&self) -> &'static str { "std_normal" }
//!     fn dim(&self) -> usize { self.0 }
//!     fn eval(&self, x: Batch<'_, f64>, out: Outputs<'_, f64>) -> ebm_core::Result<()> {
//!         let (e, score, hess) = out.into_parts();
//!         for (b, eb) in e.iter_mut().enumerate() {
//!             *eb = 0.5 * x.row(b).iter().map(|v| v * v).sum::<f64>();
//!         }
//!         if let Some(s) = score {
//!             s.iter_mut().zip(x.iter()).for_each(|(s, v)| *s = -v);
//!         }
//!         if let Some(h) = hess {
//!             h.fill(1.0);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let m = StdNormal(2);
//! let (mut e, mut s) = ([0.0; 2], [0.0; 4]);
//! m.energy_score(&[1.0, 2.0, 0.0, -1.0], &mut e, &mut s)?;
//! assert_eq!(e, [2.5, 0.5]);
//! // Inputs are checked once, at the front door, with the row named:
//! let err = m.energy(&[1.0, f64::NAN], &mut [0.0]).unwrap_err();
//! assert!(matches!(err, ebm_core::EbmError::NonFinite { row: 0, col: 1, .. }));
//! # Ok::<(), ebm_core::EbmError>(())
//! ```
//!
//! Asking it for `v_hess_v`, which needs [`Curvature`], does not compile:
//!
//! ```compile_fail
//! # use ebm_core::prelude::*;
//! # use ebm_core::{Batch, Outputs};
//! # struct StdNormal(usize);
//! # impl Energy<f64> for StdNormal {
//! #     fn name(&self) -> &'static str { "std_normal" }
//! #     fn dim(&self) -> usize { self.0 }
//! #     fn eval(&self, _: Batch<'_, f64>, out: Outputs<'_, f64>) -> ebm_core::Result<()> {
//! #         out.into_parts().0.fill(0.0);
//! #         Ok(())
//! #     }
//! # }
//! let mut q = [0.0];
//! StdNormal(1).v_hess_v(&[1.0], &[1.0], &mut q)?;
//! # Ok::<(), ebm_core::EbmError>(())
//! ```

mod checked;
mod front;
mod nce;
mod objectives;
mod traits;

pub use checked::{check_batch, check_finite, check_len, Batch, Chains, Outputs, ParamGrad, PerSample, Weights};
pub use front::EnergyExt;
pub use nce::{nce_reference, sigmoid_f64, softplus_f64, NceBatch, NceLoss};
pub use objectives::{sm_integrand, Objectives};
pub use traits::{Curvature, Energy, Langevin, Model, Target, Trainable};
