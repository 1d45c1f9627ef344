//! The Langevin chains of [`GpuSym`]: all K steps in one launch of
//! [`crate::fused::langevin_kernel()`] for [`ChainModel::Sym`]
//! ([`crate::sym_langevin`]; split into launches that fit a loop budget,
//! the chains staying on the device).

use super::GpuSym;
use crate::error::{KernelError, Result};
use crate::fused::{langevin_kernel, ChainModel};
use crate::launch::{arg, grid};
use crate::on_device::LangevinCall;
use crate::plan::steps_per_launch;
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
        let mala = call.mala();
        let chunk = self.chunk(call.steps as usize, mala)?;
        let spec = &self.specs.eval[1];
        let c = self.dev.client();
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, call.x)?;
        let batch = b.batch;
        let acc = c.create_from_slice(match &call.accepts {
            Some(a) => bytemuck::cast_slice::<u32, u8>(a),
            None => &[0u8; 4],
        });
        // The program reads no `meta`.
        let meta = c.empty(4);
        let (count, dim) = grid(&self.dev, batch)?;
        let np = self.cpu.params().len();
        call.run(&self.dev, &b.x, batch, mala.then_some(&acc), chunk, |args, rng| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                langevin_kernel::launch(
                    c,
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&acc, if mala { batch } else { 1 }),
                    arg(&theta, np),
                    arg(&meta, 1),
                    arg(&aux, 1),
                    args,
                    rng,
                    ChainModel::Sym(spec.clone()),
                    mala,
                );
            }
        })
    }
}
