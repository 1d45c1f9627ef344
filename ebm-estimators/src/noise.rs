//! A Gaussian noise law N(m, C) that can be sampled and evaluated, for NCE
//! (seed §4.1): by default fitted to the data's mean and covariance.

use crate::data::Dataset;
use crate::error::{config, Result};
use crate::linalg;
use ebm_core::{rng, Real};

/// N(mean, cov) with its Cholesky factor cov = L Lᵀ.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianNoise {
    mean: Vec<f64>,
    chol: Vec<f64>,
    log_norm: f64,
}

impl GaussianNoise {
    /// N(mean, cov) (cov row-major d×d, positive definite).
    pub fn new(mean: Vec<f64>, cov: &[f64]) -> Result<Self> {
        let d = mean.len();
        if mean.iter().any(|m| !m.is_finite()) {
            return config("Gaussian noise: non-finite mean");
        }
        let chol = linalg::cholesky(cov, d)?;
        let log_norm = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() + 0.5 * linalg::log_det_from_chol(&chol, d);
        Ok(Self { mean, chol, log_norm })
    }

    /// N(sample mean, sample covariance) of a data set.
    pub fn fit<T: Real>(data: &Dataset<T>) -> Result<Self> {
        let (m, c) = data.mean_cov();
        Self::new(m, &c)
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance L Lᵀ.
    pub fn cov(&self) -> Vec<f64> {
        let d = self.dim();
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = (0..d).map(|k| self.chol[i * d + k] * self.chol[j * d + k]).sum();
            }
        }
        c
    }

    /// Fills `out` (n×d) with m + L z, z the normals `(key, stream, 0..)`.
    pub fn sample<T: Real>(&self, key: u64, stream: u64, out: &mut [T]) {
        self.sample_from(key, stream, 0, out);
    }

    /// [`GaussianNoise::sample`] of rows `first..first + n` of the noise
    /// sequence: row j's normals are at counters `(first + j)·d + i`.
    pub fn sample_from<T: Real>(&self, key: u64, stream: u64, first: u64, out: &mut [T]) {
        let d = self.dim();
        let mut z = vec![0f64; out.len()];
        rng::fill_normal(key, stream, first * d as u64, &mut z);
        for (o, zr) in out.chunks_exact_mut(d).zip(z.chunks_exact(d)) {
            for i in 0..d {
                let v: f64 = self.mean[i] + (0..=i).map(|k| self.chol[i * d + k] * zr[k]).sum::<f64>();
                o[i] = T::from_f64(v);
            }
        }
    }

    /// log N(x; m, C) for every row of `x`.
    pub fn log_density<T: Real>(&self, x: &[T], out: &mut [f64]) {
        let d = self.dim();
        let mut r = vec![0f64; d];
        for (o, xr) in out.iter_mut().zip(x.chunks_exact(d)) {
            for i in 0..d {
                r[i] = xr[i].to_f64() - self.mean[i];
            }
            linalg::solve_lower(&self.chol, d, &mut r);
            *o = -0.5 * r.iter().map(|v| v * v).sum::<f64>() - self.log_norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_density_of_standard_normal() {
        let n = GaussianNoise::new(vec![0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]).unwrap();
        let mut o = [0.0];
        n.log_density(&[1.0f64, 2.0], &mut o);
        let want = -0.5 * 5.0 - (2.0 * std::f64::consts::PI).ln();
        assert!((o[0] - want).abs() < 1e-12);
    }
}
