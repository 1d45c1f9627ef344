//! The fused training objectives of [`GpuEnergy`] (the table in the module
//! docs of [`crate::gpu_energy`]): each step's loss and θ-gradient computed
//! on the device from the inputs and read back together, with no host
//! round trip in between.

use super::{copy_out, tiled, GpuEnergy};
use crate::error::Result;
use crate::fallback::Op;
use crate::family::GpuFamily;
use crate::launch::{arg, grid, upload_f32};
use crate::param_rows::RowTarget;
use crate::reduce::sum_on_device;
use crate::terms::{residual_kernel, sm_terms_kernel};
use ebm_core::{Batch, NceBatch, NceLoss, Objectives, ParamGrad, PerSample, Weights};

impl<M: GpuFamily> GpuEnergy<M> {
    /// E and Σ w∇θE: the eval kernel, the rows, one read.
    fn weighted_energy_device(&self, x: &[f32], w: &[f32], energy: &mut [f32], grad: &mut [f32]) -> Result<()> {
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, false, false)?;
        let hw = upload_f32(&self.dev, w);
        let g = self.param_rows(RowTarget::Energy, &theta, &b.x, None, &hw, b.batch)?;
        let out = self.read(vec![b.energy.clone(), g])?;
        copy_out(energy, &out[0]);
        copy_out(grad, &out[1]);
        Ok(())
    }

    /// L = Σ w½‖∇ₓE − t‖² and ∇θL: the score, the residual and the loss
    /// terms, the tree sum, the vᵀ∇ₓE rows at v = r, one read.
    fn score_regression_device(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let d = self.spec.d;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let batch = b.batch;
        self.launch_eval(&theta, b, true, false)?;
        let c = self.dev.client();
        let (ht, hw) = (upload_f32(&self.dev, t), upload_f32(&self.dev, w));
        let (r, terms) = (c.empty(batch * d * 4), c.empty(batch * 4));
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            residual_kernel::launch(
                c,
                count,
                dim,
                arg(&b.score, batch * d),
                arg(&ht, batch * d),
                arg(&hw, batch),
                arg(&r, batch * d),
                arg(&terms, batch),
                batch as u32,
                d,
            );
        }
        let loss = sum_on_device(&self.dev, &terms, batch)?;
        let g = self.param_rows(RowTarget::VDotGradX, &theta, &b.x, Some(&r), &hw, batch)?;
        let out = self.read(vec![loss, g])?;
        copy_out(grad, &out[1]);
        Ok(bytemuck::cast_slice::<u8, f32>(&out[0])[0] as f64)
    }

    /// L = Σ w𝒥 and ∇θL: the score and Hessian diagonal, the terms, the
    /// tree sum, the score-matching rows, one read.
    fn sm_loss_device(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let d = self.spec.d;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let batch = b.batch;
        self.launch_eval(&theta, b, true, true)?;
        let c = self.dev.client();
        let hw = upload_f32(&self.dev, w);
        let terms = c.empty(batch * 4);
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            sm_terms_kernel::launch(
                c,
                count,
                dim,
                arg(&b.score, batch * d),
                arg(&b.hess, batch * d),
                arg(&hw, batch),
                arg(&terms, batch),
                batch as u32,
                d,
            );
        }
        let loss = sum_on_device(&self.dev, &terms, batch)?;
        let g = self.param_rows(RowTarget::ScoreMatching, &theta, &b.x, None, &hw, batch)?;
        let out = self.read(vec![loss, g])?;
        copy_out(grad, &out[1]);
        Ok(bytemuck::cast_slice::<u8, f32>(&out[0])[0] as f64)
    }
}

/// Each objective on the device (module docs); under
/// [`crate::Fallback::CpuTwin`] an objective one of whose kernels does not
/// fit runs wholly on the CPU twin, recorded.
impl<M: GpuFamily> Objectives<f32> for GpuEnergy<M> {
    fn sm_loss_grad(
        &self,
        x: Batch<'_, f32>,
        w: Weights<'_, f32>,
        mut grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<f64> {
        if let Some(e) = self.cpu.smooth_error("sm_loss_grad_params") {
            return Err(e);
        }
        if !self.route(&[Op::HessDiag, Op::GradSm])? {
            return self.cpu.sm_loss_grad(x, w, grad);
        }
        if self.tiled() {
            return Ok(self.on_tiled(|t| tiled::sm_loss(t, &x, &w, &mut grad))?);
        }
        Ok(self.sm_loss_device(&x, &w, &mut grad)?)
    }

    fn score_regression_grad(
        &self,
        x: Batch<'_, f32>,
        target: Batch<'_, f32>,
        w: Weights<'_, f32>,
        mut grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<f64> {
        if !self.route(&[Op::EnergyScore, Op::GradVDotGradX])? {
            return self.cpu.score_regression_grad(x, target, w, grad);
        }
        if self.tiled() {
            return Ok(self.on_tiled(|t| tiled::score_regression(t, &x, &target, &w, &mut grad))?);
        }
        Ok(self.score_regression_device(&x, &target, &w, &mut grad)?)
    }

    fn weighted_energy_grad(
        &self,
        x: Batch<'_, f32>,
        w: Weights<'_, f32>,
        mut energy: PerSample<'_, f32>,
        mut grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<()> {
        if !self.route(&[Op::Energy, Op::GradEnergy])? {
            return self.cpu.weighted_energy_grad(x, w, energy, grad);
        }
        if self.tiled() {
            return Ok(self.on_tiled(|t| tiled::weighted_energy(t, &x, &w, &mut energy, &mut grad))?);
        }
        Ok(self.weighted_energy_device(&x, &w, &mut energy, &mut grad)?)
    }

    /// The fused NCE kernel; the loss and ∂L/∂c summed on the device.
    fn nce_loss_grad(&self, batch: NceBatch<'_, f32>, mut grad: ParamGrad<'_, f32>) -> ebm_core::Result<NceLoss> {
        if !self.route(&[Op::Energy, Op::GradEnergy])? {
            return self.cpu.nce_loss_grad(batch, grad);
        }
        let lpn: Vec<f32> = batch.log_pn().iter().map(|&v| v as f32).collect();
        let (loss, dloss_dc, g) = self.nce_summed(&batch.points(), &lpn, batch.n_data(), batch.c(), batch.nu())?;
        grad.copy_from_slice(&g);
        Ok(NceLoss { loss, dloss_dc })
    }
}
