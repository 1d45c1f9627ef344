//! Built-in 2-D toy data sets, each a pure function of (name, n, seed).
//!
//! The shapes follow the toy sets common in the EBM and flow literature
//! (FFJORD's `toy_data.py`, scikit-learn's `make_moons` / `make_circles` /
//! `make_swiss_roll`), at about the same scale (most mass in [−4, 4]²). Every
//! random number comes from Philox ([`ebm_core::rng`]) keyed by the seed:
//! stream s of a set is the s-th independent sequence of uniforms or
//! normals, so a data set never depends on how it is consumed.
//!
//! | name | what |
//! | --- | --- |
//! | `8gaussians` | 8 Gaussians (σ = 0.5/√2) on a circle of radius 4/√2 |
//! | `2spirals` | two interleaved spirals |
//! | `checkerboard` | uniform on the 8 black squares of a 4×4 board on [−4, 4]² |
//! | `circles` | two noisy concentric circles (radii 3 and 1.5) |
//! | `moons` | scikit-learn's two moons, scaled ×2 and centred |
//! | `pinwheel` | 5 curved arms |
//! | `rings` | 4 noisy concentric rings (radii 1 to 4) |
//! | `swissroll` | scikit-learn's swiss roll (x, z) / 5 |
//! | `gmm-2d` | an anisotropic mixture of 3 Gaussians with unequal weights |

use crate::error::DataError;
use ebm_core::rng;
use std::f64::consts::PI;

/// The names of the built-in data sets.
pub const NAMES: [&str; 9] =
    ["8gaussians", "2spirals", "checkerboard", "circles", "moons", "pinwheel", "rings", "swissroll", "gmm-2d"];

/// Philox draws for one data set: `uniform(s)` / `normal(s)` give the n
/// values of stream s.
struct Draws {
    seed: u64,
    n: usize,
}

impl Draws {
    fn uniform(&self, stream: u64) -> Vec<f64> {
        let mut v = vec![0f64; self.n];
        rng::fill_uniform(self.seed, stream, 0, &mut v);
        v
    }
    fn normal(&self, stream: u64) -> Vec<f64> {
        let mut v = vec![0f64; self.n];
        rng::fill_normal(self.seed, stream, 0, &mut v);
        v
    }
    /// Integers uniform in 0..k.
    fn index(&self, stream: u64, k: usize) -> Vec<usize> {
        self.uniform(stream).into_iter().map(|u| ((u * k as f64) as usize).min(k - 1)).collect()
    }
}

