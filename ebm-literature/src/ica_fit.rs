//! The ICA setup of the learned Stein discrepancy paper (Grathwohl et al.
//! 2020, §6.1) at D ≤ 10: data from a square ICA model x = A s with fixed
//! mixing A and independent sources of density sech(s)/π (the
//! [`Source::LogCosh`] expert), and an [`Ica`] model of the same family fitted
//! by
//!
//! - exact maximum likelihood ([`IcaMle`]: log Z is closed-form),
//! - PCD with Langevin negatives (seed eq 2–3, eq 14),
//! - exact score matching (seed eq 12),
//! - NCE with a Gaussian noise fitted to the data (seed eq 22–24),
//! - the learned Stein discrepancy with an MLP critic (seed eq 25).
//!
//! Every fitted model is scored by its exact test NLL (log Z closed-form,
//! [`ica_nll`]), against the NLL of the true model on the same test set.
//! The mixing matrix is A = I + ½G/√D with G a fixed standard-normal draw.

use crate::stats::MeanSd;
use crate::table::Table;
use crate::{cosine_adam_trainer, Size};
use ebm_core::{rng, EnergyExt, Ica, Source};
use ebm_estimators::critic::CriticActivation;
use ebm_estimators::data::Dataset;
use ebm_estimators::error::Result;
use ebm_estimators::estimator::Estimator;
use ebm_estimators::ica_mle::{ica_nll, IcaMle};
use ebm_estimators::linalg::inverse_log_abs_det;
use ebm_estimators::pcd::{InitNoise, Pcd};
use ebm_estimators::samplers::Ula;
use ebm_estimators::seeds::derive_seed;
use ebm_estimators::{ExactSm, GaussianNoise, Lsd, Nce};

/// The numbers of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct IcaConfig {
    /// Data dimensions (square models, K = D experts).
    pub dims: Vec<usize>,
    /// Training samples.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Batch size.
    pub batch: usize,
    /// Training steps of every method.
    pub steps: usize,
    /// Adam learning rate of the model (cosine decay to 1 % over the run).
    pub lr: f64,
    /// PCD: ULA step ε and steps per training step.
    pub pcd_eps: f64,
    /// PCD: ULA steps per training step.
    pub pcd_steps: usize,
    /// NCE: noise samples per data sample.
    pub nce_nu: usize,
    /// LSD: critic hidden widths (swish).
    pub critic_hidden: Vec<usize>,
    /// LSD: critic L2 penalty λ.
    pub critic_lambda: f64,
    /// LSD: critic Adam steps per model step.
    pub critic_steps: usize,
    /// LSD: critic learning rate.
    pub critic_lr: f64,
    /// The run seed.
    pub seed: u64,
}

impl IcaConfig {
    /// The configuration of a given size.
    pub fn of(size: Size) -> Self {
        let base = Self {
            dims: vec![5, 10],
            n_train: 10_000,
            n_test: 10_000,
            batch: 128,
            steps: 2000,
            lr: 1e-2,
            pcd_eps: 0.3,
            pcd_steps: 10,
            nce_nu: 4,
            critic_hidden: vec![32, 32],
            critic_lambda: 0.5,
            critic_steps: 3,
            critic_lr: 3e-3,
            seed: 2020,
        };
        match size {
            Size::Full => base,
            Size::Tiny => Self {
                dims: vec![3],
                n_train: 2_000,
                n_test: 2_000,
                steps: 400,
                lr: 1e-2,
                critic_hidden: vec![16],
                ..base
            },
        }
    }
}

/// The fitting methods, in table order.
pub const METHODS: [&str; 5] = ["MLE (exact likelihood)", "PCD (Langevin)", "exact SM", "NCE", "LSD"];

/// The true model of dimension `d`: (W = A⁻¹, A), both d×d row-major.
pub fn true_model(d: usize, seed: u64) -> Result<(Ica<f64>, Vec<f64>)> {
    let mut a = vec![0f64; d * d];
    rng::fill_normal(derive_seed(seed, 1, d as u64), 0, 0, &mut a);
    let s = 0.5 / (d as f64).sqrt();
    a.iter_mut().for_each(|v| *v *= s);
    (0..d).for_each(|i| a[i * d + i] += 1.0);
    let (w, _) = inverse_log_abs_det(&a, d)?;
    Ok((Ica::new(d, d, Source::LogCosh, w)?, a))
}

