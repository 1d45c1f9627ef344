//! The one body of `ebm_core`'s model traits for the device models
//! ([`crate::GpuEnergy`], [`crate::GpuSym`]).
//!
//! Every trait method does the same three things, in this order:
//! 1. it fails as the CPU twin would on what the model refuses (a Hessian
//!    of a ReLU network: [`DeviceOps::smooth_error`]) and on a bad Langevin
//!    step size or chain offset;
//! 2. it asks the placement policy ([`crate::fallback`], the model's own
//!    `route`) whether the operations it needs run on the device: if not,
//!    the policy has either refused ([`crate::KernelError::NotOnDevice`])
//!    or chosen the CPU twin, which then runs the call, recorded;
//! 3. it runs the model's device path ([`DeviceOps`]) and converts a
//!    device failure into `EbmError::Backend`.
//!
//! A model supplies step 3 through [`DeviceOps`]; [`device_model_traits`]
//! writes `Energy`, `Trainable`, `Curvature`, `Objectives` and `Langevin`
//! from it. It is a macro rather than a blanket impl because those traits
//! belong to `ebm_core`: Rust's orphan rule refuses
//! `impl<D: DeviceOps> Objectives<f32> for D` in this crate.
//!
//! | trait method | operations routed |
//! | --- | --- |
//! | `eval` | `Energy`, `EnergyScore` or `HessDiag`, by the outputs asked for |
//! | `grad_params` | `GradEnergy`, `GradVDotGradX` or `GradSm`, by the target |
//! | `eval_v_hess_v`, `grad_v_hess_v` | `VHessV`, `GradVHessV` |
//! | `sm_loss_grad` | `HessDiag` and `GradSm` |
//! | `score_regression_grad` | `EnergyScore` and `GradVDotGradX` |
//! | `weighted_energy_grad`, `nce_loss_grad` | `Energy` and `GradEnergy` |
//! | `ula_at`, `mala_at` (and so `ula`, `mala`) | `Ula`, `Mala` |

use crate::chains::{acceptance, check_steps, launch_steps};
use crate::device::GpuDevice;
use crate::error::Result;
use crate::fallback::Op;
use crate::fused::{RngArgsLaunch, StepArgsLaunch};
use cubecl::bytes::Bytes;
use cubecl::server::Handle;
use ebm_core::langevin::NoiseAt;
use ebm_core::{EbmError, Model, NceBatch, NceLoss, Target};

pub(crate) mod objectives;

/// A device model's own paths, on inputs the CPU twin's checked types have
/// already validated (their slices). Each runs wholly on the device: the
/// caller has routed its operations there.
pub(crate) trait DeviceOps {
    /// The CPU twin that owns θ on the host.
    type Twin: Model<f32>;

    /// The CPU twin.
    fn twin(&self) -> &Self::Twin;

    /// The CPU twin, for a change of θ: marks the device copy stale.
    fn twin_mut(&mut self) -> &mut Self::Twin;

    /// The error the CPU twin returns for the second-order `objective`, if
    /// any, so the device path fails the same way.
    fn smooth_error(&self, objective: &'static str) -> Option<EbmError> {
        let _ = objective;
        None
    }

    /// E, and the score and Hessian diagonal when given.
    fn dev_eval(&self, x: &[f32], e: &mut [f32], s: Option<&mut [f32]>, h: Option<&mut [f32]>) -> Result<()>;

