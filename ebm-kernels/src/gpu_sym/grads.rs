//! The θ-gradients and the Hessian quadratic form of [`GpuSym`] on the
//! device: a gradient program's weighted rows ([`crate::sym_rows`]) summed
//! over the batch ([`crate::rows`]), and the `v_hess_v` program. The
//! callers have routed the operation ([`GpuSym::placement`]).

use super::{launch, GpuSym};
use crate::error::Result;
use crate::fallback::Op;
use crate::launch::{arg, upload_f32};
use crate::rows::{rows_chunk, sum_rows};
use crate::sym::SymSpec;
use crate::sym_rows::sym_rows_kernel;
use cubecl::server::Handle;
use ebm_core::Trainable;

impl GpuSym {
    /// Σᵦ wᵦ·(the P outputs of `spec` at sample b), left on the device.
    /// `aux` holds B × `num_aux` values (or one dummy value).
    pub(super) fn rows(
        &self,
        spec: &SymSpec,
        theta: &Handle,
        x: &Handle,
        aux: &Handle,
        w: &Handle,
        batch: usize,
    ) -> Result<Handle> {
        let p = self.cpu.num_params();
        let (d, na) = (spec.program.num_inputs as usize, spec.program.num_aux as usize);
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                sym_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(aux, batch * na),
                    arg(theta, p),
                    arg(w, batch),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    spec.clone(),
                );
            }
        })
    }

    /// The gradient `op` of a checked batch (`v`: its auxiliary inputs, or
    /// empty), read back.
    pub(super) fn grad_device(&self, op: Op, x: &[f32], v: &[f32], w: &[f32]) -> Result<Vec<f32>> {
        let p = self.cpu.num_params();
        let spec = self.spec(op)?;
        let mut st = self.lock();
        let (theta, b, no_aux) = self.stage(&mut st, x)?;
        let aux = if v.is_empty() { no_aux } else { upload_f32(&self.dev, v) };
        let hw = upload_f32(&self.dev, w);
        let g = self.rows(spec, &theta, &b.x, &aux, &hw, b.batch)?;
        let bytes = self.read(vec![g])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..p].to_vec())
    }

    /// vᵦᵀ∇ₓ²E(xᵦ)vᵦ of a checked batch, read back.
    pub(super) fn vhv_device(&self, x: &[f32], v: &[f32]) -> Result<Vec<f32>> {
        let spec = self.spec(Op::VHessV)?;
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, _) = self.stage(&mut st, x)?;
        let batch = b.batch;
        let hv = upload_f32(&self.dev, v);
        let outs = [c.empty(batch * 4), c.empty(4), c.empty(4)];
        launch(&self.dev, spec, &b.x, &hv, &theta, &outs, batch)?;
        let bytes = self.read(vec![outs[0].clone()])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..batch].to_vec())
    }
}
