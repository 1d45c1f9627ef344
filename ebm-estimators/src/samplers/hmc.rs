//! Hamiltonian Monte Carlo with unit mass (Neal 2011).
//!
//! H(x, p) = E(x) + ½‖p‖². Iteration k draws p ~ N(0, I), runs L leapfrog
//! steps of size ε with the score s = −∇ₓE,
//!
//! p ← p + (ε/2) s(x);  repeat L times: x ← x + ε p,  p ← p + ε s(x)
//! (the last momentum update is a half step),
//!
//! and accepts (x′, p′) with probability min(1, exp(H(x, p) − H(x′, p′))).
//! A chain whose state or H(x′, p′) becomes non-finite is rejected. All chains move in one batched
//! `energy_score` per leapfrog step, so the sampler runs on any backend.
//!
//! Noise: with key K = `derive_seed(seed, HMC, 0)`, the momentum of chain b,
//! coordinate i at iteration k is Philox `normal(K, first_step + k, b·d + i)`
//! and its accept uniform is `uniform(K, accept_stream(first_step + k), b)`,
//! b the chain's global index ([`Sampler::sample_at`]).
//!
//! [`Sampler::sample_at`]: crate::Sampler::sample_at

use super::{builtin_sampler, check_eps, jump_stats, NoiseAt, SamplerStats};
use crate::error::{config, Result};
use crate::seeds::{derive_seed, tags};
use ebm_core::langevin::accept_stream;
use ebm_core::{check_batch, rng, Energy, EnergyExt, Real};

/// `iterations` HMC transitions of `leapfrog_steps` leapfrog steps of size `eps`.
///
/// Needs: [`Energy`] (only `energy_score`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hmc {
    /// Leapfrog step size ε.
    pub eps: f64,
    /// Leapfrog steps per transition (L ≥ 1).
    pub leapfrog_steps: usize,
    /// Transitions per call.
    pub iterations: usize,
}

impl Hmc {
    /// `iterations` transitions of `leapfrog_steps` steps of size `eps`.
    pub fn new(eps: f64, leapfrog_steps: usize, iterations: usize) -> Self {
        Self { eps, leapfrog_steps, iterations }
    }

    /// [`Sampler::sample_at`](crate::Sampler::sample_at): `iterations` transitions (see the module docs).
    fn transitions<T: Real, M: Energy<T> + ?Sized>(&self, model: &M, x: &mut [T], at: NoiseAt) -> Result<SamplerStats> {
        check_eps("HMC", self.eps)?;
        if self.leapfrog_steps == 0 {
            return config("HMC needs at least one leapfrog step");
        }
        let d = model.dim();
        let b = check_batch("x", x, d)?;
        let key = derive_seed(at.seed, tags::HMC, 0);
        let before = x.to_vec();
        let eps = T::from_f64(self.eps);
        let half_eps = T::from_f64(0.5 * self.eps);
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        model.energy_score(x, &mut e, &mut s)?;
        let (mut xp, mut p) = (vec![T::zero(); b * d], vec![T::zero(); b * d]);
        let (mut ep, mut sp) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        let mut k0 = vec![0f64; b];
        let mut dead = vec![false; b];
        let mut accepted = 0u64;
        for it in 0..self.iterations as u64 {
            let stream = at.first_step + it;
            rng::fill_normal(key, stream, at.first_chain * d as u64, &mut p);
            for c in 0..b {
                k0[c] = 0.5 * p[c * d..(c + 1) * d].iter().map(|&v| v.to_f64().powi(2)).sum::<f64>();
            }
            xp.copy_from_slice(x);
            sp.copy_from_slice(&s);
            dead.iter_mut().for_each(|v| *v = false);
            for (pi, si) in p.iter_mut().zip(&sp) {
                *pi += half_eps * *si;
            }
            for l in 0..self.leapfrog_steps {
                for (xi, pi) in xp.iter_mut().zip(&p) {
                    *xi += eps * *pi;
                }
                // A chain that left the finite numbers is parked at its start
                // (and rejected below) so the batched call stays valid.
                for c in 0..b {
                    let r = c * d..(c + 1) * d;
                    if !dead[c] && xp[r.clone()].iter().any(|v| !v.is_finite()) {
                        dead[c] = true;
                        xp[r.clone()].copy_from_slice(&x[r.clone()]);
                        p[r].iter_mut().for_each(|v| *v = T::zero());
                    }
                }
                model.energy_score(&xp, &mut ep, &mut sp)?;
                let f = if l + 1 == self.leapfrog_steps { half_eps } else { eps };
                for (pi, si) in p.iter_mut().zip(&sp) {
                    *pi += f * *si;
                }
            }
            for c in 0..b {
                let r = c * d..(c + 1) * d;
                let k1 = 0.5 * p[r.clone()].iter().map(|&v| v.to_f64().powi(2)).sum::<f64>();
                let h0 = e[c].to_f64() + k0[c];
                let h1 = ep[c].to_f64() + k1;
                let u = rng::uniform(key, accept_stream(stream), at.first_chain + c as u64) as f64;
                let ok = !dead[c] && h1.is_finite() && u.ln() < h0 - h1;
                if ok {
                    accepted += 1;
                    x[r.clone()].copy_from_slice(&xp[r.clone()]);
                    s[r.clone()].copy_from_slice(&sp[r]);
                    e[c] = ep[c];
                }
            }
        }
        let mean_sq_jump = jump_stats(x, &before, d)?;
        let rate = if self.iterations == 0 { 0.0 } else { accepted as f64 / (self.iterations * b) as f64 };
        Ok(SamplerStats { steps: self.iterations, accept_rate: Some(rate), mean_sq_jump })
    }
}

builtin_sampler! {
    Hmc, "hmc",
    streams: |hmc| hmc.iterations as u64,
    sample_at on Energy<T>: |hmc, model, x, at| hmc.transitions(model, x, at),
}
