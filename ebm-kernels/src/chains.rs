//! The host side shared by every Langevin driver on the device
//! ([`crate::GpuEnergy`], [`crate::GpuSym`], [`crate::mlp2::Mlp2`]): the
//! Philox addressing of a launch, the split of K steps into launches of at
//! most a planned number of steps (exact: the noise is addressed by the
//! global step number, and the chains stay on the device), and the MALA
//! acceptance bookkeeping of `ebm_core::langevin::mala`.

use crate::error::{KernelError, Result};
use crate::fused::RngArgsLaunch;

/// The Philox addressing of a launch whose first step is `first_step`.
pub(crate) fn rng_args(seed: u64, first_step: u64) -> RngArgsLaunch {
    RngArgsLaunch::new(seed as u32, (seed >> 32) as u32, first_step as u32, (first_step >> 32) as u32)
}

/// `steps` as one launch's step count.
pub(crate) fn check_steps(steps: usize) -> Result<u32> {
    u32::try_from(steps).map_err(|_| KernelError::Unsupported(format!("{steps} Langevin steps in one launch")))
}

/// Runs `steps` steps as launches of at most `chunk` steps each, in order:
/// `launch(n, rng)` runs n steps from the Philox address `rng` of the
/// launch's first step (`first_step` plus the steps already run).
pub(crate) fn launch_steps(
    steps: u32,
    chunk: u64,
    seed: u64,
    first_step: u64,
    mut launch: impl FnMut(u32, RngArgsLaunch),
) {
    let mut done = 0u64;
    while done < steps as u64 {
        let n = chunk.min(steps as u64 - done);
        launch(n as u32, rng_args(seed, first_step.wrapping_add(done)));
        done += n;
    }
}

/// The MALA bookkeeping after `steps` steps: `accepts` (the counts before)
/// takes the counts `after`, and the acceptance rate of these steps over
/// every chain is returned (0 for no steps), as `ebm_core::langevin::mala`.
pub fn acceptance(after: &[u32], accepts: &mut [u32], steps: usize) -> f64 {
    let moved: u64 = after.iter().zip(accepts.iter()).map(|(&a, &c)| u64::from(a.wrapping_sub(c))).sum();
    accepts.copy_from_slice(after);
    if steps == 0 {
        0.0
    } else {
        moved as f64 / (steps * after.len()) as f64
    }
}
