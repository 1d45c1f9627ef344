//! Model strings (`--model`) and the models they build, in f32 (the
//! precision of the GPU kernels and of PyTorch's default checkpoints).
//!
//! | string | model |
//! | --- | --- |
//! | `gaussian` | [`Gaussian`]: N(μ, P⁻¹) with a full precision |
//! | `gmm:K[:full\|diag]` | [`GaussianMixture`] of K components (full covariances by default) |
//! | `mlp:H,H,...[:act]` | [`Mlp`] with those hidden widths; act ∈ softplus (default), tanh, silu, gelu-tanh, relu |
//! | `ica[:K[:source]]` | [`Ica`] product of experts, K experts (default d), source ∈ logcosh (default), logistic, student-t |
//! | `rbm:H` | [`GaussBernoulliRbm`] with H hidden units |
//! | `formula:FILE` (or `formula FILE`) | [`SymEnergy`] parsed from FILE |
//!
//! A formula file holds the formula text of `ebm_core::sym` (`#` starts a
//! comment). Its initial θ is 0.1·N(0, 1) from the seed, or the values of a
//! comment line `#! theta = v0, v1, ...` (the flat layout of
//! `ebm_core::sym::signature`).

use crate::error::{usage, CliError, Result};
use ebm_core::sym::SymEnergy;
use ebm_core::{rng, Activation, Covariance, GaussBernoulliRbm, Gaussian, GaussianMixture, Ica, Mlp, Source};
use std::path::{Path, PathBuf};

/// A model behind the seam's trait object, in the command line's precision:
/// what [`crate::backend::boxed`] builds (on the CPU or the GPU) and what the
/// estimators and samplers run on. (`ebm_core::Model` is the trait; this
/// crate's [`Model`] is the enum of families.)
pub type DynModel = dyn ebm_core::Model<f32>;

/// A parsed `--model` string.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// `gaussian`.
    Gaussian,
    /// `gmm:K[:full|diag]`.
    Gmm {
        /// Components.
        k: usize,
        /// Covariance structure.
        cov: Covariance,
    },
    /// `mlp:H,H,...[:act]`.
    Mlp {
        /// Hidden widths.
        hidden: Vec<usize>,
        /// Activation.
        act: Activation,
    },
    /// `ica[:K[:source]]`.
    Ica {
        /// Experts (None: the data dimension).
        k: Option<usize>,
        /// Source density.
        source: Source,
    },
    /// `rbm:H`.
    Rbm {
        /// Hidden units.
        hidden: usize,
    },
    /// `formula:FILE`.
    Formula {
        /// The formula file.
        path: PathBuf,
    },
}

/// The canonical name of an ICA source.
pub fn source_name(s: Source) -> &'static str {
    match s {
        Source::LogCosh => "logcosh",
        Source::Logistic => "logistic",
        Source::StudentT => "student-t",
    }
}

/// Parses an ICA source name.
pub fn parse_source(s: &str) -> Result<Source> {
    match s {
        "logcosh" => Ok(Source::LogCosh),
        "logistic" => Ok(Source::Logistic),
        "student-t" | "studentt" => Ok(Source::StudentT),
        other => usage(format!("unknown ICA source `{other}` (expected logcosh, logistic, student-t)")),
    }
}

fn parse_count(what: &str, s: &str) -> Result<usize> {
    match s.trim().parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => usage(format!("{what}: expected a positive integer, got `{s}`")),
    }
}

