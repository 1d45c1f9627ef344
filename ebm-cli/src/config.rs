//! The settings of a training run: command-line flags, or the same keys in
//! a TOML file (`--config`), with flags overriding the file. The resolved
//! settings are written to `OUT/config.toml`, which `--resume OUT` reads.
//!
//! ```toml
//! data = "moons"            # a built-in set or a .npy / .csv file
//! model = "mlp:64,64,64:softplus"
//! estimator = "dsm"         # cd pcd icd esm dsm ssm ssm-vr nce lsd
//! steps = 10000
//! batch = 256
//! lr = 3e-3
//! lr_schedule = "cosine"    # or "constant"
//! seed = 0
//! backend = "cpu"
//! standardize = true
//! ```
//!
//! Every other key has a default (see [`TrainSettings`]); unknown keys are
//! an error, so a typo never goes unnoticed.
//!
//! # The defaults
//!
//! The defaults are chosen so that `ebm train --data X` with no other flag
//! fits a 2-D set well in well under a minute on two cores: the held-out
//! NLL comes within 0.2 nats of (and mostly below) that of a 32-component
//! full-covariance Gaussian mixture fitted by EM to the same training split
//! (`metrics.json`'s `reference_nll`; checked for every built-in 2-D set and
//! for shifted and rescaled data by `ebm-cli/tests/fit_defaults.rs`). They
//! are: data standardised per coordinate ([`crate::standardize`]);
//! denoising score matching at σ = 0.05 (in standardised units) with
//! antithetic noise, whose O(1/σ) gradient noise cancels to first order, so
//! that a σ this small (a small O(σ²) smoothing bias) trains; a softplus MLP
//! 64-64-64; Adam at 3e-3 decayed by a cosine to 3e-5 over 10 000 steps of
//! 256. Each piece was measured against the alternatives (a single σ = 0.1,
//! two layers, a constant rate, no antithetic noise): each one alone left
//! 2spirals 0.2–0.8 nats behind the mixture.

