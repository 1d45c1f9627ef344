//! Samplers against known laws: MALA and HMC on a 2-D Gaussian mixture
//! (first and second moments within 3 standard errors over many independent
//! chains, one draw per chain so the draws are independent), ULA's O(ε²)
//! bias on a Gaussian, annealed Langevin, and the delegation to the model's
//! own (GPU-overridable) Langevin methods.

mod common;

use common::{forward_energy, forward_trainable};
use ebm_core::gaussian::Gaussian;
use ebm_core::langevin::NoiseAt;
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::prelude::*;
use ebm_core::{Chains, PerSample, Real, Result as CoreResult};
use ebm_estimators::linalg::{cholesky, inverse_spd};
use ebm_estimators::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const PI: [f64; 2] = [0.3, 0.7];
const MU: [f64; 4] = [-1.0, 0.5, 1.2, -0.3];
const PREC: [[f64; 4]; 2] = [[2.0, 0.5, 0.5, 1.5], [1.0, -0.3, -0.3, 2.0]];

fn mixture() -> GaussianMixture<f64> {
    let mut theta = vec![PI[0].ln(), PI[1].ln()];
    theta.extend_from_slice(&MU);
    for p in PREC {
        let l = cholesky(&p, 2).unwrap();
        theta.extend_from_slice(&[l[0], l[2], l[3]]);
    }
    GaussianMixture::new(2, 2, Covariance::Full, theta).unwrap()
}

/// E[x] and E[x xᵀ] (entries 00, 01, 11) of the mixture.
fn exact_moments() -> [f64; 5] {
    let mut m = [0.0; 5];
    for k in 0..2 {
        let c = inverse_spd(&PREC[k], 2).unwrap();
        let mu = &MU[k * 2..k * 2 + 2];
        m[0] += PI[k] * mu[0];
        m[1] += PI[k] * mu[1];
        m[2] += PI[k] * (c[0] + mu[0] * mu[0]);
        m[3] += PI[k] * (c[1] + mu[0] * mu[1]);
        m[4] += PI[k] * (c[3] + mu[1] * mu[1]);
    }
    m
}

/// Checks the five moment statistics of independent draws `x` (n×2) against
/// the exact ones within 3 standard errors.
fn check_moments(what: &str, x: &[f64]) {
    let n = x.len() / 2;
    let want = exact_moments();
    for (s, &w) in want.iter().enumerate() {
        let f = |r: &[f64]| match s {
            0 => r[0],
            1 => r[1],
            2 => r[0] * r[0],
            3 => r[0] * r[1],
            _ => r[1] * r[1],
        };
        let vals: Vec<f64> = x.chunks_exact(2).map(f).collect();
        let mean = vals.iter().sum::<f64>() / n as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (var / n as f64).sqrt();
        eprintln!("{what}: statistic {s}: {mean:.4} vs {w:.4} ({:.2} SE)", (mean - w) / se);
        assert!((mean - w).abs() < 3.0 * se, "{what}: statistic {s} = {mean}, exact {w}, SE {se}");
    }
}

fn start(n: usize) -> Vec<f64> {
    ebm_core::testing::normal_vec(99, n * 2).iter().map(|v| 2.0 * v).collect()
}

/// Runs `sampler` (seed `seed`) on 6000 chains of the mixture: an
/// acceptance rate in (`min_rate`, 1) and the mixture's moments.
fn check_accepting_sampler<S: Sampler<f64, GaussianMixture<f64>>>(what: &str, sampler: S, seed: u64, min_rate: f64) {
    let model = mixture();
    let mut x = start(6000);
    let stats = sampler.sample(&model, &mut x, seed, 0).unwrap();
    let rate = stats.accept_rate.unwrap();
    eprintln!("{what} acceptance {rate:.3}");
    assert!(rate > min_rate && rate < 1.0);
    check_moments(what, &x);
}

#[test]
fn mala_matches_mixture_moments() {
    check_accepting_sampler("MALA", Mala::new(0.9, 1000), 12, 0.3);
}

#[test]
fn hmc_matches_mixture_moments() {
    check_accepting_sampler("HMC", Hmc::new(0.35, 6, 150), 13, 0.5);
}

/// For N(0, 1) ULA's stationary variance is 1/(1 − ε²/4): the chains match
/// it, and the bias shrinks with ε.
#[test]
fn ula_bias_shrinks_with_eps() {
    let model = Gaussian::<f64>::from_mean_precision(&[0.0], &[1.0]).unwrap();
    let n = 50_000;
    let mut biases = Vec::new();
    for eps in [0.8f64, 0.4, 0.2] {
        let mut x = ebm_core::testing::normal_vec(5, n);
        let steps = (8.0 / (eps * eps)).ceil() as usize;
        Ula::new(eps, steps).sample(&model, &mut x, 21, 0).unwrap();
        let var = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let want = 1.0 / (1.0 - eps * eps / 4.0);
        let se = want * (2.0 / n as f64).sqrt();
        eprintln!("ULA ε = {eps}: variance {var:.4}, theory {want:.4}, SE {se:.4}");
        assert!((var - want).abs() < 3.0 * se, "ε = {eps}: {var} vs {want}");
        biases.push(var - 1.0);
    }
    assert!(biases[0] > biases[1] && biases[1] > biases[2].abs(), "{biases:?}");
}

