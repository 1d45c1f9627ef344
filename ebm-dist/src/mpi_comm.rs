//! `MPI_COMM_WORLD` through rsmpi (feature `mpi`).

use crate::{check_root, Communicator, DistError};
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};

/// The world communicator of an MPI job started by `mpirun`.
///
/// Initialises MPI on creation and finalises it when dropped; one per
/// process. Collectives use MPI's default error handler, which aborts the
/// job on a communication failure: a rank that dies makes `mpirun` stop the
/// other ranks, naming the rank that died.
pub struct MpiComm {
    world: SimpleCommunicator,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiComm(rank {} of {})", self.rank(), self.size())
    }
}

impl MpiComm {
    /// Initialises MPI (single-threaded: only the main thread communicates)
    /// and returns the world communicator.
    pub fn init() -> Result<Self, DistError> {
        let universe = mpi::initialize().ok_or(DistError::AlreadyInitialised)?;
        let world = universe.world();
        Ok(Self { world, _universe: universe })
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, local: &[f64], all: &mut [f64]) -> Result<(), DistError> {
        let expected = local.len() * self.size();
        if all.len() != expected {
            return Err(DistError::Length { op: "all_gather", expected, got: all.len() });
        }
        self.world.all_gather_into(local, all);
        Ok(())
    }

    fn broadcast(&self, buf: &mut [f64], root: usize) -> Result<(), DistError> {
        check_root("broadcast", root, self.size())?;
        self.world.process_at_rank(root as i32).broadcast_into(buf);
        Ok(())
    }

    fn barrier(&self) -> Result<(), DistError> {
        self.world.barrier();
        Ok(())
    }
}
