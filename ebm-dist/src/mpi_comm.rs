//! `MPI_COMM_WORLD` through rsmpi (feature `mpi`).

use crate::{check_root, Communicator, DistError};
use mpi::environment::Universe;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use std::time::{Duration, Instant};

/// `MPI_Abort`'s error code when an exchange times out (`mpirun` exits with it).
pub const EXIT_TIMEOUT: i32 = 1;

/// The world communicator of an MPI job started by `mpirun`.
///
/// Initialises MPI on creation and finalises it when dropped; one per
/// process. Collectives use MPI's default error handler, which aborts the
/// job on a communication failure: a rank that dies makes `mpirun` stop the
/// other ranks, naming the rank that died.
///
/// A rank that hangs (stopped, deadlocked, a lost node) is not a failure to
/// MPI; with [`MpiComm::with_timeout`], a rank whose [`Communicator::all_gather`]
/// has not completed after the limit prints which rank it is, at which
/// exchange, and aborts the whole job (`MPI_Abort`, exit code
/// [`EXIT_TIMEOUT`]).
pub struct MpiComm {
    world: SimpleCommunicator,
    timeout: Option<Duration>,
    exchanges: std::cell::Cell<u64>,
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
        Ok(Self { world, timeout: None, exchanges: Default::default(), _universe: universe })
    }

    /// Aborts the job when an all-gather has not completed after `limit`
    /// (see the type's docs).
    pub fn with_timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The non-blocking all-gather, polled until it completes or `limit`
    /// passes (then the job is aborted).
    fn all_gather_within(&self, local: &[f64], all: &mut [f64], limit: Duration) {
        let t0 = Instant::now();
        let n = self.exchanges.get();
        mpi::request::scope(|scope| {
            let mut req = self.world.immediate_all_gather_into(scope, local, all);
            loop {
                match req.test() {
                    Ok(_) => return,
                    Err(r) => req = r,
                }
                if t0.elapsed() > limit {
                    eprintln!(
                        "ebm rank {} of {}: exchange {n} did not complete within {:.1} s: another rank is hung or \
                         died; aborting every rank",
                        self.rank(),
                        self.size(),
                        limit.as_secs_f64()
                    );
                    self.world.abort(EXIT_TIMEOUT);
                }
                std::thread::yield_now();
            }
        });
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
        match self.timeout {
            Some(limit) => self.all_gather_within(local, all, limit),
            None => self.world.all_gather_into(local, all),
        }
        self.exchanges.set(self.exchanges.get() + 1);
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
