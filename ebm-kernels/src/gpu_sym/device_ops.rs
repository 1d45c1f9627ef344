//! [`GpuSym`]'s device paths ([`crate::on_device`]): the model's programs
//! (module docs of [`crate::gpu_sym`]).

use super::GpuSym;
use crate::error::Result;
use crate::fallback::Op;
use crate::on_device::{copy_eval_out, grad_op, DeviceOps, LangevinCall};
use ebm_core::langevin::NoiseAt;
use ebm_core::sym::SymEnergy;
use ebm_core::{NceBatch, NceLoss, Target};

impl DeviceOps for GpuSym {
    type Twin = SymEnergy<f32>;

    fn twin(&self) -> &SymEnergy<f32> {
        &self.cpu
    }

    fn twin_mut(&mut self) -> &mut SymEnergy<f32> {
        self.state.get_mut().unwrap_or_else(|p| p.into_inner()).theta = None;
        &mut self.cpu
    }

    /// One launch of the program for the wanted outputs.
    fn dev_eval(&self, x: &[f32], e: &mut [f32], s: Option<&mut [f32]>, h: Option<&mut [f32]>) -> Result<()> {
        let res = self.eval_device(x, s.is_some() as usize + h.is_some() as usize)?;
        copy_eval_out(&res, e, s, h);
        Ok(())
    }

    /// The gradient program's rows and the reduction.
    fn dev_grad_params(&self, x: &[f32], target: Target<'_, f32>, w: &[f32], grad: &mut [f32]) -> Result<()> {
        let v: &[f32] = match &target {
            Target::VDotGradX(v) => v.as_slice(),
            _ => &[],
        };
        grad.copy_from_slice(&self.grad_device(grad_op(&target), x, v, w)?);
        Ok(())
    }

    /// One launch of the `v_hess_v` program.
    fn dev_v_hess_v(&self, x: &[f32], v: &[f32], out: &mut [f32]) -> Result<()> {
        out.copy_from_slice(&self.vhv_device(x, v)?);
        Ok(())
    }

    /// The `grad_v_hess_v` program's rows and the reduction.
    fn dev_grad_v_hess_v(&self, x: &[f32], v: &[f32], w: &[f32], grad: &mut [f32]) -> Result<()> {
        grad.copy_from_slice(&self.grad_device(Op::GradVHessV, x, v, w)?);
        Ok(())
    }

    fn dev_sm_loss(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        self.sm_loss_device(x, w, grad)
    }

    fn dev_score_regression(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        self.score_regression_device(x, t, w, grad)
    }

    fn dev_weighted_energy(&self, x: &[f32], w: &[f32], energy: &mut [f32], grad: &mut [f32]) -> Result<()> {
        self.weighted_energy_device(x, w, energy, grad)
    }

    fn dev_nce(&self, batch: &NceBatch<'_, f32>, grad: &mut [f32]) -> Result<NceLoss> {
        self.nce_device(batch, grad)
    }

    /// All `steps` ULA steps in one launch (module docs).
    fn dev_ula(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        self.langevin_device(LangevinCall::new(x, eps, steps, at, None)?).map(|_| ())
    }

    /// All `steps` MALA steps in one launch (module docs).
    fn dev_mala(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64> {
        self.langevin_device(LangevinCall::new(x, eps, steps, at, Some(accepts))?)
    }
}
