//! Reproduced setups from the literature, shared by this crate's binary
//! and its test, at two sizes: `full` (`cargo run --release -p
//! ebm-literature`, which writes `docs/literature.md`, every training-based
//! row over [`Size::seeds`] seeds) and `tiny` (the test
//! `tests/literature_quick.rs`, and `--quick`, which writes the committed
//! `docs/literature-quick.md` that the test compares its tables with). A
//! crate of its own, so that no library crate ships the reproduction runs.
//!
//! | module | paper | claim |
//! | --- | --- | --- |
//! | [`ssm_scaling`] | Song, Garg, Shi & Ermon 2019 (sliced SM) | exact SM's step cost grows with D, SSM / SSM-VR / DSM stay flat |
//! | [`ncsn_mixture`] | Song & Ermon 2019 (NCSN) | Langevin gets a mixture's weights wrong, annealed Langevin recovers them |
//! | [`ica_fit`] | Grathwohl et al. 2020 (learned Stein discrepancy) | ICA fitted by MLE, SM, NCE, LSD: test NLL against the truth |
//!
//! [`ncsn_trained`] repeats the mixture with a trained noise-conditional
//! model (one DSM-fitted MLP per σ); [`stats`] summarises runs over seeds;
//! [`table`] renders Markdown tables and finds them in a document. The
//! exact maximum-likelihood objective of a square ICA model (its log Z is
//! closed-form) is an estimator of its own, [`ebm_estimators::ica_mle`].
//!
//! ```
//! use ebm_literature::{ncsn_mixture, Size};
//!
//! // NCSN's two-mode mixture at the test's size: plain Langevin against
//! // annealed Langevin with the true scores (the trained model is left out
//! // here; the full run is `cargo run --release -p ebm-literature`).
//! let cfg = ncsn_mixture::MixtureConfig { trained: None, ..ncsn_mixture::MixtureConfig::of(Size::Tiny) };
//! let result = ncsn_mixture::run(&cfg).expect("the tiny run");
//! println!("{}", result.table().to_markdown());
//! ```

pub mod ica_fit;
pub mod ncsn_mixture;
pub mod ncsn_trained;
pub mod ssm_scaling;
pub mod stats;
pub mod table;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The sizes of the published document (≤ 12 min on 2 cores in all).
    Full,
    /// The test's sizes, also written by `--quick` (seconds in release).
    Tiny,
}

impl Size {
    /// Seeds per training-based row: 3 for the document, 1 for the test.
    pub fn seeds(self) -> usize {
        match self {
            Size::Full => 3,
            Size::Tiny => 1,
        }
    }
}

/// The rayon thread count of every run of this crate. The MLP gradients and
/// the batched families sum per-thread partial sums in a fixed order, so the
/// last bits of a result can depend on the thread count (and on nothing else
/// of the machine: `ebm_core`'s vector kernels compute the same bits at every
/// SIMD width); pinning it makes the accuracy numbers reproducible anywhere.
pub const PINNED_THREADS: usize = 2;

/// Runs `f` in a rayon pool of [`PINNED_THREADS`] threads.
///
/// # Panics
/// If the operating system cannot start the pool's threads.
pub fn pinned<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(PINNED_THREADS)
        .build()
        .expect("starting a rayon pool of PINNED_THREADS threads")
        .install(f)
}

/// A trainer of `estimator` for `steps` steps on batches of `batch` rows
/// (training seed `seed`): Adam at rate `lr`, cosine-annealed to 1 % of it.
pub fn cosine_adam_trainer<T: ebm_core::Real, E>(
    estimator: E,
    lr: f64,
    batch: usize,
    steps: usize,
    seed: u64,
) -> ebm_estimators::train::Trainer<T, E, ebm_estimators::optim::Adam> {
    use ebm_estimators::optim::{Adam, Schedule};
    let opt = Adam::new(lr).with_schedule(Schedule::Cosine { total_steps: steps, final_factor: 0.01 });
    let tc = ebm_estimators::train::TrainConfig { batch_size: batch, steps, seed, ..Default::default() };
    ebm_estimators::train::Trainer::new(estimator, opt, tc)
}
