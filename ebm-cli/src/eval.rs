//! `ebm eval`: energies, scores and Hessian diagonals of a model at given
//! points (a file, or a built-in data set), and optionally the metrics of
//! [`crate::metrics`].
//!
//! The output directory must not be a training run's ([`crate::run_dir`]):
//! its `metrics.json` would replace the run's. It is created only once the
//! results are computed, so a failed start leaves nothing behind.
//!
//! Writes to the output directory:
//! - `energy.npy` \[n\]: E(x);
//! - `score.npy` [n, d]: the score −∇ₓE(x);
//! - `hess_diag.npy` [n, d]: ∂²E/∂xᵢ² (not for a ReLU MLP, whose Hessian
//!   diagonal is not a function: the command says so and writes the other
//!   two);
//! - with `--metrics`: `metrics.json` with the exact NLL (d ≤ 2), AIS log Z,
//!   KSD² of `--data` (or of the input) under the model, and MMD² between
//!   model samples (ULA from the data's moments) and that data.

use crate::backend::{self, Backend};
use crate::error::{CliError, Result};
use crate::standardize::Standardized;
use crate::{checkpoint, data, metrics, run_dir, sample};
use ebm_core::EnergyExt;
use std::path::Path;

/// Points per call of the model (bounds the memory of the Hessian pass).
const CHUNK: usize = 16_384;

/// Options of `ebm eval`.
#[derive(Debug, Clone)]
pub struct EvalArgs<'a> {
    /// The checkpoint (file or run directory).
    pub model: &'a Path,
    /// The points: a `.npy` or `.csv` file, or a built-in data set name
    /// (4096 points drawn with `seed`).
    pub input: &'a str,
    /// The output directory.
    pub out: &'a Path,
    /// Where to run.
    pub backend: Backend,
    /// Also compute metrics.
    pub metrics: bool,
    /// The data for the metrics (default: the input).
    pub data: Option<&'a str>,
    /// Seed of AIS and the MMD samples.
    pub seed: u64,
}

/// Runs `ebm eval`. Returns the metrics when requested.
pub fn run(a: &EvalArgs<'_>) -> Result<Option<metrics::Report>> {
    let run_files = run_dir::present(a.out, &run_dir::RUN_FILES);
    if !run_files.is_empty() {
        return Err(CliError::RunExists {
            out: a.out.to_path_buf(),
            files: run_files.join(", "),
            remedy: "ebm eval would replace its files: choose another --out",
        });
    }
    let ck = checkpoint::load(a.model)?;
    let model = &ck.model;
    let d = model.dim();
    let input = data::load(a.input, 4096, a.seed)?;
    input.expect_dim(d)?;
    // The model's energy (of z when it was trained standardised) and the
    // energy in data units, which every output below is of.
    let (energy_z, adapter) = backend::boxed(model, a.backend)?;
    let map = ck.standardize.as_ref();
    let energy = Standardized::new(energy_z.as_ref(), map);
    if let Some(ad) = adapter {
        eprintln!("gpu adapter: {ad}");
    }
    let n = input.rows;
    let mut e = vec![0f32; n];
    let mut s = vec![0f32; n * d];
    let hess = model.has_hess_diag();
    let mut h = if hess { vec![0f32; n * d] } else { Vec::new() };
    for (c, chunk) in input.x.chunks(CHUNK * d).enumerate() {
        let b = chunk.len() / d;
        let (e_c, s_c) = (&mut e[c * CHUNK..c * CHUNK + b], &mut s[c * CHUNK * d..c * CHUNK * d + b * d]);
        if hess {
            energy.energy_score_hess_diag(chunk, e_c, s_c, &mut h[c * CHUNK * d..c * CHUNK * d + b * d])?;
        } else {
            energy.energy_score(chunk, e_c, s_c)?;
        }
    }
    // Created only now, so a failed start leaves nothing behind.
    std::fs::create_dir_all(a.out).map_err(|source| CliError::Output { path: a.out.to_path_buf(), source })?;
    sample::write_array(&a.out.join("energy.npy"), &e, &[n])?;
    sample::write_array(&a.out.join("score.npy"), &s, &[n, d])?;
    if hess {
        sample::write_array(&a.out.join("hess_diag.npy"), &h, &[n, d])?;
    } else {
        eprintln!("note: hess_diag.npy not written: a ReLU MLP has no Hessian diagonal (σ″ is a sum of Dirac masses)");
    }
    if !a.metrics {
        return Ok(None);
    }
    let reference = match a.data {
        Some(arg) => {
            let r = data::load(arg, 4096, a.seed)?;
            r.expect_dim(d)?;
            r
        }
        None => input,
    };
    // The chains run on the model's own coordinates (z when standardised).
    let (mut mean, mut std) = reference.mean_std();
    if let Some(t) = map {
        t.moments_to_z(&mut mean, &mut std);
    }
    let opts = sample::SamplerOpts { steps: 300, ..Default::default() };
    let sampler = sample::build(&opts, std.iter().sum::<f64>() / d as f64)?;
    let n_s = reference.rows.clamp(2, 1000);
    let mut x = sample::init_chains(n_s, d, Some(&mean), Some(&std), 1.0, a.seed);
    let samples = match sample::run(energy_z.as_ref(), sampler.as_ref(), &mut x, a.seed ^ 1) {
        Ok(_) => {
            if let Some(t) = map {
                t.to_x(&mut x);
            }
            Some(x)
        }
        Err(e) => {
            eprintln!("note: no model samples for MMD: {e}");
            None
        }
    };
    let which = metrics::Which { nll: true, ais: true, ksd: true };
    let mut report = metrics::evaluate(model, energy_z.as_ref(), &reference.x, samples.as_deref(), which, a.seed, map)?;
    if samples.is_none() {
        report.errors.insert("mmd2".into(), "the sampler failed (see the note above)".into());
    }
    let text = serde_json::to_string_pretty(&report).expect("report serialises");
    let path = a.out.join("metrics.json");
    crate::atomic::write_atomic(&path, text.as_bytes()).map_err(|source| CliError::Output { path, source })?;
    for (k, v) in &report.errors {
        eprintln!("note: metric {k} not computed: {v}");
    }
    eprintln!("{text}");
    Ok(Some(report))
}
