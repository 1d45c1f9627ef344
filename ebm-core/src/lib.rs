//! # ebm-core
//!
//! The CPU reference of ebm: energy-based models p(x) = exp(−E(x)) / Z
//! (eq 1) with exact derivatives. Every "eq N" and "§N" in ebm refers to
//! `docs/equations.md` in the repository, which states each equation and
//! its source.
//!
//! - The seam ([`energy`]): [`Energy`] (E, the score −∇ₓE and the exact
//!   Hessian diagonal ∂²E/∂xᵢ² on a checked [`Batch`]), and the capability
//!   traits [`Trainable`] (θ and Σᵦ wᵦ∇θ of a [`Target`]), [`Curvature`]
//!   (vᵀ∇ₓ²E v and its θ-gradient), [`Objectives`] (one-pass training
//!   steps) and [`Langevin`] (K sampler steps); [`Model`] is all of them.
//!   Call them through [`EnergyExt`], the slice front door, or import
//!   [`prelude`]. Read the module docs of [`energy`] for the sign
//!   convention (`score` is −∇ₓE) and the reason behind each trait.
//! - Families: [`Gaussian`], [`GaussianMixture`], [`Mlp`], [`Ica`] (product of
//!   experts), [`GaussBernoulliRbm`], and symbolic formulas ([`sym`]).
//! - [`rng`]: Philox4x32-10, shared with the GPU kernels.
//! - `testing` (feature `testing`, on for the workspace's tests):
//!   finite-difference and tolerance checks used by every test.
//!
//! # Example: evaluate, then fit by exact score matching
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_core::{Activation, Mlp};
//!
//! # fn main() -> ebm_core::Result<()> {
//! // An MLP energy on ℝ² and a batch of 4 samples (row-major B×d).
//! let mut model = Mlp::<f64>::init(2, &[16, 16], Activation::Softplus, 0)?;
//! let x = [0.5, -1.0, 1.5, 0.2, -0.3, 0.8, 2.0, -2.0];
//! let (mut e, mut score, mut hess) = (vec![0.0; 4], vec![0.0; 8], vec![0.0; 8]);
//! model.energy_score_hess_diag(&x, &mut e, &mut score, &mut hess)?;
//!
//! // A few steps of gradient descent on the exact score-matching loss
//! // (eq 12): J = mean over the batch of Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE.
//! let w = [0.25; 4];
//! let mut grad = vec![0.0; model.num_params()];
//! let first = model.sm_loss_grad_params(&x, &w, &mut grad)?;
//! for _ in 0..20 {
//!     model.sm_loss_grad_params(&x, &w, &mut grad)?;
//!     let theta: Vec<f64> = model.params().iter().zip(&grad).map(|(t, g)| t - 0.01 * g).collect();
//!     model.set_params(&theta)?;
//! }
//! let last = model.sm_loss_grad_params(&x, &w, &mut grad)?;
//! assert!(last < first, "the loss went down: {first} → {last}");
//! # Ok(())
//! # }
//! ```

pub mod activation;
mod blocked;
pub mod energy;
pub mod error;
mod family;
pub mod gaussian;
pub mod ica;
pub mod langevin;
pub mod linalg;
pub mod mixture;
pub mod mlp;
pub mod rbm;
pub mod real;
pub mod rng;
mod rng_normal;
mod simd;
pub mod sym;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use energy::{
    check_batch, check_finite, check_len, sm_integrand, Batch, Chains, Curvature, Energy, EnergyExt, Langevin, Model,
    NceBatch, NceLoss, Objectives, Outputs, ParamGrad, PerSample, Target, Trainable, Weights,
};
pub use error::{BackendError, EbmError, Result};

/// The traits of the seam in one import: `use ebm_core::prelude::*;`.
pub mod prelude {
    pub use crate::energy::{Curvature, Energy, EnergyExt, Langevin, Model, Objectives, Trainable};
}
pub use real::Real;

pub use gaussian::Gaussian;
pub use ica::{Ica, Source};
pub use mixture::{Covariance, GaussianMixture};
pub use mlp::{Activation, Mlp};
pub use rbm::GaussBernoulliRbm;
