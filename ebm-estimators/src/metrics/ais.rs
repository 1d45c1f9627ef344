//! Annealed importance sampling of log Z (Neal 2001, "Annealed importance
//! sampling", Statistics and Computing 11:125–139) for a model in any
//! dimension.
//!
//! # Estimator
//!
//! Let p₀ = exp(−E₀)/Z₀ be a normalised Gaussian base ([`Gaussian`], whose
//! log Z₀ is known in closed form) and f = exp(−E) the model's
//! unnormalised density (seed eq 1). For inverse temperatures
//! 0 = β₀ < β₁ < … < β_K = 1 the intermediate densities are the geometric
//! path
//!
//! f_k(x) = p₀(x)^{1−β_k} f(x)^{β_k}, i.e. E_k = (1 − β_k)(E₀ + log Z₀) + β_k E.
//!
//! Each chain starts at x₀ ~ p₀ exactly and, for k = 1..K, adds
//! log f_k(x_{k−1}) − log f_{k−1}(x_{k−1}) = (β_k − β_{k−1})(E₀ + log Z₀ − E)(x_{k−1})
//! to its log-weight, then moves x_k ~ T_k(x_{k−1}, ·) with a transition
//! that leaves f_k invariant ([`Transition`]: HMC or MALA, both exact
//! through their Metropolis test). Neal's argument (the weight is the ratio
//! of the forward and reverse chains' joint densities) gives
//! E\[w\] = Z_K/Z₀ = Z, so
//!
//! log Ẑ = log((1/B) Σ_b w_b).
//!
//! Ẑ is unbiased; log Ẑ is biased *down* by about Var(w)/(2B E\[w\]²)
//! (Jensen), the square of the standard error below, and is a stochastic
//! lower bound on log Z (Grosse et al. 2016).
//!
//! # Standard error and effective sample size
//!
//! By the delta method, se(log Ẑ) = sd(w)/(√B · mean(w)), computed from
//! the weights scaled by their maximum. ESS = (Σw)²/Σw² says how many of the
//! B chains carry the estimate; a small ESS/B means too few temperatures or
//! too poor a base, and the error bar itself is then unreliable.
//!
//! # Schedules
//!
//! [`BetaSchedule::Linear`] β_k = k/K; [`BetaSchedule::Geometric`]
//! β_k = β_min^{(K−k)/(K−1)} for k ≥ 1 (dense near 0, where the path moves
//! fastest for a broad base); [`BetaSchedule::Custom`].
//!
//! # Randomness
//!
//! Base draws are the normals `(derive_seed(seed, AIS_BASE, 0), 0, ·)`; the
//! transition at temperature k uses the sampler key
//! `derive_seed(seed, AIS_TRANSITION, k)` from step 0.

use super::log_sum_exp;
use crate::error::{config, Result};
use crate::samplers::{Hmc, Mala, Sampler};
use crate::seeds::derive_seed;
use ebm_core::{rng, Batch, EbmError, Energy, EnergyExt, Gaussian, Langevin, Outputs, Real};

/// Purpose tag of the base draws (distinct from [`crate::seeds::tags`]).
pub const AIS_BASE: u64 = 0x5A11_0A15;
/// Purpose tag of the transitions.
pub const AIS_TRANSITION: u64 = 0x5A11_0A16;

/// The inverse-temperature schedule β₀ = 0 < … < β_K = 1.
#[derive(Debug, Clone, PartialEq)]
pub enum BetaSchedule {
    /// β_k = k/K.
    Linear,
    /// β_k = β_min^{(K−k)/(K−1)} for k = 1..K (β₀ = 0).
    Geometric {
        /// The first non-zero β, in (0, 1).
        beta_min: f64,
    },
    /// Explicit values: starts at 0, ends at 1, non-decreasing.
    Custom(Vec<f64>),
}

