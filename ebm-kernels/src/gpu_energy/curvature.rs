//! The Hessian quadratic form vᵀ∇ₓ²E v of [`GpuEnergy`] and its θ-gradient
//! on the device, for every family: one launch of
//! [`crate::vhv::vhv_kernel()`] (every sample in its own invocation), and
//! the rows of [`crate::grad_vhv`] with the reduction of [`crate::rows`].
//! The callers have checked the placement.

use super::GpuEnergy;
use crate::error::Result;
use crate::family::GpuFamily;
use crate::launch::{arg, grid, upload_f32};
use crate::param_rows::RowTarget;
use crate::vhv::vhv_kernel;

impl<M: GpuFamily> GpuEnergy<M> {
    /// vᵦᵀ∇ₓ²E(xᵦ)vᵦ of a checked batch, read back.
    pub(super) fn vhv_device(&self, x: &[f32], v: &[f32]) -> Result<Vec<f32>> {
        let s = self.spec;
        let (p, d) = (s.n_params, s.d);
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let batch = b.batch;
        // The energy buffer (batch values) receives q.
        let hv = upload_f32(&self.dev, v);
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            vhv_kernel::launch(
                self.dev.client(),
                count,
                dim,
                arg(&b.x, batch * d),
                arg(&hv, batch * d),
                arg(&theta, p),
                arg(&self.meta, self.meta_len()),
                arg(&b.energy, batch),
                batch as u32,
                s,
            );
        }
        let bytes = self.read(vec![b.energy.clone()])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..batch].to_vec())
    }

    /// Σᵦ wᵦ∇θ(vᵦᵀ∇ₓ²E(xᵦ)vᵦ) of a checked batch, read back.
    pub(super) fn grad_vhv_device(&self, x: &[f32], v: &[f32], w: &[f32]) -> Result<Vec<f32>> {
        let p = self.spec.n_params;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let hv = upload_f32(&self.dev, v);
        let hw = upload_f32(&self.dev, w);
        let g = self.param_rows(RowTarget::VHessV, &theta, &b.x, Some(&hv), &hw, b.batch)?;
        let bytes = self.read(vec![g])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..p].to_vec())
    }
}
