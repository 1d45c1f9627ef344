//! `MPI_COMM_WORLD` through rsmpi (feature `mpi`).

use crate::{check_root, Communicator, DistError};
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use std::time::{Duration, Instant};

/// `MPI_Abort`'s error code when an exchange times out (`mpirun` exits with it).
pub const EXIT_TIMEOUT: i32 = 1;

/// The tag of the arrival notices of a timed all-gather (see [`MpiComm`]).
const ARRIVED: mpi::Tag = 7001;

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
/// exchange, which ranks did not reach that exchange, and aborts the whole
/// job (`MPI_Abort`, exit code [`EXIT_TIMEOUT`]).
///
/// To know who did not arrive, every rank entering exchange n of a timed
/// all-gather sends a one-value notice (n, a tag of its own) to every other
/// rank and posts the receives of theirs; the notices of one pair of ranks
/// arrive in order, so the receive posted at exchange n matches the other
/// rank's notice of exchange n. On a timeout the ranks whose notice has
/// not come are those that never entered the exchange; when every notice
/// came, a rank stopped inside the exchange cannot be told from one
/// waiting in it, and the message names the candidates. The price is
/// 2(N − 1) messages of 8 bytes per exchange and rank, overlapped with the
/// all-gather.
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

    /// The non-blocking all-gather with arrival notices (see the type's
    /// docs), polled until it completes or `limit` passes (then the job is
    /// aborted, naming the ranks whose notice did not come).
    fn all_gather_within(&self, local: &[f64], all: &mut [f64], limit: Duration) {
        let t0 = Instant::now();
        let n = self.exchanges.get();
        let me = self.rank();
        let mut heard = vec![0u64; self.size()];
        mpi::request::scope(|scope| {
            let sends: Vec<_> = (0..self.size())
                .filter(|&r| r != me)
                .map(|r| self.world.process_at_rank(r as i32).immediate_send_with_tag(scope, &n, ARRIVED))
                .collect();
            let mut notices: Vec<_> = heard
                .iter_mut()
                .enumerate()
                .filter(|&(r, _)| r != me)
                .map(|(r, h)| {
                    (r, Some(self.world.process_at_rank(r as i32).immediate_receive_into_with_tag(scope, h, ARRIVED)))
                })
                .collect();
            let mut req = self.world.immediate_all_gather_into(scope, local, all);
            loop {
                match req.test() {
                    Ok(_) => break,
                    Err(r) => req = r,
                }
                if t0.elapsed() > limit {
                    let missing: Vec<usize> = notices
                        .iter_mut()
                        .filter_map(|(r, q)| match q.take().expect("tested once").test() {
                            Ok(_) => None,
                            Err(pending) => {
                                *q = Some(pending);
                                Some(*r)
                            }
                        })
                        .collect();
                    eprintln!(
                        "ebm rank {me} of {}: exchange {n} did not complete within {:.1} s: {}; aborting every rank",
                        self.size(),
                        limit.as_secs_f64(),
                        absent(&missing, me, self.size())
                    );
                    self.world.abort(EXIT_TIMEOUT);
                }
                std::thread::yield_now();
            }
            // Every rank entered the exchange, so every notice was sent.
            for (_, q) in notices {
                q.expect("pending").wait();
            }
            for s in sends {
                s.wait();
            }
        });
        debug_assert!(heard.iter().enumerate().all(|(r, &h)| r == me || h == n), "notices arrive in order");
    }
}

/// What timed-out rank `me` of `size` knows of the others: the ranks that
/// did not reach the exchange (hung or died before it), or, when every
/// rank reached it, which of the others may be hung inside it (with two
/// ranks, the other one).
fn absent(missing: &[usize], me: usize, size: usize) -> String {
    let list = |v: &[usize]| v.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
    let others: Vec<usize> = (0..size).filter(|&r| r != me).collect();
    match (missing.len(), others.len()) {
        (1, _) => format!("rank {} did not reach it (hung or died)", list(missing)),
        (0, 1) => format!("rank {} reached it and is hung or died inside it", list(&others)),
        (0, _) => format!("every rank reached it; one of ranks {} is hung or died inside it", list(&others)),
        _ => format!("ranks {} did not reach it (hung or died)", list(missing)),
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
