//! Model-quality numbers shared by `ebm train` (held-out split) and
//! `ebm eval --metrics`, from `ebm_estimators::metrics`:
//!
//! - `nll`: exact mean negative log-likelihood of the data, −(1/n)Σ log p(x)
//!   = mean E + log Z with log Z by adaptive quadrature (d ≤ 2 only), in f64;
//! - `ais_log_z`: log Z by annealed importance sampling from a Gaussian base
//!   fitted to the data (any d), with its standard error;
//! - `ksd2`: kernel Stein discrepancy² (U-statistic, IMQ kernel) of the data
//!   under the model, on at most 1000 points;
//! - `mmd2`: maximum mean discrepancy² (U-statistic, RBF kernel with the
//!   median bandwidth) between model samples and the data, on at most 1000
//!   points each.
//!
//! A metric that cannot be computed (a model that is not normalisable, d > 2
//! for the exact NLL) is reported under `errors` with the reason, never
//! silently dropped.

use crate::error::Result;
use crate::model::{DynModel, Model};
use crate::standardize::{Standardize, Standardized};
use ebm_core::Gaussian;
use ebm_estimators::metrics::{self, AisOptions, Kernel, QuadratureOptions, Statistic};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The numbers of one evaluation; absent fields were not requested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Points evaluated.
    pub n: usize,
    /// Exact mean NLL (d ≤ 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nll: Option<f64>,
    /// Standard error of the NLL over the points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nll_std_err: Option<f64>,
    /// log Z by quadrature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_z: Option<f64>,
    /// Its error bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_z_err_bound: Option<f64>,
    /// log Z by AIS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ais_log_z: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ais_log_z_std_err: Option<f64>,
    /// Effective sample size of the AIS weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ais_ess: Option<f64>,
    /// KSD².
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ksd2: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ksd2_std_err: Option<f64>,
    /// MMD² between model samples and the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mmd2: Option<f64>,
    /// Its standard error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mmd2_std_err: Option<f64>,
    /// Held-out mean NLL of the reference density: a 32-component
    /// full-covariance Gaussian mixture fitted by EM to the training split
    /// (d ≤ 2; [`reference_nll`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_nll: Option<f64>,
    /// Why a requested metric is missing.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub errors: BTreeMap<String, String>,
}

/// The model in f64 (for quadrature and AIS).
pub fn to_f64(model: &Model) -> Box<dyn ebm_core::Model<f64>> {
    match model {
        Model::Gaussian(m) => Box::new(m.cast::<f64>()),
        Model::Gmm(m) => Box::new(m.cast::<f64>()),
        Model::Mlp(m) => Box::new(m.cast::<f64>()),
        Model::Ica(m) => Box::new(m.cast::<f64>()),
        Model::Rbm(m) => Box::new(m.cast::<f64>()),
        Model::Formula { energy, .. } => Box::new(energy.cast::<f64>()),
    }
}

/// At most `max` rows of `x` (evenly strided).
pub fn subsample(x: &[f32], d: usize, max: usize) -> Vec<f32> {
    let n = x.len() / d;
    let step = n.div_ceil(max).max(1);
    x.chunks_exact(d).step_by(step).flatten().copied().collect()
}

/// The data's moments for the quadrature box and the AIS base (deviations
/// floored at 1e-3).
fn moments(x: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    crate::data::mean_std(x, d, 1e-3)
}

/// A quick held-out NLL for the progress display of `ebm train` (d ≤ 2):
/// log Z by the trapezoidal rule on a fixed 65 × 65 grid over ±6 data
/// standard deviations around the data's mean (no refinement, so coarser
/// than `nll`'s adaptive quadrature; shown as ≈), plus `log_det` (the
/// standardisation's Σ log s, so that the value is in data units). None
/// for d > 2, or when the grid cannot hold the density (mass at its faces,
/// as early in training).
pub fn quick_nll(energy: &dyn ebm_core::Energy<f32>, x: &[f32], log_det: f64) -> Option<f64> {
    let d = energy.dim();
    if d > 2 || x.is_empty() {
        return None;
    }
    let (mean, std) = moments(x, d);
    let opts = QuadratureOptions {
        rel_tol: 1.0,
        center: Some(mean),
        half_width: 6.0 * std.iter().cloned().fold(0.0, f64::max),
        min_points: 65,
        max_points: 65,
        max_expansions: 0,
    };
    let q = metrics::log_z_quadrature(energy, &opts).ok()?;
    let ll = metrics::log_likelihood(energy, x, q.log_z).ok()?;
    Some(log_det - ll.value)
}

