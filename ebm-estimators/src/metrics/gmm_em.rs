//! A reference density: a full-covariance Gaussian mixture fitted by
//! expectation–maximisation (EM). It is the bar an energy-based model's
//! held-out NLL is compared with (`ebm train` reports it for d ≤ 2, and the
//! CLI's fit tests require the default run to come within 0.2 nats of it).
//!
//! # The model and the algorithm
//!
//! q(x) = Σₖ πₖ N(x; μₖ, Σₖ), K components. With responsibilities
//! γᵢₖ = πₖ N(xᵢ; μₖ, Σₖ) / q(xᵢ) (E-step), the M-step is
//!
//! - Nₖ = Σᵢ γᵢₖ, πₖ = Nₖ / n, μₖ = Σᵢ γᵢₖ xᵢ / Nₖ,
//! - Σₖ = Σᵢ γᵢₖ (xᵢ − μₖ)(xᵢ − μₖ)ᵀ / Nₖ + r·I,
//!
//! each step raising the mean log-likelihood (1/n) Σᵢ log q(xᵢ) (for r = 0).
//! The ridge r = `reg_covar` × (the data's mean per-coordinate variance)
//! keeps every Σₖ positive definite; scaling it with the data makes the fit
//! equivariant under x ↦ a·x + b (the NLL moves by exactly d·log|a|).
//! EM stops when the mean log-likelihood rises by less than `tol` nats, or
//! after `max_iter` rounds.
//!
//! Start: k-means++ seeding (Philox uniforms of `seed`), ten Lloyd rounds,
//! then each component's weight, mean and covariance from its hard
//! cluster, as scikit-learn's `GaussianMixture(init_params="kmeans")` does.
//!
//! The fit is returned as ebm's own normalised family
//! ([`ebm_core::GaussianMixture`], log Z = 0, precision factors Lₖ with
//! Lₖ Lₖᵀ = Σₖ⁻¹), so its NLL is measured by the same code as any model's:
//! [`super::log_likelihood`] with log Z = 0.

use super::rows_f64;
use crate::error::{config, Result};
use ebm_core::linalg::{cholesky, cholesky_packed, solve_lower};
use ebm_core::{rng, Covariance, GaussianMixture, Real};

/// Options of [`fit_gaussian_mixture`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmOptions {
    /// K, the number of components.
    pub components: usize,
    /// The most EM rounds.
    pub max_iter: usize,
    /// Stop when the mean log-likelihood rises by less than this (nats).
    pub tol: f64,
    /// The covariance ridge, relative to the data's mean variance.
    pub reg_covar: f64,
    /// The seed of the k-means++ start.
    pub seed: u64,
}

impl Default for EmOptions {
    /// K = 32, 300 rounds, tol 1e-5 nats, ridge 1e-6, seed 0.
    fn default() -> Self {
        Self { components: 32, max_iter: 300, tol: 1e-5, reg_covar: 1e-6, seed: 0 }
    }
}

/// The result of [`fit_gaussian_mixture`].
#[derive(Debug, Clone)]
pub struct EmFit {
    /// The fitted mixture (normalised: log q(x) = −E(x)).
    pub mixture: GaussianMixture<f64>,
    /// The training mean log-likelihood at the end.
    pub train_log_likelihood: f64,
    /// EM rounds run.
    pub iterations: usize,
    /// Whether the `tol` test stopped it (rather than `max_iter`).
    pub converged: bool,
}

/// One component in moment form, with the Cholesky factor C of Σ.
struct Component {
    log_weight: f64,
    mean: Vec<f64>,
    chol: Vec<f64>,
    log_norm: f64,
}

impl Component {
    fn new(weight: f64, mean: Vec<f64>, cov: Vec<f64>, d: usize) -> Result<Self> {
        let chol = cholesky(&cov, d)?;
        let log_det_half: f64 = (0..d).map(|i| chol[i * d + i].ln()).sum();
        let log_norm = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() - log_det_half;
        Ok(Self { log_weight: weight.ln(), mean, chol, log_norm })
    }

    /// log πₖ + log N(x; μₖ, Σₖ), with `r` as scratch.
    fn log_joint(&self, x: &[f64], r: &mut [f64]) -> f64 {
        let d = r.len();
        for i in 0..d {
            r[i] = x[i] - self.mean[i];
        }
        solve_lower(&self.chol, d, r);
        self.log_weight + self.log_norm - 0.5 * r.iter().map(|v| v * v).sum::<f64>()
    }
}

