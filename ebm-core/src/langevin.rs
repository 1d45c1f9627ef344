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
//!
//! b is the chain's **global** index: [`NoiseAt::first_chain`] (o) plus its
//! row in the batch, b = o + row. A batch that is a share of a larger
//! population of chains (rank r of a data-parallel run holding the chains
//! o, o + 1, …) then draws each chain's noise exactly as the whole batch
//! would. With o = 0 (every call without `_at`) the index is the row, the
//! addressing the GPU kernels share.

use crate::energy::{Chains, Energy, EnergyExt, PerSample};
use crate::error::{EbmError, Result};
use crate::real::Real;
use crate::rng;
use rayon::prelude::*;

/// The stream of MALA's accept uniforms at step `k`.
pub const fn accept_stream(k: u64) -> u64 {
    k | (1 << 63)
}

/// Where a Langevin call's noise comes from: the Philox key `seed`, the
/// stream of its first step `first_step`, and the global index
/// `first_chain` of the batch's first chain (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoiseAt {
    /// The Philox key.
    pub seed: u64,
    /// The stream of the call's first step (step k uses `first_step + k`).
    pub first_step: u64,
    /// The global index of the batch's first chain (0 for a whole batch).
    pub first_chain: u64,
}

impl NoiseAt {
    /// The noise of a whole batch: chains counted from 0.
    pub const fn new(seed: u64, first_step: u64) -> Self {
        Self { seed, first_step, first_chain: 0 }
    }

    /// The same noise for a batch whose first chain is global chain `first_chain`.
    pub const fn from_chain(self, first_chain: u64) -> Self {
        Self { first_chain, ..self }
    }

    /// The Philox index of coordinate 0 of the batch's row `row` (d coordinates per chain).
    pub(crate) fn row_index(&self, row: usize, d: usize) -> u64 {
        (self.first_chain + row as u64) * d as u64
    }
}

pub(crate) fn check_step<T: Real>(eps: T) -> Result<()> {
    if !(eps.is_finite() && eps > T::zero()) {
        return Err(EbmError::InvalidConfig(format!("Langevin step size must be positive and finite, got {eps}")));
    }
    Ok(())
}

/// A step size ε and the arithmetic of one Langevin step of one chain: the
/// ULA move, MALA's proposal and its Metropolis–Hastings log acceptance
/// (the CPU twins of the kernels' `ula_update`, `mala_propose` and
/// `mala_log_alpha`). Every CPU sampler that moves chains as [`ula`] and
/// [`mala`] do, bit for bit, goes through these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepSize<T> {
    eps: T,
    half_eps2: T,
    inv_2eps2: T,
}

impl<T: Real> StepSize<T> {
    /// ε, checked: [`EbmError::InvalidConfig`] unless it is positive and finite.
    pub fn new(eps: T) -> Result<Self> {
        check_step(eps)?;
        let half_eps2 = eps * eps * T::from_f64(0.5);
        Ok(Self { eps, half_eps2, inv_2eps2: T::one() / (T::from_f64(2.0) * eps * eps) })
    }

    /// The ULA move of one chain in place, x ← x + ((ε²/2)·s + ε·z), with
    /// s its score and z its normals.
    #[inline]
    pub fn ula_move(&self, x: &mut [T], s: &[T], z: &[T]) {
        for i in 0..x.len() {
            x[i] += self.half_eps2 * s[i] + self.eps * z[i];
        }
    }

    /// MALA's proposal for one chain, written over its normals z:
    /// x′ = x + (ε²/2)·s + ε·z.
    #[inline]
    pub fn propose(&self, x: &[T], s: &[T], z: &mut [T]) {
        for i in 0..z.len() {
            z[i] = x[i] + self.half_eps2 * s[i] + self.eps * z[i];
        }
    }

    /// log α of the Metropolis–Hastings test of the move x → x′, from the
    /// (energy, state, score) of both: E(x) − E(x′) + (‖x′ − x − (ε²/2)s(x)‖²
    /// − ‖x − x′ − (ε²/2)s(x′)‖²) / (2ε²).
    pub fn log_accept(&self, (e, x, s): (T, &[T], &[T]), (ep, xp, sp): (T, &[T], &[T])) -> T {
        let mut fwd = T::zero(); // ‖x′ − x − (ε²/2)s(x)‖²
        let mut bwd = T::zero(); // ‖x − x′ − (ε²/2)s(x′)‖²
        for i in 0..x.len() {
            let a = xp[i] - x[i] - self.half_eps2 * s[i];
            let c = x[i] - xp[i] - self.half_eps2 * sp[i];
            fwd += a * a;
            bwd += c * c;
        }
        e - ep + (fwd - bwd) * self.inv_2eps2
    }
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
    ula_chains_at(model, Chains::new(x, model.dim())?, eps, steps, NoiseAt::new(seed, first_step))
}

