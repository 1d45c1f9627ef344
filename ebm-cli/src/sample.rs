//! `ebm sample`: draws from a trained model with one of the samplers of
//! `ebm_estimators::samplers`, and writes the samples as `.npy` or `.csv`.
//!
//! Chains start at N(m, s²) per coordinate, with (m, s) the training data's
//! moments stored in the checkpoint (N(0, 1) when absent), times
//! `--init-scale`. Step sizes default to a fraction of the mean data
//! standard deviation s̄: ε = 0.1·s̄ (ULA, MALA, annealed), 0.2·s̄ (HMC).

use crate::backend::{self, Backend};
use crate::checkpoint::Checkpoint;
use crate::error::{usage, CliError, Result};
use crate::model::DynModel;
use ebm_core::rng;
use ebm_estimators::{AnnealedLangevin, Hmc, Mala, Sampler, SamplerStats, Ula};
use std::path::Path;

/// The samplers of `--sampler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerKind {
    /// Unadjusted Langevin (seed eq 14).
    Ula,
    /// Metropolis-adjusted Langevin.
    Mala,
    /// Hamiltonian Monte Carlo.
    Hmc,
    /// Annealed Langevin over a geometric step schedule.
    Annealed,
}

/// Sampler options.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerOpts {
    /// Which sampler.
    pub kind: SamplerKind,
    /// Transitions per chain (HMC: iterations; annealed: total ULA steps).
    pub steps: usize,
    /// Step size (None: the default of the module docs).
    pub eps: Option<f64>,
    /// Leapfrog steps per HMC iteration.
    pub leapfrog: usize,
    /// Levels of the annealed schedule.
    pub levels: usize,
    /// σ_max / σ_min of the annealed schedule.
    pub anneal_ratio: f64,
}

impl Default for SamplerOpts {
    fn default() -> Self {
        Self { kind: SamplerKind::Ula, steps: 500, eps: None, leapfrog: 10, levels: 5, anneal_ratio: 5.0 }
    }
}

/// The mean of the data standard deviations stored in `ck` (1 if absent).
pub fn data_scale(ck: &Checkpoint) -> f64 {
    match &ck.data_std {
        Some(s) if !s.is_empty() => s.iter().sum::<f64>() / s.len() as f64,
        _ => 1.0,
    }
}

/// Builds the sampler; `scale` is the data scale s̄ for default step sizes.
pub fn build(o: &SamplerOpts, scale: f64) -> Result<Box<dyn Sampler<f32>>> {
    if o.steps == 0 {
        return usage("--steps must be at least 1");
    }
    let eps = |f: f64| o.eps.unwrap_or(f * scale);
    Ok(match o.kind {
        SamplerKind::Ula => Box::new(Ula::new(eps(0.1), o.steps)),
        SamplerKind::Mala => Box::new(Mala::new(eps(0.1), o.steps)),
        SamplerKind::Hmc => Box::new(Hmc::new(eps(0.2), o.leapfrog, o.steps)),
        SamplerKind::Annealed => {
            let levels = o.levels.max(1);
            if o.anneal_ratio.is_nan() || o.anneal_ratio < 1.0 {
                return usage("--anneal-ratio must be ≥ 1");
            }
            Box::new(AnnealedLangevin::geometric(o.anneal_ratio, 1.0, levels, eps(0.1), o.steps.div_ceil(levels)))
        }
    })
}

/// `n` initial chains (see the module docs), row-major n×d.
pub fn init_chains(n: usize, dim: usize, mean: Option<&[f64]>, std: Option<&[f64]>, scale: f64, seed: u64) -> Vec<f32> {
    let mut z = vec![0f64; n * dim];
    rng::fill_normal(seed, 0x696e_6974, 0, &mut z);
    let mut x = vec![0f32; n * dim];
    for (i, (xi, zi)) in x.iter_mut().zip(&z).enumerate() {
        let j = i % dim;
        let m = mean.map_or(0.0, |m| m[j]);
        let s = std.map_or(1.0, |s| s[j]);
        *xi = (m + scale * s * zi) as f32;
    }
    x
}

/// Runs `sampler` on `x` in place.
pub fn run(model: &DynModel, sampler: &dyn Sampler<f32>, x: &mut [f32], seed: u64) -> Result<SamplerStats> {
    sampler.sample(model, x, seed, 0).map_err(CliError::from)
}

/// `ebm sample`: draws `n` samples from the checkpoint at `model_path` and
/// writes them to `out` (`.npy` or `.csv`).
pub fn command(
    model_path: &Path,
    n: usize,
    opts: &SamplerOpts,
    out: &Path,
    seed: u64,
    init_scale: f64,
    backend: Backend,
) -> Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("npy") | Some("csv")) {
        return usage(format!("--out {}: the file must end in .npy or .csv", out.display()));
    }
    if n == 0 {
        return usage("--n must be at least 1");
    }
    let ck = crate::checkpoint::load(model_path)?;
    let d = ck.model.dim();
    // The chains in f32 (4), their f64 start (8), and ≤ 4 f64 buffers of the
    // samplers (score, noise, proposal, momentum: 32), per coordinate.
    let how = "n × d × 48 bytes: the chains, their start and the sampler's buffers";
    crate::memory::ensure(&format!("--n {n} (d = {d})"), how, crate::memory::product(&[n, d, 48]))?;
    let sampler = build(opts, data_scale(&ck))?;
    let (energy, adapter) = backend::boxed(&ck.model, backend)?;
    if let Some(a) = adapter {
        eprintln!("gpu adapter: {a}");
    }
    let mut x = init_chains(n, d, ck.data_mean.as_deref(), ck.data_std.as_deref(), init_scale, seed);
    let t0 = std::time::Instant::now();
    let stats = run(energy.as_ref(), sampler.as_ref(), &mut x, seed)?;
    let secs = t0.elapsed().as_secs_f64();
    match stats.accept_rate {
        Some(a) => eprintln!("{} chains × {} transitions in {secs:.2} s, acceptance rate {a:.3}", n, stats.steps),
        None => eprintln!("{} chains × {} transitions in {secs:.2} s", n, stats.steps),
    }
    // A model trained on standardised data ran its chains in z: back to x.
    if let Some(t) = &ck.standardize {
        t.to_x(&mut x);
    }
    write_array(out, &x, &[n, d])
}

/// Writes a row-major array as `.npy` or (2-D only) `.csv`, atomically.
pub fn write_array(path: &Path, data: &[f32], shape: &[usize]) -> Result<()> {
    let is_csv = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let bytes = if is_csv {
        crate::csv::to_text(data, *shape.last().unwrap_or(&1)).into_bytes()
    } else {
        crate::npy::to_bytes(data, shape)
    };
    crate::atomic::write_atomic(path, &bytes).map_err(|source| CliError::Output { path: path.to_path_buf(), source })
}
