//! The fused training objectives of [`GpuEnergy`] (the table in the module
//! docs of [`crate::gpu_energy`]): each step's loss and θ-gradient computed
//! on the device from the inputs and read back together, with no host
//! round trip in between.

use super::GpuEnergy;
use crate::error::Result;
use crate::family::GpuFamily;
use crate::launch::upload_f32;
use crate::on_device::objectives::{read_energy_grad, read_loss_grad, residual_loss, sm_loss};
use crate::param_rows::RowTarget;

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
        read_energy_grad(&self.dev, b.energy.clone(), g, energy, grad)
    }

    /// L = Σ w½‖∇ₓE − t‖² and ∇θL: the score, the residual and the loss
    /// terms, the tree sum, the vᵀ∇ₓE rows at v = r, one read.
    pub(super) fn score_regression_device(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, true, false)?;
        let (ht, hw) = (upload_f32(&self.dev, t), upload_f32(&self.dev, w));
        let (r, loss) = residual_loss(&self.dev, &b.score, &ht, &hw, b.batch, self.spec.d)?;
        let g = self.param_rows(RowTarget::VDotGradX, &theta, &b.x, Some(&r), &hw, b.batch)?;
        read_loss_grad(&self.dev, loss, g, grad)
    }

    /// L = Σ w𝒥 and ∇θL: the score and Hessian diagonal, the terms, the
    /// tree sum, the score-matching rows, one read.
    pub(super) fn sm_loss_device(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, true, true)?;
        let hw = upload_f32(&self.dev, w);
        let loss = sm_loss(&self.dev, &b.score, &b.hess, &hw, b.batch, self.spec.d)?;
        let g = self.param_rows(RowTarget::ScoreMatching, &theta, &b.x, None, &hw, b.batch)?;
        read_loss_grad(&self.dev, loss, g, grad)
    }
}
