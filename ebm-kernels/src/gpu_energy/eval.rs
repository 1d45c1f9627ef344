//! The energy kernel of [`GpuEnergy`]: E, the score and the Hessian
//! diagonal of a batch, one launch (several under a loop budget,
//! [`crate::plan`]), left in the batch buffers for the caller to read or to
//! feed to the next kernel.

use super::{Buffers, GpuEnergy};
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::fused::{eval_kernel, EvalOutsLaunch};
use crate::launch::{arg, grid, WORKGROUP};
use crate::plan::{eval_ranges, fixed_cost};
use cubecl::bytes::Bytes;
use cubecl::server::Handle;

impl<M: GpuFamily> GpuEnergy<M> {
    /// Launches the energy kernel on the `batch` samples already in `b.x`:
    /// E into `b.energy`, the score into `b.score` (with `want_grad` or
    /// `want_hess`), the Hessian diagonal into `b.hess` (with `want_hess`).
    pub(super) fn launch_eval(&self, theta: &Handle, b: &Buffers, want_grad: bool, want_hess: bool) -> Result<()> {
        let batch = b.batch;
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64);
        let ranges = eval_ranges(&self.spec, &self.cost, fixed, self.loop_budget, want_grad, want_hess)
            .map_err(KernelError::Unsupported)?;
        let d = self.spec.d;
        let (count, dim) = grid(&self.dev, batch)?;
        for (lo, hi) in ranges {
            // SAFETY: every handle was allocated with the length passed with
            // it (`buffers`, `theta`, `meta` from the same shapes).
            unsafe {
                let [xs, th, meta] = self.sample_args(theta, b);
                eval_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    xs,
                    th,
                    meta,
                    EvalOutsLaunch::new(arg(&b.energy, batch), arg(&b.score, batch * d), arg(&b.hess, batch * d)),
                    batch as u32,
                    lo,
                    hi,
                    self.spec,
                    want_grad,
                    want_hess,
                );
            }
        }
        Ok(())
    }

    /// E (and the score, the Hessian diagonal) of the checked batch `x`,
    /// read back: `[energy]`, `[energy, score]` or `[energy, score, hess]`.
    pub(super) fn eval_device(&self, x: &[f32], want_grad: bool, want_hess: bool) -> Result<Vec<Bytes>> {
        let mut st = self.lock();
        let (theta, b) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, want_grad, want_hess)?;
        let mut hs = vec![b.energy.clone()];
        if want_grad || want_hess {
            hs.push(b.score.clone());
        }
        if want_hess {
            hs.push(b.hess.clone());
        }
        self.read(hs)
    }
}
