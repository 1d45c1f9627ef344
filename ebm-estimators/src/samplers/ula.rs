//! Unadjusted Langevin (seed eq 14): x ← x − (ε²/2)∇ₓE(x) + ε z.
//!
//! Delegates to the model's [`Langevin::ula`] (through
//! [`EnergyExt::langevin_ula`]) so a backend's fused kernel runs;
//! the noise of step k, chain b, coordinate i is Philox
//! `normal(seed, first_step + k, b·d + i)`, b the chain's global index
//! ([`ebm_core::langevin`]; [`Sampler::sample_at`]).
//! The chain is biased: for a Gaussian of precision p its stationary variance
//! is 1/(p(1 − ε²p/4)), so the bias is O(ε²).

use super::{check_eps, jump_stats, NoiseAt, Sampler, SamplerBase, SamplerStats};
use crate::error::Result;
use ebm_core::{EnergyExt, Langevin, Real};

/// `steps` ULA steps of size `eps`.
///
/// Needs: [`Langevin`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ula {
    /// Step size ε (the noise scale; the drift is ε²/2 times the score).
    pub eps: f64,
    /// Steps per call.
    pub steps: usize,
}

impl Ula {
    /// `steps` ULA steps of size `eps`.
    pub fn new(eps: f64, steps: usize) -> Self {
        Self { eps, steps }
    }
}

impl SamplerBase for Ula {
    fn name(&self) -> &'static str {
        "ula"
    }

    fn streams(&self) -> u64 {
        self.steps as u64
    }
}

impl<T: Real, M: Langevin<T> + ?Sized> Sampler<T, M> for Ula {
    fn sample(&self, model: &M, x: &mut [T], seed: u64, first_step: u64) -> Result<SamplerStats> {
        self.sample_at(model, x, NoiseAt::new(seed, first_step))
    }

    fn sample_at(&self, model: &M, x: &mut [T], at: NoiseAt) -> Result<SamplerStats> {
        check_eps("ULA", self.eps)?;
        let before = x.to_vec();
        model.langevin_ula_at(x, T::from_f64(self.eps), self.steps, at)?;
        let mean_sq_jump = jump_stats(x, &before, model.dim())?;
        Ok(SamplerStats { steps: self.steps, accept_rate: None, mean_sq_jump })
    }
}
