//! Data sets, train / held-out splits, seeded mini-batches and synthetic
//! data.
//!
//! A [`Dataset`] is a row-major buffer of n samples by d coordinates, checked
//! once at construction (non-empty, whole rows, finite), so estimators never
//! see a NaN that came from the data.
//!
//! Mini-batches ([`Batcher`]) walk an infinite stream made of one random
//! permutation per epoch; epoch e's permutation sorts the keys
//! `rng::uniform(derive_seed(seed, SHUFFLE, e), 0, i)`, so batch t depends
//! only on (seed, t).

use crate::error::{EstError, Result};
use crate::linalg;
use crate::seeds::{derive_seed, tags};
use ebm_core::{rng, Real};

/// A row-major data set of `len()` samples in dimension `dim()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<T> {
    x: Vec<T>,
    dim: usize,
}

impl<T: Real> Dataset<T> {
    /// Wraps `x` (row-major, n×d).
    ///
    /// Errors: [`EstError::Data`] if `dim` is 0, `x` is empty or ragged, or
    /// holds a non-finite value (reported with its row and column).
    pub fn new(x: Vec<T>, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(EstError::Data("dimension 0".into()));
        }
        if x.is_empty() {
            return Err(EstError::Data("no sample".into()));
        }
        if !x.len().is_multiple_of(dim) {
            return Err(EstError::Data(format!("{} values is not a whole number of rows of dimension {dim}", x.len())));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(EstError::Data(format!(
                "non-finite value {} at sample {}, coordinate {}",
                x[i],
                i / dim,
                i % dim
            )));
        }
        Ok(Self { x, dim })
    }

    /// The number of samples n.
    pub fn len(&self) -> usize {
        self.x.len() / self.dim
    }

    /// Always false (a data set has at least one sample).
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The row-major buffer.
    pub fn as_slice(&self) -> &[T] {
        &self.x
    }

    /// Sample `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.x[i * self.dim..(i + 1) * self.dim]
    }

    /// Copies the rows `idx` into `out` (row-major, `idx.len()`×d).
    pub fn gather(&self, idx: &[usize], out: &mut Vec<T>) {
        out.clear();
        for &i in idx {
            out.extend_from_slice(self.row(i));
        }
    }

    /// Splits off a held-out part: a seeded random `heldout_fraction` of the
    /// rows (at least one each side) goes to the second data set.
    ///
    /// Errors: [`EstError::Data`] if the fraction is not in (0, 1) or the
    /// data set has fewer than 2 rows.
    pub fn split(&self, heldout_fraction: f64, seed: u64) -> Result<(Self, Self)> {
        let n = self.len();
        if !(heldout_fraction > 0.0 && heldout_fraction < 1.0) || n < 2 {
            return Err(EstError::Data(format!("cannot split {n} samples with held-out fraction {heldout_fraction}")));
        }
        let n_test = ((n as f64 * heldout_fraction).round() as usize).clamp(1, n - 1);
        let perm = permutation(n, derive_seed(seed, tags::SPLIT, 0));
        let (test_idx, train_idx) = perm.split_at(n_test);
        let mut a = Vec::new();
        let mut b = Vec::new();
        self.gather(train_idx, &mut a);
        self.gather(test_idx, &mut b);
        Ok((Self { x: a, dim: self.dim }, Self { x: b, dim: self.dim }))
    }

    /// Sample mean and maximum-likelihood (1/n) covariance, in f64.
    pub fn mean_cov(&self) -> (Vec<f64>, Vec<f64>) {
        linalg::mean_cov(&self.x, self.dim)
    }

    /// n samples of N(mean, cov), drawn as mean + L z with L the Cholesky
    /// factor of `cov` and z the Philox normals `(seed, stream 0, index)`.
    ///
    /// Errors: [`EstError::Config`] if `cov` is not d×d positive definite.
    pub fn gaussian(mean: &[f64], cov: &[f64], n: usize, seed: u64) -> Result<Self> {
        let d = mean.len();
        let l = linalg::cholesky(cov, d)?;
        let mut z = vec![0f64; n * d];
        rng::fill_normal(seed, 0, 0, &mut z);
        let mut x = vec![T::zero(); n * d];
        for (xr, zr) in x.chunks_exact_mut(d).zip(z.chunks_exact(d)) {
            for i in 0..d {
                let v: f64 = mean[i] + (0..=i).map(|k| l[i * d + k] * zr[k]).sum::<f64>();
                xr[i] = T::from_f64(v);
            }
        }
        Self::new(x, d)
    }

    /// n samples of the Gaussian mixture Σₖ πₖ N(μₖ, Σₖ): the component of
    /// sample j is chosen by the uniform `(seed, stream 1, j)`, its normal
    /// draws are `(seed, stream 0, j·d + i)`.
    ///
    /// `weights` need not be normalised; `means` is K×d, `covs` is K×d×d.
    pub fn gaussian_mixture(weights: &[f64], means: &[f64], covs: &[f64], n: usize, seed: u64) -> Result<Self> {
        let k = weights.len();
        if k == 0 || !means.len().is_multiple_of(k) {
            return Err(EstError::Config("mixture: no component or ragged means".into()));
        }
        let d = means.len() / k;
        if covs.len() != k * d * d || weights.iter().any(|&w| w.is_nan() || w < 0.0) {
            return Err(EstError::Config("mixture: bad covariances or weights".into()));
        }
        let total: f64 = weights.iter().sum();
        let chols =
            (0..k).map(|c| linalg::cholesky(&covs[c * d * d..(c + 1) * d * d], d)).collect::<Result<Vec<_>>>()?;
        let mut u = vec![0f64; n];
        rng::fill_uniform(seed, 1, 0, &mut u);
        let mut z = vec![0f64; n * d];
        rng::fill_normal(seed, 0, 0, &mut z);
        let mut x = vec![T::zero(); n * d];
        for j in 0..n {
            let mut acc = 0.0;
            let mut c = k - 1;
            for (ci, &w) in weights.iter().enumerate() {
                acc += w / total;
                if u[j] < acc {
                    c = ci;
                    break;
                }
            }
            let l = &chols[c];
            for i in 0..d {
                let v: f64 = means[c * d + i] + (0..=i).map(|kk| l[i * d + kk] * z[j * d + kk]).sum::<f64>();
                x[j * d + i] = T::from_f64(v);
            }
        }
        Self::new(x, d)
    }
}