/// n samples x = A s, sᵢ of density sech(s)/π drawn by inversion,
/// s = log tan(πu/2).
pub fn sample_ica(a: &[f64], d: usize, n: usize, key: u64) -> Result<Dataset<f64>> {
    let mut u = vec![0f64; n * d];
    rng::fill_uniform(key, 0, 0, &mut u);
    let s: Vec<f64> = u.iter().map(|&u| (std::f64::consts::FRAC_PI_2 * u.clamp(1e-9, 1.0 - 1e-9)).tan().ln()).collect();
    let mut x = vec![0f64; n * d];
    for (xr, sr) in x.chunks_exact_mut(d).zip(s.chunks_exact(d)) {
        for i in 0..d {
            xr[i] = (0..d).map(|j| a[i * d + j] * sr[j]).sum();
        }
    }
    Dataset::new(x, d)
}

/// One fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct IcaRow {
    /// The method (one of [`METHODS`]).
    pub method: &'static str,
    /// The dimension.
    pub dim: usize,
    /// Exact test NLL (nats per sample) of the fitted model.
    pub nll: f64,
    /// Set if training stopped on a non-finite value or a singular W.
    pub error: Option<String>,
    /// Wall time of the fit, in seconds.
    pub secs: f64,
}

/// The outcome at every dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct IcaResult {
    /// The configuration that ran.
    pub config: IcaConfig,
    /// (D, test NLL of the true model, test NLL of the initial model).
    pub reference: Vec<(usize, f64, f64)>,
    /// One row per (method, D).
    pub rows: Vec<IcaRow>,
}

/// log Z of `model` by importance sampling from `noise` with n draws:
/// log (1/n) Σ exp(−E(y) − log p_n(y)). NCE's starting value of its learned
/// log-normaliser c, so that c does not start orders of magnitude off.
pub fn log_z_importance(model: &Ica<f64>, noise: &GaussianNoise, n: usize, key: u64) -> Result<f64> {
    let d = noise.dim();
    let mut y = vec![0f64; n * d];
    noise.sample(key, 0, &mut y);
    let (mut e, mut lp) = (vec![0f64; n], vec![0f64; n]);
    model.energy(&y, &mut e)?;
    noise.log_density(&y, &mut lp);
    let a: Vec<f64> = e.iter().zip(&lp).map(|(e, l)| -e - l).collect();
    let m = a.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    Ok(m + (a.iter().map(|v| (v - m).exp()).sum::<f64>() / n as f64).ln())
}

fn estimator(
    method: &str,
    cfg: &IcaConfig,
    d: usize,
    train: &Dataset<f64>,
    init: &Ica<f64>,
) -> Result<Box<dyn Estimator<f64, Ica<f64>>>> {
    Ok(match method {
        "MLE (exact likelihood)" => Box::new(IcaMle::new(Source::LogCosh)),
        "PCD (Langevin)" => Box::new(
            Pcd::new(Ula::new(cfg.pcd_eps, cfg.pcd_steps))
                .with_capacity(cfg.n_train.min(10_000))
                .with_init(InitNoise::Gaussian { mean: 0.0, std: 1.5 }),
        ),
        "exact SM" => Box::new(ExactSm::new()),
        "NCE" => {
            let noise = GaussianNoise::fit(train)?;
            let c0 = log_z_importance(init, &noise, 4096, derive_seed(cfg.seed, 7, d as u64))?;
            Box::new(Nce::new(noise, cfg.nce_nu).with_log_z(c0))
        }
        _ => Box::new(Lsd::new(
            d,
            &cfg.critic_hidden,
            CriticActivation::Swish,
            cfg.critic_lambda,
            cfg.critic_steps,
            cfg.critic_lr,
            derive_seed(cfg.seed, 5, d as u64),
        )?),
    })
}