#[test]
fn annealed_langevin_reaches_the_mixture() {
    let model = mixture();
    let mut x = start(4000);
    let s = AnnealedLangevin::geometric(1.0, 0.1, 5, 0.1, 200);
    let stats = s.sample(&model, &mut x, 3, 0).unwrap();
    assert_eq!(stats.steps, 1000);
    assert_eq!(s.streams(), 1000);
    // ε = 0.1 at the last level: the ULA bias is below the statistical error
    check_moments("annealed", &x);
    assert!(AnnealedLangevin::new(vec![0.1, 1.0], 0.1, 1).sample(&model, &mut x, 3, 0).is_err());
}

#[test]
fn samplers_are_reproducible_and_validate() {
    let model = mixture();
    for s in [&Ula::new(0.3, 5) as &dyn Sampler<f64>, &Mala::new(0.3, 5), &Hmc::new(0.2, 3, 5)] {
        let (mut a, mut b) = (start(10), start(10));
        s.sample(&model, &mut a, 1, 7).unwrap();
        s.sample(&model, &mut b, 1, 7).unwrap();
        assert_eq!(a, b, "{}", s.name());
        let mut c = start(10);
        s.sample(&model, &mut c, 2, 7).unwrap();
        assert_ne!(a, c, "{}", s.name());
    }
    let mut x = start(3);
    assert!(matches!(Ula::new(0.0, 1).sample(&model, &mut x, 0, 0), Err(EstError::Config(_))));
    assert!(matches!(Hmc::new(0.1, 0, 1).sample(&model, &mut x, 0, 0), Err(EstError::Config(_))));
    assert!(Mala::new(f64::NAN, 1).sample(&model, &mut x, 0, 0).is_err());
}

/// A model whose Langevin methods are "backend overrides": counts calls.
struct Counting {
    inner: Gaussian<f64>,
    ula: AtomicUsize,
    mala: AtomicUsize,
}

forward_energy!(Counting, inner, "counting");

forward_trainable!(Counting, inner);

impl Objectives<f64> for Counting {}

impl Langevin<f64> for Counting {
    fn ula_at(&self, x: Chains<'_, f64>, eps: f64, steps: usize, at: NoiseAt) -> CoreResult<()> {
        self.ula.fetch_add(1, Ordering::SeqCst);
        self.inner.ula_at(x, eps, steps, at)
    }
    fn mala_at(
        &self,
        x: Chains<'_, f64>,
        eps: f64,
        steps: usize,
        at: NoiseAt,
        acc: PerSample<'_, u32>,
    ) -> CoreResult<f64> {
        self.mala.fetch_add(1, Ordering::SeqCst);
        self.inner.mala_at(x, eps, steps, at, acc)
    }
}

#[test]
fn ula_mala_and_annealed_use_the_models_own_langevin() {
    let m = Counting { inner: Gaussian::init(2, 1).unwrap(), ula: 0.into(), mala: 0.into() };
    let mut x = start(4);
    let mut y = x.clone();
    Ula::new(0.2, 3).sample(&m, &mut x, 1, 0).unwrap();
    ebm_core::langevin::ula(&m.inner, &mut y, 0.2, 3, 1, 0).unwrap();
    assert_eq!(x, y, "ULA must be the core's reference draw for draw");
    Mala::new(0.2, 3).sample(&m, &mut x, 1, 0).unwrap();
    AnnealedLangevin::new(vec![0.5, 0.2], 0.1, 2).sample(&m, &mut x, 1, 0).unwrap();
    // improved CD's last step goes through the override too
    let mut cd = Cd::new(Mala::new(0.2, 2)).with_kl(KlTerm { weight: 1.0, eps: 0.1 });
    cd.prepare(&m, &start(4), StepCtx::new(0, 0)).unwrap();
    assert_eq!(m.ula.load(Ordering::SeqCst), 1 + 2 + 1);
    assert_eq!(m.mala.load(Ordering::SeqCst), 2);
    let _ = <f64 as Real>::NAME;
}

/// The noise-conditional form runs level i on model i: with every level the
/// same model it is the plain form bit for bit, and it checks its inputs.
#[test]
fn annealed_langevin_conditional_matches_the_plain_form_and_validates() {
    let m = mixture();
    let a = AnnealedLangevin::geometric(3.0, 1.0, 4, 0.2, 25);
    let (mut x1, mut x2) = (start(64), start(64));
    let s1 = a.sample(&m, &mut x1, 7, 3).unwrap();
    let levels: Vec<&dyn Langevin<f64>> = vec![&m; 4];
    let s2 = a.sample_conditional(&levels, &mut x2, 7, 3).unwrap();
    assert_eq!(x1, x2);
    assert_eq!(s1, s2);
    assert!(matches!(a.sample_conditional(&levels[..3], &mut x2, 7, 3), Err(EstError::Config(_))));
    let g = Gaussian::<f64>::init(3, 0).unwrap();
    let mixed: Vec<&dyn Langevin<f64>> = vec![&m, &m, &m, &g];
    assert!(matches!(a.sample_conditional(&mixed, &mut x2, 7, 3), Err(EstError::Config(_))));
}
