//! The Langevin chains of [`GpuSym`]: all K steps in one launch of
//! [`crate::sym_langevin`]'s kernels (split into launches that fit a loop
//! budget, the chains staying on the device).

use super::GpuSym;
use crate::chains::{acceptance, check_steps, launch_steps};
use crate::error::{KernelError, Result};
use crate::launch::{arg, grid};
use crate::plan::steps_per_launch;
use crate::sym_langevin::{sym_mala_kernel, sym_ula_kernel};
use ebm_core::langevin::NoiseAt;
use ebm_core::{Energy, Trainable};

/// Loop iterations per step and once per launch of the symbolic Langevin
/// kernels (the program itself has no loop): the noise and the update
/// (2d for ULA, 4d for MALA), the loads and stores (2d), padded.
pub(super) fn loop_cost(d: usize, mala: bool) -> (u64, u64) {
    let d = d as u64;
    let per = if mala { 1 + 4 * d } else { 1 + 2 * d };
    (per + per / 10 + 16, 2 * d + 64)
}

impl GpuSym {
    fn chunk(&self, steps: usize, mala: bool) -> Result<u64> {
        let (per, fixed) = loop_cost(self.cpu.dim(), mala);
        steps_per_launch(steps as u64, per, fixed, self.loop_budget).map_err(KernelError::Unsupported)
    }

    pub(super) fn ula_device(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        let d = self.cpu.dim();
        let k = check_steps(steps)?;
        let chunk = self.chunk(steps, false)?;
        let spec = &self.specs.eval[1];
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        let batch = b.batch;
        let (count, dim) = grid(&self.dev, batch)?;
        launch_steps(k, chunk, at, |n, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                sym_ula_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&aux, 1),
                    arg(&theta, self.cpu.params().len()),
                    batch as u32,
                    n,
                    eps,
                    eps * eps * 0.5,
                    rng,
                    spec.clone(),
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
        let d = self.cpu.dim();
        let k = check_steps(steps)?;
        let chunk = self.chunk(steps, true)?;
        let spec = &self.specs.eval[1];
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        let batch = b.batch;
        let acc = c.create_from_slice(bytemuck::cast_slice(accepts));
        let (count, dim) = grid(&self.dev, batch)?;
        launch_steps(k, chunk, at, |n, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                sym_mala_kernel::launch(
                    c,
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&acc, batch),
                    arg(&aux, 1),
                    arg(&theta, self.cpu.params().len()),
                    batch as u32,
                    n,
                    eps,
                    eps * eps * 0.5,
                    1.0 / (2.0 * eps * eps),
                    rng,
                    spec.clone(),
                );
            }
        });
        let out = self.read(vec![b.x.clone(), acc])?;
        x.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[0])[..batch * d]);
        Ok(acceptance(&bytemuck::cast_slice::<u8, u32>(&out[1])[..batch], accepts, steps))
    }
}
