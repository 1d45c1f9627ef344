//! The Langevin chains of [`GpuEnergy`]: all K steps in one launch of
//! [`crate::fused::ula_kernel()`] / [`crate::fused::mala_kernel()`] (the
//! steps split into launches that fit a loop budget, the chains staying on
//! the device), with the noise of `ebm_core::langevin` drawn in-kernel.

use super::GpuEnergy;
use crate::chains::{acceptance, check_steps, launch_steps};
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::fused::{mala_kernel, ula_kernel};
use crate::launch::{arg, grid, WORKGROUP};
use crate::plan::{fixed_cost, steps_per_launch};
use ebm_core::langevin::NoiseAt;

impl<M: GpuFamily> GpuEnergy<M> {
    /// Steps per launch for ULA (`mala = false`) or MALA.
    fn langevin_chunk(&self, steps: usize, mala: bool) -> Result<u64> {
        let d = self.spec.d as u64;
        let eval = self.cost.energy + self.cost.grad;
        let per_step = if mala { 1 + 4 * d + eval } else { 1 + 2 * d + eval };
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64) + if mala { eval } else { 0 };
        steps_per_launch(steps as u64, per_step, fixed, self.loop_budget).map_err(KernelError::Unsupported)
    }

    pub(super) fn ula_device(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        let d = self.spec.d;
        let k = check_steps(steps)?;
        let chunk = self.langevin_chunk(steps, false)?;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let batch = b.batch;
        let (count, dim) = grid(&self.dev, batch)?;
        let half_eps2 = eps * eps * 0.5;
        launch_steps(k, chunk, at, |n, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                ula_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&theta, self.spec.n_params),
                    arg(&self.meta, self.meta_len()),
                    batch as u32,
                    n,
                    eps,
                    half_eps2,
                    rng,
                    self.spec,
                );
            }
        });
        let out = self.read(vec![b.x.clone()])?;
        x.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[0])[..batch * d]);
        Ok(())
    }

    pub(super) fn mala_device(
        &self,
        x: &mut [f32],
        eps: f32,
        steps: usize,
        at: NoiseAt,
        accepts: &mut [u32],
    ) -> Result<f64> {
        let d = self.spec.d;
        let k = check_steps(steps)?;
        let chunk = self.langevin_chunk(steps, true)?;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        let batch = b.batch;
        self.write(&b.accepts, bytemuck::cast_slice(accepts));
        let (count, dim) = grid(&self.dev, batch)?;
        let half_eps2 = eps * eps * 0.5;
        let inv_2eps2 = 1.0 / (2.0 * eps * eps);
        launch_steps(k, chunk, at, |n, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                mala_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&b.accepts, batch),
                    arg(&theta, self.spec.n_params),
                    arg(&self.meta, self.meta_len()),
                    batch as u32,
                    n,
                    eps,
                    half_eps2,
                    inv_2eps2,
                    rng,
                    self.spec,
                );
            }
        });
        let out = self.read(vec![b.x.clone(), b.accepts.clone()])?;
        x.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[0])[..batch * d]);
        Ok(acceptance(&bytemuck::cast_slice::<u8, u32>(&out[1])[..batch], accepts, steps))
    }
}