/// Fits a K-component full-covariance Gaussian mixture to the rows of `x`
/// (n×d, row-major) by EM (module docs).
///
/// Errors: a bad batch (shape, non-finite value), K = 0, n < K,
/// `max_iter` = 0, or a `tol` / `reg_covar` that is not positive and finite.
pub fn fit_gaussian_mixture<T: Real>(x: &[T], d: usize, opts: &EmOptions) -> Result<EmFit> {
    let (x, n) = rows_f64("x", x, d)?;
    let k = opts.components;
    if k == 0 || n < k {
        return config(format!("EM: need 1 ≤ components ≤ n, got {k} components for {n} points"));
    }
    if opts.max_iter == 0 {
        return config("EM: max_iter must be at least 1".to_string());
    }
    super::positive("EM: tol", opts.tol)?;
    super::positive("EM: reg_covar", opts.reg_covar)?;
    let ridge = opts.reg_covar * mean_variance(&x, n, d).max(f64::MIN_POSITIVE);
    let labels = kmeans(&x, n, d, k, opts.seed);
    let mut resp = vec![0.0; n * k];
    for (i, &c) in labels.iter().enumerate() {
        resp[i * k + c] = 1.0;
    }
    let mut comps = m_step(&x, &resp, n, d, k, ridge)?;
    let mut ll = f64::NEG_INFINITY;
    for it in 1..=opts.max_iter {
        let new_ll = e_step(&x, &comps, &mut resp, d);
        comps = m_step(&x, &resp, n, d, k, ridge)?;
        let converged = (new_ll - ll).abs() < opts.tol;
        ll = new_ll;
        if converged || it == opts.max_iter {
            // The returned mixture is the one after the last M-step; its
            // likelihood is at least `ll` (EM's monotonicity).
            let train = e_step(&x, &comps, &mut resp, d);
            return Ok(EmFit {
                mixture: to_family(&comps, d)?,
                train_log_likelihood: train,
                iterations: it,
                converged,
            });
        }
    }
    unreachable!("the loop returns at it == max_iter ≥ 1")
}

/// Mean over coordinates of the per-coordinate variance.
fn mean_variance(x: &[f64], n: usize, d: usize) -> f64 {
    let mut total = 0.0;
    for j in 0..d {
        let m = (0..n).map(|i| x[i * d + j]).sum::<f64>() / n as f64;
        total += (0..n).map(|i| (x[i * d + j] - m).powi(2)).sum::<f64>() / n as f64;
    }
    total / d as f64
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum()
}

