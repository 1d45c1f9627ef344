//! Data standardisation: the per-coordinate affine map z = (x − m) / s that
//! `ebm train` applies to the data by default (`standardize = true`, flag
//! `--no-standardize` to turn it off), and the energy it implies in data
//! units.
//!
//! # The math
//!
//! With m the training split's mean and s its standard deviation (per
//! coordinate, floored at 1e-6), the model is trained on z and learns an
//! energy E_z. The density of x = m + s ⊙ z is
//!
//! p_x(x) = p_z((x − m)/s) / Πᵢ sᵢ,
//!
//! so, in data units,
//!
//! - E_x(x) = E_z(z) + Σᵢ log sᵢ (the log-det of the map; with it, the
//!   normalising constant of E_x equals that of E_z, and the NLL
//!   E_x + log Z is that of the data, not of z);
//! - the score −∂E_x/∂xᵢ = (−∂E_z/∂zᵢ) / sᵢ;
//! - the Hessian diagonal ∂²E_x/∂xᵢ² = (∂²E_z/∂zᵢ²) / sᵢ².
//!
//! [`Standardized`] evaluates exactly these around any energy, on whatever
//! device the inner energy runs (the map itself is O(B·d) on the host).
//!
//! # In the model file
//!
//! The model file holds E_z (the tensors PyTorch reads) and the map in the
//! metadata key `ebm.standardize`: `{"mean": [m…], "scale": [s…]}`. `ebm
//! eval` and `ebm sample` apply it (sampling runs the chain in z, where
//! the data has unit scale, and returns m + s ⊙ z). From PyTorch:
//! `E_x(x) = module((x - mean) / scale) + log(scale).sum()`.

use crate::error::{CliError, Result};
use ebm_core::{Batch, Energy, Outputs, Real};
use serde::{Deserialize, Serialize};

/// The metadata key of the map in a model file.
pub const META_KEY: &str = "ebm.standardize";

/// The per-coordinate affine map z = (x − mean) / scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardize {
    /// m, the training data's mean.
    pub mean: Vec<f64>,
    /// s, its standard deviation (every entry positive and finite).
    pub scale: Vec<f64>,
}

impl Standardize {
    /// The map of the rows of `x` (n×d): their mean and standard deviation
    /// (floored at 1e-6 so a constant coordinate does not divide by 0).
    pub fn fit(x: &[f32], d: usize) -> Self {
        let (mean, scale) = crate::data::mean_std(x, d, 1e-6);
        Self { mean, scale }
    }

    /// A map read back from a file, checked: the dimension `d`, finite
    /// means, positive finite scales.
    pub fn checked(self, d: usize) -> Result<Self> {
        let ok = self.mean.len() == d
            && self.scale.len() == d
            && self.mean.iter().all(|m| m.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0);
        if !ok {
            return Err(CliError::Usage(format!(
                "`{META_KEY}` must hold {d} finite means and {d} positive finite scales, got {self:?}"
            )));
        }
        Ok(self)
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Σᵢ log sᵢ, the log-det of x ↦ z's inverse.
    pub fn log_det(&self) -> f64 {
        self.scale.iter().map(|s| s.ln()).sum()
    }

    /// x ↦ z in place (rows of d values).
    pub fn to_z<T: Real>(&self, x: &mut [T]) {
        for r in x.chunks_exact_mut(self.dim()) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::from_f64((v.to_f64() - m) / s);
            }
        }
    }

    /// z ↦ x in place.
    pub fn to_x<T: Real>(&self, z: &mut [T]) {
        for r in z.chunks_exact_mut(self.dim()) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::from_f64(m + s * v.to_f64());
            }
        }
    }

    /// Per-coordinate moments of x (mean, standard deviation) as those of z.
    pub fn moments_to_z(&self, mean: &mut [f64], std: &mut [f64]) {
        self.to_z(mean);
        std.iter_mut().zip(&self.scale).for_each(|(v, s)| *v /= s);
    }

    /// The JSON of the metadata entry.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a map of finite f64 serialises")
    }
}

/// The energy in data units E_x of an energy E_z trained on standardised
/// data (module docs): evaluates E_z at z = (x − m)/s and maps its outputs;
/// without a map, the energy itself.
pub struct Standardized<'a, T: Real> {
    inner: &'a dyn Energy<T>,
    map: Option<&'a Standardize>,
}

