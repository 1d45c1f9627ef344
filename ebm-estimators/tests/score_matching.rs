//! Score-matching estimators on a Gaussian model fitted to Gaussian data
//! (d = 5, n = 20 000): exact SM reaches the closed form, which for a
//! Gaussian model is the MLE (sample mean, inverse 1/n sample covariance);
//! DSM with a small σ and SSM / SSM-VR (exact Hessian term) get within 3 %.

mod common;

use common::{forward_energy, forward_trainable, gauss5, mle, rel_err};
use ebm_core::gaussian::Gaussian;
use ebm_core::prelude::*;
use ebm_core::{Batch, ParamGrad, PerSample, Weights};
use ebm_estimators::*;

fn data() -> Dataset<f64> {
    let (m, c) = gauss5();
    Dataset::gaussian(&m, &c, 20_000, 2024).unwrap()
}

/// Trains a Gaussian from its default start and returns it with its (mean,
/// precision) relative errors against the MLE.
fn fit<E: Estimator<f64, Gaussian<f64>>>(est: E, lr: f64, batch: usize, steps: usize) -> (Gaussian<f64>, f64, f64) {
    let data = data();
    let (m_mle, p_mle) = mle(&data);
    let mut model = Gaussian::<f64>::init(5, 1).unwrap();
    let opt = Adam::new(lr).with_schedule(Schedule::Cosine { total_steps: steps, final_factor: 0.0 });
    let cfg = TrainConfig { batch_size: batch, steps, seed: 9, ..Default::default() };
    let mut tr = Trainer::new(est, opt, cfg);
    let rep = tr.fit(&mut model, &data, None, |_| Control::Continue).unwrap();
    assert_eq!(rep.steps, steps);
    let em = rel_err(model.mean(), &m_mle);
    let ep = rel_err(&model.precision(), &p_mle);
    eprintln!(
        "{}: mean rel err {em:.2e}, precision rel err {ep:.2e}, final loss {:.4}",
        tr.estimator.name(),
        rep.losses.last().unwrap()
    );
    (model, em, ep)
}

/// SSM with 4000 Rademacher projections: its loss is within `rel` of the
/// exact SM loss of eq 12 on `x`.
#[track_caller]
fn assert_many_projections_approach_sm<M: Curvature<f64>>(model: &M, x: &[f64], rel: f64) {
    let mut many = Ssm::new(4000, Projection::Rademacher);
    many.prepare(model, x, StepCtx::new(1, 0)).unwrap();
    let exact = esm::sm_loss(model, x).unwrap();
    let sliced = many.loss(model, x).unwrap();
    assert!((sliced - exact).abs() < rel * exact.abs().max(1.0), "sliced {sliced} vs exact {exact}");
}

#[test]
fn exact_sm_reaches_the_mle() {
    let (_, em, ep) = fit(ExactSm::new(), 0.3, 20_000, 400);
    assert!(em < 1e-3 && ep < 1e-3, "exact SM: mean {em:e}, precision {ep:e}");
}

/// DSM learns the score of q_σ = p_data ∗ N(0, σ²I), whose Gaussian fit has
/// precision (S + σ²I)⁻¹: it must land there (within 1 %), and with σ = 0.1
/// that is within 3 % of the MLE. Antithetic noise keeps the small-σ
/// gradient noise O(1).
#[test]
fn dsm_with_small_sigma_is_within_3_percent() {
    let sigma = 0.1;
    let data = data();
    let (_, mut s) = data.mean_cov();
    for i in 0..5 {
        s[i * 6] += sigma * sigma;
    }
    let p_dsm = ebm_estimators::linalg::inverse_spd(&s, 5).unwrap();
    let (model, em, ep) = fit(Dsm::new(sigma).with_antithetic(), 0.1, 2000, 1000);
    let e_dsm = rel_err(&model.precision(), &p_dsm);
    eprintln!("dsm: precision vs (S + σ²I)⁻¹: {e_dsm:.2e}; vs MLE {ep:.2e}; mean vs MLE {em:.2e}");
    assert!(e_dsm < 0.01, "DSM vs its closed form: {e_dsm:e}");
    assert!(em < 0.03 && ep < 0.03, "DSM: mean {em:e}, precision {ep:e}");
}

