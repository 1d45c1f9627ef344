//! The Langevin chains of [`GpuSym`]: all K steps in one launch of
//! [`crate::sym_langevin`]'s kernels (split into launches that fit a loop
//! budget, the chains staying on the device).

use super::GpuSym;
use crate::error::{KernelError, Result};
use crate::launch::{arg, grid};
use crate::on_device::LangevinCall;
use crate::plan::steps_per_launch;
use crate::sym_langevin::{sym_mala_kernel, sym_ula_kernel};
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

    /// The ULA or MALA steps of `call`; returns the acceptance rate (0
    /// for ULA).
    pub(super) fn langevin_device(&self, call: LangevinCall<'_>) -> Result<f64> {
        let d = self.cpu.dim();
        let chunk = self.chunk(call.steps as usize, call.mala())?;
        let spec = &self.specs.eval[1];
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, call.x)?;
        let batch = b.batch;
        let acc = call.accepts.as_ref().map(|a| c.create_from_slice(bytemuck::cast_slice::<u32, u8>(a)));
        let (count, dim) = grid(&self.dev, batch)?;
        let np = self.cpu.params().len();
        let (eps, half_eps2, inv_2eps2) = (call.eps, call.half_eps2(), call.inv_2eps2());
        call.run(&self.dev, &b.x, acc.as_ref(), chunk, |n, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                let (xs, aux, th) = (arg(&b.x, batch * d), arg(&aux, 1), arg(&theta, np));
                match &acc {
                    Some(a) => sym_mala_kernel::launch(
                        c,
                        count.clone(),
                        dim,
                        xs,
                        arg(a, batch),
                        aux,
                        th,
                        batch as u32,
                        n,
                        eps,
                        half_eps2,
                        inv_2eps2,
                        rng,
                        spec.clone(),
                    ),
                    None => sym_ula_kernel::launch(
                        c,
                        count.clone(),
                        dim,
                        xs,
                        aux,
                        th,
                        batch as u32,
                        n,
                        eps,
                        half_eps2,
                        rng,
                        spec.clone(),
                    ),
                }
            }
        })
    }
}
