//! The Hessian quadratic form `v_hess_v` (vᵀ∇ₓ²E v) and its parameter
//! gradient `grad_params_v_hess_v` beyond the per-family finite-difference
//! checks of `families.rs` and `mlp.rs` (which call
//! `testing::check_v_hess_v` on every random shape): closed forms, every
//! family on batches spanning several parallel jobs, f32 against f64, typed
//! errors for bad lengths, and the `Unsupported` default for user-defined
//! energies.
//!
//! Run with `cargo test -p ebm-core --release --test v_hess_v`.

mod common;

use common::check_batched_rows;
use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::testing::{normal_vec, uniform_vec, F32Check, Tolerance};
use ebm_core::{Batch, EbmError, Outputs, ParamGrad, Result, Target, Weights};

fn batch(seed: u64, b: usize, d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (uniform_vec(seed ^ 0xa1, b * d, -2.0, 2.0), normal_vec(seed ^ 0xb2, b * d), uniform_vec(seed ^ 0xc3, b, -1.0, 2.0))
}

/// One model of every family (both covariances, every ICA source, an MLP
/// per smooth activation) in dimension d, with moderate random parameters.
fn zoo(d: usize, seed: u64) -> Vec<Box<dyn Model<f64>>> {
    let mut out: Vec<Box<dyn Model<f64>>> = vec![Box::new(Gaussian::<f64>::init(d, seed).unwrap())];
    for cov in [Covariance::Full, Covariance::Diagonal] {
        let mut m = GaussianMixture::<f64>::init(d, 3, cov, seed).unwrap();
        let k = m.num_params();
        let p: Vec<f64> = m.params().iter().zip(uniform_vec(seed ^ 9, k, -0.3, 0.3)).map(|(a, b)| a + b).collect();
        m.set_params(&p).unwrap();
        out.push(Box::new(m));
    }
    for src in [Source::LogCosh, Source::Logistic, Source::StudentT] {
        out.push(Box::new(Ica::<f64>::init(d, d + 2, src, seed).unwrap()));
    }
    let mut m = GaussBernoulliRbm::<f64>::init(d, 5, seed).unwrap();
    let k = m.num_params();
    m.set_params(&uniform_vec(seed ^ 7, k, -0.5, 0.5)).unwrap();
    out.push(Box::new(m));
    for act in Activation::SMOOTH {
        out.push(Box::new(Mlp::<f64>::init(d, &[7, 5], act, seed).unwrap()));
    }
    out
}

/// vᵀPv for the Gaussian, independently of x and μ.
#[test]
fn gaussian_is_the_precision_quadratic_form() {
    let (d, b) = (6, 11);
    let m = Gaussian::<f64>::init(d, 3).unwrap();
    let p = m.precision();
    let (x, v, _) = batch(3, b, d);
    let mut q = vec![0.0; b];
    m.v_hess_v(&x, &v, &mut q).unwrap();
    let want: Vec<f64> =
        v.chunks(d).map(|vr| (0..d).map(|i| (0..d).map(|j| vr[i] * p[i * d + j] * vr[j]).sum::<f64>()).sum()).collect();
    Tolerance::new(1e-13, 1e-13).assert_all_close("vᵀPv", &q, &want);
    // ∂/∂μ = 0.
    let mut g = vec![f64::NAN; m.num_params()];
    m.grad_params_v_hess_v(&x, &v, &[1.0; 11], &mut g).unwrap();
    assert!(g[..d].iter().all(|&t| t == 0.0), "μ-gradient {:?}", &g[..d]);
}

/// ICA with W = I and log cosh sources: q = Σᵢ sech²(xᵢ) vᵢ²; RBM with
/// W = 0: q = Σᵢ vᵢ²/σᵢ².
#[test]
fn ica_and_rbm_closed_forms() {
    let (d, b) = (4, 5);
    let (x, v, _) = batch(4, b, d);
    let mut eye = vec![0.0; d * d];
    (0..d).for_each(|i| eye[i * d + i] = 1.0);
    let ica = Ica::new(d, d, Source::LogCosh, eye).unwrap();
    let mut q = vec![0.0; b];
    ica.v_hess_v(&x, &v, &mut q).unwrap();
    let want: Vec<f64> =
        (0..b).map(|n| (0..d).map(|i| v[n * d + i].powi(2) / x[n * d + i].cosh().powi(2)).sum()).collect();
    Tolerance::new(1e-13, 1e-13).assert_all_close("ICA Σ sech² v²", &q, &want);
    let ls = [0.3, -0.2, 0.0, 0.7];
    let mut p = vec![0.5; d + 3];
    p.extend(vec![0.0; 3 * d]);
    p.extend(ls);
    let rbm = GaussBernoulliRbm::new(d, 3, p).unwrap();
    rbm.v_hess_v(&x, &v, &mut q).unwrap();
    let want: Vec<f64> = (0..b).map(|n| (0..d).map(|i| v[n * d + i].powi(2) * (-2.0 * ls[i]).exp()).sum()).collect();
    Tolerance::new(1e-13, 1e-13).assert_all_close("RBM Σ ρ v²", &q, &want);
}

