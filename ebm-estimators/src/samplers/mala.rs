//! Metropolis-adjusted Langevin: the ULA move of seed eq 14 as a proposal
//! x′ = x + (ε²/2) s(x) + ε z, accepted with probability
//! min(1, exp(E(x) − E(x′) + log q(x|x′) − log q(x′|x))),
//! log q(x′|x) = −‖x′ − x − (ε²/2)s(x)‖²/(2ε²). Exact for any ε.
//!
//! Delegates to the model's [`Langevin::mala`] (through
//! [`EnergyExt::langevin_mala`]; noise addressing of
//! [`ebm_core::langevin`]) and reports the acceptance rate.

use super::{check_eps, jump_stats, NoiseAt, Sampler, SamplerBase, SamplerStats};
use crate::error::Result;
use ebm_core::{EnergyExt, Langevin, Real};

/// `steps` MALA steps of size `eps`.
///
/// Needs: [`Langevin`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mala {
    /// Step size ε.
    pub eps: f64,
    /// Steps per call.
    pub steps: usize,
}

impl Mala {
    /// `steps` MALA steps of size `eps`.
    pub fn new(eps: f64, steps: usize) -> Self {
        Self { eps, steps }
    }
}

impl SamplerBase for Mala {
    fn name(&self) -> &'static str {
        "mala"
    }

    fn streams(&self) -> u64 {
        self.steps as u64
    }
}

impl<T: Real, M: Langevin<T> + ?Sized> Sampler<T, M> for Mala {
    fn sample(&self, model: &M, x: &mut [T], seed: u64, first_step: u64) -> Result<SamplerStats> {
        self.sample_at(model, x, NoiseAt::new(seed, first_step))
    }

    fn sample_at(&self, model: &M, x: &mut [T], at: NoiseAt) -> Result<SamplerStats> {
        check_eps("MALA", self.eps)?;
        let before = x.to_vec();
        let mut accepts = vec![0u32; x.len() / model.dim().max(1)];
        let rate = model.langevin_mala_at(x, T::from_f64(self.eps), self.steps, at, &mut accepts)?;
        let mean_sq_jump = jump_stats(x, &before, model.dim())?;
        Ok(SamplerStats { steps: self.steps, accept_rate: Some(rate), mean_sq_jump })
    }
}
