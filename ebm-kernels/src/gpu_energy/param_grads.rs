//! The device paths of [`GpuEnergy`]'s `grad_params_v_dot_grad_x`
//! ([`crate::grad_vdx`]) and `grad_params_sm` ([`crate::grad_sm`]): per
//! chunk of samples, one launch writes the weighted per-sample gradient
//! rows and `crate::grad::reduce_rows_kernel` adds them to the result,
//! which stays on the device until the end, as for `grad_params_energy`.
//!
//! Both return `None` (the caller then uses the CPU twin) for per-thread
//! state beyond [`MAX_THREAD_FLOATS`], and when one sample (for the MLP
//! score-matching gradient: one sample and one coordinate) does not fit the
//! adapter's loop budget. Under a budget the MLP score-matching rows are
//! also cut by coordinate ranges, whose contributions add up (module docs
//! of [`crate::grad_sm`]).

use super::GpuEnergy;
use crate::error::Result;
use crate::family::{GpuFamily, MAX_THREAD_FLOATS};
use crate::grad::reduce_rows_kernel;
use crate::grad_families::{family_row_cost, family_row_floats, has_family_row};
use crate::grad_sm::{sm_loop_cost, sm_rows_kernel};
use crate::grad_vdx::{vdx_loop_cost, vdx_rows_kernel};
use crate::launch::{arg, grid, upload_f32};
use crate::spec::{Spec, FAM_GAUSSIAN, FAM_MLP};
use crate::vhv::{gaussian_vhv_loop_cost, vhv_kernel, vhv_loop_cost, vhv_thread_floats};
use cubecl::prelude::{CubeCount, CubeDim};
use cubecl::server::Handle;

