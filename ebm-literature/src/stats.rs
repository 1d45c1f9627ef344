//! Summaries over seeds: mean ± sample standard deviation, and the median.

/// The mean and sample standard deviation (divisor n − 1) of n values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSd {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 when n = 1).
    pub sd: f64,
    /// The number of values.
    pub n: usize,
}

impl MeanSd {
    /// The summary of `values` (NaN mean when there are none).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Self { mean, sd, n }
    }

    /// `mean ± sd` with `prec` decimals, or the mean alone for one value.
    pub fn fmt(&self, prec: usize) -> String {
        if self.n > 1 {
            format!("{:.prec$} ± {:.prec$}", self.mean, self.sd)
        } else {
            format!("{:.prec$}", self.mean)
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count;
/// NaN when empty).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Runs `run` once per seed `first, first + 1, …, first + n − 1`.
pub fn over_seeds<R, E>(first: u64, n: usize, run: impl FnMut(u64) -> Result<R, E>) -> Result<Vec<R>, E> {
    (first..first + n as u64).map(run).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_sd_and_median() {
        let s = MeanSd::of([1.0, 2.0, 4.0]);
        assert_eq!(s.n, 3);
        assert!((s.mean - 7.0 / 3.0).abs() < 1e-15);
        // Σ(x − m)² = 16/9 + 1/9 + 25/9 = 42/9, over n − 1 = 2.
        assert!((s.sd - (21.0f64 / 9.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.fmt(2), "2.33 ± 1.53");
        assert_eq!(MeanSd::of([0.5]).fmt(3), "0.500");
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        let seeds: Result<Vec<u64>, ()> = over_seeds(7, 3, Ok);
        assert_eq!(seeds, Ok(vec![7, 8, 9]));
    }
}