impl ModelSpec {
    /// Parses a model string (see the module docs).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("formula") {
            let path = rest.trim_start_matches([':', ' ']).trim();
            if path.is_empty() {
                return usage("formula model: give the file as `formula:FILE`");
            }
            return Ok(ModelSpec::Formula { path: PathBuf::from(path) });
        }
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["gaussian"] => Ok(ModelSpec::Gaussian),
            ["gmm", k] => Ok(ModelSpec::Gmm { k: parse_count("gmm:K", k)?, cov: Covariance::Full }),
            ["gmm", k, c] => {
                let cov = match *c {
                    "full" => Covariance::Full,
                    "diag" | "diagonal" => Covariance::Diagonal,
                    other => return usage(format!("gmm covariance `{other}`: expected full or diag")),
                };
                Ok(ModelSpec::Gmm { k: parse_count("gmm:K", k)?, cov })
            }
            ["mlp", widths] | ["mlp", widths, _] => {
                let hidden = widths.split(',').map(|w| parse_count("mlp hidden width", w)).collect::<Result<Vec<_>>>()?;
                let act = match parts.get(2) {
                    None => Activation::Softplus,
                    Some(a) => a.parse::<Activation>().map_err(|e| CliError::Usage(e.to_string()))?,
                };
                Ok(ModelSpec::Mlp { hidden, act })
            }
            ["ica"] => Ok(ModelSpec::Ica { k: None, source: Source::LogCosh }),
            ["ica", k] => Ok(ModelSpec::Ica { k: Some(parse_count("ica:K", k)?), source: Source::LogCosh }),
            ["ica", k, src] => Ok(ModelSpec::Ica { k: Some(parse_count("ica:K", k)?), source: parse_source(src)? }),
            ["rbm", h] => Ok(ModelSpec::Rbm { hidden: parse_count("rbm:H", h)? }),
            _ => usage(format!(
                "unknown model `{s}`: expected gaussian, gmm:K[:full|diag], mlp:H,H,...[:act], ica[:K[:source]], rbm:H or formula:FILE"
            )),
        }
    }

    /// The canonical string (parses back to the same spec).
    pub fn to_string_canonical(&self) -> String {
        match self {
            ModelSpec::Gaussian => "gaussian".into(),
            ModelSpec::Gmm { k, cov } => format!("gmm:{k}:{}", if *cov == Covariance::Full { "full" } else { "diag" }),
            ModelSpec::Mlp { hidden, act } => {
                format!("mlp:{}:{}", hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(","), act.name())
            }
            ModelSpec::Ica { k: None, source } => format!("ica:d:{}", source_name(*source)),
            ModelSpec::Ica { k: Some(k), source } => format!("ica:{k}:{}", source_name(*source)),
            ModelSpec::Rbm { hidden } => format!("rbm:{hidden}"),
            ModelSpec::Formula { path } => format!("formula:{}", path.display()),
        }
    }
}

/// A model on the CPU in f32, with what a checkpoint needs to rebuild it.
#[derive(Debug, Clone)]
pub enum Model {
    /// A Gaussian.
    Gaussian(Gaussian<f32>),
    /// A Gaussian mixture.
    Gmm(GaussianMixture<f32>),
    /// An MLP energy.
    Mlp(Mlp<f32>),
    /// A product of experts.
    Ica(Ica<f32>),
    /// A Gaussian-Bernoulli RBM.
    Rbm(GaussBernoulliRbm<f32>),
    /// A symbolic formula and its source text.
    Formula {
        /// The model.
        energy: SymEnergy<f32>,
        /// The formula text (stored in checkpoints).
        source: String,
    },
}

/// Reads a formula file and builds the model (θ from `#! theta = ...` or
/// 0.1·N(0, 1) from `seed`).
pub fn formula_from_file(path: &Path, seed: u64) -> Result<(SymEnergy<f32>, String)> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| CliError::Formula { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
    let energy = formula_from_source(path, &source, None, seed)?;
    Ok((energy, source))
}