/// A one-component mixture far from its mean (the responsibilities are
/// exactly 1): q = vᵀPv with no cancellation, in f32 too.
#[test]
fn mixture_is_stable_far_away() {
    let g = Gaussian::new(2, vec![0.5, -0.5, 1.3, 0.4, 0.9]).unwrap();
    let mut p = vec![0.0];
    p.extend_from_slice(g.params());
    let m = GaussianMixture::new(2, 1, Covariance::Full, p).unwrap();
    let prec = g.precision();
    let v = [0.7, -1.1];
    let want = v[0] * v[0] * prec[0] + 2.0 * v[0] * v[1] * prec[1] + v[1] * v[1] * prec[3];
    let mut q = [0.0f64];
    m.v_hess_v(&[300.0, -250.0], &v, &mut q).unwrap();
    assert!((q[0] - want).abs() < 1e-12 * want, "{} vs {want}", q[0]);
    let mut q32 = [0.0f32];
    m.cast::<f32>().v_hess_v(&[300.0, -250.0], &[0.7, -1.1], &mut q32).unwrap();
    assert!((q32[0] as f64 - want).abs() < 1e-5 * want, "f32 {} vs {want}", q32[0]);
}

/// Large batches (several jobs / chunks) give the row-by-row values and
/// the sum of per-row gradients; f32 agrees with f64.
#[test]
fn batched_rows_and_f32() {
    let d = 7;
    let b = 700;
    let (x, v, w) = batch(77, b, d);
    for m in zoo(d, 5) {
        check_batched_rows(&*m, m.name(), d, &x, &v, &w, 0.0, |n, row, batched| {
            Tolerance::new(1e-12, 1e-12).assert_all_close(&format!("{}: row {n}", m.name()), &[row], &[batched]);
        });
    }
}

#[test]
fn f32_matches_f64_for_every_family() {
    let (d, b) = (5, 40);
    let (x, v, w) = batch(8, b, d);
    let check = F32Check::new(&x, &v, &w, Tolerance::new(2e-4, 2e-4));
    let g = Gaussian::<f64>::init(d, 1).unwrap();
    check.v_hess_v(&g.cast::<f32>(), &g);
    for cov in [Covariance::Full, Covariance::Diagonal] {
        let m = GaussianMixture::<f64>::init(d, 3, cov, 2).unwrap();
        check.v_hess_v(&m.cast::<f32>(), &m);
    }
    for src in [Source::LogCosh, Source::Logistic, Source::StudentT] {
        let m = Ica::<f64>::init(d, 6, src, 3).unwrap();
        check.v_hess_v(&m.cast::<f32>(), &m);
    }
    let m = GaussBernoulliRbm::<f64>::init(d, 4, 4).unwrap();
    check.v_hess_v(&m.cast::<f32>(), &m);
    let mlp_check = F32Check::new(&x, &v, &w, Tolerance::new(1e-3, 1e-3));
    for act in Activation::SMOOTH {
        let m = Mlp::<f64>::init(d, &[16, 8], act, 5).unwrap().cast::<f32>();
        mlp_check.v_hess_v(&m, &m.cast::<f64>());
    }
}

/// Bad lengths and non-finite inputs are typed errors, in every family.
#[test]
fn bad_inputs_are_typed_errors() {
    let d = 3;
    for m in zoo(d, 4) {
        let name = m.name();
        let np = m.num_params();
        let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let v = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5];
        let (mut q, mut g) = (vec![0.0; 2], vec![0.0; np]);
        let e = m.v_hess_v(&x, &v[..3], &mut q).unwrap_err();
        assert_eq!(e, EbmError::DimMismatch { what: "v", expected: 6, got: 3 }, "{name}");
        let e = m.v_hess_v(&x, &v, &mut q[..1]).unwrap_err();
        assert_eq!(e, EbmError::DimMismatch { what: "out", expected: 2, got: 1 }, "{name}");
        assert!(
            matches!(m.v_hess_v(&x[..5], &v[..5], &mut q), Err(EbmError::RaggedBatch { len: 5, dim: 3, .. })),
            "{name}"
        );
        assert!(matches!(m.v_hess_v(&[], &[], &mut q[..0]), Err(EbmError::EmptyBatch { .. })), "{name}");
        let mut vn = v;
        vn[4] = f64::NAN;
        assert!(
            matches!(m.v_hess_v(&x, &vn, &mut q), Err(EbmError::NonFinite { what: "v", row: 1, col: 1, .. })),
            "{name}"
        );
        let mut xn = x;
        xn[0] = f64::INFINITY;
        assert!(
            matches!(m.v_hess_v(&xn, &v, &mut q), Err(EbmError::NonFinite { what: "x", row: 0, col: 0, .. })),
            "{name}"
        );
        let e = m.grad_params_v_hess_v(&x, &v, &[1.0], &mut g).unwrap_err();
        assert_eq!(e, EbmError::DimMismatch { what: "weights", expected: 2, got: 1 }, "{name}");
        let e = m.grad_params_v_hess_v(&x, &v[..3], &[1.0, 1.0], &mut g).unwrap_err();
        assert_eq!(e, EbmError::DimMismatch { what: "v", expected: 6, got: 3 }, "{name}");
        let e = m.grad_params_v_hess_v(&x, &v, &[1.0, 1.0], &mut g[..np - 1]).unwrap_err();
        assert_eq!(e, EbmError::DimMismatch { what: "grad", expected: np, got: np - 1 }, "{name}");
        assert!(
            matches!(m.grad_params_v_hess_v(&x, &vn, &[1.0, 1.0], &mut g), Err(EbmError::NonFinite { what: "v", .. })),
            "{name}"
        );
        assert!(
            matches!(
                m.grad_params_v_hess_v(&x, &v, &[1.0, f64::NAN], &mut g),
                Err(EbmError::NonFinite { what: "weights", .. })
            ),
            "{name}"
        );
    }
}

