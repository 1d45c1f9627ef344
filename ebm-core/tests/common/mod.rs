//! Shared by the symbolic-twin tests: the formulas of the hand-written
//! families (their `sym` layouts are the families' flat θ) and a seeded
//! batch (x, v, weights).
#![allow(dead_code)]

use ebm_core::testing::{normal_vec, uniform_vec};

pub use ebm_core::testing::formulas::{ica_src, GAUSS as GAUSSIAN, MIXTURE as MIXTURE_DIAG, MIXTURE_FULL};

/// A seeded batch: x (scaled normals), v (normals) and weights in [−0.5, 1).
pub fn batch(seed: u64, b: usize, d: usize, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = normal_vec(seed, b * d).iter().map(|v| v * scale).collect();
    (x, normal_vec(seed + 1, b * d), uniform_vec(seed + 2, b, -0.5, 1.0))
}
