//! # ebm-dist: data-parallel training over a communicator
//!
//! One model trained by N processes ("ranks"), each holding a replica of
//! the parameters θ, the optimizer state and the estimator state, and each
//! computing the loss and gradient of its share of every global
//! mini-batch. Once per step the ranks add their partial sums, and every
//! rank applies the same update to its replica, so the replicas stay equal.
//!
//! # The math
//!
//! Every estimator the data-parallel loop accepts has a loss that is a mean
//! over the B samples of the global batch, L = (1/B) Σᵦ ℓᵦ, with ℓᵦ a
//! function of θ, of sample b, of the noise drawn *for sample b* and of
//! estimator state every rank holds identically (PCD's replay buffer,
//! LSD's critic, kept so by exchanges of their own), so
//! ∇L = (1/B) Σᵦ ∇ℓᵦ. Rank r of N takes the contiguous rows [loᵣ, hiᵣ) of
//! the batch ([`share`]: loᵣ = ⌊rB/N⌋), with bᵣ = hiᵣ − loᵣ rows, and
//! computes its local mean Lᵣ = (1/bᵣ) Σ_{b∈[loᵣ,hiᵣ)} ℓᵦ and gradient ∇Lᵣ.
//! It sends the partial sums Sᵣ = bᵣ · [Lᵣ, ∇Lᵣ] (in f64), and every rank
//! forms
//!
//! [L, ∇L] = (1/B) Σᵣ Sᵣ.
//!
//! In exact arithmetic this is the single-process loss and gradient; in
//! floating point the grouping of the sum differs (the local mean, then the
//! rank sum), so N ranks agree with one process to rounding (~1e-7 relative
//! per step in f32), not bit for bit. For that equality to hold, the noise
//! of sample b must not depend on which rank draws it: every draw is
//! addressed by (seed, step, **global** sample index b), which is what
//! `ebm_estimators::StepCtx::first` carries (the global index of a rank's
//! first row).
//!
//! # Determinism: the reduction order
//!
//! `MPI_Allreduce` leaves the order of its additions to the implementation
//! (it changes with the algorithm, the message size and N), so two ranks, or
//! two runs, could round differently. [`Communicator::all_sum`] instead
//! all-gathers the N partial-sum vectors and adds them **in rank order**,
//! S₀ + S₁ + … + S_{N−1}, on every rank: all replicas get the bit-identical
//! sum (so they stay bit-identical), and a run with a given N is
//! reproducible bit for bit. The price is N·4P·2 bytes received per rank
//! and step instead of a ring all-reduce's 2(N−1)/N·8P (see
//! `docs/scale.md`); for the model sizes ebm trains this is latency-bound
//! anyway.
//!
//! # Communicators
//!
//! - [`Local`]: one process (rank 0 of 1), always available: the plain
//!   single-process run is the data-parallel loop with N = 1.
//! - [`ThreadComm`]: N ranks as N threads of one process (shared memory),
//!   for tests and for trying the loop without MPI.
//! - `MpiComm` (feature `mpi`): `MPI_COMM_WORLD` through rsmpi, over the
//!   system's MPI (Open MPI on Debian). A rank that dies takes the job down:
//!   Open MPI's default error handler is fatal and `mpirun` kills the other
//!   ranks and names the one that died. A rank that hangs is caught by
//!   `MpiComm::with_timeout`: the others abort the job after the limit,
//!   naming the ranks that did not reach the exchange.
//!
//! ```
//! use ebm_dist::{share, Communicator, Local};
//!
//! let comm = Local;
//! let mut partial = vec![3.0, 1.5];
//! comm.all_sum(&mut partial)?;
//! assert_eq!(partial, [3.0, 1.5]);
//! assert_eq!((share(10, 1, 4), share(10, 3, 4)), (2..5, 7..10));
//! # Ok::<(), ebm_dist::DistError>(())
//! ```

use std::ops::Range;

pub mod threads;
pub mod timed;
pub use threads::ThreadComm;
pub use timed::Timed;

#[cfg(feature = "mpi")]
mod mpi_comm;
#[cfg(feature = "mpi")]
pub use mpi_comm::{MpiComm, EXIT_TIMEOUT};

/// What a collective operation can report.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// MPI was already initialised (or finalised) in this process.
    #[error("MPI is already initialised in this process (one communicator per process)")]
    AlreadyInitialised,
    /// A buffer's length does not fit the operation.
    #[error("{op}: buffer of {got} values, expected {expected}")]
    Length {
        /// The operation.
        op: &'static str,
        /// The expected length.
        expected: usize,
        /// The length passed.
        got: usize,
    },
    /// A root rank outside the communicator.
    #[error("{op}: root rank {root} is not in a communicator of {size} ranks")]
    Root {
        /// The operation.
        op: &'static str,
        /// The root asked for.
        root: usize,
        /// The communicator's size.
        size: usize,
    },
}

