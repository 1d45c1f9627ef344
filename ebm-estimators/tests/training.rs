//! The training loop: divergence detection keeps the last good parameters,
//! same seed ⇒ same result, held-out evaluation and early stop, typed
//! errors, f32 models, and LSD training a Gaussian.

mod common;

use common::{forward_energy, forward_trainable, mle, rel_err};
use ebm_core::gaussian::Gaussian;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::{ParamGrad, Target};
use ebm_estimators::linalg::inverse_spd;
use ebm_estimators::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn data2(n: usize) -> Dataset<f64> {
    Dataset::gaussian(&[1.0, -0.5], &[0.8, 0.3, 0.3, 0.5], n, 8).unwrap()
}

/// Runs until divergence, recording the parameters after every update.
fn run_to_divergence<M: Trainable<f64> + ?Sized, E: Estimator<f64, M>, O: Optimizer<f64>>(
    model: &mut M,
    est: E,
    opt: O,
    data: &Dataset<f64>,
) -> (EstError, Vec<Vec<f64>>) {
    let start = model.params().to_vec();
    let mut seen = vec![start];
    let cfg = TrainConfig { batch_size: 64, steps: 1000, seed: 1, ..Default::default() };
    let mut tr = Trainer::new(est, opt, cfg);
    let err = tr
        .fit(model, data, None, |p| {
            seen.push(p.params.to_vec());
            Control::Continue
        })
        .expect_err("training should diverge");
    (err, seen)
}

#[test]
fn divergence_keeps_the_last_good_parameters() {
    let data = data2(1000);
    // A huge SGD step blows the exact-SM objective up within a few steps.
    let mut model = Gaussian::<f64>::init(2, 3).unwrap();
    let (err, seen) = run_to_divergence(&mut model, ExactSm::new(), Sgd::new(1e3, 0.0), &data);
    eprintln!("{err}");
    let EstError::Diverged { step, last_good_step, .. } = err else { panic!("wrong error {err:?}") };
    assert_eq!(step, last_good_step);
    assert!(model.params().iter().all(|v| v.is_finite()));
    assert_eq!(
        model.params(),
        &seen[last_good_step][..],
        "model must hold the parameters after {last_good_step} updates"
    );
    assert_eq!(seen.len(), last_good_step + 1);
}

/// A model whose parameter gradient turns NaN on its 4th call.
#[derive(Clone)]
struct Poisoned {
    inner: Gaussian<f64>,
    calls: std::sync::Arc<AtomicUsize>,
}

forward_energy!(Poisoned, inner, "poisoned");

forward_trainable!(Poisoned, inner, |m, x, target, w, mut g| {
    let poison = matches!(target, Target::VDotGradX(_));
    m.inner.grad_params(x, target, w, ParamGrad::new(&m.inner, &mut g)?)?;
    if poison && m.calls.fetch_add(1, Ordering::SeqCst) == 3 {
        g[1] = f64::NAN;
    }
    Ok(())
});

/// DSM's score regression is the two-pass default, so its gradient goes
/// through the poisoned `grad_params`.
impl Objectives<f64> for Poisoned {}

#[test]
fn nan_gradient_stops_training_before_the_update() {
    let data = data2(1000);
    let mut model = Poisoned { inner: Gaussian::init(2, 3).unwrap(), calls: Default::default() };
    let (err, seen) = run_to_divergence(&mut model, Dsm::new(0.3), Adam::new(0.01), &data);
    match err {
        EstError::Diverged { step: 3, cause: Divergence::Gradient { index: 1, value }, last_good_step: 3 } => {
            assert!(value.is_nan())
        }
        other => panic!("wrong error {other:?}"),
    }
    assert_eq!(model.params(), &seen[3][..]);
}

