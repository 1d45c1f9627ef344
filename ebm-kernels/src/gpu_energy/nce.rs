//! The fused NCE step of [`GpuEnergy`] ([`crate::nce`]): the logits, the
//! loss terms and the gradient weights of every point in one kernel, then
//! Σ wⱼ∇θE(xⱼ) with those weights without leaving the device.

use super::GpuEnergy;
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::launch::{arg, grid};
use crate::nce::nce_kernel;
use crate::on_device::objectives::NceLaunch;
use crate::param_rows::RowTarget;
use crate::reduce::sum_on_device;
use cubecl::server::Handle;
use ebm_core::energy::{sigmoid_f64, softplus_f64};
use ebm_core::prelude::*;
use ebm_core::{check_batch, check_finite, check_len, EbmError};

/// What [`GpuEnergy::nce_loss_grad`] returns besides ∇θL.
#[derive(Clone, Debug, PartialEq)]
pub struct NceOut {
    /// The NCE loss L (mean over the (1 + ν)B points).
    pub loss: f64,
    /// ∂L/∂c.
    pub dloss_dc: f64,
    /// The logits G of every point.
    pub logits: Vec<f32>,
    /// The gradient weights (σ(−G)/N on data, −σ(G)/N on noise).
    pub weights: Vec<f32>,
}

/// The inputs of one NCE step, checked by the caller: the points (the
/// `n_data` data points, then the noise points), log p_n at each, the
/// log-normaliser c and the noise ratio ν.
#[derive(Clone, Copy)]
pub(super) struct NceInputs<'a> {
    pub x: &'a [f32],
    pub log_pn: &'a [f32],
    pub n_data: usize,
    pub c: f64,
    pub nu: usize,
}

