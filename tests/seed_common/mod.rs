//! Helpers shared by the `seed_*` tests (exact samplers, quadrature grids,
//! Gauss–Hermite rules, block standard errors).
#![allow(dead_code)]

use ebm::estimators::linalg::inverse_spd;
use ebm::estimators::metrics::{log_z_quadrature, Estimate, QuadratureOptions};
use ebm::estimators::Dataset;
use ebm::prelude::*;
use ebm::GaussianMixture;
/// Least-squares slope of y on x (shared with the crates' tests).
#[allow(unused_imports)]
pub use ebm_core::testing::fit_slope;

#[allow(unused_imports)]
pub use ebm::estimators::metrics::sample_gaussian;

/// The d×d diagonal matrix with diagonal `v`.
pub fn diag(v: &[f64]) -> Vec<f64> {
    let d = v.len();
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        m[i * d + i] = v[i];
    }
    m
}

/// A data law with separated modes: 0.3 N((−2.5, 0.5), C₁) + 0.7 N((2, −1), C₂),
/// as (weights, means K×d, covariances K×d×d).
pub fn bimodal() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (vec![0.3, 0.7], vec![-2.5, 0.5, 2.0, -1.0], vec![0.6, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.5])
}

/// The normalised mixture model Σₖ πₖ N(μₖ, Σₖ) (full precisions, log Z = 0).
pub fn mixture_model(weights: &[f64], means: &[f64], covs: &[f64]) -> GaussianMixture<f64> {
    GaussianMixture::from_moments(weights, means, covs).unwrap()
}

/// n exact samples of the mixture (row-major n×d).
pub fn sample_mixture(weights: &[f64], means: &[f64], covs: &[f64], n: usize, seed: u64) -> Vec<f64> {
    Dataset::<f64>::gaussian_mixture(weights, means, covs, n, seed).unwrap().as_slice().to_vec()
}

/// The covariances Σₖ + σ²I: the mixture convolved with N(0, σ²I).
pub fn noised_covs(covs: &[f64], d: usize, sigma: f64) -> Vec<f64> {
    let mut c = covs.to_vec();
    for k in 0..c.len() / (d * d) {
        for i in 0..d {
            c[k * d * d + i * d + i] += sigma * sigma;
        }
    }
    c
}

/// Quadrature nodes and weights wᵢ p(xᵢ) of a normalised model (d ≤ 2), with
/// relative tolerance 1e-12: E_p[g] ≈ Σᵢ wᵢ g(xᵢ).
pub fn density_grid(model: &dyn Model<f64>) -> (Vec<f64>, Vec<f64>) {
    let opts = QuadratureOptions { rel_tol: 1e-12, ..Default::default() };
    let q = log_z_quadrature(model, &opts).unwrap();
    assert!(q.converged && q.log_z.abs() < 1e-9, "the model must be normalised: {q:?}");
    q.density_weights(model).unwrap()
}

/// Per-component mean and standard error over blocks: `blocks[b][k]` is the
/// k-th statistic of block b (independent blocks of equal size).
pub fn block_estimates(blocks: &[Vec<f64>]) -> Vec<Estimate> {
    let k = blocks[0].len();
    (0..k).map(|c| Estimate::from_values(&blocks.iter().map(|b| b[c]).collect::<Vec<_>>())).collect()
}

/// ‖v‖₂.
pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// The n-point Gauss–Hermite rule for the standard normal:
/// E_{z~N(0,1)}[g(z)] ≈ Σᵢ wᵢ g(zᵢ), exact for polynomials of degree ≤ 2n − 1.
/// (Newton iteration on the orthonormal Hermite recurrence, Numerical
/// Recipes' `gauher`, then z = √2 t, w = w_t/√π.)
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let nf = n as f64;
    let (mut x, mut w) = (vec![0.0; n], vec![0.0; n]);
    let pim4 = std::f64::consts::PI.powf(-0.25);
    let mut z: f64 = 0.0;
    for i in 0..n.div_ceil(2) {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-0.16667),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 0.0;
        for _ in 0..200 {
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 1..=n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    let s = std::f64::consts::PI.sqrt();
    (x.iter().map(|t| t * std::f64::consts::SQRT_2).collect(), w.iter().map(|v| v / s).collect())
}

/// `Mlp::init(d, hidden, Softplus, seed)` with its output weights multiplied
/// by `scale`, so that its score is O(scale) rather than nearly flat.
pub fn scaled_mlp(d: usize, hidden: &[usize], seed: u64, scale: f64) -> ebm::Mlp<f64> {
    let mut m = ebm::Mlp::init(d, hidden, ebm::Activation::Softplus, seed).unwrap();
    let h = *hidden.last().unwrap();
    let p = m.num_params();
    m.params_mut()[p - 1 - h..p - 1].iter_mut().for_each(|w| *w *= scale);
    m
}

/// C = A B for d×d row-major matrices.
pub fn mat_mul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            c[i * d + j] = (0..d).map(|k| a[i * d + k] * b[k * d + j]).sum();
        }
    }
    c
}

/// tr A.
pub fn trace(a: &[f64], d: usize) -> f64 {
    (0..d).map(|i| a[i * d + i]).sum()
}

/// Seed eq 8 in closed form for data N(m, S) and model N(μ, P⁻¹): with
/// r = x − m ~ N(0, S), s_data − s_θ = (P − S⁻¹)r + P(m − μ), so
/// D_F = ½[tr((P − S⁻¹) S (P − S⁻¹)) + ‖P(m − μ)‖²].
pub fn gaussian_fisher(m: &[f64], s: &[f64], mu: &[f64], p: &[f64]) -> f64 {
    let d = m.len();
    let si = inverse_spd(s, d).unwrap();
    let a: Vec<f64> = p.iter().zip(&si).map(|(x, y)| x - y).collect();
    let pd: f64 = (0..d).map(|i| (0..d).map(|k| p[i * d + k] * (m[k] - mu[k])).sum::<f64>().powi(2)).sum();
    0.5 * (trace(&mat_mul(&mat_mul(&a, s, d), &a, d), d) + pd)
}

/// Power check: the same Monte Carlo estimates that accept the right answer
/// reject `wrong` (one value per estimate) by a wide margin, the largest
/// |z| over the components exceeding `margin` (20 unless a check says why
/// less). Returns that |z|.
#[track_caller]
pub fn assert_rejects(what: &str, est: &[Estimate], wrong: &[f64], margin: f64) -> f64 {
    assert_eq!(est.len(), wrong.len(), "{what}: one wrong value per estimate");
    let z = est.iter().zip(wrong).map(|(e, w)| e.z_score(*w)).fold(0.0, f64::max);
    println!("  power: {what} rejected at {z:.1} standard errors");
    assert!(z > margin, "power check: {what} is not rejected ({z:.1} SE ≤ {margin})");
    z
}
