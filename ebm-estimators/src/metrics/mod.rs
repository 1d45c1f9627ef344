//! Evaluation metrics for energy-based models p(x) = exp(−E(x))/Z (seed
//! eq 1): how well a model fits, measured in ways that do not depend on the
//! objective it was trained with.
//!
//! | metric | module | needs | seed |
//! | --- | --- | --- | --- |
//! | exact log Z and log-likelihood, d ≤ 2 | [`mod@quadrature`] | energies on a grid | eq 1 |
//! | log Z for any d (annealed importance sampling) | [`mod@ais`] | energies, scores | eq 1–2 |
//! | kernel Stein discrepancy (samples vs model) | [`mod@ksd`] | model scores at the samples | eq 25 |
//! | reference NLL: a Gaussian mixture fitted by EM | [`mod@gmm_em`] | data only | — |
//! | maximum mean discrepancy (samples vs data) | [`mod@mmd`] | samples only | — |
//! | Fisher divergence to a known target | [`mod@fisher`] | both scores | eq 8 |
//!
//! Every Monte Carlo metric returns its value with a standard error, so a
//! test or a report can say whether two numbers differ. Metrics compute in
//! f64 whatever the model's precision `T`; all randomness comes from Philox
//! ([`ebm_core::rng`]) keyed by a caller's seed. Errors a caller can cause
//! (shapes, non-finite samples, out-of-domain options) are
//! [`crate::EstError`]s.

pub mod ais;
pub mod fisher;
pub mod gmm_em;
pub mod kernel;
pub mod ksd;
pub mod mmd;
pub mod quadrature;

pub use ais::{ais_log_z, sample_gaussian, AisEstimate, AisOptions, BetaSchedule, Transition};
pub use fisher::{fisher_divergence, fisher_divergence_weighted, fisher_divergence_with};
pub use gmm_em::{fit_gaussian_mixture, EmFit, EmOptions};
pub use kernel::{median_bandwidth, Kernel, Statistic};
pub use ksd::{ksd, ksd_from_scores, stein_kernel, KsdEstimate};
pub use mmd::{mmd, MmdEstimate};
pub use quadrature::{log_likelihood, log_z_quadrature, Grid, LogZQuadrature, QuadratureOptions};

use crate::error::{config, Result};
use ebm_core::Real;

/// A Monte Carlo estimate: the mean of `n` values and its standard error
/// sd/√n (sd with the n − 1 denominator; 0 when n = 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The sample mean.
    pub value: f64,
    /// Its standard error.
    pub std_err: f64,
    /// How many values were averaged.
    pub n: usize,
}

impl Estimate {
    /// Mean and standard error of `values` (two-pass, so large means do not
    /// cancel the variance).
    ///
    /// # Panics
    /// If `values` is empty (callers check their batches first).
    pub fn from_values(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "Estimate::from_values of no value");
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var =
            if n > 1 { values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Self { value: mean, std_err: (var / n as f64).sqrt(), n }
    }

    /// |value − reference| in standard errors (∞ when the error is 0 and the
    /// values differ).
    pub fn z_score(&self, reference: f64) -> f64 {
        let diff = (self.value - reference).abs();
        if diff == 0.0 {
            0.0
        } else {
            diff / self.std_err
        }
    }
}

/// Checks a sample batch against dimension `dim` and returns it in f64 with
/// its row count.
pub(crate) fn rows_f64<T: Real>(what: &'static str, x: &[T], dim: usize) -> Result<(Vec<f64>, usize)> {
    let n = ebm_core::check_batch(what, x, dim)?;
    Ok((x.iter().map(|&v| v.to_f64()).collect(), n))
}

/// Fails unless `v` is finite and positive.
pub(crate) fn positive(what: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        return config(format!("{what} must be positive and finite, got {v}"));
    }
    Ok(())
}

/// log Σ exp(aᵢ), stable; −∞ for an empty slice or all −∞.
pub(crate) fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}