/// [`ula`] on checked chains, with the noise of global chains `at.first_chain..` (the
/// default of [`crate::Langevin::ula_at`]).
pub fn ula_chains_at<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    mut x: Chains<'_, T>,
    eps: T,
    steps: usize,
    at: NoiseAt,
) -> Result<()> {
    let (b, d) = (x.rows(), x.dim());
    let step = StepSize::new(eps)?;
    let mut e = vec![T::zero(); b];
    let mut s = vec![T::zero(); b * d];
    for k in 0..steps as u64 {
        model.energy_score(&x, &mut e, &mut s)?;
        let stream = at.first_step + k;
        x.par_chunks_mut(d).zip(s.par_chunks(d)).enumerate().for_each(|(chain, (xr, sr))| {
            let mut z = vec![T::zero(); d];
            rng::fill_normal(at.seed, stream, at.row_index(chain, d), &mut z);
            step.ula_move(xr, sr, &z);
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
    mala_chains_at(model, x, eps, steps, NoiseAt::new(seed, first_step), accepts)
}

/// [`mala`] on checked chains, with the noise of global chains `at.first_chain..` (the
/// default of [`crate::Langevin::mala_at`]).
pub fn mala_chains_at<T: Real, E: Energy<T> + ?Sized>(
    model: &E,
    mut x: Chains<'_, T>,
    eps: T,
    steps: usize,
    at: NoiseAt,
    mut accepts: PerSample<'_, u32>,
) -> Result<f64> {
    let (b, d) = (x.rows(), x.dim());
    let step = StepSize::new(eps)?;
    let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
    let (mut ep, mut sp) = (vec![T::zero(); b], vec![T::zero(); b * d]);
    let mut xp = vec![T::zero(); b * d];
    let mut total = 0u64;
    model.energy_score(&x, &mut e, &mut s)?;
    for k in 0..steps as u64 {
        let stream = at.first_step + k;
        xp.par_chunks_mut(d).zip(x.par_chunks(d).zip(s.par_chunks(d))).enumerate().for_each(
            |(chain, (pr, (xr, sr)))| {
                rng::fill_normal(at.seed, stream, at.row_index(chain, d), pr);
                step.propose(xr, sr, pr);
            },
        );
        model.energy_score(&xp, &mut ep, &mut sp)?;
        let mut accepted = 0u64;
        for chain in 0..b {
            let r = chain * d..(chain + 1) * d;
            let (pr, spr) = (&xp[r.clone()], &sp[r.clone()]);
            let log_alpha = step.log_accept((e[chain], &x[r.clone()], &s[r]), (ep[chain], pr, spr));
            let u = T::from_f64(rng::uniform(at.seed, accept_stream(stream), at.first_chain + chain as u64) as f64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::Langevin;
    use crate::mlp::{Activation, Mlp};
    use crate::{EnergyExt, Gaussian};

    /// A share of a batch (its rows o..B, noise from global chain o) moves
    /// exactly as those rows of the whole batch, in ULA and MALA, on the
    /// reference (a Gaussian) and on the MLP's fused ULA; and `_at` with
    /// o = 0 is the plain call.
    #[test]
    fn a_share_of_the_chains_draws_the_noise_of_its_global_rows() {
        fn check<M: Langevin<f64>>(m: &M, label: &str) -> Vec<u32> {
            let (b, d, o) = (7, m.dim(), 3);
            let x0 = crate::testing::normal_vec(4, b * d);
            let at = NoiseAt::new(11, 2);
            let (mut whole, mut share) = (x0.clone(), x0[o * d..].to_vec());
            m.langevin_ula(&mut whole, 0.3, 3, at.seed, at.first_step).unwrap();
            m.langevin_ula_at(&mut share, 0.3, 3, at.from_chain(o as u64)).unwrap();
            assert_eq!(share, whole[o * d..], "{label}: ULA");
            let mut zero = x0.clone();
            m.langevin_ula_at(&mut zero, 0.3, 3, at).unwrap();
            assert_eq!(zero, whole, "{label}: ULA at chain 0");
            let (mut whole, mut share) = (x0.clone(), x0[o * d..].to_vec());
            let (mut aw, mut a_s) = (vec![0u32; b], vec![0u32; b - o]);
            m.langevin_mala(&mut whole, 0.9, 4, at.seed, at.first_step, &mut aw).unwrap();
            m.langevin_mala_at(&mut share, 0.9, 4, at.from_chain(o as u64), &mut a_s).unwrap();
            assert_eq!(share, whole[o * d..], "{label}: MALA");
            assert_eq!(a_s, aw[o..], "{label}: MALA accepts");
            aw
        }
        let aw = check(&Gaussian::<f64>::init(3, 1).unwrap(), "gaussian");
        assert!(aw.iter().any(|&a| a > 0) && aw.iter().any(|&a| a < 4), "{aw:?}: accepts and rejects");
        check(&Mlp::<f64>::init(3, &[8], Activation::Tanh, 2).unwrap(), "mlp");
    }
}
