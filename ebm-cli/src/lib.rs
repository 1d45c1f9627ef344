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
//! Errors are typed ([`error`]); exit codes: 0 success, 1 error, 2 diverged
//! training run, 64 usage error.

pub mod atomic;
pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod csv;
pub mod data;
pub mod error;
pub mod estimators;
pub mod eval;
pub mod metrics;
pub mod model;
pub mod npy;
pub mod plot;
pub mod sample;
pub mod state;
pub mod toy;
pub mod train;

pub use error::{CliError, Result};