impl BetaSchedule {
    /// The K + 1 values for K temperatures.
    ///
    /// Errors: K = 0, β_min ∉ (0, 1), or a custom schedule that does not run
    /// from 0 to 1 non-decreasingly.
    pub fn betas(&self, k: usize) -> Result<Vec<f64>> {
        let b = match self {
            BetaSchedule::Linear | BetaSchedule::Geometric { .. } if k == 0 => {
                return config("AIS needs at least one temperature");
            }
            BetaSchedule::Linear => (0..=k).map(|i| i as f64 / k as f64).collect(),
            BetaSchedule::Geometric { beta_min } => {
                if !(*beta_min > 0.0 && *beta_min < 1.0) {
                    return config(format!("geometric AIS schedule needs β_min in (0, 1), got {beta_min}"));
                }
                let mut b = vec![0.0];
                for i in 1..=k {
                    let t = if k == 1 { 0.0 } else { (k - i) as f64 / (k - 1) as f64 };
                    b.push(beta_min.powf(t));
                }
                b
            }
            BetaSchedule::Custom(v) => v.clone(),
        };
        let ok = b.len() >= 2
            && b[0] == 0.0
            && *b.last().unwrap() == 1.0
            && b.windows(2).all(|w| w[1] >= w[0] && w[1].is_finite());
        if !ok {
            return config("AIS schedule must run non-decreasingly from β = 0 to β = 1");
        }
        Ok(b)
    }
}

/// The Markov transition applied at every temperature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// Hamiltonian Monte Carlo ([`Hmc`]) with unit mass.
    Hmc {
        /// Leapfrog step size.
        eps: f64,
        /// Leapfrog steps per transition.
        leapfrog_steps: usize,
    },
    /// Metropolis-adjusted Langevin ([`Mala`]).
    Mala {
        /// Step size ε of the proposal x + (ε²/2) s(x) + ε z.
        eps: f64,
    },
}

/// Options of [`ais_log_z`].
#[derive(Debug, Clone, PartialEq)]
pub struct AisOptions {
    /// Independent chains B (≥ 2).
    pub chains: usize,
    /// Temperatures K.
    pub temperatures: usize,
    /// The β schedule.
    pub schedule: BetaSchedule,
    /// The transition kernel.
    pub transition: Transition,
    /// Transitions per temperature (0 gives plain importance sampling from
    /// the base when K = 1).
    pub steps_per_temperature: usize,
    /// The Philox seed.
    pub seed: u64,
}

impl Default for AisOptions {
    fn default() -> Self {
        Self {
            chains: 256,
            temperatures: 500,
            schedule: BetaSchedule::Geometric { beta_min: 1e-3 },
            transition: Transition::Hmc { eps: 0.2, leapfrog_steps: 5 },
            steps_per_temperature: 1,
            seed: 0,
        }
    }
}

/// The result of [`ais_log_z`].
#[derive(Debug, Clone, PartialEq)]
pub struct AisEstimate<T> {
    /// log Ẑ = log mean w.
    pub log_z: f64,
    /// Its delta-method standard error.
    pub std_err: f64,
    /// Effective sample size (Σw)²/Σw² of the weights.
    pub ess: f64,
    /// Every chain's log-weight.
    pub log_weights: Vec<f64>,
    /// Mean acceptance rate of the transitions.
    pub accept_rate: f64,
    /// The chains' final states (B×d), weighted by `log_weights`.
    pub samples: Vec<T>,
}

/// E_β = (1 − β)(E₀ + log Z₀) + βE: the intermediate energy of the
/// geometric path, an [`Energy`] with no parameters (so not
/// [`ebm_core::Trainable`]).
struct Tempered<'a, T: Real, M: ?Sized> {
    base: &'a Gaussian<T>,
    model: &'a M,
    beta: f64,
    base_log_z: f64,
}

impl<T: Real, M: ?Sized> Tempered<'_, T, M> {
    fn mix(&self, a: &mut [T], b: &[T], constant: f64) {
        let (wa, wb) = (T::from_f64(1.0 - self.beta), T::from_f64(self.beta));
        let c = T::from_f64((1.0 - self.beta) * constant);
        for (a, &b) in a.iter_mut().zip(b) {
            *a = wa * *a + wb * b + c;
        }
    }
}