/// Fits every method at every dimension.
pub fn run(cfg: &IcaConfig) -> Result<IcaResult> {
    let mut rows = Vec::new();
    let mut reference = Vec::new();
    for &d in &cfg.dims {
        let (truth, a) = true_model(d, cfg.seed)?;
        let train = sample_ica(&a, d, cfg.n_train, derive_seed(cfg.seed, 2, d as u64))?;
        let test = sample_ica(&a, d, cfg.n_test, derive_seed(cfg.seed, 3, d as u64))?;
        let init = Ica::<f64>::init(d, d, Source::LogCosh, derive_seed(cfg.seed, 4, d as u64))?;
        reference.push((d, ica_nll(&truth, test.as_slice())?, ica_nll(&init, test.as_slice())?));
        for method in METHODS {
            let mut model = init.clone();
            let mut trainer = cosine_adam_trainer(
                estimator(method, cfg, d, &train, &init)?,
                cfg.lr,
                cfg.batch,
                cfg.steps,
                derive_seed(cfg.seed, 6, d as u64),
            );
            let t0 = std::time::Instant::now();
            let fit = trainer.fit(&mut model, &train, None, |_| ebm_estimators::train::Control::Continue);
            let mut error = fit.err().map(|e| e.to_string());
            let nll = match ica_nll(&model, test.as_slice()) {
                Ok(v) => v,
                Err(e) => {
                    error.get_or_insert(e.to_string());
                    f64::NAN
                }
            };
            rows.push(IcaRow { method, dim: d, nll, error, secs: t0.elapsed().as_secs_f64() });
        }
    }
    Ok(IcaResult { config: cfg.clone(), reference, rows })
}

impl IcaResult {
    /// The row of (method, D).
    pub fn row(&self, method: &str, dim: usize) -> Option<&IcaRow> {
        self.rows.iter().find(|r| r.method == method && r.dim == dim)
    }

    /// The true model's test NLL at D.
    pub fn true_nll(&self, dim: usize) -> f64 {
        self.reference.iter().find(|r| r.0 == dim).map_or(f64::NAN, |r| r.1)
    }

    /// Test NLL and its excess over the truth, one column pair per D.
    pub fn table(&self) -> Table {
        table(std::slice::from_ref(self))
    }
}

/// The excess test NLL over the true model of (method, D), over runs
/// (seeds; each run has its own true model, data and start).
pub fn excess(runs: &[IcaResult], method: &str, dim: usize) -> MeanSd {
    MeanSd::of(runs.iter().filter_map(|r| r.row(method, dim).map(|row| row.nll - r.true_nll(dim))))
}

/// Test NLL and its excess over the truth, one column pair per D; over
/// several runs (seeds) each cell is the mean ± sample sd over the runs.
pub fn table(runs: &[IcaResult]) -> Table {
    let mut header = vec!["model".to_string()];
    for (d, _, _) in &runs[0].reference {
        header.push(format!("test NLL, D = {d}"));
        header.push(format!("− true, D = {d}"));
    }
    let mut t = Table { header, rows: Vec::new() };
    let mut truth = vec!["true model".to_string()];
    let mut init = vec!["(untrained)".to_string()];
    for i in 0..runs[0].reference.len() {
        let reference = |f: fn(&(usize, f64, f64)) -> f64| MeanSd::of(runs.iter().map(|r| f(&r.reference[i]))).fmt(4);
        truth.extend([reference(|r| r.1), "0".into()]);
        init.extend([reference(|r| r.2), reference(|r| r.2 - r.1)]);
    }
    t.push(truth);
    t.push(init);
    for m in METHODS {
        let mut r = vec![m.to_string()];
        for &(d, _, _) in &runs[0].reference {
            let rows: Vec<&IcaRow> = runs.iter().filter_map(|run| run.row(m, d)).collect();
            let stopped = rows.iter().filter(|r| r.error.is_some()).count();
            let mark = match (stopped, runs.len()) {
                (0, _) => String::new(),
                (_, 1) => " (stopped)".into(),
                (k, _) => format!(" ({k} stopped)"),
            };
            r.extend([format!("{}{mark}", MeanSd::of(rows.iter().map(|r| r.nll)).fmt(4)), excess(runs, m, d).fmt(4)]);
        }
        t.push(r);
    }
    t
}
