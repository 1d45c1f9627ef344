//! The θ-gradients of [`GpuEnergy`] on the device: per chunk of samples,
//! one launch of [`param_rows_kernel()`] writes the weighted per-sample
//! gradient rows of the target and
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
use crate::grad_sm::sm_loop_cost;
use crate::launch::{arg, upload_f32};
use crate::param_rows::{param_rows_kernel, RowTarget};
use crate::rows::{rows_chunk, sum_rows};
use crate::spec::Family;
use cubecl::server::Handle;
use ebm_core::Target;

impl<M: GpuFamily> GpuEnergy<M> {
    /// Σᵦ wᵦ∇θf(xᵦ) of `target`'s f over the `batch` samples in `x` (with
    /// their directions `v` when the target reads one), left on the
    /// device: [`param_rows_kernel()`] writes the rows of each chunk of
    /// samples (the MLP's score-matching rows once per range of
    /// coordinates under a loop budget) and [`sum_rows`] adds them up.
    pub(super) fn param_rows(
        &self,
        target: RowTarget,
        theta: &Handle,
        x: &Handle,
        v: Option<&Handle>,
        w: &Handle,
        batch: usize,
    ) -> Result<Handle> {
        let (p, d, s) = (self.spec.n_params, self.spec.d, self.spec);
        let ranges = if target == RowTarget::ScoreMatching && s.family == Family::Mlp {
            let (base, per) = sm_loop_cost(&self.widths(), p);
            sm_ranges(d, base + d as u64, per, self.planned_budget())
                .ok_or_else(|| KernelError::Unsupported("score-matching rows beyond the loop budget".into()))?
        } else {
            vec![(0, d as u32)]
        };
        // A target without a direction never reads `v`: a 1-value stand-in.
        let no_v;
        let (v, v_len) = match v {
            Some(v) => (v, batch * d),
            None => {
                no_v = self.dev.client().empty(4);
                (&no_v, 1)
            }
        };
        let chunk = rows_chunk(p, batch, self.planned_budget());
        sum_rows(&self.dev, p, batch, self.planned_budget(), ranges.len(), |b0, n, ri, count, dim, rows| {
            let (lo, hi) = ranges[ri];
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                param_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(x, batch * d),
                    arg(v, v_len),
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
                    target,
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
            Target::Energy => self.param_rows(RowTarget::Energy, &theta, &b.x, None, &hw, b.batch)?,
            Target::VDotGradX(v) => {
                let hv = upload_f32(&self.dev, &v);
                self.param_rows(RowTarget::VDotGradX, &theta, &b.x, Some(&hv), &hw, b.batch)?
            }
            Target::ScoreMatching => self.param_rows(RowTarget::ScoreMatching, &theta, &b.x, None, &hw, b.batch)?,
        };
        let bytes = self.read(vec![g])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..p].to_vec())
    }
}