/// The device buffers of one fused NCE step.
pub(super) struct NceHandles {
    pub logits: Handle,
    pub terms: Handle,
    pub weights: Handle,
    pub grad: Handle,
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// The fused NCE loss and gradient ([`crate::nce`]): `x` holds the B
    /// data points then the νB noise points (row-major, d per row),
    /// `log_pn` the noise log-density at each of them, `c` the
    /// log-normaliser and `nu` the noise ratio ν. Writes ∇θL into `grad`.
    ///
    /// Errors: shapes, non-finite inputs, `nu == 0`, and (under
    /// [`crate::Fallback::Refuse`]) a model whose energy or gradient row
    /// does not fit the adapter's loop budget
    /// ([`KernelError::NotOnDevice`]).
    pub fn nce_loss_grad(
        &self,
        x: &[f32],
        log_pn: &[f32],
        n_data: usize,
        c: f64,
        nu: usize,
        grad: &mut [f32],
    ) -> Result<NceOut> {
        let n = check_batch("x", x, self.spec.d)?;
        check_len("log_pn", log_pn, n)?;
        check_finite("log_pn", log_pn, 1)?;
        check_len("grad", grad, self.num_params())?;
        if nu == 0 || n_data == 0 || n != n_data * (1 + nu) {
            return Err(KernelError::Model(EbmError::InvalidConfig(format!(
                "NCE needs B ≥ 1 data points followed by ν·B ≥ 1 noise points; got {n} points, B = {n_data}, ν = {nu}"
            ))));
        }
        let inp = NceInputs { x, log_pn, n_data, c, nu };
        if !self.route(&[Op::Energy, Op::GradEnergy])? {
            return self.nce_on_twin(inp, grad);
        }
        let p = self.spec.n_params;
        let (h, st) = self.nce_any(inp)?;
        let out = self.read(vec![h.logits, h.terms, h.weights, h.grad])?;
        drop(st);
        let logits: Vec<f32> = bytemuck::cast_slice::<u8, f32>(&out[0])[..n].to_vec();
        let terms: &[f32] = &bytemuck::cast_slice::<u8, f32>(&out[1])[..n];
        let weights: Vec<f32> = bytemuck::cast_slice::<u8, f32>(&out[2])[..n].to_vec();
        grad.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[3])[..p]);
        let loss = terms.iter().map(|&t| t as f64).sum::<f64>() / n as f64;
        let dloss_dc = weights.iter().map(|&w| w as f64).sum::<f64>();
        Ok(NceOut { loss, dloss_dc, logits, weights })
    }

    /// The step with the loss and ∂L/∂c summed on the device: reads back
    /// two values and ∇θL (the `Objectives::nce_loss_grad` override).
    pub(super) fn nce_summed(&self, inp: NceInputs<'_>) -> Result<(f64, f64, Vec<f32>)> {
        let (n, p) = (inp.x.len() / self.spec.d, self.spec.n_params);
        let (h, st) = self.nce_any(inp)?;
        let loss = sum_on_device(&self.dev, &h.terms, n)?;
        let dc = sum_on_device(&self.dev, &h.weights, n)?;
        let out = self.read(vec![loss, dc, h.grad])?;
        drop(st);
        let one = |k: usize| bytemuck::cast_slice::<u8, f32>(&out[k])[0] as f64;
        let g = bytemuck::cast_slice::<u8, f32>(&out[2])[..p].to_vec();
        Ok((one(0) / n as f64, one(1), g))
    }

    /// The NCE handles from the tiled MLP kernels, or from the fused
    /// kernel with the guard of the batch buffers it used (held until the
    /// caller has read the results).
    fn nce_any(&self, inp: NceInputs<'_>) -> Result<(NceHandles, Option<std::sync::MutexGuard<'_, super::State>>)> {
        if self.tiled() {
            return Ok((self.on_tiled(|t| super::tiled::nce_handles(t, inp))?, None));
        }
        let mut st = self.lock();
        let h = self.launch_nce(&mut st, inp)?;
        Ok((h, Some(st)))
    }

    /// Launches the NCE kernel and the weighted gradient rows.
    fn launch_nce(&self, st: &mut super::State, inp: NceInputs<'_>) -> Result<NceHandles> {
        let (theta, bufs) = self.stage(st, inp.x)?;
        let l = NceLaunch::new(&self.dev, inp.log_pn, inp.n_data, inp.c, inp.nu);
        let n = l.n;
        let (count, dim) = grid(&self.dev, n)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            let [xs, th, meta] = self.sample_args(&theta, bufs);
            nce_kernel::launch(
                self.dev.client(),
                count,
                dim,
                xs,
                arg(&l.log_pn, n),
                th,
                meta,
                l.outs(),
                l.args,
                self.spec,
            );
        }
        let [logits, terms, weights] = l.out;
        let grad = self.param_rows(RowTarget::Energy, &theta, &bufs.x, None, &weights, n)?;
        Ok(NceHandles { logits, terms, weights, grad })
    }

    /// The opt-in CPU-twin path of [`GpuEnergy::nce_loss_grad`] (recorded
    /// by the caller): the energies, logits and weights on the host.
    fn nce_on_twin(&self, inp: NceInputs<'_>, grad: &mut [f32]) -> Result<NceOut> {
        let NceInputs { x, log_pn, n_data, c, nu } = inp;
        let n = log_pn.len();
        let mut e = vec![0f32; n];
        self.cpu.energy(x, &mut e)?;
        let log_nu = (nu as f64).ln();
        let (mut logits, mut weights, mut loss) = (Vec::with_capacity(n), Vec::with_capacity(n), 0.0);
        for j in 0..n {
            let g = -(e[j] as f64) - c - log_pn[j] as f64 - log_nu;
            let (z, sign) = if j < n_data { (-g, 1.0) } else { (g, -1.0) };
            logits.push(g as f32);
            weights.push((sign * sigmoid_f64(z) / n as f64) as f32);
            loss += softplus_f64(z);
        }
        self.cpu.grad_params_energy(x, &weights, grad)?;
        let dloss_dc = weights.iter().map(|&w| w as f64).sum::<f64>();
        Ok(NceOut { loss: loss / n as f64, dloss_dc, logits, weights })
    }
}

use crate::fallback::Op;
