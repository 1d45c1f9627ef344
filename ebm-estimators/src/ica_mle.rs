//! Exact maximum likelihood for a square ICA model (seed eq 2 without
//! sampling).
//!
//! For [`Ica`] with K = d experts, x ↦ s = Wx is a linear change of
//! variables, so ∫ exp(−Σₖ g(wₖᵀx)) dx = |det W|⁻¹ Πₖ ∫ e^{−g(s)} ds and
//!
//! log Z(W) = d·log c_g − log |det W|,
//!
//! with c_g = ∫ e^{−g} = π for g = log cosh (∫ sech = π) and 4 for the
//! logistic g = 2 log cosh(s/2) (∫ sech²(s/2) = 4). The negative
//! log-likelihood of a batch is then exact,
//!
//! L(W) = (1/B) Σᵦ E_W(xᵦ) + d·log c_g − log |det W|,
//!
//! and so is its gradient: the positive phase of eq 2 plus
//! ∇_W log Z = −W⁻ᵀ, which replaces the negative phase's model samples.
//! Student-t experts have no closed-form c_g in this crate and are refused.
//!
//! Data-parallel: L is a per-sample mean plus a term of W alone, and the
//! ranks' weights bᵣ/B sum to 1, so (1/B) Σᵣ bᵣ Lᵣ = L with no noise and no
//! state: the batch splits as it is.

use crate::error::{config, Result};
use crate::estimator::{batch_size, check_grad, data_parallel_base, frozen_state_methods, no_state, to_f64, Estimator};
use crate::linalg::inverse_log_abs_det;
use ebm_core::{Energy, EnergyExt, Ica, Real, Source, Trainable};

/// log c_g = log ∫ e^{−g(s)} ds of a source, if closed-form here.
pub fn log_source_normaliser(source: Source) -> Result<f64> {
    match source {
        Source::LogCosh => Ok(std::f64::consts::PI.ln()),
        Source::Logistic => Ok(4f64.ln()),
        Source::StudentT => config("ICA log Z: Student-t experts have no closed-form normaliser here"),
    }
}

/// log Z of a square ICA model with filters `w` (d×d row-major).
pub fn ica_log_z(source: Source, w: &[f64], d: usize) -> Result<f64> {
    let (_, log_det) = inverse_log_abs_det(w, d)?;
    Ok(d as f64 * log_source_normaliser(source)? - log_det)
}

/// The exact mean negative log-likelihood of the rows of `x` under a square
/// ICA model.
pub fn ica_nll<T: Real>(model: &Ica<T>, x: &[T]) -> Result<f64> {
    let d = model.dim();
    if model.num_experts() != d {
        return config(format!("ICA log Z needs K = d, got K = {} for d = {d}", model.num_experts()));
    }
    let b = batch_size(model, x)?;
    let mut e = vec![T::zero(); b];
    model.energy(x, &mut e)?;
    let mean = e.iter().map(|&v| v.to_f64()).sum::<f64>() / b as f64;
    Ok(mean + ica_log_z(model.source(), &to_f64(model.filters()), d)?)
}

/// Exact MLE of a square ICA model with a given source (module docs). The
/// model passed to the [`Estimator`] methods must be that [`Ica`]: its θ is
/// read as W (d×d).
///
/// Needs: [`Trainable`].
#[derive(Debug, Clone)]
pub struct IcaMle {
    source: Source,
    state: Option<(usize, ())>,
}

impl IcaMle {
    /// Exact MLE for experts of law `source`.
    pub fn new(source: Source) -> Self {
        Self { source, state: None }
    }

    fn loss_impl<T: Real, M: Trainable<T> + ?Sized>(&self, model: &M, x: &[T], grad: Option<&mut [T]>) -> Result<f64> {
        let d = model.dim();
        let b = batch_size(model, x)?;
        if model.num_params() != d * d {
            return config(format!(
                "ICA MLE needs a square model (d² = {} parameters), got {}",
                d * d,
                model.num_params()
            ));
        }
        let w = to_f64(model.params());
        let (inv, log_det) = inverse_log_abs_det(&w, d)?;
        let mut e = vec![T::zero(); b];
        model.energy(x, &mut e)?;
        let mean = e.iter().map(|&v| v.to_f64()).sum::<f64>() / b as f64;
        if let Some(g) = grad {
            check_grad(g, d * d)?;
            let wt = vec![T::from_f64(1.0 / b as f64); b];
            model.grad_params_energy(x, &wt, g)?;
            for k in 0..d {
                for j in 0..d {
                    g[k * d + j] -= T::from_f64(inv[j * d + k]);
                }
            }
        }
        Ok(mean + d as f64 * log_source_normaliser(self.source)? - log_det)
    }
}

/// Stateless between steps: nothing to save for a resume.
impl crate::state::Resumable for IcaMle {}

data_parallel_base!([T: Real] IcaMle, |_| "ica-mle");

/// No randomness: the state is the batch size alone.
impl<T: Real, M: Trainable<T> + ?Sized> Estimator<T, M> for IcaMle {
    frozen_state_methods! {
        draw: |_, _, _, _| no_state(),
        loss: |ica, model, x, _, grad| ica.loss_impl(model, x, grad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepCtx;

    /// ∫ exp(−E) over a 2-d grid against exp(log Z), and the gradient
    /// against central differences of the loss.
    #[test]
    fn log_z_and_gradient_are_exact() {
        let w = vec![1.3, 0.4, -0.5, 0.9];
        let m = Ica::<f64>::new(2, 2, Source::LogCosh, w.clone()).unwrap();
        let (h, r) = (0.05, 40.0);
        let n = (2.0 * r / h) as usize;
        let mut pts = Vec::with_capacity(n * n * 2);
        for i in 0..n {
            for j in 0..n {
                pts.extend([-r + (i as f64 + 0.5) * h, -r + (j as f64 + 0.5) * h]);
            }
        }
        let mut e = vec![0.0; n * n];
        m.energy(&pts, &mut e).unwrap();
        let z: f64 = e.iter().map(|v| (-v).exp()).sum::<f64>() * h * h;
        let lz = ica_log_z(Source::LogCosh, &w, 2).unwrap();
        assert!((z.ln() - lz).abs() < 2e-3, "quadrature {} vs closed form {lz}", z.ln());

        let x = [0.3, -1.2, 2.0, 0.5, -0.7, 0.1];
        let mut est = IcaMle::new(Source::LogCosh);
        Estimator::<f64>::prepare(&mut est, &m, &x, StepCtx::default()).unwrap();
        let mut g = vec![0.0; 4];
        let l = est.loss_grad(&m, &x, &mut g).unwrap();
        assert!((l - ica_nll(&m, &x).unwrap()).abs() < 1e-12);
        for k in 0..4 {
            let f = |dv: f64| {
                let mut p = w.clone();
                p[k] += dv;
                est.loss(&Ica::new(2, 2, Source::LogCosh, p).unwrap(), &x).unwrap()
            };
            let fd = (f(1e-6) - f(-1e-6)) / 2e-6;
            assert!((fd - g[k]).abs() < 1e-6, "θ{k}: {fd} vs {}", g[k]);
        }
    }
}
