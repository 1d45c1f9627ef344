//! # ebm-cli
//!
//! The `ebm` command line: train, sample, evaluate and benchmark
//! energy-based models p(x) = exp(−E(x))/Z without writing Rust.
//!
//! - `ebm train`: [`train`] (settings in [`config`], estimators in
//!   [`estimators`], models in [`model`], data in [`data`] / [`toy`] /
//!   [`npy`] / [`csv`], checkpoints in [`checkpoint`], the
//!   resumable training state in [`state`], pictures in [`plot`]);
//! - `ebm sample`: [`sample`];
//! - `ebm eval`: [`eval`] and [`metrics`];
//! - `ebm bench`: `bench`.
//!
//! Errors are typed ([`error`]); exit codes: 0 success, 1 runtime error,
//! 2 diverged training run, 64 usage error, 130 interrupted (Ctrl-C).
//!
//! # Example: the command line's pieces from Rust
//!
//! A model string as `--model` takes it, a built-in toy data set, and the
//! model's energy, score and Hessian diagonal on it:
//!
//! ```
//! use ebm_cli::model::{Model, ModelSpec};
//! use ebm_core::EnergyExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = ModelSpec::parse("mlp:32,32:softplus")?;
//! let model = Model::init(&spec, 2, 0)?;
//! let x = ebm_cli::toy::generate("moons", 64, 1)?; // 64 samples in d = 2
//! let (mut e, mut s, mut h) = (vec![0f32; 64], vec![0f32; 128], vec![0f32; 128]);
//! model.energy().energy_score_hess_diag(&x, &mut e, &mut s, &mut h)?;
//! assert!(e.iter().chain(&s).chain(&h).all(|v| v.is_finite()));
//! # Ok(())
//! # }
//! ```
//!
//! Training runs through [`train`] (`ebm train --data moons --model
//! mlp:64,64 --estimator dsm --steps 2000 --out run`).

pub mod atomic;
pub mod backend;
pub mod bench;
pub mod bounds;
pub mod checkpoint;
pub mod config;
pub mod csv;
pub mod data;
pub mod dist;
pub mod error;
pub mod estimators;
pub mod eval;
pub mod interrupt;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod plot;
pub mod resume;
pub mod run_dir;
pub mod runtime_dir;
pub mod sample;
pub mod standardize;
pub mod state;
pub mod toy;
pub mod train;

pub use error::{CliError, Result};