/// A uniformly random permutation of 0..n, from the keys
/// `rng::uniform(seed, 0, i)` (ties broken by index).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut keys = vec![0f64; n];
    rng::fill_uniform(seed, 0, 0, &mut keys);
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]).then(a.cmp(&b)));
    idx
}

/// Seeded mini-batches of a data set: batch t is rows t·B .. (t+1)·B of the
/// concatenation of per-epoch permutations. With B = n every batch is the
/// whole data set in its stored order.
#[derive(Debug, Clone)]
pub struct Batcher {
    n: usize,
    batch: usize,
    seed: u64,
    epoch: Option<(usize, Vec<usize>)>,
    next_epoch: Option<(usize, Vec<usize>)>,
}

impl Batcher {
    /// Batches of `batch` rows from a data set of `n` rows.
    ///
    /// Errors: [`EstError::Config`] if `batch` is 0 or larger than `n`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Result<Self> {
        if batch == 0 || batch > n {
            return Err(EstError::Config(format!("batch size {batch} must be in 1..={n} (the data set size)")));
        }
        Ok(Self { n, batch, seed, epoch: None, next_epoch: None })
    }

    fn perm(&self, e: usize) -> Vec<usize> {
        permutation(self.n, derive_seed(self.seed, tags::SHUFFLE, e as u64))
    }

    fn epoch_perm(&mut self, e: usize) -> &[usize] {
        if self.epoch.as_ref().map(|p| p.0) != Some(e) {
            let p = match self.next_epoch.take() {
                Some((ne, p)) if ne == e => p,
                _ => self.perm(e),
            };
            self.epoch = Some((e, p));
        }
        &self.epoch.as_ref().expect("set above").1
    }

    /// The row indices of batch `t`.
    pub fn indices(&mut self, t: usize, out: &mut Vec<usize>) {
        out.clear();
        if self.batch == self.n {
            out.extend(0..self.n);
            return;
        }
        let start = t * self.batch;
        let (e0, o0) = (start / self.n, start % self.n);
        let first = (self.n - o0).min(self.batch);
        out.extend_from_slice(&self.epoch_perm(e0)[o0..o0 + first]);
        if first < self.batch {
            let rest = self.batch - first;
            let next = self.perm(e0 + 1);
            out.extend_from_slice(&next[..rest]);
            self.next_epoch = Some((e0 + 1, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_data() {
        assert!(Dataset::<f64>::new(vec![], 2).is_err());
        assert!(Dataset::new(vec![1.0f64, 2.0, 3.0], 2).is_err());
        assert!(Dataset::new(vec![1.0f64, f64::NAN], 2).is_err());
        assert!(Dataset::new(vec![1.0f64, 2.0], 0).is_err());
    }

    #[test]
    fn batches_cover_each_epoch_once() {
        let mut b = Batcher::new(10, 3, 5).unwrap();
        let mut seen = Vec::new();
        let mut idx = Vec::new();
        for t in 0..10 {
            b.indices(t, &mut idx);
            assert_eq!(idx.len(), 3);
            seen.extend_from_slice(&idx);
        }
        // 30 indices = three whole epochs
        for e in 0..3 {
            let mut ep = seen[e * 10..(e + 1) * 10].to_vec();
            ep.sort();
            assert_eq!(ep, (0..10).collect::<Vec<_>>());
        }
        // deterministic and independent of the call history
        let mut b2 = Batcher::new(10, 3, 5).unwrap();
        b2.indices(7, &mut idx);
        assert_eq!(idx, seen[21..24]);
    }

    #[test]
    fn split_partitions_rows() {
        let ds = Dataset::new((0..20).map(|v| v as f64).collect(), 2).unwrap();
        let (a, b) = ds.split(0.3, 1).unwrap();
        assert_eq!((a.len(), b.len()), (7, 3));
        let mut all: Vec<f64> = a.as_slice().iter().chain(b.as_slice()).copied().collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all, ds.as_slice());
    }

    #[test]
    fn gaussian_generator_moments() {
        let ds = Dataset::<f64>::gaussian(&[1.0, -2.0], &[2.0, 0.5, 0.5, 1.0], 40_000, 3).unwrap();
        let (m, c) = ds.mean_cov();
        assert!((m[0] - 1.0).abs() < 0.03 && (m[1] + 2.0).abs() < 0.03, "{m:?}");
        assert!((c[0] - 2.0).abs() < 0.06 && (c[1] - 0.5).abs() < 0.04 && (c[3] - 1.0).abs() < 0.03, "{c:?}");
    }
}
