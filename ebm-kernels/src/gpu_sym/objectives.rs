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

use super::{copy_out, GpuSym};
use crate::error::Result;
use crate::fallback::Op;
use crate::launch::{arg, grid, upload_f32};
use crate::reduce::sum_on_device;
use crate::terms::{nce_energy_kernel, residual_kernel, sm_terms_kernel};
use ebm_core::{Energy, NceBatch, NceLoss};

fn first(b: &cubecl::bytes::Bytes) -> f64 {
    bytemuck::cast_slice::<u8, f32>(b)[0] as f64
}

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
        let out = self.read(vec![b.out[0].clone(), g])?;
        copy_out(energy, &out[0]);
        copy_out(grad, &out[1]);
        Ok(())
    }

    pub(super) fn score_regression_device(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let spec = self.spec(Op::GradVDotGradX)?;
        let d = self.cpu.dim();
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        let batch = b.batch;
        self.launch_eval(&theta, b, &aux, 1)?;
        let (ht, hw) = (upload_f32(&self.dev, t), upload_f32(&self.dev, w));
        let (r, terms) = (c.empty(batch * d * 4), c.empty(batch * 4));
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            residual_kernel::launch(
                c,
                count,
                dim,
                arg(&b.out[1], batch * d),
                arg(&ht, batch * d),
                arg(&hw, batch),
                arg(&r, batch * d),
                arg(&terms, batch),
                batch as u32,
                d,
            );
        }
        let loss = sum_on_device(&self.dev, &terms, batch)?;
        let g = self.rows(spec, &theta, &b.x, &r, &hw, batch)?;
        let out = self.read(vec![loss, g])?;
        copy_out(grad, &out[1]);
        Ok(first(&out[0]))
    }

    pub(super) fn sm_loss_device(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        let spec = self.spec(Op::GradSm)?;
        let d = self.cpu.dim();
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        let batch = b.batch;
        self.launch_eval(&theta, b, &aux, 2)?;
        let hw = upload_f32(&self.dev, w);
        let terms = c.empty(batch * 4);
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            sm_terms_kernel::launch(
                c,
                count,
                dim,
                arg(&b.out[1], batch * d),
                arg(&b.out[2], batch * d),
                arg(&hw, batch),
                arg(&terms, batch),
                batch as u32,
                d,
            );
        }
        let loss = sum_on_device(&self.dev, &terms, batch)?;
        let g = self.rows(spec, &theta, &b.x, &aux, &hw, batch)?;
        let out = self.read(vec![loss, g])?;
        copy_out(grad, &out[1]);
        Ok(first(&out[0]))
    }

    pub(super) fn nce_device(&self, batch: &NceBatch<'_, f32>, grad: &mut [f32]) -> Result<NceLoss> {
        let spec = self.spec(Op::GradEnergy)?;
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, &batch.points())?;
        let n = b.batch;
        self.launch_eval(&theta, b, &aux, 0)?;
        let lpn: Vec<f32> = batch.log_pn().iter().map(|&v| v as f32).collect();
        let hl = upload_f32(&self.dev, &lpn);
        let (logits, terms, weights) = (c.empty(n * 4), c.empty(n * 4), c.empty(n * 4));
        let c_plus_log_nu = (batch.c() + (batch.nu() as f64).ln()) as f32;
        let (count, dim) = grid(&self.dev, n)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            nce_energy_kernel::launch(
                c,
                count,
                dim,
                arg(&b.out[0], n),
                arg(&hl, n),
                arg(&logits, n),
                arg(&terms, n),
                arg(&weights, n),
                n as u32,
                batch.n_data() as u32,
                c_plus_log_nu,
                (1.0 / n as f64) as f32,
            );
        }
        let loss = sum_on_device(&self.dev, &terms, n)?;
        let dc = sum_on_device(&self.dev, &weights, n)?;
        let g = self.rows(spec, &theta, &b.x, &aux, &weights, n)?;
        let out = self.read(vec![loss, dc, g])?;
        copy_out(grad, &out[2]);
        Ok(NceLoss { loss: first(&out[0]) / n as f64, dloss_dc: first(&out[1]) })
    }
}
