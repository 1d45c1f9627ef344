//! # ebm-core
//!
//! The CPU reference of ebm: energy-based models p(x) = exp(−E(x)) / Z
//! (seed eq 1) with exact derivatives.
//!
//! - [`Energy`]: the batched interface (energy; energy + score; energy +
//!   score + exact Hessian diagonal; the Hessian quadratic form vᵀ∇ₓ²E v;
//!   four parameter gradients: of E, of vᵀ∇ₓE, of the score-matching
//!   integrand of seed eq 12, and of vᵀ∇ₓ²E v). Read its
//!   module docs for the sign convention: `score` is −∇ₓE.
//! - Families: [`Gaussian`], [`GaussianMixture`], [`Mlp`], [`Ica`] (product of
//!   experts), [`GaussBernoulliRbm`].
//! - [`rng`]: Philox4x32-10, shared with the GPU kernels.
//! - [`testing`]: finite-difference and tolerance checks used by every test.

pub mod energy;
pub mod error;
pub mod gaussian;
pub mod ica;
pub mod langevin;
pub mod mixture;
pub mod mlp;
pub mod rbm;
pub mod real;
pub mod rng;
mod rng_normal;
mod simd;
pub mod sym;
pub mod testing;

pub use energy::{check_batch, check_finite, check_len, sm_integrand, Energy};
pub use error::{EbmError, Result};
pub use real::Real;

pub use gaussian::Gaussian;
pub use ica::{Ica, Source};
pub use mixture::{Covariance, GaussianMixture};
pub use mlp::{Activation, Mlp};
pub use rbm::GaussBernoulliRbm;
