//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod stats;

use ebm_core::gaussian::Gaussian;
use ebm_core::prelude::*;
use ebm_core::testing::Tolerance;
use ebm_estimators::linalg::inverse_spd;
use ebm_estimators::{Dataset, Estimator, StepCtx};

/// The 5-d test law: a non-trivial mean and a correlated covariance with
/// eigenvalues in about [0.4, 3].
pub fn gauss5() -> (Vec<f64>, Vec<f64>) {
    let mean = vec![1.0, -2.0, 0.5, 3.0, -1.0];
    let d = 5;
    // cov = A Aᵀ + 0.3 I with a fixed A
    let a: Vec<f64> = (0..d * d).map(|i| ((i * 7 % 11) as f64 / 11.0 - 0.5) * 1.2).collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum::<f64>() + if i == j { 0.3 } else { 0.0 };
        }
    }
    (mean, cov)
}

/// Sample mean and inverse sample covariance: the Gaussian MLE.
pub fn mle(data: &Dataset<f64>) -> (Vec<f64>, Vec<f64>) {
    let (m, c) = data.mean_cov();
    let p = inverse_spd(&c, data.dim()).unwrap();
    (m, p)
}

/// ‖a − b‖ / ‖b‖.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den
}

/// Checks `est`'s gradient (θ and aux) against central differences of its
/// own loss with the prepared state frozen.
#[track_caller]
pub fn check_estimator_grad<M: Trainable<f64> + Clone, E: Estimator<f64, M>>(
    est: &mut E,
    model: &M,
    x: &[f64],
    ctx: StepCtx,
    tol: Tolerance,
) {
    est.prepare(model, x, ctx).unwrap();
    let np = model.num_params();
    let na = est.aux_params().len();
    let mut g = vec![f64::NAN; np + na];
    let l = est.loss_grad(model, x, &mut g).unwrap();
    let l2 = est.loss(model, x).unwrap();
    assert!((l - l2).abs() <= 1e-12 * l.abs().max(1.0), "{}: loss_grad value {l} ≠ loss {l2}", est.name());
    let mut fd = fd_param_grad(model, |probe| est.loss(probe, x).unwrap());
    fd.resize(np + na, 0.0);
    for k in 0..na {
        let a0 = est.aux_params()[k];
        let h = 1e-5 * a0.abs().max(1.0);
        est.aux_params_mut()[k] = a0 + h;
        let fp = est.loss(model, x).unwrap();
        est.aux_params_mut()[k] = a0 - h;
        let fm = est.loss(model, x).unwrap();
        est.aux_params_mut()[k] = a0;
        fd[np + k] = (fp - fm) / (2.0 * h);
    }
    tol.assert_all_close(&format!("{} on {}: gradient vs FD of the loss", est.name(), model.name()), &g, &fd);
    assert!(g.iter().any(|v| v.abs() > 1e-8), "{}: gradient is identically zero", est.name());
}

/// Central differences of `f` in every parameter of `model`, with steps
/// 10⁻⁵·max(|θₖ|, 1).
pub fn fd_param_grad<M: Trainable<f64> + Clone>(model: &M, f: impl Fn(&M) -> f64) -> Vec<f64> {
    let theta = model.params().to_vec();
    let mut probe = model.clone();
    let mut f_shifted = |k: usize, h: f64| {
        let mut t = theta.clone();
        t[k] = theta[k] + h;
        probe.set_params(&t).unwrap();
        f(&probe)
    };
    (0..theta.len())
        .map(|k| {
            let h = 1e-5 * theta[k].abs().max(1.0);
            (f_shifted(k, h) - f_shifted(k, -h)) / (2.0 * h)
        })
        .collect()
}

/// A Gaussian model with a non-trivial random θ.
pub fn gaussian_model(d: usize, seed: u64) -> Gaussian<f64> {
    let mut m = Gaussian::<f64>::init(d, seed).unwrap();
    let mut t = m.params().to_vec();
    let z = ebm_core::testing::normal_vec(seed + 100, t.len());
    for (a, b) in t.iter_mut().zip(&z) {
        *a += 0.2 * b;
    }
    m.set_params(&t).unwrap();
    m
}

/// `impl Energy<f64>` (named `$name`) for a test wrapper that forwards to
/// the model in its field `$inner` (a trait impl, which a function cannot
/// write).
#[allow(unused_macros)]
macro_rules! forward_energy {
    ($t:ty, $inner:tt, $name:literal) => {
        impl ebm_core::Energy<f64> for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn dim(&self) -> usize {
                self.$inner.dim()
            }
            fn eval(&self, x: ebm_core::Batch<'_, f64>, out: ebm_core::Outputs<'_, f64>) -> ebm_core::Result<()> {
                self.$inner.eval(x, out)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use forward_energy;

/// `impl Trainable<f64>` for a test wrapper that forwards every method to
/// the model in its field `$inner`; with `$grad`, `grad_params(x, target,
/// w, g)` is `$grad(self, x, target, w, g)` instead.
#[allow(unused_macros)]
macro_rules! forward_trainable {
    ($t:ty, $inner:tt) => {
        forward_trainable!($t, $inner, |m, x, target, w, g| m.$inner.grad_params(x, target, w, g));
    };
    ($t:ty, $inner:tt, $grad:expr) => {
        impl ebm_core::Trainable<f64> for $t {
            fn params(&self) -> &[f64] {
                self.$inner.params()
            }
            fn params_mut(&mut self) -> &mut [f64] {
                self.$inner.params_mut()
            }
            fn grad_params(
                &self,
                x: ebm_core::Batch<'_, f64>,
                target: ebm_core::Target<'_, f64>,
                w: ebm_core::Weights<'_, f64>,
                g: ebm_core::ParamGrad<'_, f64>,
            ) -> ebm_core::Result<()> {
                let grad: fn(
                    &$t,
                    ebm_core::Batch<'_, f64>,
                    ebm_core::Target<'_, f64>,
                    ebm_core::Weights<'_, f64>,
                    ebm_core::ParamGrad<'_, f64>,
                ) -> ebm_core::Result<()> = $grad;
                grad(self, x, target, w, g)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use forward_trainable;
