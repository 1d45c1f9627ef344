//! Reproduced setups from the literature, shared by the `literature` example
//! (which writes `docs/literature.md`) and the quick test
//! (`tests/literature_quick.rs`), each at three sizes: `full` (the
//! document), `quick` (a smoke run of the example) and `tiny` (the test).
//!
//! | module | paper | claim |
//! | --- | --- | --- |
//! | [`ssm_scaling`] | Song, Garg, Shi & Ermon 2019 (sliced SM) | exact SM's step cost grows with D, SSM / SSM-VR / DSM stay flat |
//! | [`ncsn_mixture`] | Song & Ermon 2019 (NCSN) | Langevin gets a mixture's weights wrong, annealed Langevin recovers them |
//! | [`ica_fit`] | Grathwohl et al. 2020 (learned Stein discrepancy) | ICA fitted by MLE, SM, NCE, LSD: test NLL against the truth |
//!
//! [`ncsn_trained`] repeats the mixture with a trained noise-conditional
//! model (one DSM-fitted MLP per σ). [`ica_mle`] is the exact maximum-likelihood objective of a square ICA
//! model (its log Z is closed-form), [`table`] renders Markdown tables.

pub mod ica_fit;
pub mod ica_mle;
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
