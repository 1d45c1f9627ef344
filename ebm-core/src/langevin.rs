//! Langevin samplers on the CPU: the reference that the GPU kernels match
//! draw for draw.
//!
//! # ULA (seed eq 14)
//!
//! x ← x − (ε²/2) ∇ₓE(x) + ε z = x + (ε²/2) score(x) + ε z,  z ~ N(0, I).
//!
//! # MALA
//!
//! The same move is a proposal x′; it is accepted with probability
//! min(1, exp(E(x) − E(x′) + log q(x | x′) − log q(x′ | x))), where
//! log q(x′ | x) = −‖x′ − x − (ε²/2) score(x)‖² / (2ε²) + const.
//!
//! # Noise addressing (shared with the GPU)
//!
//! Step k (counted globally from `first_step`) draws the normal for chain b,
//! coordinate i as [`rng::normal`]`(seed, stream = k, index = b·d + i)`, and
//! MALA's accept uniform for chain b as
//! [`rng::uniform`]`(seed, stream = k | 2⁶³, index = b)`.

use crate::energy::{Chains, Energy, EnergyExt, PerSample};
use crate::error::{EbmError, Result};
use crate::real::Real;
use crate::rng;
use rayon::prelude::*;

/// The stream of MALA's accept uniforms at step `k`.
pub const fn accept_stream(k: u64) -> u64 {
    k | (1 << 63)
}

pub(crate) fn check_step<T: Real>(eps: T) -> Result<()> {
    if !(eps.is_finite() && eps > T::zero()) {
        return Err(EbmError::InvalidConfig(format!("Langevin step size must be positive and finite, got {eps}")));
    }
    Ok(())
}

/// `steps` ULA steps of size `eps` on every chain of the batch `x`
/// (row-major B×d), in place: the CPU reference, whatever the model's own
/// [`crate::Langevin`] implementation.
pub fn ula<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    x: &mut [T],
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
) -> Result<()> {
    ula_chains(model, Chains::new(x, model.dim())?, eps, steps, seed, first_step)
}

/// [`ula`] on checked chains (the default of [`crate::Langevin::ula`]).
pub fn ula_chains<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    mut x: Chains<'_, T>,
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
) -> Result<()> {
    let (b, d) = (x.rows(), x.dim());
    check_step(eps)?;
    let half_eps2 = eps * eps * T::from_f64(0.5);
    let mut e = vec![T::zero(); b];
    let mut s = vec![T::zero(); b * d];
    for k in 0..steps as u64 {
        model.energy_score(&x, &mut e, &mut s)?;
        let stream = first_step + k;
        x.par_chunks_mut(d).zip(s.par_chunks(d)).enumerate().for_each(|(chain, (xr, sr))| {
            let mut z = vec![T::zero(); d];
            rng::fill_normal(seed, stream, (chain * d) as u64, &mut z);
            for i in 0..d {
                xr[i] += half_eps2 * sr[i] + eps * z[i];
            }
        });
    }
    Ok(())
}

/// `steps` MALA steps; `accepts[b]` is incremented for every accepted move
/// of chain b. Returns the overall acceptance rate of these steps.
/// The CPU reference, whatever the model's own [`crate::Langevin`]
/// implementation.
pub fn mala<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    x: &mut [T],
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
    accepts: &mut [u32],
) -> Result<f64> {
    let x = Chains::new(x, model.dim())?;
    let accepts = PerSample::for_chains("accepts", &x, accepts)?;
    mala_chains(model, x, eps, steps, seed, first_step, accepts)
}

/// [`mala`] on checked chains (the default of [`crate::Langevin::mala`]).
pub fn mala_chains<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    mut x: Chains<'_, T>,
    eps: T,
    steps: usize,
    seed: u64,
    first_step: u64,
    mut accepts: PerSample<'_, u32>,
) -> Result<f64> {
    let (b, d) = (x.rows(), x.dim());
    check_step(eps)?;
    let half = T::from_f64(0.5);
    let half_eps2 = eps * eps * half;
    let inv_2eps2 = T::one() / (T::from_f64(2.0) * eps * eps);
    let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
    let (mut ep, mut sp) = (vec![T::zero(); b], vec![T::zero(); b * d]);
    let mut xp = vec![T::zero(); b * d];
    let mut total = 0u64;
    model.energy_score(&x, &mut e, &mut s)?;
    for k in 0..steps as u64 {
        let stream = first_step + k;
        xp.par_chunks_mut(d).zip(x.par_chunks(d).zip(s.par_chunks(d))).enumerate().for_each(
            |(chain, (pr, (xr, sr)))| {
                rng::fill_normal(seed, stream, (chain * d) as u64, pr);
                for i in 0..d {
                    pr[i] = xr[i] + half_eps2 * sr[i] + eps * pr[i];
                }
            },
        );
        model.energy_score(&xp, &mut ep, &mut sp)?;
        let mut accepted = 0u64;
        for chain in 0..b {
            let (r, rp) = (chain * d..(chain + 1) * d, chain * d..(chain + 1) * d);
            let (xr, sr, pr, spr) = (&x[r.clone()], &s[r], &xp[rp.clone()], &sp[rp]);
            let mut fwd = T::zero(); // ‖x′ − x − (ε²/2)s(x)‖²
            let mut bwd = T::zero(); // ‖x − x′ − (ε²/2)s(x′)‖²
            for i in 0..d {
                let a = pr[i] - xr[i] - half_eps2 * sr[i];
                let c = xr[i] - pr[i] - half_eps2 * spr[i];
                fwd += a * a;
                bwd += c * c;
            }
            let log_alpha = e[chain] - ep[chain] + (fwd - bwd) * inv_2eps2;
            let u = T::from_f64(rng::uniform(seed, accept_stream(stream), chain as u64) as f64);
            if u.ln() < log_alpha {
                accepted += 1;
                accepts[chain] += 1;
                x[chain * d..(chain + 1) * d].copy_from_slice(pr);
                s[chain * d..(chain + 1) * d].copy_from_slice(spr);
                e[chain] = ep[chain];
            }
        }
        total += accepted;
    }
    Ok(if steps == 0 { 0.0 } else { total as f64 / (steps * b) as f64 })
}
