//! The scalability setup of sliced score matching (Song, Garg, Shi & Ermon
//! 2019, §5.1): data N(0, I_D) for growing D, an MLP energy trained by exact
//! SM (seed eq 12), sliced SM and SSM-VR (seed §3.3) and DSM (seed eq 13);
//! time per training step against D, and the Fisher divergence (seed eq 8)
//! of the fitted model to the truth on held-out data, whose score −x is
//! known.
//!
//! Exact SM needs the Hessian diagonal: for an MLP with two or more hidden
//! layers its cost carries a factor D (the Jacobian propagation of
//! [`ebm_core::Mlp`]), while SSM needs one Hessian-vector product per
//! projection and DSM only a score, both at a cost that does not depend on D
//! beyond the first layer's H·D.

use crate::stats::{median, MeanSd};
use crate::table::Table;
use crate::{cosine_adam_trainer, Size};
use ebm_core::{Activation, Mlp};
use ebm_estimators::data::Dataset;
use ebm_estimators::error::Result;
use ebm_estimators::estimator::Estimator;
use ebm_estimators::metrics::{fisher_divergence_with, Estimate};
use ebm_estimators::seeds::derive_seed;
use ebm_estimators::train::Control;
use ebm_estimators::{Dsm, ExactSm, Projection, Ssm};
use std::time::Instant;

/// The numbers of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingConfig {
    /// The data dimensions D.
    pub dims: Vec<usize>,
    /// Hidden widths of the MLP energy (softplus).
    pub hidden: Vec<usize>,
    /// Training samples.
    pub n_train: usize,
    /// Held-out samples for the Fisher divergence.
    pub n_test: usize,
    /// Batch size.
    pub batch: usize,
    /// Training steps per (method, D).
    pub steps: usize,
    /// Adam learning rate (cosine decay to 1 % over the run).
    pub lr: f64,
    /// DSM noise level σ.
    pub dsm_sigma: f64,
    /// SSM projections per sample (Gaussian).
    pub projections: usize,
    /// The run seed (data, initialisation, noise derive from it).
    pub seed: u64,
}

impl ScalingConfig {
    /// The configuration of a given size.
    pub fn of(size: Size) -> Self {
        let base = Self {
            dims: vec![2, 8, 32, 128],
            hidden: vec![128, 128],
            n_train: 10_000,
            n_test: 2_000,
            batch: 128,
            steps: 2000,
            lr: 1e-3,
            dsm_sigma: 0.1,
            projections: 1,
            seed: 2019,
        };
        match size {
            // 1000 steps (the first version of the document ran 2000, on
            // one seed) so that three seeds fit the time budget.
            Size::Full => Self { steps: 1000, ..base },
            Size::Tiny => Self {
                dims: vec![2, 8],
                hidden: vec![16, 16],
                n_train: 512,
                n_test: 256,
                batch: 64,
                steps: 300,
                lr: 1e-2,
                ..base
            },
        }
    }
}

/// The four objectives compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Exact score matching (seed eq 12).
    ExactSm,
    /// Sliced score matching (seed §3.3).
    Ssm,
    /// SSM with the first term in closed form.
    SsmVr,
    /// Denoising score matching at one σ (seed eq 13).
    Dsm,
}

impl Method {
    /// All four, in table order.
    pub const ALL: [Method; 4] = [Method::ExactSm, Method::Ssm, Method::SsmVr, Method::Dsm];

    /// The table label.
    pub fn label(self) -> &'static str {
        match self {
            Method::ExactSm => "exact SM",
            Method::Ssm => "SSM",
            Method::SsmVr => "SSM-VR",
            Method::Dsm => "DSM",
        }
    }

    fn estimator(self, cfg: &ScalingConfig) -> Box<dyn Estimator<f32>> {
        match self {
            Method::ExactSm => Box::new(ExactSm::new()),
            Method::Ssm => Box::new(Ssm::new(cfg.projections, Projection::Gaussian)),
            Method::SsmVr => Box::new(Ssm::new(cfg.projections, Projection::Gaussian).variance_reduced()),
            Method::Dsm => Box::new(Dsm::new(cfg.dsm_sigma)),
        }
    }
}

/// One (method, D) run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRow {
    /// The objective.
    pub method: Method,
    /// The data dimension.
    pub dim: usize,
    /// 10th percentile of the wall times of the training steps (prepare +
    /// loss + gradient + Adam update), in milliseconds: the least disturbed
    /// steps, robust to other jobs on the machine.
    pub ms_per_step: f64,
    /// The held-out Fisher divergence to N(0, I) after training.
    pub fisher: Estimate,
    /// Set if training stopped on a non-finite value (the model keeps the
    /// last finite parameters).
    pub error: Option<String>,
}

/// The outcome: every (method, D) run, and the Fisher divergence of the
/// common initialisation at each D.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingResult {
    /// The configuration that ran.
    pub config: ScalingConfig,
    /// One row per (method, D), methods in [`Method::ALL`] order within each D.
    pub rows: Vec<ScalingRow>,
    /// (D, Fisher divergence of the untrained model).
    pub init_fisher: Vec<(usize, Estimate)>,
}

fn fisher_to_standard_normal(model: &Mlp<f32>, test: &Dataset<f32>) -> Result<Estimate> {
    fisher_divergence_with(|x, s| s.iter_mut().zip(x).for_each(|(s, x)| *s = -x), model, test.as_slice())
}