/// Antithetic pairs cut the variance of the small-σ DSM gradient (over
/// independent noise draws at fixed θ) by a large factor.
#[test]
fn antithetic_dsm_reduces_gradient_variance() {
    let data = data();
    let model = common::gaussian_model(5, 4);
    let x = &data.as_slice()[..500 * 5];
    let var = |mut est: Dsm<f64>| {
        let n = 40;
        let np = model.num_params();
        let mut g = vec![0.0; np];
        let (mut s1, mut s2) = (vec![0.0; np], vec![0.0; np]);
        for t in 0..n {
            est.prepare(&model, x, StepCtx::new(5, t)).unwrap();
            est.loss_grad(&model, x, &mut g).unwrap();
            for k in 0..np {
                s1[k] += g[k];
                s2[k] += g[k] * g[k];
            }
        }
        (0..np).map(|k| s2[k] / n as f64 - (s1[k] / n as f64).powi(2)).sum::<f64>()
    };
    let plain = var(Dsm::new(0.05));
    let anti = var(Dsm::new(0.05).with_antithetic());
    eprintln!("gradient variance: plain {plain:.3e}, antithetic {anti:.3e}");
    assert!(anti < plain / 20.0, "plain {plain:e}, antithetic {anti:e}");
}

#[test]
fn ssm_and_ssm_vr_are_within_3_percent() {
    let (_, em, ep) = fit(Ssm::new(1, Projection::Rademacher), 0.1, 2000, 1000);
    assert!(em < 0.03 && ep < 0.03, "SSM: mean {em:e}, precision {ep:e}");
    let (_, em, ep) = fit(Ssm::new(1, Projection::Gaussian).variance_reduced(), 0.1, 2000, 1000);
    assert!(em < 0.03 && ep < 0.03, "SSM-VR: mean {em:e}, precision {ep:e}");
}

/// On a Gaussian the SSM loss is ½(vᵀP r)² − vᵀPv per projection: the
/// exact Hessian term matches this closed form to rounding, and so does the
/// central-difference option (the Hessian is constant) to its step's
/// rounding error.
#[test]
fn ssm_loss_matches_closed_form_on_a_gaussian() {
    let model = common::gaussian_model(4, 3);
    let x: Vec<f64> = ebm_core::testing::normal_vec(8, 6 * 4);
    let mut est = Ssm::new(3, Projection::Gaussian);
    est.prepare(&model, &x, StepCtx::new(1, 0)).unwrap();
    let v = est.projections().unwrap().to_vec();
    let p = model.precision();
    let mu = model.mean().to_vec();
    let d = 4;
    let mut want = 0.0;
    for b in 0..6 {
        let r: Vec<f64> = (0..d).map(|i| x[b * d + i] - mu[i]).collect();
        let g: Vec<f64> = (0..d).map(|i| (0..d).map(|j| p[i * d + j] * r[j]).sum()).collect();
        for m in 0..3 {
            let vv = &v[(b * 3 + m) * d..(b * 3 + m + 1) * d];
            let c: f64 = vv.iter().zip(&g).map(|(a, b)| a * b).sum();
            let q: f64 = (0..d).map(|i| (0..d).map(|j| vv[i] * p[i * d + j] * vv[j]).sum::<f64>()).sum();
            want += (0.5 * c * c - q) / 3.0;
        }
    }
    want /= 6.0;
    let got = est.loss(&model, &x).unwrap();
    assert!((got - want).abs() < 1e-12 * want.abs().max(1.0), "exact: {got} vs {want}");
    let fd = est.clone().with_hvp(HvpMode::central_difference_for::<f64>()).loss(&model, &x).unwrap();
    assert!((fd - want).abs() < 1e-6 * want.abs().max(1.0), "central difference: {fd} vs {want}");
    // and with many projections its mean approaches the exact SM loss (eq 12)
    assert_many_projections_approach_sm(&model, &x, 0.05);
}

