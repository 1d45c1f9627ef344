//! Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) over a noise
//! schedule σ₁ > σ₂ > … > σ_L: at level i, `steps_per_level` ULA steps
//! (seed eq 14) of size εᵢ = ε·σᵢ/σ_L, i.e. step αᵢ = εᵢ² ∝ σᵢ² as in NCSN.
//!
//! The energy here is not noise-conditional, so the schedule anneals only
//! the step size, the last level running at ε. Large steps alone do not move
//! mass between well-separated modes: on NCSN's two-mode toy this form puts
//! 0.504 ± 0.023 of the mass on the 0.8 mode (mean ± sd over three seeds), no
//! better than plain Langevin's 0.503 ± 0.022 (`docs/literature.md` §2, made
//! by `ebm-literature`); the level scores of
//! [`AnnealedLangevin::sample_conditional`] are what recover 0.8. Each level
//! delegates to the model's [`Langevin::ula`] (through
//! [`EnergyExt::langevin_ula`]); level i uses streams
//! `first_step + i·steps_per_level ..`.
//!
//! [`AnnealedLangevin::sample_conditional`] is NCSN's own form: level i runs
//! on a separate energy whose score stands for the data at noise level σᵢ: a
//! noise-conditional model (which DSM at σᵢ fits to p_data ∗ N(0, σᵢ²I)), or
//! a known law. On the toy mixture both the convolved law p_data ∗ N(0, σᵢ²I)
//! and NCSN's toy code's mixture of N(μₖ, σᵢ²I) recover the weights (same
//! table).

use super::{builtin_sampler, check_eps, jump_stats, tracked, NoiseAt, SamplerStats};
use crate::error::{config, Result};
use ebm_core::{EnergyExt, Langevin, Real};

/// Annealed Langevin over a σ schedule.
///
/// Needs: [`Langevin`] (of every level model, for
/// [`AnnealedLangevin::sample_conditional`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AnnealedLangevin {
    /// The noise levels σ₁ > … > σ_L > 0.
    pub sigmas: Vec<f64>,
    /// The step size at the last level.
    pub eps: f64,
    /// ULA steps per level.
    pub steps_per_level: usize,
}

impl AnnealedLangevin {
    /// Over `sigmas` (decreasing) with final step `eps`.
    pub fn new(sigmas: Vec<f64>, eps: f64, steps_per_level: usize) -> Self {
        Self { sigmas, eps, steps_per_level }
    }

    /// L levels geometrically spaced from `sigma_max` down to `sigma_min`.
    pub fn geometric(sigma_max: f64, sigma_min: f64, levels: usize, eps: f64, steps_per_level: usize) -> Self {
        Self::new(crate::dsm::geometric_sigmas(sigma_max, sigma_min, levels), eps, steps_per_level)
    }

    /// NCSN's Algorithm 1 with a noise-conditional score: level i runs
    /// `steps_per_level` ULA steps of size εᵢ = ε·σᵢ/σ_L on `levels[i]`,
    /// which should model the data at noise level σᵢ (p_data ∗ N(0, σᵢ²I)
    /// for a level trained by DSM at σᵢ). Streams as in [`Sampler::sample`](crate::Sampler::sample).
    ///
    /// Errors: invalid configuration, `levels.len()` ≠ the number of σ, a
    /// level of another dimension, model errors and non-finite chains.
    pub fn sample_conditional<T: Real, M: Langevin<T> + ?Sized>(
        &self,
        levels: &[&M],
        x: &mut [T],
        seed: u64,
        first_step: u64,
    ) -> Result<SamplerStats> {
        self.validate()?;
        if levels.len() != self.sigmas.len() {
            return config(format!("annealed Langevin: {} σ levels but {} models", self.sigmas.len(), levels.len()));
        }
        let d = levels[0].dim();
        if levels.iter().any(|m| m.dim() != d) {
            return config("annealed Langevin: the level models differ in dimension");
        }
        let before = x.to_vec();
        let last = *self.sigmas.last().expect("validated non-empty");
        for (i, (&s, model)) in self.sigmas.iter().zip(levels).enumerate() {
            let eps = self.eps * s / last;
            let first = first_step + (i * self.steps_per_level) as u64;
            model.langevin_ula(x, T::from_f64(eps), self.steps_per_level, seed, first)?;
        }
        let mean_sq_jump = jump_stats(x, &before, d)?;
        Ok(SamplerStats { steps: self.sigmas.len() * self.steps_per_level, accept_rate: None, mean_sq_jump })
    }

    fn validate(&self) -> Result<()> {
        check_eps("annealed Langevin", self.eps)?;
        if self.sigmas.is_empty()
            || self.sigmas.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.sigmas.windows(2).any(|w| w[1] > w[0])
        {
            return config(format!(
                "annealed Langevin: σ schedule must be non-empty, positive and non-increasing, got {:?}",
                self.sigmas
            ));
        }
        Ok(())
    }
}

builtin_sampler! {
    AnnealedLangevin, "annealed-langevin",
    streams: |a| (a.sigmas.len() * a.steps_per_level) as u64,
    sample_at on Langevin<T>: |a, model, x, at| {
        a.validate()?;
        let last = *a.sigmas.last().expect("validated non-empty");
        tracked(x, model.dim(), a.sigmas.len() * a.steps_per_level, |x| {
            for (i, &s) in a.sigmas.iter().enumerate() {
                let eps = a.eps * s / last;
                let level = NoiseAt { first_step: at.first_step + (i * a.steps_per_level) as u64, ..at };
                model.langevin_ula_at(x, T::from_f64(eps), a.steps_per_level, level)?;
            }
            Ok(None)
        })
    },
}
