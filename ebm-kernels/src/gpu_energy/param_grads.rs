//! The θ-gradients of [`GpuEnergy`] on the device: per chunk of samples,
//! one launch writes the weighted per-sample gradient rows and
//! `crate::grad::reduce_rows_kernel` adds them to the result, which stays
//! on the device until the caller reads it ([`crate::rows`]):
//! Σ w∇θE ([`crate::grad`]), Σ w∇θ vᵀ∇ₓE ([`crate::grad_vdx`]),
//! Σ w∇θ𝒥 ([`crate::grad_sm`]; under a loop budget the MLP rows are also
//! cut by coordinate ranges, whose contributions add up) and
//! Σ w∇θ vᵀ∇ₓ²E v ([`crate::grad_vhv`]).
//!
//! The callers have checked the placement ([`GpuEnergy::placement`]):
//! these functions assume every sample fits.

use super::placement::sm_ranges;
use super::GpuEnergy;
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::grad::grad_rows_kernel;
use crate::grad_sm::{sm_loop_cost, sm_rows_kernel};
use crate::grad_vdx::vdx_rows_kernel;
use crate::grad_vhv::vhv_rows_kernel;
use crate::launch::{arg, upload_f32};
use crate::rows::{rows_chunk, sum_rows};
use crate::spec::FAM_MLP;
use cubecl::server::Handle;
use ebm_core::Target;

impl<M: GpuFamily> GpuEnergy<M> {
    /// Σᵦ wᵦ∇θE(xᵦ) of the `batch` samples in `x`, left on the device.
    pub(super) fn grad_energy_rows(&self, theta: &Handle, x: &Handle, w: &Handle, batch: usize) -> Result<Handle> {
        let (p, d, s) = (self.spec.n_params, self.spec.d, self.spec);
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                grad_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(w, batch),
                    arg(theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    s,
                );
            }
        })
    }

    /// Σᵦ wᵦ∇θ(vᵦᵀ∇ₓE(xᵦ)), left on the device.
    pub(super) fn grad_vdx_rows(
        &self,
        theta: &Handle,
        x: &Handle,
        v: &Handle,
        w: &Handle,
        batch: usize,
    ) -> Result<Handle> {
        let (p, d, s) = (self.spec.n_params, self.spec.d, self.spec);
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                vdx_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(v, batch * d),
                    arg(w, batch),
                    arg(theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    s,
                );
            }
        })
    }

    /// Σᵦ wᵦ∇θ𝒥(xᵦ) (eq 12), left on the device.
    pub(super) fn grad_sm_rows(&self, theta: &Handle, x: &Handle, w: &Handle, batch: usize) -> Result<Handle> {
        let (p, d, s) = (self.spec.n_params, self.spec.d, self.spec);
        let ranges = if s.family == FAM_MLP {
            let (base, per) = sm_loop_cost(&self.widths(), p);
            sm_ranges(d, base + d as u64, per, self.planned_budget())
                .ok_or_else(|| KernelError::Unsupported("score-matching rows beyond the loop budget".into()))?
        } else {
            vec![(0, d as u32)]
        };
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), ranges.len(), |b0, n, ri, count, dim, rows| {
            let (lo, hi) = ranges[ri];
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                sm_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(w, batch),
                    arg(theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    lo,
                    hi,
                    (ri == 0) as u32,
                    s,
                );
            }
        })
    }

    /// Σᵦ wᵦ∇θ(vᵦᵀ∇ₓ²E(xᵦ)vᵦ), left on the device.
    pub(super) fn grad_vhv_rows(
        &self,
        theta: &Handle,
        x: &Handle,
        v: &Handle,
        w: &Handle,
        batch: usize,
    ) -> Result<Handle> {
        let (p, d, s) = (self.spec.n_params, self.spec.d, self.spec);
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                vhv_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(v, batch * d),
                    arg(w, batch),
                    arg(theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    s,
                );
            }
        })
    }

    /// `grad_params` of a checked batch on the device, read back.
    pub(super) fn grad_params_device(&self, x: &[f32], target: Target<'_, f32>, w: &[f32]) -> Result<Vec<f32>> {
        let p = self.spec.n_params;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let hw = upload_f32(&self.dev, w);
        let g = match target {
            Target::Energy => self.grad_energy_rows(&theta, &b.x, &hw, b.batch)?,
            Target::VDotGradX(v) => {
                let hv = upload_f32(&self.dev, &v);
                self.grad_vdx_rows(&theta, &b.x, &hv, &hw, b.batch)?
            }
            Target::ScoreMatching => self.grad_sm_rows(&theta, &b.x, &hw, b.batch)?,
        };
        let bytes = self.read(vec![g])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..p].to_vec())
    }
}