/// The collective operations data-parallel training needs.
///
/// Every rank calls the same operations in the same order with buffers of
/// the same length (SPMD); an operation returns on a rank once every rank
/// has entered it.
pub trait Communicator: std::fmt::Debug {
    /// This process's rank, 0 ≤ rank < size.
    fn rank(&self) -> usize;

    /// The number of ranks N.
    fn size(&self) -> usize;

    /// Concatenates every rank's `local` (all of the same length n) in rank
    /// order into `all` (length N·n), on every rank.
    fn all_gather(&self, local: &[f64], all: &mut [f64]) -> Result<(), DistError>;

    /// Replaces `buf` on every rank by rank `root`'s.
    fn broadcast(&self, buf: &mut [f64], root: usize) -> Result<(), DistError>;

    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<(), DistError>;

    /// Replaces `buf` by the sum over ranks of every rank's `buf`, added in
    /// rank order (see the crate docs): bit-identical on every rank and
    /// from run to run.
    fn all_sum(&self, buf: &mut [f64]) -> Result<(), DistError> {
        let n = buf.len();
        let mut all = vec![0.0; n * self.size()];
        self.all_gather(buf, &mut all)?;
        sum_in_rank_order(&all, buf);
        Ok(())
    }
}

/// `out[i] = Σᵣ all[r·n + i]` for r = 0, 1, …, N−1 in that order (n =
/// `out.len()`), starting from rank 0's value (so N = 1 is the identity).
pub fn sum_in_rank_order(all: &[f64], out: &mut [f64]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    let mut ranks = all.chunks_exact(n);
    if let Some(first) = ranks.next() {
        out.copy_from_slice(first);
    }
    for r in ranks {
        for (o, v) in out.iter_mut().zip(r) {
            *o += v;
        }
    }
}

/// The rows [⌊rB/N⌋, ⌊(r+1)B/N⌋) of a B-row batch that rank `rank` of
/// `size` computes: contiguous, disjoint, covering 0..B, sizes differing by
/// at most one (a rank gets no row when B < N).
pub fn share(b: usize, rank: usize, size: usize) -> Range<usize> {
    assert!(size > 0 && rank < size, "rank {rank} of {size}");
    let at = |r: usize| ((b as u128 * r as u128) / size as u128) as usize;
    at(rank)..at(rank + 1)
}

/// One process: rank 0 of 1. Every collective is the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Local;

impl Communicator for Local {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_gather(&self, local: &[f64], all: &mut [f64]) -> Result<(), DistError> {
        if all.len() != local.len() {
            return Err(DistError::Length { op: "all_gather", expected: local.len(), got: all.len() });
        }
        all.copy_from_slice(local);
        Ok(())
    }

    fn broadcast(&self, _buf: &mut [f64], root: usize) -> Result<(), DistError> {
        check_root("broadcast", root, 1)
    }

    fn barrier(&self) -> Result<(), DistError> {
        Ok(())
    }
}

/// Refuses a root outside 0..size.
pub(crate) fn check_root(op: &'static str, root: usize, size: usize) -> Result<(), DistError> {
    if root >= size {
        return Err(DistError::Root { op, root, size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_contiguous_disjoint_balanced_and_cover_the_batch() {
        for b in [0usize, 1, 3, 7, 64, 100] {
            for n in 1..=6 {
                let parts: Vec<_> = (0..n).map(|r| share(b, r, n)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[n - 1].end, b);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let (lo, hi) = (parts.iter().map(|p| p.len()).min(), parts.iter().map(|p| p.len()).max());
                assert!(hi.unwrap() - lo.unwrap() <= 1, "b {b} n {n}: {parts:?}");
            }
        }
    }

    #[test]
    fn rank_order_sum_adds_ranks_in_order() {
        // (1e16 + 1) − 1e16 loses the 1 if rank 1 is added first to −1e16.
        let all = [1e16, 0.5, 1.0, 0.25, -1e16, 0.25];
        let mut out = [0.0; 2];
        sum_in_rank_order(&all, &mut out);
        assert_eq!(out, [((1e16 + 1.0) + -1e16), 1.0]);
        assert_eq!(out[0], 0.0, "rank order: (1e16 + 1) rounds to 1e16");
    }

    #[test]
    fn local_is_the_identity_and_checks_its_arguments() {
        let mut v = vec![1.0, -2.0];
        Local.all_sum(&mut v).unwrap();
        assert_eq!(v, [1.0, -2.0]);
        assert!(matches!(Local.broadcast(&mut v, 1), Err(DistError::Root { root: 1, size: 1, .. })));
        let mut all = [0.0; 3];
        assert!(matches!(Local.all_gather(&v, &mut all), Err(DistError::Length { .. })));
    }
}
