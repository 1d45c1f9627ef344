//! `--estimator` names and the objects they build.
//!
//! | name | estimator | options (config keys) |
//! | --- | --- | --- |
//! | `cd` | CD-k, ULA negatives started at the data | `mcmc_steps`, `mcmc_eps`, `l2_energy` |
//! | `pcd` | persistent CD with a replay buffer (uniform noise over the data's range) | + `pcd_buffer`, `pcd_reinit` |
//! | `icd` | improved CD: CD-k plus the KL term | + `kl_weight` |
//! | `esm` | exact score matching (seed eq 12) | — |
//! | `dsm` | denoising score matching (antithetic noise by default) | `dsm_sigma`, `dsm_levels`, `dsm_sigma_min`, `dsm_antithetic` |
//! | `ssm` | sliced score matching, Gaussian projections | `ssm_projections` |
//! | `ssm-vr` | sliced score matching, variance reduced | `ssm_projections` |
//! | `nce` | NCE with a Gaussian fitted to the data as noise, learned log Z | `nce_nu` |
//! | `lsd` | learned Stein discrepancy with an MLP critic | `lsd_hidden`, `lsd_lambda`, `lsd_critic_steps`, `lsd_critic_lr` |

use crate::config::TrainSettings;
use crate::error::{usage, Result};
use ebm_estimators::icd::KlTerm;
use ebm_estimators::{
    Adam, Cd, CriticActivation, Dataset, Dsm, Estimator, ExactSm, GaussianNoise, InitNoise, Lsd, Nce, Optimizer, Pcd,
    Projection, Schedule, Sgd, Ssm, Ula,
};

/// The estimator names.
pub const NAMES: [&str; 9] = ["cd", "pcd", "icd", "esm", "dsm", "ssm", "ssm-vr", "nce", "lsd"];

/// Builds the estimator `s.estimator` for data `train` (used by NCE's noise
/// law and PCD's initial chains).
pub fn build(s: &TrainSettings, train: &Dataset<f32>) -> Result<Box<dyn Estimator<f32>>> {
    let ula = || Ula::new(s.mcmc_eps, s.mcmc_steps);
    let (lo, hi) = train
        .as_slice()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v as f64), b.max(v as f64)));
    Ok(match s.estimator.as_str() {
        "cd" => Box::new(Cd::<f32, _>::new(ula()).with_l2(s.l2_energy)),
        "icd" => Box::new(
            Cd::<f32, _>::new(ula()).with_l2(s.l2_energy).with_kl(KlTerm { weight: s.kl_weight, eps: s.mcmc_eps }),
        ),
        "pcd" => Box::new(
            Pcd::<f32, _>::new(ula())
                .with_capacity(s.pcd_buffer)
                .with_reinit_prob(s.pcd_reinit)
                .with_init(InitNoise::Uniform { lo, hi: hi.max(lo + 1e-3) })
                .with_l2(s.l2_energy),
        ),
        "esm" => Box::new(ExactSm::new()),
        "dsm" => {
            let dsm = if s.dsm_levels <= 1 {
                Dsm::<f32>::new(s.dsm_sigma)
            } else {
                Dsm::<f32>::geometric(s.dsm_sigma, s.dsm_sigma_min, s.dsm_levels)
            };
            Box::new(if s.dsm_antithetic { dsm.with_antithetic() } else { dsm })
        }
        "ssm" => Box::new(Ssm::<f32>::new(s.ssm_projections, Projection::Gaussian)),
        "ssm-vr" => Box::new(Ssm::<f32>::new(s.ssm_projections, Projection::Gaussian).variance_reduced()),
        "nce" => Box::new(Nce::<f32>::new(GaussianNoise::fit(train)?, s.nce_nu)),
        "lsd" => Box::new(Lsd::<f32>::new(
            train.dim(),
            &s.lsd_hidden,
            CriticActivation::Swish,
            s.lsd_lambda,
            s.lsd_critic_steps,
            s.lsd_critic_lr,
            s.seed,
        )?),
        other => return usage(format!("unknown estimator `{other}` (expected one of {})", NAMES.join(", "))),
    })
}

/// The learning-rate schedule `s.lr_schedule`: `constant`, or `cosine`
/// from `lr` down to `lr`/100 over T = `lr_decay_steps` (the run's `steps`
/// when 0), ηₜ = η·(0.01 + 0.99·½(1 + cos(π·min(t, T)/T))).
pub fn schedule(s: &TrainSettings) -> Result<Schedule> {
    Ok(match s.lr_schedule.as_str() {
        "constant" => Schedule::Constant,
        "cosine" => {
            let total_steps = if s.lr_decay_steps > 0 { s.lr_decay_steps } else { s.steps };
            Schedule::Cosine { total_steps, final_factor: 0.01 }
        }
        other => return usage(format!("unknown lr_schedule `{other}` (expected constant or cosine)")),
    })
}

/// Builds the optimizer `s.optimizer` with the schedule of [`schedule`].
pub fn optimizer(s: &TrainSettings) -> Result<Box<dyn Optimizer<f32>>> {
    let sched = schedule(s)?;
    Ok(match s.optimizer.as_str() {
        "adam" => Box::new(Adam::new(s.lr).with_weight_decay(s.weight_decay).with_schedule(sched)),
        "sgd" => {
            let mut o = Sgd::new(s.lr, 0.9).with_schedule(sched);
            o.weight_decay = s.weight_decay;
            Box::new(o)
        }
        other => return usage(format!("unknown optimizer `{other}` (expected adam or sgd)")),
    })
}