impl<T: Real, M: Energy<T> + ?Sized> Energy<T> for Tempered<'_, T, M> {
    fn name(&self) -> &'static str {
        "ais-tempered"
    }
    fn dim(&self) -> usize {
        self.model.dim()
    }
    fn eval(&self, x: Batch<'_, T>, out: Outputs<'_, T>) -> ebm_core::Result<()> {
        let (b, d) = (x.rows(), x.dim());
        let mut em = vec![T::zero(); b];
        match out.into_parts() {
            (energy, None, _) => {
                self.model.eval(x, Outputs::energy(&x, &mut em)?)?;
                self.base.eval(x, Outputs::energy(&x, &mut *energy)?)?;
                self.mix(energy, &em, self.base_log_z);
            }
            (energy, Some(score), None) => {
                let mut sm = vec![T::zero(); b * d];
                self.model.eval(x, Outputs::energy_score(&x, &mut em, &mut sm)?)?;
                self.base.eval(x, Outputs::energy_score(&x, &mut *energy, &mut *score)?)?;
                self.mix(energy, &em, self.base_log_z);
                self.mix(score, &sm, 0.0);
            }
            (energy, Some(score), Some(hess_diag)) => {
                let (mut sm, mut hm) = (vec![T::zero(); b * d], vec![T::zero(); b * d]);
                self.model.eval(x, Outputs::energy_score_hess_diag(&x, &mut em, &mut sm, &mut hm)?)?;
                self.base.eval(x, Outputs::energy_score_hess_diag(&x, &mut *energy, &mut *score, &mut *hess_diag)?)?;
                self.mix(energy, &em, self.base_log_z);
                self.mix(score, &sm, 0.0);
                self.mix(hess_diag, &hm, 0.0);
            }
        }
        Ok(())
    }
}

/// The CPU reference samplers of [`ebm_core::langevin`], run on
/// [`Tempered::eval`] (which calls the wrapped model's own `eval`, so a
/// device model still computes its energies and scores).
///
/// This deliberately does not forward the wrapped model's [`Langevin`]
/// override: a tempered energy is a different energy. The model's `ula` /
/// `mala` sample exp(−E), not exp(−E_β), so forwarding them would move the
/// chains under the wrong law.
impl<T: Real, M: Energy<T> + ?Sized> Langevin<T> for Tempered<'_, T, M> {}

/// `n` exact draws of the Gaussian `base` = N(μ, (LLᵀ)⁻¹): x = μ + L⁻ᵀz.
pub fn sample_gaussian<T: Real>(base: &Gaussian<T>, n: usize, key: u64, stream: u64) -> Vec<T> {
    let d = base.dim();
    let mu: Vec<f64> = base.mean().iter().map(|&v| v.to_f64()).collect();
    let l: Vec<f64> = base.chol_packed().iter().map(|&v| v.to_f64()).collect();
    let tri = |i: usize, j: usize| i * (i + 1) / 2 + j;
    let mut z = vec![0f64; n * d];
    rng::fill_normal(key, stream, 0, &mut z);
    let mut out = vec![T::zero(); n * d];
    for (o, zr) in out.chunks_exact_mut(d).zip(z.chunks_exact_mut(d)) {
        // Solve Lᵀ y = z by back substitution ((Lᵀ)ᵢⱼ = Lⱼᵢ).
        for i in (0..d).rev() {
            let mut s = zr[i];
            for j in i + 1..d {
                s -= l[tri(j, i)] * zr[j];
            }
            zr[i] = s / l[tri(i, i)];
        }
        for i in 0..d {
            o[i] = T::from_f64(mu[i] + zr[i]);
        }
    }
    out
}

