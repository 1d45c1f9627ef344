//! Batched MCMC samplers for the negative phase of seed eq 2–3 and for
//! drawing from a trained model.
//!
//! Every sampler advances B independent chains (a row-major B×d buffer) in
//! place, draws all its noise from Philox addressed by (seed, stream, index),
//! and reports [`SamplerStats`]. ULA, MALA and annealed Langevin call the
//! model's own [`Langevin::ula`] / [`Langevin::mala`] (through
//! [`EnergyExt::langevin_ula`] / [`EnergyExt::langevin_mala`]), so a GPU
//! backend's fused override runs; HMC is written against `energy_score` and
//! runs on any [`Energy`].
//!
//! [`Energy`]: ebm_core::Energy
//! [`EnergyExt::langevin_ula`]: ebm_core::EnergyExt::langevin_ula
//! [`EnergyExt::langevin_mala`]: ebm_core::EnergyExt::langevin_mala
//! [`Langevin`]: ebm_core::Langevin
//! [`Langevin::ula`]: ebm_core::Langevin::ula
//! [`Langevin::mala`]: ebm_core::Langevin::mala
//!
//! | sampler | move | exact target? | needs |
//! | --- | --- | --- | --- |
//! | [`Ula`] | x ← x + (ε²/2) s(x) + ε z (seed eq 14) | no, O(ε²) bias | [`Langevin`] |
//! | [`Mala`] | ULA proposal + Metropolis–Hastings | yes | [`Langevin`] |
//! | [`Hmc`] | L leapfrog steps + Metropolis test | yes | [`Energy`] |
//! | [`AnnealedLangevin`] | ULA with εᵢ = ε σᵢ/σ_L over σ₁ > … > σ_L | no | [`Langevin`] |

mod annealed;
mod hmc;
mod mala;
mod ula;

pub use annealed::AnnealedLangevin;
pub use hmc::Hmc;
pub use mala::Mala;
pub use ula::Ula;

use crate::error::Result;
pub use ebm_core::langevin::NoiseAt;
use ebm_core::{Model, Real};

/// What one call of a sampler did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SamplerStats {
    /// Transitions applied to every chain.
    pub steps: usize,
    /// The fraction of accepted proposals (MALA, HMC); `None` for samplers
    /// without an accept test.
    pub accept_rate: Option<f64>,
    /// Mean over chains of ‖x_after − x_before‖² for the whole call.
    pub mean_sq_jump: f64,
}

/// The part of a sampler that does not depend on the model or the scalar
/// type: its name and how many noise streams one call uses.
///
/// A supertrait of [`Sampler`]. A sampler implements `Sampler<T, M>` for
/// every `T` and every `M` with the capability it uses, so these methods are
/// separate to resolve on a concrete sampler (`ula.streams()`) without
/// naming either.
pub trait SamplerBase: Send + Sync {
    /// The sampler's name.
    fn name(&self) -> &'static str;

    /// The number of noise streams (steps) one call of [`Sampler::sample`]
    /// uses, so that a caller continuing chains can pass
    /// `first_step + streams()` next time.
    fn streams(&self) -> u64;
}

/// A batched Markov chain whose stationary law is (close to) p ∝ exp(−E).
///
/// `M` is the model type it runs on; each sampler implements the trait for
/// every `M` with the capability it uses (see the table in [`crate::samplers`]).
/// The default, `dyn Model<T>`, is what a command line holding any model uses.
/// The methods that take no model are in the supertrait [`SamplerBase`].
pub trait Sampler<T: Real, M: ?Sized = dyn Model<T>>: SamplerBase {
    /// Advances every chain of `x` (row-major B×d) in place. Noise comes from
    /// Philox keyed by `seed`, streams starting at `first_step`, so two calls
    /// with the same arguments give the same chains.
    ///
    /// Errors: invalid configuration, model errors, and
    /// [`ebm_core::EbmError::NonFinite`] if a chain left the finite numbers.
    fn sample(&self, model: &M, x: &mut [T], seed: u64, first_step: u64) -> Result<SamplerStats>;

    /// [`Sampler::sample`] on a share of a larger population of chains:
    /// the first chain of `x` is global chain `at.first_chain`, and every
    /// chain draws the noise it draws when the whole population is sampled
    /// in one call ([`ebm_core::langevin`], "Noise addressing"), so a
    /// population split over processes moves as in one. The built-in
    /// samplers implement it; the default takes only `first_chain` 0 (the
    /// plain call) and refuses a share with a configuration error.
    fn sample_at(&self, model: &M, x: &mut [T], at: NoiseAt) -> Result<SamplerStats> {
        if at.first_chain != 0 {
            return crate::error::config(format!(
                "sampler `{}` cannot address its noise by the global chain index (no `sample_at`)",
                self.name()
            ));
        }
        self.sample(model, x, at.seed, at.first_step)
    }
}

impl<S: SamplerBase + ?Sized> SamplerBase for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn streams(&self) -> u64 {
        (**self).streams()
    }
}

impl<T: Real, M: ?Sized, S: Sampler<T, M> + ?Sized> Sampler<T, M> for Box<S> {
    fn sample(&self, model: &M, x: &mut [T], seed: u64, first_step: u64) -> Result<SamplerStats> {
        (**self).sample(model, x, seed, first_step)
    }
    fn sample_at(&self, model: &M, x: &mut [T], at: NoiseAt) -> Result<SamplerStats> {
        (**self).sample_at(model, x, at)
    }
}

pub(crate) fn check_eps(what: &str, eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return crate::error::config(format!("{what}: step size must be positive and finite, got {eps}"));
    }
    Ok(())
}

/// Mean over chains of ‖a − b‖² and a finiteness check of `a`.
pub(crate) fn jump_stats<T: Real>(a: &[T], b: &[T], d: usize) -> Result<f64> {
    ebm_core::check_finite("sampler chains", a, d)?;
    let n = a.len() / d;
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&p, &q)| {
            let t = p.to_f64() - q.to_f64();
            t * t
        })
        .sum();
    Ok(s / n as f64)
}
