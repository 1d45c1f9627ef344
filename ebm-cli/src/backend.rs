//! `--backend cpu|gpu`: where a model's energies, scores, Hessian diagonals
//! and Langevin steps run.
//!
//! `gpu` puts the model on the adapter chosen by `EBM_ADAPTER` (see
//! `ebm_kernels::device`) through [`GpuEnergy`]; the estimators and samplers
//! are the same code on both. Formula models run on the CPU only.

use crate::error::{usage, CliError, Result};
use crate::model::{DynModel, Model};
use ebm_kernels::{GpuDevice, GpuEnergy};
use serde::{Deserialize, Serialize};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The CPU reference (rayon over the batch).
    #[default]
    Cpu,
    /// The fused CubeCL kernels on a wgpu adapter.
    Gpu,
}

impl Backend {
    /// `cpu` or `gpu`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

/// Opens the GPU chosen by `EBM_ADAPTER`, with a message saying how to get
/// one when there is none.
pub fn open_gpu() -> Result<GpuDevice> {
    GpuDevice::from_env().map_err(|e| CliError::Gpu(e.to_string()))
}

/// The model as an energy on `backend` (a copy of θ; read the trained θ back
/// with `params()`).
pub fn boxed(model: &Model, backend: Backend) -> Result<(Box<DynModel>, Option<String>)> {
    match backend {
        Backend::Cpu => {
            let b: Box<DynModel> = match model {
                Model::Gaussian(m) => Box::new(m.clone()),
                Model::Gmm(m) => Box::new(m.clone()),
                Model::Mlp(m) => Box::new(m.clone()),
                Model::Ica(m) => Box::new(m.clone()),
                Model::Rbm(m) => Box::new(m.clone()),
                Model::Formula { energy, .. } => Box::new(energy.clone()),
            };
            Ok((b, None))
        }
        Backend::Gpu => {
            if matches!(model, Model::Formula { .. }) {
                return usage("formula models run on the CPU only: use --backend cpu");
            }
            let dev = open_gpu()?;
            let label = dev.info().label();
            let g = |e: ebm_kernels::KernelError| CliError::Gpu(e.to_string());
            let b: Box<DynModel> = match model {
                Model::Gaussian(m) => Box::new(GpuEnergy::new(&dev, m.clone()).map_err(g)?),
                Model::Gmm(m) => Box::new(GpuEnergy::new(&dev, m.clone()).map_err(g)?),
                Model::Mlp(m) => Box::new(GpuEnergy::new(&dev, m.clone()).map_err(g)?),
                Model::Ica(m) => Box::new(GpuEnergy::new(&dev, m.clone()).map_err(g)?),
                Model::Rbm(m) => Box::new(GpuEnergy::new(&dev, m.clone()).map_err(g)?),
                Model::Formula { .. } => unreachable!("refused above"),
            };
            Ok((b, Some(label)))
        }
    }
}