/// Runs every method at every D.
pub fn run(cfg: &ScalingConfig) -> Result<ScalingResult> {
    let mut rows = Vec::new();
    let mut init_fisher = Vec::new();
    for &d in &cfg.dims {
        let mut eye = vec![0.0; d * d];
        (0..d).for_each(|i| eye[i * d + i] = 1.0);
        let mean = vec![0.0; d];
        let train = Dataset::<f32>::gaussian(&mean, &eye, cfg.n_train, derive_seed(cfg.seed, 1, d as u64))?;
        let test = Dataset::<f32>::gaussian(&mean, &eye, cfg.n_test, derive_seed(cfg.seed, 2, d as u64))?;
        let init = Mlp::<f32>::init(d, &cfg.hidden, Activation::Softplus, derive_seed(cfg.seed, 3, d as u64))?;
        init_fisher.push((d, fisher_to_standard_normal(&init, &test)?));
        for method in Method::ALL {
            let mut model = init.clone();
            let mut trainer = cosine_adam_trainer(
                method.estimator(cfg),
                cfg.lr,
                cfg.batch,
                cfg.steps,
                derive_seed(cfg.seed, 4, d as u64),
            );
            let mut times = Vec::with_capacity(cfg.steps);
            let mut last = Instant::now();
            let fit = trainer.fit(&mut model, &train, None, |_| {
                let now = Instant::now();
                times.push((now - last).as_secs_f64());
                last = now;
                Control::Continue
            });
            let error = fit.err().map(|e| e.to_string());
            times.sort_by(f64::total_cmp);
            let ms_per_step = if times.is_empty() { f64::NAN } else { 1e3 * times[times.len() / 10] };
            let fisher = fisher_to_standard_normal(&model, &test)?;
            rows.push(ScalingRow { method, dim: d, ms_per_step, fisher, error });
        }
    }
    Ok(ScalingResult { config: cfg.clone(), rows, init_fisher })
}

impl ScalingResult {
    /// The row of (method, D).
    pub fn row(&self, method: Method, dim: usize) -> Option<&ScalingRow> {
        self.rows.iter().find(|r| r.method == method && r.dim == dim)
    }

    /// Time per step: one row per method, one column per D, and the growth.
    pub fn time_table(&self) -> Table {
        time_table(std::slice::from_ref(self))
    }

    /// Held-out Fisher divergence ± standard error, with the untrained model.
    pub fn fisher_table(&self) -> Table {
        fisher_table(std::slice::from_ref(self))
    }
}

/// The median over runs (seeds) of the step time of (method, D), in ms.
pub fn ms_per_step(runs: &[ScalingResult], method: Method, dim: usize) -> f64 {
    median(runs.iter().filter_map(|r| r.row(method, dim)).map(|r| r.ms_per_step))
}

/// The held-out Fisher divergence of (method, D) over runs (seeds).
pub fn fisher(runs: &[ScalingResult], method: Method, dim: usize) -> MeanSd {
    MeanSd::of(runs.iter().filter_map(|r| r.row(method, dim)).map(|r| r.fisher.value))
}

/// Step time at the largest D over that at the smallest (medians over runs).
pub fn time_growth(runs: &[ScalingResult], method: Method) -> f64 {
    let dims = &runs[0].config.dims;
    let (lo, hi) = (dims[0], *dims.last().expect("dims"));
    ms_per_step(runs, method, hi) / ms_per_step(runs, method, lo)
}

/// Time per step over runs (the median over seeds of each run's 10th
/// percentile): one row per method, one column per D, and the growth.
pub fn time_table(runs: &[ScalingResult]) -> Table {
    let dims = &runs[0].config.dims;
    let mut header = vec!["method".to_string()];
    header.extend(dims.iter().map(|d| format!("D = {d}")));
    header.push(format!("D = {} / D = {}", dims.last().expect("dims"), dims[0]));
    let mut t = Table { header, rows: Vec::new() };
    for m in Method::ALL {
        let mut r = vec![m.label().to_string()];
        r.extend(dims.iter().map(|&d| format!("{:.2}", ms_per_step(runs, m, d))));
        r.push(format!("×{:.1}", time_growth(runs, m)));
        t.push(r);
    }
    t
}

/// Held-out Fisher divergence with the untrained model: for one run the
/// value ± its standard error over the held-out samples, for several runs
/// (seeds) the mean ± sample sd over the runs.
pub fn fisher_table(runs: &[ScalingResult]) -> Table {
    let dims = &runs[0].config.dims;
    let mut header = vec!["method".to_string()];
    header.extend(dims.iter().map(|d| format!("D = {d}")));
    let mut t = Table { header, rows: Vec::new() };
    let fmt = |values: Vec<&Estimate>| match values.as_slice() {
        [one] => format!("{:.4} ± {:.4}", one.value, one.std_err),
        _ => MeanSd::of(values.iter().map(|e| e.value)).fmt(4),
    };
    let mut r = vec!["(untrained)".to_string()];
    r.extend((0..dims.len()).map(|i| fmt(runs.iter().map(|run| &run.init_fisher[i].1).collect())));
    t.push(r);
    for m in Method::ALL {
        let mut r = vec![m.label().to_string()];
        r.extend(dims.iter().map(|&d| {
            let rows: Vec<&ScalingRow> = runs.iter().filter_map(|run| run.row(m, d)).collect();
            let diverged = rows.iter().filter(|r| r.error.is_some()).count();
            let mark = if diverged > 0 { format!(" ({diverged} diverged)") } else { String::new() };
            format!("{}{mark}", fmt(rows.iter().map(|r| &r.fisher).collect()))
        }));
        t.push(r);
    }
    t
}