#[test]
fn divergent_sampler_chains_are_reported() {
    // A far too large ULA step makes the CD chains explode to infinity.
    let data = data2(1000);
    let mut model = Gaussian::<f64>::init(2, 3).unwrap();
    let before = model.params().to_vec();
    let (err, seen) = run_to_divergence(&mut model, Cd::new(Ula::new(40.0, 200)), Sgd::new(1e-3, 0.0), &data);
    assert!(
        matches!(
            err,
            EstError::Diverged {
                cause: Divergence::Internal(_) | Divergence::Loss(_) | Divergence::Gradient { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen.len(), 1, "no update may happen");
    assert_eq!(model.params(), &before[..]);
}

fn pcd_run(seed: u64) -> (Vec<f64>, Vec<f64>) {
    let data = data2(2000);
    let mut model = Mlp::<f64>::init(2, &[16, 16], Activation::Silu, 4).unwrap();
    let est = Pcd::new(Mala::new(0.3, 5)).with_capacity(500).with_l2(0.1).with_kl(KlTerm { weight: 0.5, eps: 0.1 });
    let cfg = TrainConfig { batch_size: 100, steps: 30, seed, clip_grad_norm: Some(5.0), ..Default::default() };
    let mut tr = Trainer::new(est, Adam::new(1e-3).with_weight_decay(1e-4), cfg);
    let rep = tr.fit(&mut model, &data, None, |_| Control::Continue).unwrap();
    (model.params().to_vec(), rep.losses)
}

#[test]
fn same_seed_same_result() {
    let (a, la) = pcd_run(5);
    let (b, lb) = pcd_run(5);
    assert_eq!(a, b);
    assert_eq!(la, lb);
    let (c, _) = pcd_run(6);
    assert_ne!(a, c);
}

#[test]
fn evaluation_callback_and_early_stop() {
    let (train, held) = data2(3000).split(0.2, 4).unwrap();
    let mut model = Gaussian::<f64>::init(2, 1).unwrap();
    let cfg =
        TrainConfig { batch_size: 100, steps: 50, seed: 2, eval_every: 10, eval_batch_size: 256, ..Default::default() };
    let mut tr = Trainer::new(Ssm::new(2, Projection::Gaussian).variance_reduced(), Adam::new(0.05), cfg);
    let mut evals = 0;
    let rep = tr
        .fit(&mut model, &train, Some(&held), |p| {
            evals += p.eval_loss.is_some() as usize;
            assert!(p.grad_norm.is_finite() && p.lr > 0.0);
            Control::Continue
        })
        .unwrap();
    assert_eq!((rep.steps, rep.evals.len(), evals), (50, 5, 5));
    assert!(rep.evals.last().unwrap().1 < rep.evals[0].1, "held-out loss should fall: {:?}", rep.evals);
    // early stop, and the step counter continues across fit calls
    let rep = tr
        .fit(&mut model, &train, Some(&held), |p| if p.step == 54 { Control::Stop } else { Control::Continue })
        .unwrap();
    assert!(rep.stopped_early);
    assert_eq!((rep.steps, tr.steps_done()), (5, 55));
}

#[test]
fn user_errors_are_typed() {
    let data = data2(100);
    let model = Gaussian::<f64>::init(2, 1).unwrap();
    let x = &data.as_slice()[..20];
    // loss before prepare, and on a batch of another size
    let mut est = Dsm::new(0.1);
    assert!(matches!(est.loss(&model, x), Err(EstError::NotPrepared { prepared: None, .. })));
    est.prepare(&model, x, StepCtx::default()).unwrap();
    assert!(matches!(est.loss(&model, &x[..10]), Err(EstError::NotPrepared { prepared: Some(10), got: 5, .. })));
    let mut g = vec![0.0; 3];
    assert!(matches!(est.loss_grad(&model, x, &mut g), Err(EstError::GradLen { expected: 5, got: 3 })));
    // wrong dimension, NaN data, batch too large, bad σ
    assert!(matches!(est.prepare(&model, &x[..9], StepCtx::default()), Err(EstError::Model(_))));
    assert!(matches!(Dataset::new(vec![0.0, f64::NAN], 2), Err(EstError::Data(_))));
    let mut m = model.clone();
    let cfg = TrainConfig { batch_size: 1000, steps: 1, ..Default::default() };
    assert!(matches!(
        Trainer::new(ExactSm::new(), Adam::new(0.1), cfg).fit(&mut m, &data, None, |_| Control::Continue),
        Err(EstError::Config(_))
    ));
    let d3 = Dataset::new(vec![0.0; 9], 3).unwrap();
    let cfg = TrainConfig { batch_size: 1, steps: 1, ..Default::default() };
    assert!(matches!(
        Trainer::new(ExactSm::new(), Adam::new(0.1), cfg).fit(&mut m, &d3, None, |_| Control::Continue),
        Err(EstError::Data(_))
    ));
    assert!(matches!(Dsm::<f64>::new(-1.0).prepare(&model, x, StepCtx::default()), Err(EstError::Config(_))));
    assert!(matches!(
        Nce::<f64>::new(GaussianNoise::new(vec![0.0; 3], &[1., 0., 0., 0., 1., 0., 0., 0., 1.]).unwrap(), 1).prepare(
            &model,
            x,
            StepCtx::default()
        ),
        Err(EstError::Config(_))
    ));
    assert!(GaussianNoise::new(vec![0.0; 2], &[1.0, 2.0, 2.0, 1.0]).is_err());
}

/// The f32 path (what the GPU backend runs): CD with MALA and SSM with the
/// exact Hessian term fit a 2-D Gaussian, as the command line runs them (a
/// `Box<dyn Estimator<f32>>` on a `&mut dyn Model<f32>`).
#[test]
fn f32_models_train() {
    let d64 = data2(5000);
    let data = Dataset::new(d64.as_slice().iter().map(|&v| v as f32).collect(), 2).unwrap();
    let (m_mle, p_mle) = mle(&d64);
    for which in 0..2 {
        let mut model = Gaussian::<f32>::init(2, 2).unwrap();
        let cfg = TrainConfig { batch_size: 500, steps: 600, seed: 3, ..Default::default() };
        let opt = Adam::new(0.05).with_schedule(Schedule::Cosine { total_steps: 600, final_factor: 0.0 });
        let est: Box<dyn Estimator<f32>> = if which == 0 {
            Box::new(Cd::new(Mala::new(0.5, 10)))
        } else {
            Box::new(Ssm::new(1, Projection::Rademacher))
        };
        let name = est.name();
        let mut tr = Trainer::new(est, opt, cfg);
        tr.fit(&mut model as &mut dyn Model<f32>, &data, None, |_| Control::Continue).unwrap();
        let m: Vec<f64> = model.mean().iter().map(|&v| v as f64).collect();
        let p: Vec<f64> = model.precision().iter().map(|&v| v as f64).collect();
        let (em, ep) = (rel_err(&m, &m_mle), rel_err(&p, &p_mle));
        eprintln!("f32 {name}: mean {em:.2e}, precision {ep:.2e}");
        assert!(em < 0.03 && ep < 0.05, "f32 {name}: mean {em}, precision {ep}");
    }
}

/// LSD (exact trace) trains a Gaussian towards the data: at the critic's
/// optimum its gradient is the score-matching one, whose fixed point is
/// the MLE.
#[test]
fn lsd_trains_a_gaussian() {
    let data = data2(4000);
    let (m_mle, _) = mle(&data);
    let (_, c_mle) = data.mean_cov();
    let mut model = Gaussian::<f64>::init(2, 2).unwrap();
    let steps = 400;
    let est = Lsd::new(2, &[32], CriticActivation::Swish, 0.5, 5, 5e-3, 1).unwrap();
    let opt = Adam::new(0.03).with_schedule(Schedule::Cosine { total_steps: steps, final_factor: 0.05 });
    let cfg = TrainConfig { batch_size: 500, steps, seed: 4, ..Default::default() };
    let mut tr = Trainer::new(est, opt, cfg);
    let mut crit = Vec::new();
    tr.fit(&mut model, &data, None, |p| {
        crit.push(p.info.critic_objective.unwrap());
        Control::Continue
    })
    .unwrap();
    let cov = inverse_spd(&model.precision(), 2).unwrap();
    let (em, ec) = (rel_err(model.mean(), &m_mle), rel_err(&cov, &c_mle));
    eprintln!("LSD: mean err {em:.3}, cov err {ec:.3}, critic objective {:.4} → {:.4}", crit[0], crit.last().unwrap());
    assert!(em < 0.05 && ec < 0.05, "LSD: mean {em}, cov {ec}");
}
