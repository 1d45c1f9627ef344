//! The fused training objectives of [`GpuEnergy`] (the table in the module
//! docs of [`crate::gpu_energy`]): each step's loss and θ-gradient computed
//! on the device from the inputs and read back together, with no host
//! round trip in between.

use super::{copy_out, GpuEnergy};
use crate::error::Result;
use crate::family::GpuFamily;
use crate::launch::{arg, grid, upload_f32};
use crate::param_rows::RowTarget;
use crate::reduce::sum_on_device;
use crate::terms::{residual_kernel, sm_terms_kernel};

impl<M: GpuFamily> GpuEnergy<M> {
    /// E and Σ w∇θE: the eval kernel, the rows, one read.
    pub(super) fn weighted_energy_device(
        &self,
        x: &[f32],
        w: &[f32],
        energy: &mut [f32],
        grad: &mut [f32],
    ) -> Result<()> {
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
    pub(super) fn score_regression_device(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
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
    pub(super) fn sm_loss_device(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
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
