//! Metropolis-adjusted Langevin: the ULA move of seed eq 14 as a proposal
//! x′ = x + (ε²/2) s(x) + ε z, accepted with probability
//! min(1, exp(E(x) − E(x′) + log q(x|x′) − log q(x′|x))),
//! log q(x′|x) = −‖x′ − x − (ε²/2)s(x)‖²/(2ε²). Exact for any ε.
//!
//! Delegates to the model's [`Langevin::mala`] (through
//! [`EnergyExt::langevin_mala`]; noise addressing of
//! [`ebm_core::langevin`]) and reports the acceptance rate.
//!
//! [`Langevin::mala`]: ebm_core::Langevin::mala

use super::langevin_sampler;
use ebm_core::EnergyExt;

langevin_sampler! {
    /// `steps` MALA steps of size `eps`.
    Mala, "mala", "MALA",
    |model, x, eps, steps, at| {
        let mut accepts = vec![0u32; x.len() / model.dim().max(1)];
        Ok(Some(model.langevin_mala_at(x, eps, steps, at, &mut accepts)?))
    }
}