    /// `grad = Σ w ∇θ target`.
    fn dev_grad_params(&self, x: &[f32], target: Target<'_, f32>, w: &[f32], grad: &mut [f32]) -> Result<()>;

    /// `out[b] = vᵦᵀ ∇ₓ²E(xᵦ) vᵦ`.
    fn dev_v_hess_v(&self, x: &[f32], v: &[f32], out: &mut [f32]) -> Result<()>;

    /// `grad = Σ w ∇θ (vᵀ ∇ₓ²E v)`.
    fn dev_grad_v_hess_v(&self, x: &[f32], v: &[f32], w: &[f32], grad: &mut [f32]) -> Result<()>;

    /// The exact score-matching loss and its θ-gradient.
    fn dev_sm_loss(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64>;

    /// The score-regression loss against `t` and its θ-gradient.
    fn dev_score_regression(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64>;

    /// E and Σ w ∇θE.
    fn dev_weighted_energy(&self, x: &[f32], w: &[f32], energy: &mut [f32], grad: &mut [f32]) -> Result<()>;

    /// The NCE loss, ∂L/∂c and ∇θL.
    fn dev_nce(&self, batch: &NceBatch<'_, f32>, grad: &mut [f32]) -> Result<NceLoss>;

    /// `steps` ULA steps in place, noise of global chains `at.first_chain..`.
    fn dev_ula(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()>;

    /// `steps` MALA steps in place; returns the acceptance rate.
    fn dev_mala(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64>;
}

/// Copies the first `dst.len()` f32 of a buffer read back from the device.
pub(crate) fn copy_out(dst: &mut [f32], src: &Bytes) {
    let n = dst.len();
    dst.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(src)[..n]);
}

/// A Langevin call on the device chains: the chains `x` (in place), ε,
/// the step count (checked to fit a launch), the noise address and, for
/// MALA, the acceptance counts (`None`: ULA).
pub(crate) struct LangevinCall<'a> {
    pub x: &'a mut [f32],
    pub eps: f32,
    pub steps: u32,
    pub at: NoiseAt,
    pub accepts: Option<&'a mut [u32]>,
}

impl<'a> LangevinCall<'a> {
    /// The call, its step count checked ([`check_steps`]).
    pub fn new(x: &'a mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: Option<&'a mut [u32]>) -> Result<Self> {
        Ok(Self { x, eps, steps: check_steps(steps)?, at, accepts })
    }

    /// Whether the call runs MALA.
    pub fn mala(&self) -> bool {
        self.accepts.is_some()
    }

    /// The step scalars of a launch of `n` steps on `batch` chains.
    fn step_args(&self, batch: usize, n: u32) -> StepArgsLaunch {
        let eps = self.eps;
        StepArgsLaunch::new(batch as u32, n, eps, eps * eps * 0.5, 1.0 / (2.0 * eps * eps))
    }

    /// Runs the call's steps on the `batch` chains staged in `xs`, as
    /// launches of at most `chunk` steps (`launch(args, rng)`: the step
    /// scalars and the Philox address of the launch, [`launch_steps`]),
    /// then reads the chains back into `x` and, for MALA, the counts from
    /// `acc` (the device copy of `accepts`); returns the acceptance rate
    /// ([`acceptance`]; 0 for ULA).
    pub fn run(
        self,
        dev: &GpuDevice,
        xs: &Handle,
        batch: usize,
        acc: Option<&Handle>,
        chunk: u64,
        mut launch: impl FnMut(StepArgsLaunch, RngArgsLaunch),
    ) -> Result<f64> {
        launch_steps(self.steps, chunk, self.at, |n, rng| launch(self.step_args(batch, n), rng));
        let mut hs = vec![xs.clone()];
        hs.extend(acc.cloned());
        let out = objectives::read(dev, hs)?;
        copy_out(self.x, &out[0]);
        Ok(match self.accepts {
            Some(accepts) => {
                let after = &bytemuck::cast_slice::<u8, u32>(&out[1])[..accepts.len()];
                acceptance(after, accepts, self.steps as usize)
            }
            None => 0.0,
        })
    }
}

/// Copies an evaluation's read-back buffers (E, then the score and the
/// Hessian diagonal where present) into the outputs asked for.
pub(crate) fn copy_eval_out(res: &[Bytes], e: &mut [f32], s: Option<&mut [f32]>, h: Option<&mut [f32]>) {
    copy_out(e, &res[0]);
    if let Some(s) = s {
        copy_out(s, &res[1]);
    }
    if let Some(h) = h {
        copy_out(h, &res[2]);
    }
}

/// The operation that evaluates the outputs asked for.
pub(crate) fn eval_op(score: bool, hess_diag: bool) -> Op {
    match (score, hess_diag) {
        (_, true) => Op::HessDiag,
        (true, false) => Op::EnergyScore,
        _ => Op::Energy,
    }
}

/// The operation of a θ-gradient target.
pub(crate) fn grad_op(target: &Target<'_, f32>) -> Op {
    match target {
        Target::Energy => Op::GradEnergy,
        Target::VDotGradX(_) => Op::GradVDotGradX,
        Target::ScoreMatching => Op::GradSm,
    }
}

/// Implements `Energy`, `Trainable`, `Curvature`, `Objectives` and
/// `Langevin` (over f32) for a [`DeviceOps`] type as the module docs say.
/// Invoke it in the type's own module: it calls the type's `route`
/// ([`crate::fallback::placement_policy`]).
macro_rules! device_model_traits {
    ([$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> ebm_core::Energy<f32> for $ty {
            fn name(&self) -> &'static str {
                $crate::on_device::DeviceOps::twin(self).name()
            }

            fn dim(&self) -> usize {
                $crate::on_device::DeviceOps::twin(self).dim()
            }

            fn eval(&self, x: ebm_core::Batch<'_, f32>, out: ebm_core::Outputs<'_, f32>) -> ebm_core::Result<()> {
                use $crate::on_device::DeviceOps;
                let (score, hess) = (out.wants_score(), out.wants_hess_diag());
                if let Some(e) = hess.then(|| self.smooth_error("hess_diag")).flatten() {
                    return Err(e);
                }
                if !self.route(&[$crate::on_device::eval_op(score, hess)])? {
                    return self.twin().eval(x, out);
                }
                let (e, s, h) = out.into_parts();
                Ok(self.dev_eval(&x, e, s, h)?)
            }
        }

        impl<$($generics)*> ebm_core::Trainable<f32> for $ty {
            fn params(&self) -> &[f32] {
                $crate::on_device::DeviceOps::twin(self).params()
            }

            /// Marks the device copy of θ stale; it is uploaded again before
            /// the next kernel.
            fn params_mut(&mut self) -> &mut [f32] {
                $crate::on_device::DeviceOps::twin_mut(self).params_mut()
            }

            fn grad_params(
                &self,
                x: ebm_core::Batch<'_, f32>,
                target: ebm_core::Target<'_, f32>,
                w: ebm_core::Weights<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<()> {
                use $crate::on_device::DeviceOps;
                if matches!(target, ebm_core::Target::ScoreMatching) {
                    if let Some(e) = self.smooth_error("grad_params_sm") {
                        return Err(e);
                    }
                }
                if !self.route(&[$crate::on_device::grad_op(&target)])? {
                    return self.twin().grad_params(x, target, w, grad);
                }
                Ok(self.dev_grad_params(&x, target, &w, &mut grad)?)
            }
        }

        impl<$($generics)*> ebm_core::Curvature<f32> for $ty {
            fn eval_v_hess_v(
                &self,
                x: ebm_core::Batch<'_, f32>,
                v: ebm_core::Batch<'_, f32>,
                mut out: ebm_core::PerSample<'_, f32>,
            ) -> ebm_core::Result<()> {
                use $crate::on_device::DeviceOps;
                if let Some(e) = self.smooth_error("v_hess_v") {
                    return Err(e);
                }
                if !self.route(&[$crate::fallback::Op::VHessV])? {
                    return self.twin().eval_v_hess_v(x, v, out);
                }
                Ok(self.dev_v_hess_v(&x, &v, &mut out)?)
            }

            fn grad_v_hess_v(
                &self,
                x: ebm_core::Batch<'_, f32>,
                v: ebm_core::Batch<'_, f32>,
                w: ebm_core::Weights<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<()> {
                use $crate::on_device::DeviceOps;
                if let Some(e) = self.smooth_error("grad_params_v_hess_v") {
                    return Err(e);
                }
                if !self.route(&[$crate::fallback::Op::GradVHessV])? {
                    return self.twin().grad_v_hess_v(x, v, w, grad);
                }
                Ok(self.dev_grad_v_hess_v(&x, &v, &w, &mut grad)?)
            }
        }

        impl<$($generics)*> ebm_core::Objectives<f32> for $ty {
            fn sm_loss_grad(
                &self,
                x: ebm_core::Batch<'_, f32>,
                w: ebm_core::Weights<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<f64> {
                use $crate::fallback::Op;
                use $crate::on_device::DeviceOps;
                if let Some(e) = self.smooth_error("sm_loss_grad_params") {
                    return Err(e);
                }
                if !self.route(&[Op::HessDiag, Op::GradSm])? {
                    return self.twin().sm_loss_grad(x, w, grad);
                }
                Ok(self.dev_sm_loss(&x, &w, &mut grad)?)
            }

            fn score_regression_grad(
                &self,
                x: ebm_core::Batch<'_, f32>,
                target: ebm_core::Batch<'_, f32>,
                w: ebm_core::Weights<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<f64> {
                use $crate::fallback::Op;
                use $crate::on_device::DeviceOps;
                if !self.route(&[Op::EnergyScore, Op::GradVDotGradX])? {
                    return self.twin().score_regression_grad(x, target, w, grad);
                }
                Ok(self.dev_score_regression(&x, &target, &w, &mut grad)?)
            }

            fn weighted_energy_grad(
                &self,
                x: ebm_core::Batch<'_, f32>,
                w: ebm_core::Weights<'_, f32>,
                mut energy: ebm_core::PerSample<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<()> {
                use $crate::fallback::Op;
                use $crate::on_device::DeviceOps;
                if !self.route(&[Op::Energy, Op::GradEnergy])? {
                    return self.twin().weighted_energy_grad(x, w, energy, grad);
                }
                Ok(self.dev_weighted_energy(&x, &w, &mut energy, &mut grad)?)
            }

            fn nce_loss_grad(
                &self,
                batch: ebm_core::NceBatch<'_, f32>,
                mut grad: ebm_core::ParamGrad<'_, f32>,
            ) -> ebm_core::Result<ebm_core::NceLoss> {
                use $crate::fallback::Op;
                use $crate::on_device::DeviceOps;
                if !self.route(&[Op::Energy, Op::GradEnergy])? {
                    return self.twin().nce_loss_grad(batch, grad);
                }
                Ok(self.dev_nce(&batch, &mut grad)?)
            }
        }

        impl<$($generics)*> ebm_core::Langevin<f32> for $ty {
            fn ula_at(
                &self,
                mut x: ebm_core::Chains<'_, f32>,
                eps: f32,
                steps: usize,
                at: ebm_core::langevin::NoiseAt,
            ) -> ebm_core::Result<()> {
                use $crate::on_device::DeviceOps;
                $crate::gpu_energy::check_eps(eps)?;
                if !self.route(&[$crate::fallback::Op::Ula])? {
                    return self.twin().ula_at(x, eps, steps, at);
                }
                let d = self.twin().dim();
                $crate::chains::check_noise(at, x.len() / d, d)?;
                Ok(self.dev_ula(&mut x, eps, steps, at)?)
            }

            fn mala_at(
                &self,
                mut x: ebm_core::Chains<'_, f32>,
                eps: f32,
                steps: usize,
                at: ebm_core::langevin::NoiseAt,
                mut accepts: ebm_core::PerSample<'_, u32>,
            ) -> ebm_core::Result<f64> {
                use $crate::on_device::DeviceOps;
                $crate::gpu_energy::check_eps(eps)?;
                if !self.route(&[$crate::fallback::Op::Mala])? {
                    return self.twin().mala_at(x, eps, steps, at, accepts);
                }
                let d = self.twin().dim();
                $crate::chains::check_noise(at, x.len() / d, d)?;
                Ok(self.dev_mala(&mut x, eps, steps, at, &mut accepts)?)
            }
        }
    };
}
pub(crate) use device_model_traits;
