//! The Langevin chains of [`GpuEnergy`]: all K steps in one launch of
//! [`crate::fused::langevin_kernel()`] (the steps split into launches that
//! fit a loop budget, the chains staying on the device), with the noise of
//! `ebm_core::langevin` drawn in-kernel.

use super::GpuEnergy;
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::fused::{langevin_kernel, ChainModel};
use crate::launch::{arg, grid, WORKGROUP};
use crate::on_device::LangevinCall;
use crate::plan::{fixed_cost, steps_per_launch};

impl<M: GpuFamily> GpuEnergy<M> {
    /// Steps per launch for ULA (`mala = false`) or MALA.
    fn langevin_chunk(&self, steps: usize, mala: bool) -> Result<u64> {
        let d = self.spec.d as u64;
        let eval = self.cost.energy + self.cost.grad;
        let per_step = if mala { 1 + 4 * d + eval } else { 1 + 2 * d + eval };
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64) + if mala { eval } else { 0 };
        steps_per_launch(steps as u64, per_step, fixed, self.loop_budget).map_err(KernelError::Unsupported)
    }

    /// The ULA or MALA steps of `call`; returns the acceptance rate (0
    /// for ULA).
    pub(super) fn langevin_device(&self, call: LangevinCall<'_>) -> Result<f64> {
        let mala = call.mala();
        let chunk = self.langevin_chunk(call.steps as usize, mala)?;
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, call.x)?;
        let batch = b.batch;
        if let Some(a) = &call.accepts {
            self.write(&b.accepts, bytemuck::cast_slice::<u32, u8>(a));
        }
        let (count, dim) = grid(&self.dev, batch)?;
        // The family reads no `aux`.
        let aux = self.dev.client().empty(4);
        call.run(&self.dev, &b.x, batch, mala.then_some(&b.accepts), chunk, |args, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                let [xs, th, meta] = self.sample_args(&theta, b);
                langevin_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    xs,
                    arg(&b.accepts, batch),
                    th,
                    meta,
                    arg(&aux, 1),
                    args,
                    rng,
                    ChainModel::Family(self.spec),
                    mala,
                );
            }
        })
    }
}
