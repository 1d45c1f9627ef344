//! # ebm-kernels
//!
//! Fused CubeCL (0.11, wgpu runtime) kernels for ebm, each checked against
//! its CPU twin in `ebm-core`.
//!
//! - [`device`]: adapter choice ([`GpuDevice::from_env`] reads `EBM_ADAPTER`:
//!   `default`, `cpu`, `discrete`, `integrated`, `#N`, or a name substring),
//!   [`DeviceInfo`] (name, backend, device type, limits), [`list_adapters`];
//!   no adapter is a typed [`KernelError::NoAdapter`] with the install hint.
//! - [`GpuEnergy`]: a model held on the device that implements
//!   `ebm_core::Energy<f32>`, so estimator code runs unchanged on the GPU:
//!   fused energy / score / exact Hessian diagonal ([`fused`], [`mlp`],
//!   [`families`]), K Langevin (ULA, MALA) steps per launch with in-kernel
//!   Philox noise ([`philox`]), Σ w∇θE on the device ([`grad`]),
//!   Σ w∇θ(vᵀ∇ₓE) ([`grad_vdx`]) and Σ w∇θ of the score-matching integrand
//!   ([`grad_sm`]) on the device (MLP, and the other families through
//!   [`grad_families`] and [`grad_mixture`]), the Hessian quadratic form
//!   vᵀ∇ₓ²E v for the MLP and the Gaussian ([`vhv`]), and a fused
//!   NCE loss + gradient ([`nce`], [`GpuEnergy::nce_loss_grad`]).
//! - [`GpuSym`]: a symbolic energy (`ebm_core::sym::SymEnergy<f32>`) whose
//!   energy, score and Hessian diagonal run as one fused kernel per
//!   program: the SSA program is a `#[comptime]` argument unrolled into
//!   straight-line shader code ([`sym`], [`sym_ops`]).
//! - [`plan`] / [`probe`]: Mesa's llvmpipe (lavapipe) silently stops an
//!   invocation's loops after 65 536 iterations in total; the budget is
//!   measured at bring-up and launches are split to fit it.
//!
//! Families: MLP (Softplus, Tanh, SiLU, GELU-tanh, ReLU), Gaussian, ICA
//! (log cosh, logistic, Student-t), Gaussian mixture (full, diagonal),
//! Gaussian–Bernoulli RBM, all f32, one thread per sample, θ staged in
//! workgroup shared memory when it fits.
//! Each family's device functions live in its own module, beside its CPU
//! twin in `ebm_core`: [`mlp`] (and the tiled [`mlp2`]), [`gaussian`],
//! [`ica`], [`mixture`], [`rbm`], [`sym`]; the per-operation modules
//! ([`fused`], [`grad`], [`vhv`], …) dispatch to them on the compile-time
//! [`spec::Spec`], and the θ-gradient rows of every target go through one
//! kernel, [`param_rows::param_rows_kernel()`], whose target is a
//! compile-time [`param_rows::RowTarget`].
//!
//! # Example: the same model on the CPU and on the GPU
//!
//! Needs a wgpu adapter; on a machine without a GPU, lavapipe
//! (`apt-get install mesa-vulkan-drivers`) gives one, and
//! [`GpuDevice::from_env`] says so when there is none.
//!
//! ```
//! use ebm_core::prelude::*;
//! use ebm_core::{Activation, Mlp};
//! use ebm_kernels::{GpuDevice, GpuEnergy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cpu = Mlp::<f32>::init(2, &[8, 8], Activation::Softplus, 0)?;
//! let gpu = GpuEnergy::new(&GpuDevice::from_env()?, cpu.clone())?;
//! let x = [0.5f32, -1.0, 1.5, 0.25];
//! let (mut e, mut s, mut h) = ([0f32; 2], [0f32; 4], [0f32; 4]);
//! gpu.energy_score_hess_diag(&x, &mut e, &mut s, &mut h)?;
//! let (mut e_cpu, mut s_cpu, mut h_cpu) = ([0f32; 2], [0f32; 4], [0f32; 4]);
//! cpu.energy_score_hess_diag(&x, &mut e_cpu, &mut s_cpu, &mut h_cpu)?;
//! for (a, b) in e.iter().chain(&s).chain(&h).zip(e_cpu.iter().chain(&s_cpu).chain(&h_cpu)) {
//!     assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
//! }
//! # Ok(())
//! # }
//! ```

pub mod act;
pub mod chains;
pub mod device;
pub mod error;
pub mod fallback;
pub mod families;
pub mod family;
pub mod fused;
pub mod gaussian;
pub mod gpu_energy;
pub mod gpu_sym;
pub mod grad;
pub mod grad_families;
pub mod grad_mixture;
pub mod grad_sm;
pub mod grad_vdx;
pub mod grad_vhv;
pub mod ica;
pub mod launch;
pub mod mixture;
pub mod mlp;
pub mod mlp2;
pub mod nce;
mod on_device;
pub mod packed;
pub mod param_rows;
pub mod philox;
pub mod plan;
pub mod probe;
pub mod rbm;
pub mod reduce;
pub mod row_io;
pub mod rows;
pub mod spec;
pub mod sym;
pub mod sym_langevin;
pub mod sym_ops;
pub mod sym_rows;
pub mod terms;
pub mod vhv;
pub mod vhv_families;

pub use cubecl;
pub use device::{list_adapters, AdapterKind, AdapterSelector, DeviceInfo, DeviceLimits, GpuDevice};
pub use error::{KernelError, Result, INSTALL_HINT};
pub use fallback::{Fallback, FallbackRecord, NotOnDevice, Op, Placement, Remedy};
pub use family::GpuFamily;
pub use gpu_energy::{GpuEnergy, MlpKernels, NceOut};
pub use gpu_sym::GpuSym;
