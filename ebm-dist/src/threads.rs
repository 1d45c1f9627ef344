//! N ranks as N threads of one process: the collectives of
//! [`Communicator`] over shared memory, for tests and for trying the
//! data-parallel loop without MPI.

use crate::{check_root, Communicator, DistError};
use std::sync::{Arc, Barrier, Mutex};

/// One rank of a group of threads made by [`ThreadComm::group`]; each
/// thread owns one.
#[derive(Debug)]
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

impl ThreadComm {
    /// The `n` ranks of a new group, rank r at index r.
    pub fn group(n: usize) -> Vec<ThreadComm> {
        assert!(n > 0, "a group has at least one rank");
        let shared = Arc::new(Shared { slots: Mutex::new(vec![Vec::new(); n]), barrier: Barrier::new(n) });
        (0..n).map(|rank| ThreadComm { rank, shared: shared.clone() }).collect()
    }

    /// Publishes `local` in this rank's slot, waits for every rank, reads
    /// the slots with `read`, and waits again before the slots are reused.
    fn exchange<R>(&self, local: &[f64], read: impl FnOnce(&[Vec<f64>]) -> R) -> R {
        self.shared.slots.lock().expect("no rank panics holding the slots")[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let out = read(&self.shared.slots.lock().expect("no rank panics holding the slots"));
        self.shared.barrier.wait();
        out
    }
}

impl Communicator for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.barrier_size()
    }

    fn all_gather(&self, local: &[f64], all: &mut [f64]) -> Result<(), DistError> {
        let n = local.len();
        let expected = n * self.size();
        if all.len() != expected {
            return Err(DistError::Length { op: "all_gather", expected, got: all.len() });
        }
        self.exchange(local, |slots| {
            for (dst, src) in all.chunks_exact_mut(n.max(1)).zip(slots) {
                dst.copy_from_slice(&src[..dst.len()]);
            }
        });
        Ok(())
    }

    fn broadcast(&self, buf: &mut [f64], root: usize) -> Result<(), DistError> {
        check_root("broadcast", root, self.size())?;
        let mine = buf.to_vec();
        self.exchange(&mine, |slots| buf.copy_from_slice(&slots[root]));
        Ok(())
    }

    fn barrier(&self) -> Result<(), DistError> {
        self.shared.barrier.wait();
        Ok(())
    }
}

impl Shared {
    fn barrier_size(&self) -> usize {
        self.slots.lock().expect("no rank panics holding the slots").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_gather_broadcast_and_sum_in_rank_order() {
        let handles: Vec<_> = ThreadComm::group(3)
            .into_iter()
            .map(|c| {
                std::thread::spawn(move || {
                    let r = c.rank() as f64;
                    let mut all = vec![0.0; 6];
                    c.all_gather(&[r, 10.0 * r], &mut all).unwrap();
                    let mut b = [r + 100.0];
                    c.broadcast(&mut b, 2).unwrap();
                    let mut s = [r, 1.0];
                    c.all_sum(&mut s).unwrap();
                    (all, b[0], s)
                })
            })
            .collect();
        for h in handles {
            let (all, b, s) = h.join().unwrap();
            assert_eq!(all, [0.0, 0.0, 1.0, 10.0, 2.0, 20.0]);
            assert_eq!(b, 102.0);
            assert_eq!(s, [3.0, 3.0]);
        }
    }
}