/// Builds a formula model from its text, with θ given or initialised as in
/// [`formula_from_file`].
pub fn formula_from_source(path: &Path, source: &str, theta: Option<&[f32]>, seed: u64) -> Result<SymEnergy<f32>> {
    let ferr = |message: String| CliError::Formula { path: path.to_path_buf(), message };
    let formula = ebm_core::sym::parse(source).map_err(|e| ferr(e.to_string()))?;
    let p = formula.signature.num_params();
    let theta: Vec<f32> = match theta {
        Some(t) => t.to_vec(),
        None => match source.lines().map(str::trim).find_map(|l| l.strip_prefix("#!")) {
            Some(directive) => {
                let vals =
                    directive.trim().strip_prefix("theta").and_then(|r| r.trim_start().strip_prefix('=')).ok_or_else(
                        || ferr(format!("bad directive `#!{directive}`: expected `#! theta = v0, v1, ...`")),
                    )?;
                vals.split(',')
                    .map(|v| {
                        v.trim().parse::<f32>().map_err(|_| ferr(format!("`#! theta`: `{}` is not a number", v.trim())))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            None => {
                let mut t = vec![0f32; p];
                rng::fill_normal(seed, 0x666f_726d, 0, &mut t);
                t.iter_mut().for_each(|v| *v *= 0.1);
                t
            }
        },
    };
    SymEnergy::new(formula, &theta).map_err(|e| ferr(e.to_string()))
}

/// The energy inside a `Model` (`&` or `&mut`, as `$model` is borrowed).
macro_rules! as_energy {
    ($model:expr) => {
        match $model {
            Model::Gaussian(m) => m,
            Model::Gmm(m) => m,
            Model::Mlp(m) => m,
            Model::Ica(m) => m,
            Model::Rbm(m) => m,
            Model::Formula { energy, .. } => energy,
        }
    };
}

impl Model {
    /// A freshly initialised model of `spec` in dimension `dim` (a formula
    /// has the dimension it declares, whatever `dim`).
    pub fn init(spec: &ModelSpec, dim: usize, seed: u64) -> Result<Self> {
        Ok(match spec {
            ModelSpec::Gaussian => Model::Gaussian(Gaussian::init(dim, seed)?),
            ModelSpec::Gmm { k, cov } => Model::Gmm(GaussianMixture::init(dim, *k, *cov, seed)?),
            ModelSpec::Mlp { hidden, act } => Model::Mlp(Mlp::init(dim, hidden, *act, seed)?),
            ModelSpec::Ica { k, source } => Model::Ica(Ica::init(dim, k.unwrap_or(dim), *source, seed)?),
            ModelSpec::Rbm { hidden } => Model::Rbm(GaussBernoulliRbm::init(dim, *hidden, seed)?),
            ModelSpec::Formula { path } => {
                // The formula declares its own dimension; callers check the
                // data against `dim()`.
                let (energy, source) = formula_from_file(path, seed)?;
                Model::Formula { energy, source }
            }
        })
    }

    /// The family name as stored in checkpoints.
    pub fn family(&self) -> &'static str {
        match self {
            Model::Gaussian(_) => "gaussian",
            Model::Gmm(_) => "gmm",
            Model::Mlp(_) => "mlp",
            Model::Ica(_) => "ica",
            Model::Rbm(_) => "rbm",
            Model::Formula { .. } => "formula",
        }
    }

    /// A description like the `--model` string (`mlp:64,64:softplus`).
    pub fn describe(&self) -> String {
        match self {
            Model::Gaussian(_) => "gaussian".into(),
            Model::Gmm(m) => ModelSpec::Gmm { k: m.num_components(), cov: m.covariance() }.to_string_canonical(),
            Model::Mlp(m) => ModelSpec::Mlp { hidden: m.hidden().to_vec(), act: m.activation() }.to_string_canonical(),
            Model::Ica(m) => ModelSpec::Ica { k: Some(m.num_experts()), source: m.source() }.to_string_canonical(),
            Model::Rbm(m) => format!("rbm:{}", m.num_hidden()),
            Model::Formula { .. } => "formula".into(),
        }
    }

    /// The model as an energy.
    pub fn energy(&self) -> &DynModel {
        as_energy!(self)
    }

    /// The model as a mutable energy.
    pub fn energy_mut(&mut self) -> &mut DynModel {
        as_energy!(self)
    }

    /// The data dimension d.
    pub fn dim(&self) -> usize {
        self.energy().dim()
    }

    /// Whether the model has a Hessian diagonal (a ReLU MLP does not).
    pub fn has_hess_diag(&self) -> bool {
        !matches!(self, Model::Mlp(m) if !m.activation().is_smooth())
    }
}
