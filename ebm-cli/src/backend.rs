//! `--backend cpu|gpu|gpu-fallback`: where a model's energies, scores,
//! Hessian diagonals, gradients and Langevin steps run.
//!
//! `gpu` puts the model on the adapter chosen by `EBM_ADAPTER` (see
//! `ebm_kernels::device`) through [`GpuEnergy`] (built-in families) or
//! [`GpuSym`] (formulas); the estimators and samplers are the same code on
//! both. An operation the kernels cannot hold for this model on this
//! adapter (one sample beyond a software adapter's loop budget) is an
//! error under `gpu`. Under `gpu-fallback` it runs on the CPU twin instead,
//! and every such operation is listed on stderr before the run starts.

use crate::error::{CliError, Result};
use crate::model::{DynModel, Model};
use ebm_kernels::{Fallback, GpuDevice, GpuEnergy, GpuFamily, GpuSym, Op, Placement};
use serde::{Deserialize, Serialize};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The CPU reference (rayon over the batch).
    #[default]
    Cpu,
    /// The fused CubeCL kernels on a wgpu adapter; an operation they cannot
    /// hold is an error.
    Gpu,
    /// As `gpu`, but an operation the kernels cannot hold runs on the CPU
    /// twin, listed on stderr.
    GpuFallback,
}

impl Backend {
    /// `cpu` or `gpu`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::GpuFallback => "gpu-fallback",
        }
    }
}

/// Prints, for each operation `placement` puts on the CPU twin, a line
/// saying so and why.
fn announce(placement: impl Fn(Op) -> Placement) {
    for op in Op::ALL {
        if let Placement::CpuTwin(why) = placement(op) {
            eprintln!("warning: --backend gpu-fallback: {op} runs on the CPU twin: {}", why.reason);
        }
    }
}

fn on_gpu<M: GpuFamily + 'static>(dev: &GpuDevice, m: &M, fallback: Fallback) -> Result<Box<DynModel>> {
    let g = GpuEnergy::new(dev, m.clone()).map_err(|e| CliError::Gpu(e.to_string()))?.with_fallback(fallback);
    announce(|op| g.placement(op));
    Ok(Box::new(g))
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
        Backend::Gpu | Backend::GpuFallback => {
            let dev = open_gpu()?;
            let label = dev.info().label();
            let fb = if backend == Backend::GpuFallback { Fallback::CpuTwin } else { Fallback::Refuse };
            let b: Box<DynModel> = match model {
                Model::Gaussian(m) => on_gpu(&dev, m, fb)?,
                Model::Gmm(m) => on_gpu(&dev, m, fb)?,
                Model::Mlp(m) => on_gpu(&dev, m, fb)?,
                Model::Ica(m) => on_gpu(&dev, m, fb)?,
                Model::Rbm(m) => on_gpu(&dev, m, fb)?,
                Model::Formula { energy, .. } => {
                    let g =
                        GpuSym::new(&dev, energy.clone()).map_err(|e| CliError::Gpu(e.to_string()))?.with_fallback(fb);
                    announce(|op| g.placement(op));
                    Box::new(g)
                }
            };
            Ok((b, Some(label)))
        }
    }
}
