//! Unadjusted Langevin (seed eq 14): x ← x − (ε²/2)∇ₓE(x) + ε z.
//!
//! Delegates to the model's [`Langevin::ula`] (through
//! [`EnergyExt::langevin_ula`]) so a backend's fused kernel runs;
//! the noise of step k, chain b, coordinate i is Philox
//! `normal(seed, first_step + k, b·d + i)`, b the chain's global index
//! ([`ebm_core::langevin`]; [`Sampler::sample_at`]).
//! The chain is biased: for a Gaussian of precision p its stationary variance
//! is 1/(p(1 − ε²p/4)), so the bias is O(ε²).
//!
//! [`Langevin::ula`]: ebm_core::Langevin::ula
//! [`Sampler::sample_at`]: crate::Sampler::sample_at

use super::langevin_sampler;
use ebm_core::EnergyExt;

langevin_sampler! {
    /// `steps` ULA steps of size `eps`.
    Ula, "ula", "ULA",
    |model, x, eps, steps, at| {
        model.langevin_ula_at(x, eps, steps, at)?;
        Ok(None)
    }
}
