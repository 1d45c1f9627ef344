//! PCD's replay buffer (Du & Mordatch 2019; `ebm_estimators::pcd`): the
//! re-initialisation rate, the law of re-initialised chains, and the
//! persistence of chains across steps.
//!
//! The sampler is a deterministic shift x ← x + δ (δ = 1), so a negative
//! row either continues a buffer row (it equals that row + δ exactly) or was
//! re-initialised (it does not). The chain indices are replayed from the
//! documented stream `uniform(ctx.key(PCD_INDEX), 0, j)`, which makes every
//! step's bookkeeping exact: row j of the negatives starts from buffer row
//! idx_j or from fresh noise, and is written back to buffer row idx_j.

mod common;

use common::stats::{binomial_z, ks_sqrt_n, normal_cdf, KS_BOUND};
use ebm_core::gaussian::Gaussian;
use ebm_core::{rng, Real};
use ebm_estimators::seeds::tags;
use ebm_estimators::*;

/// x ← x + δ, no randomness.
struct Shift(f64);

impl SamplerBase for Shift {
    fn name(&self) -> &'static str {
        "shift"
    }
    fn streams(&self) -> u64 {
        0
    }
}

impl<M: ?Sized> Sampler<f64, M> for Shift {
    fn sample(&self, _: &M, x: &mut [f64], _: u64, _: u64) -> ebm_estimators::Result<SamplerStats> {
        x.iter_mut().for_each(|v| *v += self.0);
        Ok(SamplerStats { steps: 1, accept_rate: None, mean_sq_jump: self.0 * self.0 })
    }
}

const D: usize = 2;
const DELTA: f64 = 1.0;
const SEED: u64 = 9;

/// What a run of PCD steps showed.
struct Run {
    /// Chains drawn (B × steps).
    draws: usize,
    /// Chains that did not continue a buffer row, counted from the rows.
    fresh: usize,
    /// Σ `StepInfo::reinitialised`.
    reported: usize,
    /// The coordinates of the fresh chains before the shift.
    fresh_values: Vec<f64>,
    /// The largest number of shifts any buffer chain has accumulated.
    max_age: f64,
}

/// Runs `steps` PCD steps with batch `b` and checks each step's buffer
/// bookkeeping exactly. The buffer starts at zeros, so a chain's first
/// coordinate minus its initial value counts the steps it persisted.
fn run(p: f64, init: InitNoise, capacity: usize, b: usize, steps: u64) -> Run {
    let model = Gaussian::<f64>::init(D, 1).unwrap();
    let mut pcd = Pcd::new(Shift(DELTA)).with_capacity(capacity).with_reinit_prob(p).with_init(init);
    pcd.load_state(&[("buffer".into(), vec![0.0; capacity * D])]).unwrap();
    let x = vec![0.5; b * D];
    let mut out = Run { draws: 0, fresh: 0, reported: 0, fresh_values: Vec::new(), max_age: 0.0 };
    for step in 0..steps {
        let ctx = StepCtx::new(SEED, step);
        let before = pcd.buffer().to_vec();
        let info = pcd.prepare(&model, &x, ctx).unwrap();
        let neg = pcd.negatives().unwrap().to_vec();
        let mut u = vec![0f64; b];
        rng::fill_uniform(ctx.key(tags::PCD_INDEX), 0, 0, &mut u);
        let mut expected = before.clone();
        for (j, uj) in u.iter().enumerate() {
            let i = ((uj * capacity as f64) as usize).min(capacity - 1);
            let row = &neg[j * D..(j + 1) * D];
            let continued = row.iter().zip(&before[i * D..(i + 1) * D]).all(|(n, b)| *n == b + DELTA);
            if !continued {
                out.fresh += 1;
                out.fresh_values.extend(row.iter().map(|v| v - DELTA));
            }
            expected[i * D..(i + 1) * D].copy_from_slice(row);
        }
        assert_eq!(
            pcd.buffer(),
            &expected[..],
            "step {step}: the buffer is not the old one with the chains written back"
        );
        out.reported += info.reinitialised.expect("PCD reports re-initialised chains");
        out.draws += b;
    }
    out.max_age = pcd.buffer().chunks(D).map(|r| r[0].to_f64()).fold(0.0, f64::max);
    out
}