/// Components of the reference mixture.
pub const REFERENCE_COMPONENTS: usize = 32;

/// The held-out mean NLL −(1/n) Σ log q(x) of the reference density q: a
/// [`REFERENCE_COMPONENTS`]-component full-covariance Gaussian mixture fitted
/// by EM to `train` (`ebm_estimators::metrics::gmm_em`), in data units.
/// The bar for a model's held-out NLL (`nll`); fewer components when the
/// training split has fewer points.
pub fn reference_nll(train: &[f32], heldout: &[f32], d: usize) -> Result<f64> {
    let opts = metrics::EmOptions { components: REFERENCE_COMPONENTS.min(train.len() / d), ..Default::default() };
    let fit = metrics::fit_gaussian_mixture(train, d, &opts)?;
    Ok(-metrics::log_likelihood(&fit.mixture, &heldout.iter().map(|&v| v as f64).collect::<Vec<_>>(), 0.0)?.value)
}

/// Which metrics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Which {
    /// Exact NLL (only attempted for d ≤ 2).
    pub nll: bool,
    /// AIS log Z.
    pub ais: bool,
    /// KSD.
    pub ksd: bool,
}

/// Computes the metrics of `model` on the data `x` (row-major n×d, in data
/// units); MMD against `samples` (data units) when given. With `map`, the
/// model is an energy of standardised z and every metric is of the energy
/// in data units ([`crate::standardize::Standardized`]).
pub fn evaluate(
    model: &Model,
    energy: &DynModel,
    x: &[f32],
    samples: Option<&[f32]>,
    which: Which,
    seed: u64,
    map: Option<&Standardize>,
) -> Result<Report> {
    let d = model.dim();
    let mut r = Report { n: x.len() / d, ..Default::default() };
    let m64_z = to_f64(model);
    let (m64, energy) = (&Standardized::new(m64_z.as_ref(), map), &Standardized::new(energy, map));
    let (mean, std) = moments(x, d);
    if which.nll {
        if d <= 2 {
            let half = 6.0 * std.iter().cloned().fold(0.0, f64::max);
            let opts = QuadratureOptions {
                rel_tol: 1e-6,
                center: Some(mean.clone()),
                half_width: half,
                min_points: 33,
                max_points: 1025,
                max_expansions: 12,
            };
            match metrics::log_z_quadrature(m64, &opts) {
                Ok(q) => {
                    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                    let ll = metrics::log_likelihood(m64, &x64, q.log_z)?;
                    r.nll = Some(-ll.value);
                    r.nll_std_err = Some(ll.std_err);
                    r.log_z = Some(q.log_z);
                    r.log_z_err_bound = Some(q.err_bound);
                }
                Err(e) => {
                    r.errors.insert("nll".into(), e.to_string());
                }
            }
        } else {
            r.errors.insert("nll".into(), format!("exact NLL needs d ≤ 2 (quadrature); d = {d}: see ais_log_z"));
        }
    }
    if which.ais {
        let prec: Vec<f64> = (0..d * d).map(|k| if k / d == k % d { 1.0 / std[k / d].powi(2) } else { 0.0 }).collect();
        let base = Gaussian::<f64>::from_mean_precision(&mean, &prec)?;
        let opts = AisOptions { chains: 256, temperatures: 200, seed, ..Default::default() };
        match metrics::ais_log_z(m64, &base, &opts) {
            Ok(a) => {
                r.ais_log_z = Some(a.log_z);
                r.ais_log_z_std_err = Some(a.std_err);
                r.ais_ess = Some(a.ess);
            }
            Err(e) => {
                r.errors.insert("ais_log_z".into(), e.to_string());
            }
        }
    }
    let xs = subsample(x, d, 1000);
    if which.ksd {
        match metrics::ksd(energy, &xs, Kernel::imq_default(), Statistic::U) {
            Ok(k) => {
                r.ksd2 = Some(k.ksd2);
                r.ksd2_std_err = Some(k.std_err);
            }
            Err(e) => {
                r.errors.insert("ksd2".into(), e.to_string());
            }
        }
    }
    if let Some(s) = samples {
        let ss = subsample(s, d, 1000);
        let res =
            metrics::median_bandwidth(&xs, d).and_then(|h| metrics::mmd(&ss, &xs, d, Kernel::rbf(h), Statistic::U));
        match res {
            Ok(m) => {
                r.mmd2 = Some(m.mmd2);
                r.mmd2_std_err = Some(m.std_err);
            }
            Err(e) => {
                r.errors.insert("mmd2".into(), e.to_string());
            }
        }
    }
    Ok(r)
}