/// On a non-quadratic model (an MLP) the exact Hessian term agrees with the
/// central difference to O(h²) (loss and gradient), and with many
/// projections the sliced loss approaches the exact SM loss of eq 12.
#[test]
fn exact_ssm_on_an_mlp() {
    use ebm_core::mlp::{Activation, Mlp};
    let model = Mlp::<f64>::init(3, &[16, 8], Activation::Softplus, 4).unwrap();
    let x: Vec<f64> = ebm_core::testing::normal_vec(3, 20 * 3);
    for est in [Ssm::new(3, Projection::Gaussian), Ssm::new(2, Projection::Rademacher).variance_reduced()] {
        let mut est = est;
        est.prepare(&model, &x, StepCtx::new(2, 1)).unwrap();
        assert_eq!(est.hvp(), HvpMode::Exact);
        let fd = est.clone().with_hvp(HvpMode::CentralDifference { h: 1e-4 });
        let np = model.num_params();
        let (mut g, mut gf) = (vec![0.0; np], vec![0.0; np]);
        let l = est.loss_grad(&model, &x, &mut g).unwrap();
        let lf = fd.loss_grad(&model, &x, &mut gf).unwrap();
        assert!((l - lf).abs() < 1e-7 * l.abs().max(1.0), "{}: exact {l} vs central difference {lf}", est.name());
        ebm_core::testing::Tolerance::new(1e-5, 1e-7).assert_all_close(est.name(), &g, &gf);
    }
    assert_many_projections_approach_sm(&model, &x, 0.02);
}

/// A user model reaches SSM's exact mode through its own `Curvature` (here
/// forwarding to a Gaussian): loss and gradient are the family's bit for
/// bit, the explicit central-difference option agrees to O(h²), and a bad
/// step is a configuration error.
#[test]
fn user_models_with_forwarded_curvature() {
    let g = common::gaussian_model(2, 3);
    let model = Forwarded(g.clone());
    let x: Vec<f64> = ebm_core::testing::normal_vec(5, 8 * 2);
    let mut est = Ssm::new(2, Projection::Gaussian);
    est.prepare(&model, &x, StepCtx::new(1, 0)).unwrap();
    let (mut grad, mut want_grad) = (vec![0.0; model.num_params()], vec![0.0; g.num_params()]);
    let l = est.loss_grad(&model, &x, &mut grad).unwrap();
    let want = est.loss_grad(&g, &x, &mut want_grad).unwrap();
    assert_eq!((l, &grad), (want, &want_grad));
    let fd = est.clone().with_hvp(HvpMode::central_difference_for::<f64>());
    let lf = fd.loss_grad(&model, &x, &mut grad).unwrap();
    assert!((lf - want).abs() < 1e-6 * want.abs().max(1.0), "{lf} vs {want}");
    // Bad steps are configuration errors.
    let bad = est.clone().with_hvp(HvpMode::CentralDifference { h: 0.0 });
    assert!(matches!(bad.loss(&model, &x), Err(EstError::Config(_))));
}

/// A user model with exactly what SSM needs: its energy, its parameters and
/// its Hessian quadratic form, each forwarded to a Gaussian.
#[derive(Clone)]
struct Forwarded(Gaussian<f64>);

forward_energy!(Forwarded, 0, "forwarded");

forward_trainable!(Forwarded, 0);

impl Curvature<f64> for Forwarded {
    fn eval_v_hess_v(&self, x: Batch<'_, f64>, v: Batch<'_, f64>, out: PerSample<'_, f64>) -> ebm_core::Result<()> {
        self.0.eval_v_hess_v(x, v, out)
    }
    fn grad_v_hess_v(
        &self,
        x: Batch<'_, f64>,
        v: Batch<'_, f64>,
        w: Weights<'_, f64>,
        g: ParamGrad<'_, f64>,
    ) -> ebm_core::Result<()> {
        self.0.grad_v_hess_v(x, v, w, g)
    }
}

/// Multi-level DSM with σ² weighting trains and lands between the clean and
/// the most perturbed law (a loose sanity check; σ_min = 0.05).
#[test]
fn ncsn_dsm_trains() {
    let data = data();
    let (_, p_mle) = mle(&data);
    let mut model = Gaussian::<f64>::init(5, 1).unwrap();
    let opt = Adam::new(0.02).with_schedule(Schedule::Cosine { total_steps: 800, final_factor: 0.0 });
    let cfg = TrainConfig { batch_size: 2000, steps: 800, seed: 3, ..Default::default() };
    let mut tr = Trainer::new(Dsm::geometric(1.0, 0.05, 5), opt, cfg);
    tr.fit(&mut model, &data, None, |_| Control::Continue).unwrap();
    // the perturbed precision is smaller than the clean one along every direction
    let tr_fit: f64 = (0..5).map(|i| model.precision()[i * 6]).sum();
    let tr_mle: f64 = (0..5).map(|i| p_mle[i * 6]).sum();
    assert!(tr_fit < tr_mle && tr_fit > 0.2 * tr_mle, "trace of fitted precision {tr_fit} vs MLE {tr_mle}");
}