/// Coordinate ranges of the score-matching rows under a loop budget
/// (`None` when one coordinate does not fit).
pub(super) fn sm_ranges(d: usize, base: u64, per: u64, budget: Option<u64>) -> Option<Vec<(u32, u32)>> {
    let Some(b) = budget else {
        return Some(vec![(0, d as u32)]);
    };
    if base + per > b {
        return None;
    }
    let step = ((b - base) / per.max(1)).max(1) as usize;
    Some((0..d).step_by(step).map(|lo| (lo as u32, (lo + step).min(d) as u32)).collect())
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// The budget launches are planned within (90% of the adapter's).
    pub(super) fn planned_budget(&self) -> Option<u64> {
        self.loop_budget.map(|b| b / 10 * 9)
    }

    /// Samples per chunk of rows: at most 16 Mi floats of rows, and a
    /// reduction loop within the budget.
    pub(super) fn rows_chunk(&self, batch: usize) -> usize {
        let p = self.spec.n_params;
        let mut chunk = batch.min((16 << 20) / p.max(1)).max(1);
        if let Some(b) = self.planned_budget() {
            chunk = chunk.min((b as usize).saturating_sub(16).max(1));
        }
        chunk
    }

    /// The MLP widths when the MLP device kernels can hold `floats`
    /// values of per-thread state, `None` otherwise.
    fn mlp_meta(&self, floats: usize) -> Result<Option<Vec<u32>>> {
        if self.spec.family != FAM_MLP || floats > MAX_THREAD_FLOATS {
            return Ok(None);
        }
        Ok(Some(self.cpu.spec()?.1))
    }

    /// Σ over the batch of per-sample gradient rows, on the device: the
    /// samples are cut into chunks of [`Self::rows_chunk`]; for each chunk,
    /// `passes` launches of `write_rows(b0, n, pass, count, dim, rows)` each
    /// write the rows of samples b0..b0+n (into `rows`, `rows_chunk · P`
    /// floats) and `reduce_rows_kernel` adds them to the result (the first
    /// pass of the first chunk overwrites it). Reads the P values back.
    /// The caller holds whatever its launches read.
    pub(super) fn sum_rows(
        &self,
        batch: usize,
        passes: usize,
        mut write_rows: impl FnMut(usize, usize, usize, CubeCount, CubeDim, &Handle),
    ) -> Result<Vec<f32>> {
        let p = self.spec.n_params;
        let chunk = self.rows_chunk(batch);
        let c = self.dev.client();
        let rows = c.empty(chunk * p * 4);
        let out = c.empty(p * 4);
        let (pc, pd) = grid(&self.dev, p)?;
        let mut b0 = 0usize;
        while b0 < batch {
            let n = chunk.min(batch - b0);
            let (count, dim) = grid(&self.dev, n)?;
            for pass in 0..passes {
                write_rows(b0, n, pass, count.clone(), dim, &rows);
                let acc = (b0 > 0 || pass > 0) as u32;
                // SAFETY: `rows` holds chunk·P floats and `out` P.
                unsafe {
                    reduce_rows_kernel::launch(
                        c,
                        pc.clone(),
                        pd,
                        arg(&rows, chunk * p),
                        arg(&out, p),
                        n as u32,
                        acc,
                        p,
                    );
                }
            }
            b0 += n;
        }
        let bytes = self.read(vec![out])?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..p].to_vec())
    }

    /// Σᵦ wᵦ ∇θ(vᵦᵀ∇ₓE(xᵦ)) on the device, or `None` (module docs).
    pub(super) fn grad_vdx_device(
        &self,
        x: &[f32],
        v: &[f32],
        weights: &[f32],
        batch: usize,
    ) -> Result<Option<Vec<f32>>> {
        let s = self.spec;
        let (p, d) = (s.n_params, s.d);
        let cost = if s.family == FAM_MLP {
            let Some(meta) = self.mlp_meta(4 * s.d + 6 * s.wsum + s.wmax)? else {
                return Ok(None);
            };
            vdx_loop_cost(&meta) + 2 * d as u64
        } else if has_family_row(s.family) && family_row_floats(&s) <= MAX_THREAD_FLOATS {
            family_row_cost(&s)
        } else {
            return Ok(None);
        };
        self.check_size(batch)?;
        if self.planned_budget().is_some_and(|b| cost > b) {
            return Ok(None);
        }
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let bufs = self.buffers(&mut st, batch);
        self.write(&bufs.x, bytemuck::cast_slice(x));
        let hv = upload_f32(&self.dev, v);
        let hw = upload_f32(&self.dev, weights);
        let chunk = self.rows_chunk(batch);
        let grad = self.sum_rows(batch, 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                vdx_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(&bufs.x, batch * d),
                    arg(&hv, batch * d),
                    arg(&hw, batch),
                    arg(&theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    s,
                );
            }
        })?;
        drop(st);
        Ok(Some(grad))
    }

    /// Whether [`crate::vhv::vhv_kernel()`] can serve this model: an MLP
    /// or a Gaussian whose per-thread state and per-sample loop count fit.
    pub(super) fn vhv_fits(&self) -> Result<bool> {
        let s = self.spec;
        let cost = if s.family == FAM_GAUSSIAN {
            if 2 * s.d > MAX_THREAD_FLOATS {
                return Ok(false);
            }
            gaussian_vhv_loop_cost(s.d)
        } else {
            let Some(meta) = self.mlp_meta(vhv_thread_floats(&s))? else {
                return Ok(false);
            };
            vhv_loop_cost(&meta) + s.d as u64
        };
        Ok(self.planned_budget().is_none_or(|b| cost <= b))
    }

    /// vᵦᵀ∇ₓ²E(xᵦ)vᵦ on the device ([`crate::vhv`]; one launch, every
    /// sample in its own invocation), or `None` for the CPU twin: families
    /// other than the MLP and Gaussian, per-thread state beyond [`MAX_THREAD_FLOATS`],
    /// or one sample beyond the loop budget. The inputs are already checked.
    pub(super) fn vhv_device(&self, x: &[f32], v: &[f32], batch: usize) -> Result<Option<Vec<f32>>> {
        if !self.vhv_fits()? {
            return Ok(None);
        }
        let s = self.spec;
        self.check_size(batch)?;
        let (p, d) = (s.n_params, s.d);
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let bufs = self.buffers(&mut st, batch);
        self.write(&bufs.x, bytemuck::cast_slice(x));
        // The energy buffer (batch values) receives q.
        let hv = upload_f32(&self.dev, v);
        let (count, dim) = grid(&self.dev, batch)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            vhv_kernel::launch(
                self.dev.client(),
                count,
                dim,
                arg(&bufs.x, batch * d),
                arg(&hv, batch * d),
                arg(&theta, p),
                arg(&self.meta, self.meta_len()),
                arg(&bufs.energy, batch),
                batch as u32,
                s,
            );
        }
        let h = bufs.energy.clone();
        drop(st);
        let bytes = self.read(vec![h])?;
        Ok(Some(bytemuck::cast_slice::<u8, f32>(&bytes[0])[..batch].to_vec()))
    }

    /// The coordinate ranges of the score-matching launches, or `None`
    /// for the CPU twin (module docs; ReLU MLPs, which the twin refuses).
    fn sm_plan(&self, s: &Spec) -> Result<Option<Vec<(u32, u32)>>> {
        let d = s.d;
        if s.family != FAM_MLP {
            let fits = has_family_row(s.family)
                && family_row_floats(s) <= MAX_THREAD_FLOATS
                && self.planned_budget().is_none_or(|b| family_row_cost(s) <= b);
            return Ok(fits.then(|| vec![(0, d as u32)]));
        }
        if s.variant == crate::act::code(ebm_core::mlp::Activation::Relu) {
            return Ok(None);
        }
        let Some(meta) = self.mlp_meta(3 * s.d + 9 * s.wsum + 3 * s.wmax)? else {
            return Ok(None);
        };
        let (base, per) = sm_loop_cost(&meta, s.n_params);
        Ok(sm_ranges(d, base + d as u64, per, self.planned_budget()))
    }

    /// Σᵦ wᵦ ∇θ𝒥(xᵦ) (seed eq 12) on the device, or `None` (module docs).
    pub(super) fn grad_sm_device(&self, x: &[f32], weights: &[f32], batch: usize) -> Result<Option<Vec<f32>>> {
        let s = self.spec;
        let (p, d) = (s.n_params, s.d);
        let Some(ranges) = self.sm_plan(&s)? else {
            return Ok(None);
        };
        self.check_size(batch)?;
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let bufs = self.buffers(&mut st, batch);
        self.write(&bufs.x, bytemuck::cast_slice(x));
        let hw = upload_f32(&self.dev, weights);
        let chunk = self.rows_chunk(batch);
        let grad = self.sum_rows(batch, ranges.len(), |b0, n, ri, count, dim, rows| {
            let (lo, hi) = ranges[ri];
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                sm_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(&bufs.x, batch * d),
                    arg(&hw, batch),
                    arg(&theta, p),
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
        })?;
        drop(st);
        Ok(Some(grad))
    }
}

#[cfg(test)]
mod tests {
    use super::sm_ranges;

    #[test]
    fn sm_ranges_cover_the_coordinates() {
        assert_eq!(sm_ranges(5, 10, 3, None), Some(vec![(0, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(100)), Some(vec![(0, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(16)), Some(vec![(0, 2), (2, 4), (4, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(12)), None);
    }
}
