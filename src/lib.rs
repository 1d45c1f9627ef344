//! # ebm
//!
//! Energy-based models p(x) = exp(−E(x)) / Z with exact derivatives, every
//! estimator of the literature, and fused GPU kernels. This crate is the one
//! dependency users add: it re-exports the workspace's public API.
//! Equation numbers ("eq N", "§N") refer to `docs/equations.md`.
//!
//! # Example: train with contrastive divergence, evaluate, sample
//!
//! ```
//! use ebm::prelude::*;
//! use ebm::estimators::{Adam, Cd, Control, Dataset, TrainConfig, Trainer, Ula};
//! use ebm::{Activation, Mlp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = Dataset::<f64>::gaussian(&[0.0, 2.0], &[0.5, 0.0, 0.0, 0.5], 256, 1)?;
//! let mut model = Mlp::<f64>::init(2, &[16, 16], Activation::Softplus, 0)?;
//! let cd = Cd::new(Ula::new(0.1, 10)); // CD-10 with ULA steps of ε = 0.1 (eq 2–3, 14)
//! let config = TrainConfig { batch_size: 64, steps: 50, ..TrainConfig::default() };
//! Trainer::new(cd, Adam::new(0.01), config).fit(&mut model, &data, None, |_| Control::Continue)?;
//!
//! let (mut e, mut score, mut hess) = ([0.0; 1], [0.0; 2], [0.0; 2]);
//! model.energy_score_hess_diag(&[0.0, 2.0], &mut e, &mut score, &mut hess)?;
//! let mut chains = vec![0.0; 2 * 8];
//! model.langevin_ula(&mut chains, 0.1, 20, 42, 0)?; // 8 chains, 20 steps
//! assert!(chains.iter().all(|v| v.is_finite()));
//! # Ok(())
//! # }
//! ```

pub use ebm_core as core;
pub use ebm_core::*;
/// Data-parallel training: the communicator trait, one process, threads, MPI (feature `mpi`).
pub use ebm_dist as dist;
pub use ebm_estimators as estimators;
pub use ebm_kernels as kernels;
