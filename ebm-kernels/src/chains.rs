//! The host side shared by every Langevin driver on the device
//! ([`crate::GpuEnergy`], [`crate::GpuSym`], [`crate::mlp2::Mlp2`]): the
//! Philox addressing of a launch, the split of K steps into launches of at
//! most a planned number of steps (exact: the noise is addressed by the
//! global step number, and the chains stay on the device), and the MALA
//! acceptance bookkeeping of `ebm_core::langevin::mala`.

use crate::error::{KernelError, Result};
use crate::fused::RngArgsLaunch;
use ebm_core::langevin::NoiseAt;

/// The Philox addressing of a launch: `at` with its first step moved on by
/// `done` steps. [`check_noise`] has checked that its chain indices fit.
pub(crate) fn rng_args(at: NoiseAt, done: u64) -> RngArgsLaunch {
    let (seed, step) = (at.seed, at.first_step.wrapping_add(done));
    RngArgsLaunch::new(seed as u32, (seed >> 32) as u32, step as u32, (step >> 32) as u32, at.first_chain as u32)
}

/// The kernels address a chain's noise with 32-bit indices: the last
/// coordinate's index (first_chain + B)·d must stay below 2³².
pub(crate) fn check_noise(at: NoiseAt, batch: usize, d: usize) -> Result<()> {
    let last = (at.first_chain as u128 + batch as u128) * d as u128;
    if last > u32::MAX as u128 {
        return Err(KernelError::Unsupported(format!(
            "Langevin noise of chains {}..{} with d = {d}: the device kernels address at most 2³² noise values (use fewer chains or the CPU)",
            at.first_chain,
            at.first_chain as u128 + batch as u128
        )));
    }
    Ok(())
}

/// `steps` as one launch's step count.
pub(crate) fn check_steps(steps: usize) -> Result<u32> {
    u32::try_from(steps).map_err(|_| KernelError::Unsupported(format!("{steps} Langevin steps in one launch")))
}

/// Runs `steps` steps as launches of at most `chunk` steps each, in order:
/// `launch(n, rng)` runs n steps from the Philox address `rng` of the
/// launch's first step (`at.first_step` plus the steps already run).
pub(crate) fn launch_steps(steps: u32, chunk: u64, at: NoiseAt, mut launch: impl FnMut(u32, RngArgsLaunch)) {
    let mut done = 0u64;
    while done < steps as u64 {
        let n = chunk.min(steps as u64 - done);
        launch(n as u32, rng_args(at, done));
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