/// Whether `name` is a built-in data set.
pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// `n` samples of the built-in set `name` (row-major n×2, f32).
///
/// Errors: [`DataError::Unknown`] for another name, [`DataError::Option`]
/// for n = 0.
pub fn generate(name: &str, n: usize, seed: u64) -> Result<Vec<f32>, DataError> {
    if n == 0 {
        return Err(DataError::Option("the number of samples must be at least 1".into()));
    }
    // Mix the name into the key so two sets with one seed are independent.
    let key = name.bytes().fold(seed ^ 0x7079_5f64_6174_6173, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    let r = Draws { seed: key, n };
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(n);
    match name {
        "8gaussians" => {
            let s = 1.0 / 2f64.sqrt();
            let centers = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (s, s), (s, -s), (-s, s), (-s, -s)];
            let (k, z0, z1) = (r.index(0, 8), r.normal(1), r.normal(2));
            for i in 0..n {
                let (cx, cy) = centers[k[i]];
                out.push(((4.0 * cx + 0.5 * z0[i]) / 1.414, (4.0 * cy + 0.5 * z1[i]) / 1.414));
            }
        }
        "2spirals" => {
            let (u, side, z0, z1) = (r.uniform(0), r.index(1, 2), r.normal(2), r.normal(3));
            for i in 0..n {
                let t = u[i].sqrt() * 540.0 * (2.0 * PI / 360.0);
                let (x, y) = (-t.cos() * t, t.sin() * t);
                let sgn = if side[i] == 0 { 1.0 } else { -1.0 };
                out.push((sgn * x / 3.0 + 0.1 * z0[i], sgn * y / 3.0 + 0.1 * z1[i]));
            }
        }
        "checkerboard" => {
            let (u0, u1, k) = (r.uniform(0), r.uniform(1), r.index(2, 2));
            for i in 0..n {
                let x1 = u0[i] * 4.0 - 2.0;
                let x2 = u1[i] - k[i] as f64 * 2.0 + (x1.floor().rem_euclid(2.0));
                out.push((x1 * 2.0, x2 * 2.0));
            }
        }
        "circles" => {
            let (u, outer, z0, z1) = (r.uniform(0), r.index(1, 2), r.normal(2), r.normal(3));
            for i in 0..n {
                let rad = if outer[i] == 0 { 1.0 } else { 0.5 };
                let t = 2.0 * PI * u[i];
                out.push((3.0 * (rad * t.cos() + 0.08 * z0[i]), 3.0 * (rad * t.sin() + 0.08 * z1[i])));
            }
        }
        "moons" => {
            let (u, lower, z0, z1) = (r.uniform(0), r.index(1, 2), r.normal(2), r.normal(3));
            for i in 0..n {
                let t = PI * u[i];
                let (x, y) = if lower[i] == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                out.push(((x + 0.1 * z0[i]) * 2.0 - 1.0, (y + 0.1 * z1[i]) * 2.0 - 0.5));
            }
        }
        "pinwheel" => {
            let (radial_std, tangential_std, classes, rate) = (0.3, 0.1, 5usize, 0.25);
            let (k, z0, z1) = (r.index(0, classes), r.normal(1), r.normal(2));
            for i in 0..n {
                let f0 = z0[i] * radial_std + 1.0;
                let f1 = z1[i] * tangential_std;
                let angle = 2.0 * PI * k[i] as f64 / classes as f64 + rate * f0.exp();
                let (c, s) = (angle.cos(), angle.sin());
                out.push((2.0 * (f0 * c - f1 * s), 2.0 * (f0 * s + f1 * c)));
            }
        }
        "rings" => {
            let (u, ring, z0, z1) = (r.uniform(0), r.index(1, 4), r.normal(2), r.normal(3));
            for i in 0..n {
                let rad = (ring[i] + 1) as f64;
                let t = 2.0 * PI * u[i];
                out.push((rad * t.cos() + 0.08 * 3.0 * z0[i], rad * t.sin() + 0.08 * 3.0 * z1[i]));
            }
        }
        "swissroll" => {
            let (u, z0, z1) = (r.uniform(0), r.normal(1), r.normal(2));
            for i in 0..n {
                let t = 1.5 * PI * (1.0 + 2.0 * u[i]);
                out.push(((t * t.cos() + z0[i]) / 5.0, (t * t.sin() + z1[i]) / 5.0));
            }
        }
        "gmm-2d" => {
            // Weights 0.5, 0.3, 0.2; means and correlated covariances.
            let means = [(-2.0, -1.0), (2.0, 1.5), (0.5, -2.5)];
            // Lower Cholesky factors (l00, l10, l11).
            let chol = [(0.8, 0.4, 0.5), (0.5, -0.3, 0.9), (0.3, 0.0, 0.3)];
            let (u, z0, z1) = (r.uniform(0), r.normal(1), r.normal(2));
            for i in 0..n {
                let c = if u[i] < 0.5 {
                    0
                } else if u[i] < 0.8 {
                    1
                } else {
                    2
                };
                let (l00, l10, l11) = chol[c];
                out.push((means[c].0 + l00 * z0[i], means[c].1 + l10 * z0[i] + l11 * z1[i]));
            }
        }
        other => {
            return Err(DataError::Unknown { name: other.to_string(), known: NAMES.join(", ") });
        }
    }
    Ok(out.into_iter().flat_map(|(a, b)| [a as f32, b as f32]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_is_finite_deterministic_and_in_range() {
        for name in NAMES {
            let a = generate(name, 2000, 7).unwrap();
            assert_eq!(a.len(), 4000);
            assert_eq!(a, generate(name, 2000, 7).unwrap(), "{name} not deterministic");
            assert_ne!(a, generate(name, 2000, 8).unwrap(), "{name} ignores the seed");
            assert!(a.iter().all(|v| v.is_finite() && v.abs() < 12.0), "{name} out of range");
            let (mx, my) =
                a.chunks(2).fold((0.0, 0.0), |(x, y), p| (x + p[0] as f64 / 2000.0, y + p[1] as f64 / 2000.0));
            assert!(mx.abs() < 2.5 && my.abs() < 2.5, "{name} mean ({mx}, {my})");
            // a prefix of a longer draw is the shorter draw
            assert_eq!(&generate(name, 4000, 7).unwrap()[..4000], &a[..]);
        }
        assert!(matches!(generate("nope", 10, 0), Err(DataError::Unknown { .. })));
        assert!(generate("moons", 0, 0).is_err());
    }

    #[test]
    fn checkerboard_occupies_alternate_squares() {
        let a = generate("checkerboard", 5000, 1).unwrap();
        for p in a.chunks(2) {
            let (i, j) = ((p[0] / 2.0).floor() as i64, (p[1] / 2.0).floor() as i64);
            assert_eq!((i + j).rem_euclid(2), 0, "point {p:?} on a white square");
        }
    }
}
