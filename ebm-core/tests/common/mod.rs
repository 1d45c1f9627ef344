//! Shared by the symbolic-twin tests: the formulas of the hand-written
//! families (their `sym` layouts are the families' flat θ) and a seeded
//! batch (x, v, weights).
#![allow(dead_code)]

use ebm_core::ica::Source;
use ebm_core::testing::{normal_vec, uniform_vec};

pub const GAUSSIAN: &str = "energy(x[d]; mu[d], L[d,d] lower) = \
    0.5 * sum(j, 0..d, square(sum(i, j..d, L[i,j] * (x[i] - mu[i]))))";

pub fn ica_src(source: Source) -> &'static str {
    match source {
        Source::LogCosh => "energy(x[d]; W[K,d]) = sum(k, 0..K, logcosh(sum(i, 0..d, W[k,i] * x[i])))",
        Source::Logistic => "energy(x[d]; W[K,d]) = sum(k, 0..K, 2 * logcosh(0.5 * sum(i, 0..d, W[k,i] * x[i])))",
        Source::StudentT => {
            "energy(x[d]; W[K,d], alpha[K]) = sum(k, 0..K, alpha[k] * log1p(0.5 * square(sum(i, 0..d, W[k,i] * x[i]))))"
        }
    }
}

/// eₖ = −log πₖ + (d/2) log 2π − Σᵢ log|Lₖ,ᵢᵢ| + ½‖Lₖᵀ(x − μₖ)‖², E = −lse(−e).
pub const MIXTURE_FULL: &str = "
energy(x[d]; logits[K], mu[K,d], L[K,d,d] lower) =
  -logsumexp(k, 0..K,
      logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)
      + sum(i, 0..d, 0.5 * log(square(L[k,i,i])))
      - 0.5 * sum(j, 0..d, square(sum(i, j..d, L[k,i,j] * (x[i] - mu[k,i])))))";

pub const MIXTURE_DIAG: &str = "
energy(x[d]; logits[K], mu[K,d], log_l[K,d]) =
  -logsumexp(k, 0..K,
      logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)
      + sum(i, 0..d, log_l[k,i])
      - 0.5 * sum(i, 0..d, square(exp(log_l[k,i]) * (x[i] - mu[k,i]))))";

/// A seeded batch: x (scaled normals), v (normals) and weights in [−0.5, 1).
pub fn batch(seed: u64, b: usize, d: usize, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = normal_vec(seed, b * d).iter().map(|v| v * scale).collect();
    (x, normal_vec(seed + 1, b * d), uniform_vec(seed + 2, b, -0.5, 1.0))
}
