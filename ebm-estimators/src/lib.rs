//! # ebm-estimators
//!
//! Every training objective of the seed note (restated in
//! `docs/equations.md`, whose numbering "eq N" and "§N" follow) for
//! energy-based models p_θ(x) = exp(−E_θ(x))/Z_θ (eq 1), with samplers,
//! optimizers and a training loop, written once against the capability
//! traits of [`ebm_core::energy`], so the same code runs on the CPU reference
//! and on any backend implementing them for `f32` (the GPU kernels).
//!
//! Each estimator names the capabilities it uses in its bounds ("needs"
//! below), so a model that lacks one is a compile-time error; every
//! built-in family and `dyn Model<T>` has them all.
//!
//! | objective | equations | type | parameter gradient through | needs |
//! | --- | --- | --- | --- | --- |
//! | ML / CD-k | §2–2.1, eq 2–3 | [`Cd`] | `grad_params_energy_with` | `Objectives + Langevin` |
//! | PCD + replay buffer | eq 2 | [`Pcd`] | `grad_params_energy_with` | `Objectives + Langevin` |
//! | improved CD (KL term) | eq 4–5 | [`Cd::with_kl`], [`icd`] | `grad_params_v_dot_grad_x` | `Objectives + Langevin` |
//! | exact score matching | §3.1, eq 12 | [`ExactSm`] | `sm_loss_grad_params` | `Objectives` |
//! | denoising SM (1 or L σ) | §3.2, eq 13 | [`Dsm`] | `grad_params_score_regression` | `Objectives` |
//! | sliced SM, SSM-VR | §3.3 | [`Ssm`] | `v_hess_v`, `grad_params_v_hess_v`, `grad_params_v_dot_grad_x` | `Curvature` |
//! | NCE with learned log Z | §4.1, eq 22–24 | [`Nce`] | `grad_params_energy_with` | `Objectives` |
//! | learned Stein discrepancy | §4.2, eq 25 | [`Lsd`] | `grad_params_v_dot_grad_x` | `Trainable` |
//!
//! Each implements [`Estimator`]: `prepare` draws the step's frozen state
//! (negatives, noise, projections, critic update) from Philox keyed by
//! (seed, step); `loss` / `loss_grad` evaluate the objective and its exact
//! gradient with that state frozen, so gradients are checkable against
//! finite differences of the loss. What takes no model (the name, the
//! estimator's own parameters, NCE's log Z) is in the supertrait
//! [`EstimatorBase`], so `nce.log_z()` needs no model type (see
//! [`estimator`]); samplers likewise split [`SamplerBase`] (name, streams)
//! from [`Sampler`].
//!
//! Samplers ([`samplers`]): ULA, MALA and annealed Langevin (through the
//! model's own [`ebm_core::Langevin`] methods, so backend overrides run),
//! HMC (any [`ebm_core::Energy`]). Optimizers ([`optim`]): SGD with
//! momentum, Adam/AdamW, schedules, clipping. Training ([`train`]):
//! [`Trainer`] with progress callbacks, held-out evaluation and divergence
//! detection that never writes a non-finite parameter. Resuming ([`state`]): optimizers, estimators and
//! the trainer save and restore their step-to-step state ([`Resumable`]), so
//! a stopped run continues bit for bit.
//!
//! # Example: fit an MLP by denoising score matching, then evaluate it
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_core::{Activation, Mlp};
//! use ebm_estimators::{Adam, Dataset, Dsm, TrainConfig, Trainer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 512 samples of N((1, −1), I) in d = 2.
//! let data = Dataset::<f64>::gaussian(&[1.0, -1.0], &[1.0, 0.0, 0.0, 1.0], 512, 7)?;
//! let mut model = Mlp::<f64>::init(2, &[16, 16], Activation::Softplus, 0)?;
//! let config = TrainConfig { batch_size: 128, steps: 200, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(Dsm::new(0.3), Adam::new(0.01), config);
//! let report = trainer.fit(&mut model, &data, None, |_| ebm_estimators::Control::Continue)?;
//! let mean = |l: &[f64]| l.iter().sum::<f64>() / l.len() as f64;
//! let (first, last) = (mean(&report.losses[..20]), mean(&report.losses[180..]));
//! assert!(last < first, "DSM loss {first} → {last}");
//!
//! // The fitted score −∇ₓE points from the data's edge back towards its mean.
//! let x = [3.0, -1.0];
//! let (mut e, mut score, mut hess) = ([0.0], [0.0; 2], [0.0; 2]);
//! model.energy_score_hess_diag(&x, &mut e, &mut score, &mut hess)?;
//! assert!(score[0] < 0.0, "score {score:?}");
//! # Ok(())
//! # }
//! ```

/// Writes builder methods that each set one field: `$name($field: $ty)`
/// becomes `pub fn $name(mut self, $field: $ty) -> Self`, which sets
/// `self.$field` and returns `self`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($field:ident: $ty:ty);)+) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $field: $ty) -> Self {
                self.$field = $field;
                self
            }
        )+
    };
}

pub mod cd;
pub mod critic;
pub mod data;
pub mod dsm;
pub mod error;
pub mod esm;
pub mod estimator;
pub mod ica_mle;
pub mod icd;
pub mod linalg;
pub mod lsd;
pub mod metrics;
pub mod ml;
pub mod nce;
pub mod noise;
pub mod optim;
pub mod parallel;
pub mod pcd;
pub mod samplers;
pub mod seeds;
pub mod ssm;
pub mod state;
pub mod train;

pub use cd::Cd;
pub use critic::{Critic, CriticActivation, TraceMode};
pub use data::{Batcher, Dataset};
pub use dsm::{Dsm, Weighting};
pub use error::{Divergence, EstError, Result};
pub use esm::ExactSm;
pub use estimator::{Estimator, EstimatorBase, Shard, StepCtx, StepInfo};
pub use icd::KlTerm;
pub use lsd::Lsd;
pub use ml::MlOptions;
pub use nce::Nce;
pub use noise::GaussianNoise;
pub use optim::{Adam, Optimizer, Schedule, Sgd};
pub use pcd::{InitNoise, Pcd};
pub use samplers::{AnnealedLangevin, Hmc, Mala, Sampler, SamplerBase, SamplerStats, Ula};
pub use ssm::{HvpMode, Projection, Ssm};
pub use state::{Resumable, StateError};
pub use train::{Control, Progress, TrainConfig, TrainReport, Trainer};