impl<'a, T: Real> Standardized<'a, T> {
    /// E_x around `inner` (of dimension `map.dim()`), or `inner` itself
    /// when `map` is None (a model trained on raw data).
    pub fn new(inner: &'a dyn Energy<T>, map: Option<&'a Standardize>) -> Self {
        debug_assert!(map.is_none_or(|m| m.dim() == inner.dim()), "standardize: the map's dimension is the model's");
        Self { inner, map }
    }
}

impl<T: Real> Energy<T> for Standardized<'_, T> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn eval(&self, x: Batch<'_, T>, out: Outputs<'_, T>) -> ebm_core::Result<()> {
        let Some(map) = self.map else { return self.inner.eval(x, out) };
        let d = x.dim();
        let mut z = x.as_slice().to_vec();
        map.to_z(&mut z);
        // z is finite: x is, and s > 0 is finite.
        let zb = Batch::new(&z, d)?;
        let (energy, mut score, mut hess) = out.into_parts();
        let inner_out = match (score.as_deref_mut(), hess.as_deref_mut()) {
            (Some(sc), Some(h)) => Outputs::energy_score_hess_diag(&zb, &mut *energy, sc, h)?,
            (Some(sc), None) => Outputs::energy_score(&zb, &mut *energy, sc)?,
            _ => Outputs::energy(&zb, &mut *energy)?,
        };
        self.inner.eval(zb, inner_out)?;
        let log_det = map.log_det();
        energy.iter_mut().for_each(|e| *e = T::from_f64(e.to_f64() + log_det));
        let per_coord = |buf: Option<&mut [T]>, power: i32| {
            for r in buf.into_iter().flat_map(|b| b.chunks_exact_mut(d)) {
                r.iter_mut().zip(&map.scale).for_each(|(v, s)| *v = T::from_f64(v.to_f64() / s.powi(power)));
            }
        };
        per_coord(score, 1);
        per_coord(hess, 2);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::{rng, Activation, Covariance, EnergyExt, GaussianMixture, Mlp, Trainable};

    fn map(d: usize, seed: u64) -> Standardize {
        let mut u = vec![0f64; 2 * d];
        rng::fill_normal(seed, 3, 0, &mut u);
        Standardize {
            mean: u[..d].iter().map(|v| 100.0 * v).collect(),
            scale: u[d..].iter().map(|v| 4f64.powf(*v)).collect(),
        }
    }

    fn points(n: usize, t: &Standardize, seed: u64) -> Vec<f64> {
        let mut x = vec![0f64; n * t.dim()];
        rng::fill_normal(seed, 4, 0, &mut x);
        t.to_x(&mut x);
        x
    }

    /// The x-space law of a z-space mixture: means m + s ⊙ μₖ and
    /// precision factors S⁻¹Lₖ (P_x = S⁻¹ P_z S⁻¹). Its energy is the exact
    /// −log p_x, so the wrapper must match it, log-det included.
    #[test]
    fn matches_the_mapped_mixture_exactly() {
        let (d, k) = (3, 2);
        let t = map(d, 1);
        let mut theta = GaussianMixture::<f64>::init(d, k, Covariance::Full, 5).unwrap().params().to_vec();
        let mut jitter = vec![0f64; theta.len()];
        rng::fill_normal(6, 0, 0, &mut jitter);
        theta.iter_mut().zip(&jitter).for_each(|(p, j)| *p += 0.3 * j);
        let z_model = GaussianMixture::new(d, k, Covariance::Full, theta.clone()).unwrap();
        let mut x_theta = theta.clone();
        for c in 0..k {
            for i in 0..d {
                x_theta[k + c * d + i] = t.mean[i] + t.scale[i] * theta[k + c * d + i];
            }
            let f = k + k * d + c * d * (d + 1) / 2;
            for i in 0..d {
                for j in 0..=i {
                    x_theta[f + i * (i + 1) / 2 + j] /= t.scale[i];
                }
            }
        }
        let x_model = GaussianMixture::new(d, k, Covariance::Full, x_theta).unwrap();
        let x = points(37, &t, 2);
        let (n, wrapped) = (37, Standardized::new(&z_model, Some(&t)));
        let run = |m: &dyn Energy<f64>| {
            let (mut e, mut s, mut h) = (vec![0.0; n], vec![0.0; n * d], vec![0.0; n * d]);
            m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
            (e, s, h)
        };
        let (a, b) = (run(&wrapped), run(&x_model));
        for (what, u, v) in [("energy", &a.0, &b.0), ("score", &a.1, &b.1), ("hess_diag", &a.2, &b.2)] {
            for (p, q) in u.iter().zip(v) {
                assert!((p - q).abs() <= 1e-9 * (1.0 + q.abs()), "{what}: {p} vs {q}");
            }
        }
    }

    /// Score and Hessian diagonal of the wrapper against f64 central finite
    /// differences of its own energy and score (an MLP inside).
    #[test]
    fn derivatives_match_finite_differences() {
        let d = 2;
        let t = map(d, 7);
        let mlp = Mlp::<f64>::init(d, &[16, 16], Activation::Softplus, 3).unwrap();
        let w = Standardized::new(&mlp, Some(&t));
        let x = points(5, &t, 8);
        let n = 5;
        let (mut e, mut s, mut h) = (vec![0.0; n], vec![0.0; n * d], vec![0.0; n * d]);
        w.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
        for b in 0..n {
            for i in 0..d {
                let step = 1e-4 * t.scale[i];
                let at = |delta: f64| {
                    let mut p = x[b * d..(b + 1) * d].to_vec();
                    p[i] += delta;
                    let (mut e1, mut s1) = (vec![0.0], vec![0.0; d]);
                    w.energy_score(&p, &mut e1, &mut s1).unwrap();
                    (e1[0], s1[i])
                };
                let ((ep, sp), (em, sm)) = (at(step), at(-step));
                let fd_score = -(ep - em) / (2.0 * step);
                let fd_hess = -(sp - sm) / (2.0 * step);
                let (gs, gh) = (s[b * d + i], h[b * d + i]);
                assert!((fd_score - gs).abs() <= 1e-6 * (1.0 + gs.abs()), "score {gs} vs FD {fd_score}");
                assert!((fd_hess - gh).abs() <= 1e-5 * (1.0 + gh.abs()), "hess {gh} vs FD {fd_hess}");
            }
        }
    }

    #[test]
    fn without_a_map_it_is_the_model() {
        let mlp = Mlp::<f32>::init(2, &[8], Activation::Tanh, 1).unwrap();
        let x = [0.3f32, -1.2, 2.0, 0.5];
        let (mut a, mut b) = ([0f32; 2], [0f32; 2]);
        Standardized::new(&mlp, None).energy(&x, &mut a).unwrap();
        mlp.energy(&x, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn round_trip_and_fit() {
        let t = map(3, 9);
        let x = points(500, &t, 10);
        let mut z = x.clone();
        t.to_z(&mut z);
        let mut back = z.clone();
        t.to_x(&mut back);
        assert!(x.iter().zip(&back).all(|(a, b)| (a - b).abs() <= 1e-9 * (1.0 + a.abs())));
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let fit = Standardize::fit(&xf, 3);
        // z was N(0, 1): the fitted map is close to t (500 points).
        for i in 0..3 {
            assert!((fit.mean[i] - t.mean[i]).abs() < 0.2 * t.scale[i], "{fit:?} vs {t:?}");
            assert!((fit.scale[i] / t.scale[i] - 1.0).abs() < 0.15, "{fit:?} vs {t:?}");
        }
        assert!((t.log_det() - t.scale.iter().map(|s| s.ln()).sum::<f64>()).abs() < 1e-12);
    }

    #[test]
    fn checked_refuses_bad_maps() {
        let good = Standardize { mean: vec![0.0, 1.0], scale: vec![1.0, 2.0] };
        assert!(good.clone().checked(2).is_ok());
        assert!(good.clone().checked(3).is_err());
        assert!(Standardize { scale: vec![1.0, 0.0], ..good.clone() }.checked(2).is_err());
        assert!(Standardize { mean: vec![f64::NAN, 0.0], ..good }.checked(2).is_err());
    }
}
