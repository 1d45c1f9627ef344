//! [`GpuEnergy`]'s device paths ([`crate::on_device`]): the tiled MLP
//! kernels ([`crate::mlp2`]) when the model runs on them, the
//! one-thread-per-sample kernels otherwise.

use super::nce::NceInputs;
use super::{tiled, GpuEnergy};
use crate::error::Result;
use crate::family::GpuFamily;
use crate::on_device::{copy_eval_out, DeviceOps, LangevinCall};
use ebm_core::langevin::NoiseAt;
use ebm_core::{EbmError, NceBatch, NceLoss, Target};

impl<M: GpuFamily> DeviceOps for GpuEnergy<M> {
    type Twin = M;

    fn twin(&self) -> &M {
        &self.cpu
    }

    fn twin_mut(&mut self) -> &mut M {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        st.theta = None;
        st.tiled_stale = true;
        &mut self.cpu
    }

    fn smooth_error(&self, objective: &'static str) -> Option<EbmError> {
        self.cpu.smooth_error(objective)
    }

    /// One launch of the fused kernel (several under a loop budget).
    fn dev_eval(&self, x: &[f32], e: &mut [f32], s: Option<&mut [f32]>, h: Option<&mut [f32]>) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::eval(t, x, e, s, h));
        }
        let res = self.eval_device(x, s.is_some() || h.is_some(), h.is_some())?;
        copy_eval_out(&res, e, s, h);
        Ok(())
    }

    /// [`crate::grad`], [`crate::grad_vdx`], [`crate::grad_sm`] rows and
    /// their reduction, or the tiled reductions.
    fn dev_grad_params(&self, x: &[f32], target: Target<'_, f32>, w: &[f32], grad: &mut [f32]) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::grad_params(t, x, target, w, grad));
        }
        grad.copy_from_slice(&self.grad_params_device(x, target, w)?);
        Ok(())
    }

    /// One launch of [`crate::vhv::vhv_kernel()`].
    fn dev_v_hess_v(&self, x: &[f32], v: &[f32], out: &mut [f32]) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| t.v_hess_v(x, v, out));
        }
        out.copy_from_slice(&self.vhv_device(x, v)?);
        Ok(())
    }

    /// Rows of [`crate::grad_vhv`] and the reduction.
    fn dev_grad_v_hess_v(&self, x: &[f32], v: &[f32], w: &[f32], grad: &mut [f32]) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| t.grad_v_hess_v(x, v, w, grad));
        }
        grad.copy_from_slice(&self.grad_vhv_device(x, v, w)?);
        Ok(())
    }

    fn dev_sm_loss(&self, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::sm_loss(t, x, w, grad));
        }
        self.sm_loss_device(x, w, grad)
    }

    fn dev_score_regression(&self, x: &[f32], t: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
        if self.tiled() {
            return self.on_tiled(|m| tiled::score_regression(m, x, t, w, grad));
        }
        self.score_regression_device(x, t, w, grad)
    }

    fn dev_weighted_energy(&self, x: &[f32], w: &[f32], energy: &mut [f32], grad: &mut [f32]) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::weighted_energy(t, x, w, energy, grad));
        }
        self.weighted_energy_device(x, w, energy, grad)
    }

    /// The NCE step on the device; the loss and ∂L/∂c summed there.
    fn dev_nce(&self, batch: &NceBatch<'_, f32>, grad: &mut [f32]) -> Result<NceLoss> {
        let lpn: Vec<f32> = batch.log_pn().iter().map(|&v| v as f32).collect();
        let points = batch.points();
        let inp = NceInputs { x: &points, log_pn: &lpn, n_data: batch.n_data(), c: batch.c(), nu: batch.nu() };
        let (loss, dloss_dc, g) = self.nce_summed(inp)?;
        grad.copy_from_slice(&g);
        Ok(NceLoss { loss, dloss_dc })
    }

    /// All `steps` ULA steps in one launch (several under a loop budget).
    fn dev_ula(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::ula(t, x, eps, steps, at));
        }
        self.langevin_device(LangevinCall::new(x, eps, steps, at, None)?).map(|_| ())
    }

    /// All `steps` MALA steps in one launch (several under a loop budget).
    fn dev_mala(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64> {
        if self.tiled() {
            return self.on_tiled(|t| tiled::mala(t, x, eps, steps, at, accepts));
        }
        self.langevin_device(LangevinCall::new(x, eps, steps, at, Some(accepts))?)
    }
}
