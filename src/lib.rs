//! # ebm
//!
//! Energy-based models p(x) = exp(−E(x)) / Z with exact derivatives, every
//! estimator of the literature, and fused GPU kernels. This crate is the one
//! dependency users add: it re-exports the workspace's public API.

pub use ebm_core as core;
pub use ebm_core::*;
pub use ebm_estimators as estimators;
pub use ebm_kernels as kernels;
