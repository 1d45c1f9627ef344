//! Every estimator's parameter gradient against central finite differences
//! of its own loss, with the step's noise / negatives / critic frozen.

mod common;

use common::{check_estimator_grad, gaussian_model};
use ebm_core::gaussian::Gaussian;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::{normal_vec, Tolerance};
use ebm_estimators::icd::kl_loss;
use ebm_estimators::*;

const TOL: Tolerance = Tolerance::new(1e-5, 1e-7);

fn batch(d: usize, b: usize, seed: u64) -> Vec<f64> {
    normal_vec(seed, b * d).iter().map(|v| 0.8 * v + 0.3).collect()
}

fn models() -> (Gaussian<f64>, Mlp<f64>) {
    (gaussian_model(3, 7), Mlp::<f64>::init(3, &[6, 4], Activation::Softplus, 11).unwrap())
}

fn check_all<E: Estimator<f64, Gaussian<f64>> + Estimator<f64, Mlp<f64>>>(mut make: impl FnMut() -> E) {
    let (g, m) = models();
    let x = batch(3, 9, 5);
    let ctx = StepCtx::new(42, 3);
    check_estimator_grad(&mut make(), &g, &x, ctx, TOL);
    check_estimator_grad(&mut make(), &m, &x, ctx, TOL);
}

#[test]
fn exact_sm_gradient() {
    check_all(ExactSm::new);
}

#[test]
fn dsm_gradient_one_and_many_sigmas() {
    check_all(|| Dsm::new(0.3));
    check_all(|| Dsm::geometric(1.0, 0.05, 4));
}

/// SSM and SSM-VR with the exact Hessian term (the default), and with the
/// explicit central-difference option (whose gradient is the exact
/// gradient of its own approximate loss).
#[test]
fn ssm_gradient_all_variants() {
    check_all(|| Ssm::new(2, Projection::Gaussian));
    check_all(|| Ssm::new(3, Projection::Rademacher));
    check_all(|| Ssm::new(1, Projection::Rademacher));
    check_all(|| Ssm::new(2, Projection::Gaussian).variance_reduced());
    let h = HvpMode::CentralDifference { h: 1e-3 };
    check_all(|| Ssm::new(2, Projection::Gaussian).with_hvp(h));
    check_all(|| Ssm::new(3, Projection::Rademacher).with_hvp(h));
    check_all(|| Ssm::new(2, Projection::Gaussian).variance_reduced().with_hvp(h));
}

#[test]
fn nce_gradient_including_log_normaliser() {
    let noise = GaussianNoise::new(vec![0.3; 3], &[1.5, 0.2, 0.0, 0.2, 1.0, 0.1, 0.0, 0.1, 0.8]).unwrap();
    check_all(|| Nce::new(noise.clone(), 3).with_log_z(1.3));
}

#[test]
fn cd_and_pcd_gradients_with_penalty() {
    check_all(|| Cd::new(Ula::new(0.1, 3)));
    check_all(|| Cd::new(Mala::new(0.3, 2)).with_l2(0.1));
    check_all(|| Pcd::new(Ula::new(0.1, 2)).with_capacity(20).with_l2(0.05));
    check_all(|| Pcd::new(Hmc::new(0.2, 3, 1)).with_capacity(20));
}

#[test]
fn lsd_model_gradient_exact_and_hutchinson_trace() {
    check_all(|| Lsd::new(3, &[8], CriticActivation::Swish, 0.5, 3, 1e-2, 1).unwrap());
    check_all(|| Lsd::new(3, &[8], CriticActivation::Tanh, 0.5, 2, 1e-2, 1).unwrap().with_hutchinson(2));
}

/// Improved CD: the loss is CD + λ E_θ̄(x′(θ)) with θ̄ frozen at the
/// prepared parameters, x′(θ) = x − (ε²/2)∇ₓE_θ(x) + εz (module `icd`).
/// The estimator's own `loss` evaluates the KL term with θ̄ = θ, so the
/// objective differentiated here is loss(θ) − λ·KL(θ, θ) + λ·KL(θ, θ̄).
fn check_icd<M: Objectives<f64> + Langevin<f64> + Clone, E: Estimator<f64, M>>(
    est: &mut E,
    kl_state: impl Fn(&E) -> icd::KlState<f64>,
    model: &M,
    kl: KlTerm,
) {
    let x = batch(model.dim(), 9, 5);
    let ctx = StepCtx::new(42, 3);
    est.prepare(model, &x, ctx).unwrap();
    let st = kl_state(est);
    let np = model.num_params();
    let mut grad = vec![0.0; np];
    est.loss_grad(model, &x, &mut grad).unwrap();
    let objective = |probe: &M| {
        est.loss(probe, &x).unwrap() - kl.weight * kl_loss(probe, probe, &st, kl.eps).unwrap()
            + kl.weight * kl_loss(probe, model, &st, kl.eps).unwrap()
    };
    let fd = common::fd_param_grad(model, objective);
    TOL.assert_all_close(&format!("{} on {}", est.name(), model.name()), &grad, &fd);
    // The KL term matters: dropping it changes the gradient.
    let mut plain = Cd::new(Ula::new(0.1, 2));
    plain.prepare(model, &x, ctx).unwrap();
    let mut g0 = vec![0.0; np];
    plain.loss_grad(model, &x, &mut g0).unwrap();
    assert!(common::rel_err(&g0, &grad) > 1e-3, "KL term had no effect");
}

#[test]
fn improved_cd_gradient_through_the_last_step() {
    let (g, m) = models();
    let kl = KlTerm { weight: 0.7, eps: 0.2 };
    let cd_state = |e: &Cd<f64, Ula>| e.kl_state().unwrap().clone();
    let pcd_state = |e: &Pcd<f64, Ula>| e.kl_state().unwrap().clone();
    check_icd(&mut Cd::new(Ula::new(0.1, 2)).with_kl(kl).with_l2(0.02), cd_state, &g, kl);
    check_icd(&mut Cd::new(Ula::new(0.1, 2)).with_kl(kl), cd_state, &m, kl);
    check_icd(&mut Pcd::new(Ula::new(0.1, 2)).with_capacity(15).with_kl(kl), pcd_state, &g, kl);
    check_icd(&mut Pcd::new(Ula::new(0.1, 2)).with_capacity(15).with_kl(kl), pcd_state, &m, kl);
}
