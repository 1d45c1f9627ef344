//! `ebm train --distributed`: one model trained by the N ranks of an MPI
//! job (`mpirun -np N ebm train … --distributed`), data-parallel as in
//! [`ebm_dist`] and [`ebm_estimators::train`] ("# Data parallelism").
//!
//! - Every rank reads the same data, settings and (on `--resume`) the same
//!   state files, so the run directory must be on a file system every rank
//!   sees (one host, or a shared one).
//! - Rank r computes rows [⌊rB/N⌋, ⌊(r+1)B/N⌋) of every global batch of B
//!   with noise keyed by (seed, step, global sample index); the loss and the
//!   gradient are the rank-ordered sum of the partial sums over B, so the
//!   parameters are those of the single-process run to rounding, whatever N.
//! - Rank 0 alone writes the run's files (atomically, as a single-process
//!   run does) and prints; the others are quiet. Every rank holds the same
//!   state, so `--resume` works with any N, and with or without
//!   `--distributed`.
//! - A divergence on any rank's share is a divergence on every rank at the
//!   same step: all exit with code 2 and rank 0 records it.
//! - A rank that dies takes the job down: `mpirun` stops the others and
//!   names the rank that died. A rank that hangs: the others wait at most
//!   `--collective-timeout` seconds (default 300) in a step's exchange, then
//!   one of them aborts the job, naming itself, the exchange and the ranks
//!   that did not reach it (`ebm_dist::MpiComm`). Either
//!   way what is on disk is the last commit, which `--resume` continues.
//! - Ctrl-C goes to `mpirun`, which terminates the ranks: there is no final
//!   commit as in a one-process run, and `--resume` continues from the last
//!   periodic one.
//! - Every estimator: `esm`, `dsm`, `ssm`, `ssm-vr`, `nce` (its log Z is a
//!   trainable parameter, reduced with θ), `cd` and `icd` (rank r's chains
//!   start at its rows and draw the noise of their global indices; the KL
//!   term is per sample), `pcd` (every rank holds the whole replay buffer;
//!   each advances the chains of its rows and the advanced chains are
//!   all-gathered, so every copy stays the single-process buffer) and `lsd`
//!   (the critic's gradient is reduced like θ's at each critic step, so
//!   every rank holds the same critic). See `docs/scale.md`.
//!
//! - `--backend gpu`: rank r uses the adapter `#l` (`EBM_ADAPTER`), l its
//!   local rank on its host (`OMPI_COMM_WORLD_LOCAL_RANK`,
//!   `MPI_LOCALRANKID` or `SLURM_LOCALID`), so the ranks of a host spread
//!   over its GPUs; an `EBM_ADAPTER` set by the user wins (e.g. with more
//!   ranks than GPUs on a host).
//!
//! Without the cargo feature `mpi` the flag is refused with
//! [`CliError::NoMpi`].

use crate::error::{CliError, Result};
use ebm_dist::Communicator;

/// The communicator of this process: MPI's world with `--distributed`
/// (feature `mpi`), else one process.
/// `timeout`: the seconds after which a rank still waiting for the others
/// in a step's exchange aborts the job (a hung rank).
pub fn communicator(distributed: bool, timeout: f64) -> Result<Box<dyn Communicator>> {
    if !distributed {
        return Ok(Box::new(ebm_dist::Local));
    }
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(CliError::Usage(format!(
            "--collective-timeout must be a positive number of seconds, got {timeout}"
        )));
    }
    mpi_world(std::time::Duration::from_secs_f64(timeout))
}

#[cfg(feature = "mpi")]
fn mpi_world(timeout: std::time::Duration) -> Result<Box<dyn Communicator>> {
    let comm = ebm_dist::MpiComm::init().map_err(|e| CliError::Distributed(e.to_string()))?.with_timeout(timeout);
    let adapter = ebm_kernels::device::ADAPTER_ENV;
    if std::env::var_os(adapter).is_none() {
        if let Some(local) = local_rank() {
            // Before any adapter is opened; the process has one thread.
            std::env::set_var(adapter, format!("#{local}"));
        }
    }
    Ok(Box::new(comm))
}

/// This rank's index among the ranks on its host, as the launcher says
/// (Open MPI, MPICH / Intel MPI, Slurm).
#[cfg(feature = "mpi")]
fn local_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())
}

#[cfg(not(feature = "mpi"))]
fn mpi_world(_timeout: std::time::Duration) -> Result<Box<dyn Communicator>> {
    Err(CliError::NoMpi)
}
