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

/// Writes the two traits of a built-in sampler `$ty`, whose noise is
/// addressed by the global chain index: [`SamplerBase`], with its name and
/// the streams one call uses (`$streams`, an expression of the sampler `$s`),
/// and [`Sampler`] on every `M: $needs`, whose `sample` is `sample_at` from
/// chain 0 and whose `sample_at` is `$sample_at`, an expression of the
/// sampler, the model, the chains and their [`NoiseAt`].
macro_rules! builtin_sampler {
    (
        $ty:ty, $name:literal,
        streams: |$s:pat_param| $streams:expr,
        sample_at on $($needs:ident)::+<T>: |$ss:pat_param, $model:pat_param, $x:pat_param, $at:pat_param| $sample_at:expr $(,)?
    ) => {
        impl $crate::samplers::SamplerBase for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn streams(&self) -> u64 {
                let $s = self;
                $streams
            }
        }

        impl<T: ebm_core::Real, M: $($needs)::+<T> + ?Sized> $crate::samplers::Sampler<T, M> for $ty {
            fn sample(&self, model: &M, x: &mut [T], seed: u64, first_step: u64) -> $crate::Result<$crate::samplers::SamplerStats> {
                self.sample_at(model, x, $crate::samplers::NoiseAt::new(seed, first_step))
            }

            fn sample_at(&self, model: &M, x: &mut [T], at: $crate::samplers::NoiseAt) -> $crate::Result<$crate::samplers::SamplerStats> {
                let ($ss, $model, $x, $at) = (self, model, x, at);
                $sample_at
            }
        }
    };
}
use builtin_sampler;

/// Defines `$ty`, a sampler of `steps` steps of size `eps` through one of
/// the model's own [`Langevin`] methods (so a backend's fused override
/// runs): the struct (documented by `$doc`), its `new`, and its traits
/// ([`builtin_sampler`], named `$name`). A call checks ε (errors say
/// `$label`) and runs `$run`, an expression of the model, the chains, ε (a
/// `T`), the step count and the [`NoiseAt`] that returns the acceptance
/// rate (`None` without an accept test).
macro_rules! langevin_sampler {
    (
        $(#[$doc:meta])*
        $ty:ident, $name:literal, $label:literal,
        |$model:pat_param, $x:pat_param, $eps:pat_param, $steps:pat_param, $at:pat_param| $run:expr
    ) => {
        $(#[$doc])*
        ///
        /// Needs: [`Langevin`](ebm_core::Langevin).
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $ty {
            /// Step size ε (the noise scale; the drift is ε²/2 times the score).
            pub eps: f64,
            /// Steps per call.
            pub steps: usize,
        }

        impl $ty {
            $(#[$doc])*
            pub fn new(eps: f64, steps: usize) -> Self {
                Self { eps, steps }
            }
        }

        $crate::samplers::builtin_sampler! {
            $ty, $name,
            streams: |s| s.steps as u64,
            sample_at on ebm_core::Langevin<T>: |s, model, x, at| {
                $crate::samplers::check_eps($label, s.eps)?;
                $crate::samplers::tracked(x, model.dim(), s.steps, |x| {
                    let ($model, $x, $eps, $steps, $at) = (model, x, T::from_f64(s.eps), s.steps, at);
                    $run
                })
            },
        }
    };
}
use langevin_sampler;

/// Runs `mcmc` on the chains `x` (B×d) and reports `steps` transitions, the
/// acceptance rate `mcmc` returns (`None` without an accept test) and the
/// mean squared jump of the whole call, after checking the chains are finite.
pub(crate) fn tracked<T: Real>(
    x: &mut [T],
    d: usize,
    steps: usize,
    mcmc: impl FnOnce(&mut [T]) -> Result<Option<f64>>,
) -> Result<SamplerStats> {
    let before = x.to_vec();
    let accept_rate = mcmc(x)?;
    let mean_sq_jump = jump_stats(x, &before, d)?;
    Ok(SamplerStats { steps, accept_rate, mean_sq_jump })
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
