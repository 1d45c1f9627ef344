//! # ebm-kernels
//!
//! Fused CubeCL kernels on wgpu for ebm, each checked against its CPU twin
//! in `ebm-core`.
//!
//! - [`device`]: adapter choice (`EBM_ADAPTER`), [`DeviceInfo`], [`list_adapters`].
//! - [`philox`]: Philox4x32-10 in-kernel, the twin of `ebm_core::rng`.

pub mod device;
pub mod error;
pub mod launch;
pub mod philox;

pub use cubecl;
pub use device::{list_adapters, AdapterKind, AdapterSelector, DeviceInfo, DeviceLimits, GpuDevice};
pub use error::{KernelError, Result, INSTALL_HINT};
pub mod act;
pub mod fused;
pub mod mlp;
pub mod nce;
pub mod spec;
pub mod families;
pub mod family;
pub mod gpu_energy;
pub mod grad;

pub use family::GpuFamily;
pub use gpu_energy::{GpuEnergy, NceOut};
pub mod plan;
pub mod probe;