/// k-means++ seeding and ten Lloyd rounds; each point's cluster.
fn kmeans(x: &[f64], n: usize, d: usize, k: usize, seed: u64) -> Vec<usize> {
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let pick = |j: u64| rng::uniform(seed, 0x6b6d, j) as f64;
    let mut centers: Vec<f64> = row(((pick(0) * n as f64) as usize).min(n - 1)).to_vec();
    let mut near: Vec<f64> = (0..n).map(|i| dist2(row(i), &centers[..d])).collect();
    for c in 1..k {
        let total: f64 = near.iter().sum();
        let mut target = pick(c as u64) * total;
        let mut chosen = n - 1;
        for (i, &w) in near.iter().enumerate() {
            if target < w {
                chosen = i;
                break;
            }
            target -= w;
        }
        centers.extend_from_slice(row(chosen));
        for (i, v) in near.iter_mut().enumerate() {
            *v = v.min(dist2(row(i), &centers[c * d..(c + 1) * d]));
        }
    }
    let mut labels = vec![0usize; n];
    for _ in 0..10 {
        for (i, l) in labels.iter_mut().enumerate() {
            // The nearest center (the first on ties), one distance each.
            let dists = centers.chunks_exact(d).map(|c| dist2(row(i), c));
            *l = dists.enumerate().fold((0, f64::INFINITY), |best, (c, v)| if v < best.1 { (c, v) } else { best }).0;
        }
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            for j in 0..d {
                sums[l * d + j] += x[i * d + j];
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    centers[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
        }
    }
    labels
}

/// Responsibilities into `resp` (n×K); returns the mean log-likelihood.
fn e_step(x: &[f64], comps: &[Component], resp: &mut [f64], d: usize) -> f64 {
    let k = comps.len();
    let mut r = vec![0.0; d];
    let mut total = 0.0;
    for (xi, gi) in x.chunks_exact(d).zip(resp.chunks_exact_mut(k)) {
        for (g, c) in gi.iter_mut().zip(comps) {
            *g = c.log_joint(xi, &mut r);
        }
        let m = gi.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + gi.iter().map(|&a| (a - m).exp()).sum::<f64>().ln();
        for g in gi.iter_mut() {
            *g = (*g - lse).exp();
        }
        total += lse;
    }
    total / (x.len() / d) as f64
}

/// Weights, means and ridged covariances from the responsibilities.
fn m_step(x: &[f64], resp: &[f64], n: usize, d: usize, k: usize, ridge: f64) -> Result<Vec<Component>> {
    (0..k)
        .map(|c| {
            // As scikit-learn: a tiny floor keeps an emptied component finite.
            let nk = (0..n).map(|i| resp[i * k + c]).sum::<f64>() + 10.0 * f64::EPSILON;
            let mut mean = vec![0.0; d];
            for i in 0..n {
                for j in 0..d {
                    mean[j] += resp[i * k + c] * x[i * d + j];
                }
            }
            mean.iter_mut().for_each(|m| *m /= nk);
            let mut cov = vec![0.0; d * d];
            for i in 0..n {
                let g = resp[i * k + c];
                for a in 0..d {
                    let ra = x[i * d + a] - mean[a];
                    for b in 0..=a {
                        cov[a * d + b] += g * ra * (x[i * d + b] - mean[b]);
                    }
                }
            }
            for a in 0..d {
                for b in 0..=a {
                    cov[a * d + b] /= nk;
                    cov[b * d + a] = cov[a * d + b];
                }
                cov[a * d + a] += ridge;
            }
            Component::new(nk / n as f64, mean, cov, d)
        })
        .collect::<Result<_>>()
}

/// The components as ebm's mixture family: logits log πₖ, means μₖ, and
/// the packed lower Cholesky factor of each precision Σₖ⁻¹.
fn to_family(comps: &[Component], d: usize) -> Result<GaussianMixture<f64>> {
    let k = comps.len();
    let mut theta: Vec<f64> = comps.iter().map(|c| c.log_weight).collect();
    comps.iter().for_each(|c| theta.extend_from_slice(&c.mean));
    for c in comps {
        // Σ⁻¹ column by column: Σ y = eⱼ through C Cᵀ.
        let mut prec = vec![0.0; d * d];
        for j in 0..d {
            let mut y = vec![0.0; d];
            y[j] = 1.0;
            solve_lower(&c.chol, d, &mut y);
            ebm_core::linalg::solve_lower_t(&c.chol, d, &mut y);
            for i in 0..d {
                prec[i * d + j] = y[i];
            }
        }
        theta.extend(cholesky_packed(&prec, d)?);
    }
    Ok(GaussianMixture::new(d, k, Covariance::Full, theta)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::log_likelihood;

    /// Points from two well-separated Gaussians (Philox normals).
    fn two_blobs(n: usize) -> Vec<f64> {
        let mut z = vec![0.0f64; 2 * n];
        rng::fill_normal(7, 1, 0, &mut z);
        z.chunks_exact_mut(2)
            .enumerate()
            .flat_map(|(i, p)| {
                if i % 2 == 0 {
                    [p[0] * 0.5 - 4.0, p[1] * 0.25 + 1.0]
                } else {
                    [p[0] * 1.5 + 3.0, 0.8 * p[0] + 0.6 * p[1] - 2.0]
                }
            })
            .collect()
    }

    #[test]
    fn recovers_two_components() {
        let x = two_blobs(4000);
        let fit = fit_gaussian_mixture(&x, 2, &EmOptions { components: 2, ..Default::default() }).unwrap();
        assert!(fit.converged);
        let mut w = fit.mixture.weights();
        w.sort_by(f64::total_cmp);
        assert!((w[0] - 0.5).abs() < 0.02, "weights {w:?}");
        // The true density's mean NLL: each blob's Gaussian entropy plus log 2.
        let h = |det: f64| 0.5 * (2.0 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln() + det.ln());
        let truth = 0.5 * (h(0.25 * 0.0625) + h(2.25 * 0.36)) + 2f64.ln();
        let nll = -log_likelihood(&fit.mixture, &x, 0.0).unwrap().value;
        assert!((nll - truth).abs() < 0.05, "NLL {nll} vs entropy {truth}");
        assert!((nll + fit.train_log_likelihood).abs() < 1e-9);
    }

    #[test]
    fn equivariant_under_affine_maps() {
        let x = two_blobs(1000);
        let opts = EmOptions { components: 4, ..Default::default() };
        let a = fit_gaussian_mixture(&x, 2, &opts).unwrap();
        let y: Vec<f64> = x.iter().map(|v| 1000.0 * v + 5.0).collect();
        let b = fit_gaussian_mixture(&y, 2, &opts).unwrap();
        let shift = 2.0 * 1000f64.ln();
        assert!((b.train_log_likelihood + shift - a.train_log_likelihood).abs() < 1e-6);
    }

    #[test]
    fn more_components_fit_better() {
        let x = two_blobs(2000);
        let ll = |k| fit_gaussian_mixture(&x, 2, &EmOptions { components: k, ..Default::default() }).unwrap();
        assert!(ll(2).train_log_likelihood > ll(1).train_log_likelihood + 0.5);
    }

    #[test]
    fn refuses_bad_input() {
        let x = two_blobs(10);
        assert!(fit_gaussian_mixture(&x, 2, &EmOptions { components: 11, ..Default::default() }).is_err());
        assert!(fit_gaussian_mixture(&x, 2, &EmOptions { components: 0, ..Default::default() }).is_err());
        assert!(fit_gaussian_mixture(&x, 2, &EmOptions { tol: 0.0, ..Default::default() }).is_err());
        let mut bad = x.clone();
        bad[3] = f64::NAN;
        assert!(fit_gaussian_mixture(&bad, 2, &EmOptions { components: 2, ..Default::default() }).is_err());
    }
}