/// A user-defined energy that implements only the required methods of
/// `Energy` and `Trainable` (no `Curvature`: `v_hess_v` on it does not
/// compile, see the `compile_fail` example in `ebm_core::energy`).
#[derive(Clone)]
struct Quadratic {
    theta: Vec<f64>,
}

impl Energy<f64> for Quadratic {
    fn name(&self) -> &'static str {
        "user_quadratic"
    }
    fn dim(&self) -> usize {
        1
    }
    fn eval(&self, x: Batch<'_, f64>, out: Outputs<'_, f64>) -> Result<()> {
        let (e, s, h) = out.into_parts();
        e.iter_mut().zip(x.iter()).for_each(|(e, x)| *e = 0.5 * self.theta[0] * x * x);
        if let Some(s) = s {
            s.iter_mut().zip(x.iter()).for_each(|(s, x)| *s = -self.theta[0] * x);
        }
        if let Some(h) = h {
            h.fill(self.theta[0]);
        }
        Ok(())
    }
}

impl Trainable<f64> for Quadratic {
    fn params(&self) -> &[f64] {
        &self.theta
    }
    fn params_mut(&mut self) -> &mut [f64] {
        &mut self.theta
    }
    fn grad_params(
        &self,
        x: Batch<'_, f64>,
        target: Target<'_, f64>,
        w: Weights<'_, f64>,
        mut g: ParamGrad<'_, f64>,
    ) -> Result<()> {
        g[0] = match target {
            Target::Energy => x.iter().zip(w.iter()).map(|(x, w)| 0.5 * w * x * x).sum(),
            Target::VDotGradX(v) => x.iter().zip(v.iter()).zip(w.iter()).map(|((x, v), w)| w * v * x).sum(),
            Target::ScoreMatching => x.iter().zip(w.iter()).map(|(x, w)| w * (self.theta[0] * x * x - 1.0)).sum(),
        };
        Ok(())
    }
}

impl Objectives<f64> for Quadratic {}

/// A user energy with only the required methods gets the front door's
/// checks and the two-pass objective defaults, which agree with the
/// closed forms: E = ½θx², J = ½θ²x² − θ.
#[test]
fn user_energies_get_checked_inputs_and_default_objectives() {
    let m = Quadratic { theta: vec![2.0] };
    let x = [1.0, -3.0];
    let w = [0.5, 0.25];
    let mut g = [0.0];
    let loss = m.sm_loss_grad_params(&x, &w, &mut g).unwrap();
    let want: f64 = x.iter().zip(&w).map(|(x, w)| w * (0.5 * 4.0 * x * x - 2.0)).sum();
    assert!((loss - want).abs() < 1e-12, "{loss} vs {want}");
    assert_eq!(g[0], x.iter().zip(&w).map(|(x, w)| w * (2.0 * x * x - 1.0)).sum::<f64>());
    let mut e = [0.0; 2];
    m.grad_params_energy_with(&x, &|_, e| e, &mut e, &mut g).unwrap();
    assert_eq!(e, [1.0, 9.0]);
    assert_eq!(g[0], 0.5 * 1.0 * 1.0 + 0.5 * 9.0 * 9.0);
    assert!(matches!(m.energy(&[f64::NAN], &mut [0.0]), Err(EbmError::NonFinite { what: "x", row: 0, col: 0, .. })));
    assert!(matches!(m.grad_params_sm(&x, &w, &mut [0.0; 2]), Err(EbmError::DimMismatch { what: "grad", .. })));
}
