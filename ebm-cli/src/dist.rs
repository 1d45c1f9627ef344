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
//!   names the rank that died. What is on disk is the last commit, which
//!   `--resume` continues.
//! - Estimators: `esm`, `dsm`, `ssm`, `ssm-vr` and `nce` (NCE's log Z is a
//!   trainable parameter, reduced with θ). `cd`, `icd`, `pcd` and `lsd` are
//!   refused before anything is written (their chains, replay buffer or
//!   critic are not split yet).
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
pub fn communicator(distributed: bool) -> Result<Box<dyn Communicator>> {
    if !distributed {
        return Ok(Box::new(ebm_dist::Local));
    }
    mpi_world()
}

#[cfg(feature = "mpi")]
fn mpi_world() -> Result<Box<dyn Communicator>> {
    let comm = ebm_dist::MpiComm::init().map_err(|e| CliError::Distributed(e.to_string()))?;
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
fn mpi_world() -> Result<Box<dyn Communicator>> {
    Err(CliError::NoMpi)
}

/// Refuses an estimator that cannot split its batch when `comm` has more
/// than one rank (before anything is written).
pub fn check_estimator(name: &str, data_parallel: bool, comm: &dyn Communicator) -> Result<()> {
    if comm.size() > 1 && !data_parallel {
        return Err(CliError::Usage(format!(
            "--estimator {name} does not support --distributed yet (use esm, dsm, ssm, ssm-vr or nce, or one process)"
        )));
    }
    Ok(())
}