use crate::backend::Backend;
use crate::error::{CliError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Every setting of `ebm train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// A built-in data set name or a `.npy` / `.csv` file.
    pub data: String,
    /// Samples drawn from a built-in data set.
    pub n_data: usize,
    /// Fraction of the data held out for evaluation.
    pub heldout: f64,
    /// The model string (see [`crate::model`]).
    pub model: String,
    /// The estimator (see [`crate::estimators`]).
    pub estimator: String,
    /// Total updates of the run.
    pub steps: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// `adam` or `sgd` (momentum 0.9).
    pub optimizer: String,
    /// `cosine` (from `lr` down to `lr`/100 over `lr_decay_steps`, then
    /// flat) or `constant`.
    pub lr_schedule: String,
    /// The cosine's horizon; 0 (the default) means the run's `steps`, fixed
    /// when the run starts, so that `--resume --steps N` with a larger N
    /// continues at the final rate instead of changing the past schedule.
    pub lr_decay_steps: usize,
    /// Decoupled weight decay (Adam) or L2 (SGD).
    pub weight_decay: f64,
    /// Rescale gradients longer than this (0 = no clipping).
    pub clip_grad_norm: f64,
    /// The run seed: data, initialisation, batches, noise.
    pub seed: u64,
    /// `cpu` or `gpu`.
    pub backend: Backend,
    /// Write the checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Evaluate on the held-out split every this many steps (0: only at the end).
    pub eval_every: usize,
    /// MCMC steps per update (CD, PCD, improved CD).
    pub mcmc_steps: usize,
    /// Langevin step size ε of the negative-phase sampler.
    pub mcmc_eps: f64,
    /// Weight of the improved-CD KL term.
    pub kl_weight: f64,
    /// PCD replay buffer size.
    pub pcd_buffer: usize,
    /// PCD re-initialisation probability.
    pub pcd_reinit: f64,
    /// L2 energy penalty α(E⁺² + E⁻²) of CD / PCD.
    pub l2_energy: f64,
    /// DSM noise level (the largest one when `dsm_levels` > 1).
    pub dsm_sigma: f64,
    /// DSM noise levels (geometric from `dsm_sigma` down to `dsm_sigma_min`).
    pub dsm_levels: usize,
    /// The smallest DSM noise level.
    pub dsm_sigma_min: f64,
    /// Evaluate DSM at both x + σz and x − σz (antithetic noise: the same
    /// expected loss, with the O(1/σ) gradient noise cancelled to first
    /// order, which makes a small σ affordable).
    pub dsm_antithetic: bool,
    /// Projections per sample of sliced score matching.
    pub ssm_projections: usize,
    /// Noise samples per data sample (NCE).
    pub nce_nu: usize,
    /// Hidden widths of the LSD critic.
    pub lsd_hidden: Vec<usize>,
    /// Critic penalty λ (LSD).
    pub lsd_lambda: f64,
    /// Critic Adam steps per update (LSD).
    pub lsd_critic_steps: usize,
    /// Critic learning rate (LSD).
    pub lsd_critic_lr: f64,
    /// Train on standardised data z = (x − m)/s (per coordinate, m and s of
    /// the training split; see [`crate::standardize`]). Metrics and plots
    /// stay in data units.
    pub standardize: bool,
    /// Chains used for `samples.png` and the sample-based metrics.
    pub plot_samples: usize,
    /// ULA steps used to draw those samples.
    pub plot_sampler_steps: usize,
    /// Colour `density.png` by log₁₀(p / max p) over four decades instead
    /// of p / max p (shows weak modes).
    pub plot_log: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            data: "moons".into(),
            n_data: 4096,
            heldout: 0.1,
            model: "mlp:64,64,64:softplus".into(),
            estimator: "dsm".into(),
            steps: 10_000,
            batch: 256,
            lr: 3e-3,
            optimizer: "adam".into(),
            lr_schedule: "cosine".into(),
            lr_decay_steps: 0,
            weight_decay: 0.0,
            clip_grad_norm: 0.0,
            seed: 0,
            backend: Backend::Cpu,
            checkpoint_every: 100,
            eval_every: 100,
            mcmc_steps: 10,
            mcmc_eps: 0.1,
            kl_weight: 1.0,
            pcd_buffer: 10_000,
            pcd_reinit: 0.05,
            l2_energy: 0.0,
            dsm_sigma: 0.05,
            dsm_levels: 1,
            dsm_sigma_min: 0.01,
            dsm_antithetic: true,
            ssm_projections: 1,
            nce_nu: 1,
            lsd_hidden: vec![32, 32],
            lsd_lambda: 0.5,
            lsd_critic_steps: 5,
            lsd_critic_lr: 1e-3,
            standardize: true,
            plot_samples: 1000,
            plot_sampler_steps: 300,
            plot_log: false,
        }
    }
}

/// The settings added after the first release, with the value that
/// reproduces how a run trained before them ([`TrainSettings::from_run_file`]).
pub fn legacy() -> [(&'static str, toml::Value); 3] {
    [("lr_schedule", "constant".into()), ("dsm_antithetic", false.into()), ("standardize", false.into())]
}

impl TrainSettings {
    /// Reads a TOML file (missing keys take their defaults).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Config { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        toml::from_str(&text).map_err(|e| CliError::Config { path: path.to_path_buf(), message: e.to_string() })
    }

    /// Reads a run's own `config.toml` (for `--resume`). A key the file
    /// lacks was written by an older ebm, whose behaviour it keeps: the
    /// settings added since take their old values ([`legacy`]), not today's
    /// defaults, so that resuming an old run does not change how it trains.
    pub fn from_run_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Config { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        let err = |e: toml::de::Error| CliError::Config { path: path.to_path_buf(), message: e.to_string() };
        let mut table: toml::Table = toml::from_str(&text).map_err(err)?;
        for (key, old) in legacy() {
            table.entry(key.to_string()).or_insert(old);
        }
        table.try_into().map_err(err)
    }

    /// The TOML text of the settings.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("settings serialise to TOML")
    }

    /// Checks the numeric settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CliError::Usage(m));
        if self.batch == 0 {
            return bad("batch must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive, got {}", self.lr));
        }
        if !(self.heldout >= 0.0 && self.heldout < 1.0) {
            return bad(format!("heldout must be in [0, 1), got {}", self.heldout));
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every must be at least 1".into());
        }
        if !(self.clip_grad_norm >= 0.0 && self.clip_grad_norm.is_finite()) {
            return bad(format!("clip_grad_norm must be ≥ 0, got {}", self.clip_grad_norm));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's config.toml written before the keys of `legacy()` existed
    /// resumes as it trained (constant rate, no antithetic noise, raw data);
    /// a `--config` file lacking them gets today's defaults.
    #[test]
    fn an_old_run_file_keeps_the_old_behaviour() {
        let dir = std::env::temp_dir().join(format!("ebm-config-legacy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("config.toml");
        std::fs::write(&old, "data = \"moons\"\nsteps = 50\nlr = 0.001\n").unwrap();
        let run = TrainSettings::from_run_file(&old).unwrap();
        assert_eq!((run.lr_schedule.as_str(), run.dsm_antithetic, run.standardize), ("constant", false, false));
        assert_eq!((run.steps, run.lr), (50, 0.001));
        let cfg = TrainSettings::from_file(&old).unwrap();
        let d = TrainSettings::default();
        assert_eq!(
            (cfg.lr_schedule, cfg.dsm_antithetic, cfg.standardize),
            (d.lr_schedule.clone(), d.dsm_antithetic, d.standardize)
        );
        // A file of today's ebm round-trips unchanged.
        std::fs::write(&old, d.to_toml()).unwrap();
        assert_eq!(TrainSettings::from_run_file(&old).unwrap(), d);
        std::fs::write(&old, "stepz = 3\n").unwrap();
        assert!(TrainSettings::from_run_file(&old).is_err(), "unknown keys stay an error");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
