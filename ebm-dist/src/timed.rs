//! A communicator that measures the wall time spent in its collectives
//! (waiting for the slowest rank included): the "time in the all-reduce"
//! of `ebm train --distributed`'s `metrics.json` and of the scaling bench.

use crate::{Communicator, DistError};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// `inner` with a clock around every collective.
#[derive(Debug)]
pub struct Timed<'a> {
    inner: &'a dyn Communicator,
    spent: Cell<Duration>,
    calls: Cell<u64>,
}

impl<'a> Timed<'a> {
    /// Wraps `inner`; nothing measured yet.
    pub fn new(inner: &'a dyn Communicator) -> Self {
        Self { inner, spent: Cell::new(Duration::ZERO), calls: Cell::new(0) }
    }

    /// Seconds spent in collectives so far.
    pub fn seconds(&self) -> f64 {
        self.spent.get().as_secs_f64()
    }

    /// Collectives called so far.
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    fn time<R>(&self, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        self.spent.set(self.spent.get() + t0.elapsed());
        self.calls.set(self.calls.get() + 1);
        r
    }
}

impl Communicator for Timed<'_> {
    fn rank(&self) -> usize {
        self.inner.rank()
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn all_gather(&self, local: &[f64], all: &mut [f64]) -> Result<(), DistError> {
        self.time(|| self.inner.all_gather(local, all))
    }

    fn broadcast(&self, buf: &mut [f64], root: usize) -> Result<(), DistError> {
        self.time(|| self.inner.broadcast(buf, root))
    }

    fn barrier(&self) -> Result<(), DistError> {
        self.time(|| self.inner.barrier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ThreadComm;

    #[test]
    fn counts_the_time_spent_waiting_for_the_other_ranks() {
        let mut group = ThreadComm::group(2);
        let late = group.pop().unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            late.barrier().unwrap();
        });
        let first = group.pop().unwrap();
        let timed = Timed::new(&first);
        timed.barrier().unwrap();
        assert!(timed.seconds() >= 0.05, "{}", timed.seconds());
        assert_eq!(timed.calls(), 1);
        assert_eq!(timed.rank(), 0);
        h.join().unwrap();
    }
}
