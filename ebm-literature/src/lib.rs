//! Reproduced setups from the literature, shared by this crate's binary
//! (`cargo run --release -p ebm-literature`, which writes
//! `docs/literature.md`) and the quick test (`tests/literature_quick.rs`),
//! each at three sizes: `full` (the document), `quick` (a smoke run) and
//! `tiny` (the test). A crate of its own, so that no library crate ships
//! the reproduction runs.
//!
//! | module | paper | claim |
//! | --- | --- | --- |
//! | [`ssm_scaling`] | Song, Garg, Shi & Ermon 2019 (sliced SM) | exact SM's step cost grows with D, SSM / SSM-VR / DSM stay flat |
//! | [`ncsn_mixture`] | Song & Ermon 2019 (NCSN) | Langevin gets a mixture's weights wrong, annealed Langevin recovers them |
//! | [`ica_fit`] | Grathwohl et al. 2020 (learned Stein discrepancy) | ICA fitted by MLE, SM, NCE, LSD: test NLL against the truth |
//!
//! [`ncsn_trained`] repeats the mixture with a trained noise-conditional
//! model (one DSM-fitted MLP per σ); [`table`] renders Markdown tables. The
//! exact maximum-likelihood objective of a square ICA model (its log Z is
//! closed-form) is an estimator of its own, [`ebm_estimators::ica_mle`].
//!
//! ```
//! use ebm_literature::{ncsn_mixture, Size};
//!
//! // NCSN's two-mode mixture at the test's size: plain Langevin against
//! // annealed Langevin (the full run is `cargo run -p ebm-literature`).
//! let cfg = ncsn_mixture::MixtureConfig::of(Size::Tiny);
//! let result = ncsn_mixture::run(&cfg).expect("the tiny run");
//! println!("{}", result.table().to_markdown());
//! ```

pub mod ica_fit;
pub mod ncsn_mixture;
pub mod ncsn_trained;
pub mod ssm_scaling;
pub mod table;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The sizes of the published document (≤ 10 min on 2 cores in all).
    Full,
    /// A smoke run of the example (seconds).
    Quick,
    /// The test's sizes (a fraction of a second each in release).
    Tiny,
}
