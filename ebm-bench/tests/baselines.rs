//! The bench baselines compute what they stand for: the decomposed Hessian
//! diagonal equals the fused one, and every estimator step runs with the
//! bench's hyperparameters (cpu-f64, small shapes).

use ebm_bench::steps::EstimatorStep;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_estimators::StepCtx;

fn close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * scale.max(w.abs()), "{what}[{i}]: decomposed {g} vs fused {w}");
    }
}

#[test]
fn decomposed_hess_diag_matches_fused() {
    for (d, hidden) in [(2, [16, 16]), (5, [8, 12])] {
        let m = Mlp::<f64>::init(d, &hidden, Activation::Softplus, 7).expect("mlp");
        let b = 9;
        let x: Vec<f64> = ebm_bench::normal_batch(3, b, d);
        let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).expect("fused");
        let (mut e2, mut s2, mut h2) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
        let (mut v, mut q) = (vec![0.0; b * d], vec![0.0; b]);
        ebm_bench::hess_diag_decomposed(&m, &x, &mut e2, &mut s2, &mut h2, &mut v, &mut q).expect("decomposed");
        close("energy", &e2, &e, 1e-12);
        close("score", &s2, &s, 1e-12);
        close("hess_diag", &h2, &h, 1e-10);
        assert!(h.iter().any(|&v| v != 0.0), "the diagonal is not trivially zero");
    }
}

#[test]
fn decomposed_hess_diag_checks_its_buffers() {
    let m = Mlp::<f64>::init(3, &[4, 4], Activation::Softplus, 1).expect("mlp");
    let x: Vec<f64> = ebm_bench::normal_batch(3, 2, 3);
    let (mut e, mut s, mut h) = (vec![0.0; 2], vec![0.0; 6], vec![0.0; 6]);
    let (mut v, mut q) = (vec![0.0; 6], vec![0.0; 1]);
    assert!(ebm_bench::hess_diag_decomposed(&m, &x, &mut e, &mut s, &mut h, &mut v, &mut q).is_err());
}

#[test]
fn every_estimator_step_runs_with_the_bench_hyperparameters() {
    let m = Mlp::<f64>::init(3, &[16, 16], Activation::Softplus, 42).expect("mlp");
    let b = 64;
    let x: Vec<f64> = ebm_bench::normal_batch(1, b, 3);
    for step in EstimatorStep::ALL {
        let (loss, grad) =
            step.run_once(&m, &x, StepCtx::new(1, 0)).unwrap_or_else(|e| panic!("{}: {e}", step.group()));
        assert!(loss.is_finite(), "{}: loss {loss}", step.group());
        assert!(grad.len() >= m.num_params(), "{}: gradient length", step.group());
        assert!(grad.iter().all(|g| g.is_finite()) && grad.iter().any(|&g| g != 0.0), "{}: gradient", step.group());
        // the timed closure runs further steps after its warm-up
        let mut run = step.prepared(&m, b).unwrap_or_else(|e| panic!("{}: {e}", step.group()));
        run();
        run();
    }
}