/// The number of re-initialised chains is Binomial(B·steps, p): within 5
/// standard deviations of its mean, and as many as `reinitialised` says.
/// Power: the same count is > 20 sd away from the counts that p = 0 or 2p
/// would give (for p = 0 any re-initialisation is infinitely far).
#[test]
fn reinitialisation_rate_is_binomial() {
    let p = 0.05;
    let r = run(p, InitNoise::Gaussian { mean: 40.0, std: 1.0 }, 2000, 100, 200);
    let z = binomial_z(r.fresh, r.draws, p);
    eprintln!("re-initialised {} of {} (reported {}), z = {z:.2}", r.fresh, r.draws, r.reported);
    assert_eq!(r.fresh, r.reported, "StepInfo::reinitialised disagrees with the chains");
    assert!(z < 5.0, "re-initialisation count {} of {} is {z:.1} sd from p = {p}", r.fresh, r.draws);
    for wrong in [0.0, 2.0 * p] {
        let zw = binomial_z(r.fresh, r.draws, wrong);
        assert!(zw > 20.0, "power: the count does not tell p = {p} from {wrong} (z = {zw:.1})");
    }
}

/// Re-initialised chains follow the configured law (Kolmogorov–Smirnov on
/// every coordinate), not the default N(0, 1) nor a law with a wrong scale.
#[test]
fn reinitialised_chains_follow_the_configured_law() {
    let (mean, std) = (3.0, 0.5);
    let r = run(0.3, InitNoise::Gaussian { mean, std }, 500, 100, 200);
    let ks = ks_sqrt_n(&r.fresh_values, |v| normal_cdf(v, mean, std));
    eprintln!("Gaussian law: {} values, √n·D = {ks:.3}", r.fresh_values.len());
    assert!(ks < KS_BOUND, "re-initialised chains are not N({mean}, {std}²): √n·D = {ks}");
    for (m, s) in [(0.0, 1.0), (mean, 2.0 * std), (mean + 0.5 * std, std)] {
        let w = ks_sqrt_n(&r.fresh_values, |v| normal_cdf(v, m, s));
        assert!(w > 5.0 * KS_BOUND, "power: N({m}, {s}²) is not rejected (√n·D = {w})");
    }
    let (lo, hi) = (-2.0, 5.0);
    let r = run(0.3, InitNoise::Uniform { lo, hi }, 500, 100, 200);
    let ks = ks_sqrt_n(&r.fresh_values, |v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0));
    eprintln!("uniform law: {} values, √n·D = {ks:.3}", r.fresh_values.len());
    assert!(ks < KS_BOUND, "re-initialised chains are not U({lo}, {hi}): √n·D = {ks}");
    let w = ks_sqrt_n(&r.fresh_values, |v| v.clamp(0.0, 1.0));
    assert!(w > 5.0 * KS_BOUND, "power: U(0, 1) is not rejected (√n·D = {w})");
}

/// Chains persist: with p = 0 every negative continues its buffer row (the
/// exact bookkeeping in `run`), nothing is reported re-initialised, and a
/// chain picked on many steps has been advanced on each of them. With p = 1
/// no chain continues.
#[test]
fn buffer_persists_across_steps() {
    let r = run(0.0, InitNoise::default(), 50, 20, 30);
    eprintln!("p = 0: oldest chain advanced {} times", r.max_age);
    assert_eq!((r.fresh, r.reported), (0, 0), "chains were re-initialised with p = 0");
    // 600 draws over 50 chains: each chain is picked ~12 times.
    assert!(r.max_age >= 8.0, "no chain persisted over many steps (max age {})", r.max_age);
    let r = run(1.0, InitNoise::Gaussian { mean: 40.0, std: 1.0 }, 50, 20, 5);
    assert_eq!((r.fresh, r.reported), (r.draws, r.draws), "p = 1 must re-initialise every chain");
}
