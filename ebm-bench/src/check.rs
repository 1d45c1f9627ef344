//! The comparisons of `gpu_check`: the tolerance logic of the ebm-kernels
//! tests (`ebm-kernels/tests/common`), a deterministic choice of rows to
//! compare in a large batch, and a counter of PASS / FAIL lines.

use ebm_core::testing::{SumRef, Tolerance};

/// A tolerance for an output vector: relative `rtol`, plus an absolute part
/// `rtol · max|want|` (values that cancel to near zero are judged on the
/// scale of the vector), grown with the reduction length — as
/// `tol_for` in the ebm-kernels tests.
pub fn tol_for(rtol: f64, reduce: usize, want: &[f64]) -> Tolerance {
    let max = want.iter().map(|v| v.abs()).fold(0.0, f64::max);
    Tolerance::new(rtol, rtol * max.max(1e-30)).grown(reduce)
}

/// Largest error of `got` against `want` in units of `tol` (≤ 1 passes; NaN
/// and a length mismatch count as infinite).
pub fn worst(got: &[f32], want: &[f64], tol: &Tolerance) -> f64 {
    tol.worst_ratio(got, want)
}

/// Up to `n` distinct rows of a batch of `b`: the first and last `n/8`,
/// and the rest spread evenly in between (so rows of every workgroup range,
/// the last partial workgroup among them, are compared).
pub fn rows(b: usize, n: usize) -> Vec<usize> {
    if b <= n {
        return (0..b).collect();
    }
    let edge = (n / 8).max(1);
    let mut r: Vec<usize> = (0..edge).chain(b - edge..b).collect();
    let inner = n.saturating_sub(2 * edge);
    for j in 0..inner {
        r.push(edge + (j * (b - 2 * edge)) / inner.max(1));
    }
    r.sort_unstable();
    r.dedup();
    r
}

/// The rows `rows` of a row-major batch with rows of `d` values.
pub fn gather<T: Copy>(x: &[T], d: usize, rows: &[usize]) -> Vec<T> {
    rows.iter().flat_map(|&r| x[r * d..(r + 1) * d].iter().copied()).collect()
}

/// Counts and prints PASS / FAIL lines.
#[derive(Debug, Default)]
pub struct Checker {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
}

impl Checker {
    /// Records `ok` for `label` with its `detail`, and prints the line.
    pub fn record(&mut self, ok: bool, label: &str, detail: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        println!("{} {label}: {detail}", if ok { "PASS" } else { "FAIL" });
    }

    /// Compares `got` with `want` under `tol`.
    pub fn close(&mut self, label: &str, got: &[f32], want: &[f64], tol: &Tolerance) {
        let w = worst(got, want, tol);
        self.record(w <= 1.0, label, &format!("worst/tol {w:.3} over {} values", want.len()));
    }

    /// Compares a batch sum `got` with its per-row reference `want` under
    /// [`SumRef::tolerance`]`(rtol)` (relative to the terms' magnitude; as
    /// `assert_sum` in the ebm-kernels tests).
    pub fn close_sum(&mut self, label: &str, got: &[f32], want: &SumRef, rtol: f64) {
        let (_, w) = want.worst(got, &want.tolerance(rtol));
        self.record(w <= 1.0, label, &format!("worst/tol {w:.3} over {} values", got.len()));
    }

    /// Records a check that could not run because of `err`.
    pub fn error(&mut self, label: &str, err: impl std::fmt::Display) {
        self.record(false, label, &format!("error: {err}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_cover_both_ends_and_stay_in_range() {
        assert_eq!(rows(5, 256), vec![0, 1, 2, 3, 4]);
        let r = rows(65537, 256);
        assert!(r.len() <= 256 && r.len() > 200, "{}", r.len());
        assert!(r.contains(&0) && r.contains(&65536) && r.contains(&(65537 - 32)) && r.contains(&31));
        assert!(r.windows(2).all(|w| w[0] < w[1]) && *r.last().unwrap() < 65537);
    }

    #[test]
    fn worst_flags_nan_and_length_mismatch() {
        let t = Tolerance::new(1e-6, 1e-6);
        assert!(worst(&[1.0], &[1.0], &t) <= 1.0);
        assert!(worst(&[f32::NAN], &[1.0], &t).is_infinite());
        assert!(worst(&[1.0, 2.0], &[1.0], &t).is_infinite());
        assert!(worst(&[1.1], &[1.0], &t) > 1.0);
        let mut c = Checker::default();
        c.close("a", &[1.0], &[1.0], &t);
        c.close("b", &[2.0], &[1.0], &t);
        assert_eq!((c.passed, c.failed), (1, 1));
    }
}
