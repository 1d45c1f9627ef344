//! The fused training objectives of [`GpuSym`], as those of
//! [`crate::GpuEnergy`]: the model's programs, the loss terms
//! ([`crate::terms`]) and the tree sum ([`crate::reduce`]) on the device;
//! the loss and ∇θ read back together.
//!
//! | objective | launches | device → host |
//! | --- | --- | --- |
//! | `weighted_energy_grad` | `[E]`, `grad_energy` rows + reduction | E (B), ∇θ (P) |
//! | `score_regression_grad` | `[E, s]`, residual, tree sum, `grad_v_dot_grad` rows (v = r on the device) + reduction | L, ∇θ |
//! | `sm_loss_grad` | `[E, s, h]`, terms, tree sum, `grad_sm` rows + reduction | L, ∇θ |
//! | `nce_loss_grad` | `[E]`, logits/terms/weights ([`crate::terms::nce_energy_kernel()`]), two tree sums, `grad_energy` rows with the weights on the device + reduction | L, ∂L/∂c, ∇θ |

use super::GpuSym;
use crate::error::Result;
use crate::fallback::Op;
use crate::launch::upload_f32;
use crate::on_device::copy_out;
use crate::on_device::objectives::{first, nce_terms, read, read_energy_grad, read_loss_grad, residual_loss, sm_loss};
use crate::reduce::sum_on_device;
use ebm_core::{Energy, NceBatch, NceLoss};

impl GpuSym {
    pub(super) fn weighted_energy_device(
        &self,
        x: &[f32],
        w: &[f32],
        energy: &mut [f32],
        grad: &mut [f32],
    ) -> Result<()> {
        let spec = self.spec(Op::GradEnergy)?;
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, &aux, 0)?;
        let hw = upload_f32(&self.dev, w);
        let g = self.rows(spec, &theta, &b.x, &aux, &hw, b.batch)?;
        read_energy_grad(&self.dev, b.out[0].clone(), g, energy, grad)
    }

    pub(super) fn score_regression_device(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let spec = self.spec(Op::GradVDotGradX)?;
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, &aux, 1)?;
        let (ht, hw) = (upload_f32(&self.dev, t), upload_f32(&self.dev, w));
        let (r, loss) = residual_loss(&self.dev, &b.out[1], &ht, &hw, b.batch, self.cpu.dim())?;
        let g = self.rows(spec, &theta, &b.x, &r, &hw, b.batch)?;
        read_loss_grad(&self.dev, loss, g, grad)
    }

    pub(super) fn sm_loss_device(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let spec = self.spec(Op::GradSm)?;
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, &aux, 2)?;
        let hw = upload_f32(&self.dev, w);
        let loss = sm_loss(&self.dev, &b.out[1], &b.out[2], &hw, b.batch, self.cpu.dim())?;
        let g = self.rows(spec, &theta, &b.x, &aux, &hw, b.batch)?;
        read_loss_grad(&self.dev, loss, g, grad)
    }

    pub(super) fn nce_device(&self, batch: &NceBatch<'_, f32>, grad: &mut [f32]) -> Result<NceLoss> {
        let spec = self.spec(Op::GradEnergy)?;
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, &batch.points())?;
        let n = b.batch;
        self.launch_eval(&theta, b, &aux, 0)?;
        let lpn: Vec<f32> = batch.log_pn().iter().map(|&v| v as f32).collect();
        let [_, terms, weights] = nce_terms(&self.dev, &b.out[0], &lpn, batch.n_data(), batch.c(), batch.nu())?;
        let loss = sum_on_device(&self.dev, &terms, n)?;
        let dc = sum_on_device(&self.dev, &weights, n)?;
        let g = self.rows(spec, &theta, &b.x, &aux, &weights, n)?;
        let out = read(&self.dev, vec![loss, dc, g])?;
        copy_out(grad, &out[2]);
        Ok(NceLoss { loss: first(&out[0]) / n as f64, dloss_dc: first(&out[1]) })
    }
}