/// log Z of `model` by annealed importance sampling from the normalised
/// Gaussian `base` (see the module docs). Pick the base to cover the model
/// (for example N(data mean, data covariance) or a wide isotropic one).
///
/// Errors: dimensions differ, fewer than two chains, an invalid schedule or
/// step size, model errors, and chains that leave the finite numbers.
pub fn ais_log_z<T: Real, M: Energy<T> + ?Sized>(
    model: &M,
    base: &Gaussian<T>,
    opts: &AisOptions,
) -> Result<AisEstimate<T>> {
    let d = model.dim();
    if base.dim() != d {
        return Err(EbmError::DimMismatch { what: "AIS base dimension", expected: d, got: base.dim() }.into());
    }
    if opts.chains < 2 {
        return config(format!("AIS needs at least two chains, got {}", opts.chains));
    }
    let betas = opts.schedule.betas(opts.temperatures)?;
    let sampler: Box<dyn Sampler<T, Tempered<'_, T, M>>> = match opts.transition {
        Transition::Hmc { eps, leapfrog_steps } => Box::new(Hmc::new(eps, leapfrog_steps, opts.steps_per_temperature)),
        Transition::Mala { eps } => Box::new(Mala::new(eps, opts.steps_per_temperature)),
    };
    let b = opts.chains;
    let base_log_z = base.log_z().to_f64();
    let mut x = sample_gaussian(base, b, derive_seed(opts.seed, AIS_BASE, 0), 0);
    let mut log_w = vec![0f64; b];
    let (mut e0, mut e) = (vec![T::zero(); b], vec![T::zero(); b]);
    let (mut accept_sum, mut accept_n) = (0.0, 0usize);
    for k in 1..betas.len() {
        let db = betas[k] - betas[k - 1];
        if db > 0.0 {
            base.energy(&x, &mut e0)?;
            model.energy(&x, &mut e)?;
            for c in 0..b {
                log_w[c] += db * (e0[c].to_f64() + base_log_z - e[c].to_f64());
            }
        }
        if opts.steps_per_temperature > 0 {
            let target = Tempered { base, model, beta: betas[k], base_log_z };
            let stats = sampler.sample(&target, &mut x, derive_seed(opts.seed, AIS_TRANSITION, k as u64), 0)?;
            if let Some(r) = stats.accept_rate {
                accept_sum += r;
                accept_n += 1;
            }
        }
    }
    if let Some(c) = log_w.iter().position(|v| !v.is_finite()) {
        return config(format!("AIS: chain {c} has a non-finite log-weight {}", log_w[c]));
    }
    let log_z = log_sum_exp(&log_w) - (b as f64).ln();
    let m = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = log_w.iter().map(|l| (l - m).exp()).collect();
    let (s1, s2) = (w.iter().sum::<f64>(), w.iter().map(|v| v * v).sum::<f64>());
    let mean = s1 / b as f64;
    let var = (s2 - s1 * mean) / (b - 1) as f64;
    let std_err = var.max(0.0).sqrt() / (mean * (b as f64).sqrt());
    Ok(AisEstimate {
        log_z,
        std_err,
        ess: s1 * s1 / s2,
        log_weights: log_w,
        accept_rate: if accept_n > 0 { accept_sum / accept_n as f64 } else { f64::NAN },
        samples: x,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_run_from_zero_to_one() {
        let l = BetaSchedule::Linear.betas(4).unwrap();
        assert_eq!(l, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let g = BetaSchedule::Geometric { beta_min: 1e-2 }.betas(3).unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 1e-2).abs() < 1e-15 && (g[2] - 0.1).abs() < 1e-12 && g[3] == 1.0);
        assert!(BetaSchedule::Custom(vec![0.0, 0.7, 0.5, 1.0]).betas(0).is_err());
        assert!(BetaSchedule::Linear.betas(0).is_err());
        assert!(BetaSchedule::Geometric { beta_min: 1.5 }.betas(3).is_err());
    }

    /// The base sampler's empirical covariance matches the precision's inverse.
    #[test]
    fn base_samples_have_the_base_covariance() {
        let p = [2.0, 0.6, 0.6, 0.5];
        let g = Gaussian::<f64>::from_mean_precision(&[1.0, -1.0], &p).unwrap();
        let n = 40_000;
        let x = sample_gaussian(&g, n, 7, 0);
        let (m, c) = crate::linalg::mean_cov(&x, 2);
        let det = p[0] * p[3] - p[1] * p[2];
        let cov = [p[3] / det, -p[1] / det, -p[2] / det, p[0] / det];
        assert!((m[0] - 1.0).abs() < 0.03 && (m[1] + 1.0).abs() < 0.05, "{m:?}");
        for i in 0..4 {
            assert!((c[i] - cov[i]).abs() < 0.05 * cov[0].max(cov[3]), "{c:?} vs {cov:?}");
        }
    }
}
