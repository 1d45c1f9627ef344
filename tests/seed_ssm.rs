//! Seed §3.3 (sliced score matching, Song et al. 2019): averaged over the
//! projections v with E[vvᵀ] = I, the sliced objective
//!
//! J_S(θ) = E_v E_data[½(vᵀ∇ₓE_θ)² − vᵀ∇ₓ²E_θ v]
//!
//! is exact score matching (eq 12), since E_v[(vᵀg)²] = ‖g‖² and
//! E_v[vᵀHv] = tr H; the same holds for the variance-reduced form
//! E_v E_data[½‖∇ₓE_θ‖² − vᵀ∇ₓ²E_θ v] and for the θ-gradients.
//!
//! 1. **Exact average.** For Rademacher projections the expectation is a finite
//!    sum: feeding the library's `Ssm` all 2ᵈ sign vectors per sample must give
//!    `sm_loss` and `ExactSm`'s gradient to 1e-7 (rounding only with the exact
//!    Hessian quadratic form `Ssm` uses by default; ~1e-10 with its
//!    central-difference mode), for a 2-d and a 3-d MLP.
//! 2. **Monte Carlo.** With one Gaussian projection per sample, the mean over
//!    400 independent draws of the loss and of every gradient component is the
//!    exact SM value within 5 (loss) or 5.5 (each of 337 gradient components)
//!    standard errors, and SSM-VR has the smaller standard error. Power: the
//!    same estimates reject, by > 20 standard errors, the loss and the
//!    gradient with the Hessian term's sign flipped.

mod seed_common;

use ebm::estimators::esm::sm_loss;
use ebm::estimators::metrics::Estimate;
use ebm::estimators::{Projection, Ssm, StepCtx};
use ebm::prelude::*;
use ebm::Energy;
use seed_common::*;

/// All 2ᵈ sign vectors for each of the b samples: (B·2ᵈ·d) values.
fn all_signs(b: usize, d: usize) -> Vec<f64> {
    let m = 1usize << d;
    let mut v = Vec::with_capacity(b * m * d);
    for _ in 0..b {
        for code in 0..m {
            for i in 0..d {
                v.push(if code >> i & 1 == 1 { 1.0 } else { -1.0 });
            }
        }
    }
    v
}

fn exact_sm(model: &dyn Model<f64>, x: &[f64]) -> (f64, Vec<f64>) {
    let b = x.len() / model.dim();
    let mut g = vec![0.0; model.num_params()];
    model.grad_params_sm(x, &vec![1.0 / b as f64; b], &mut g).unwrap();
    (sm_loss(model, x).unwrap(), g)
}

#[test]
fn rademacher_average_of_sliced_sm_is_exact_sm() {
    let (w, m, c) = bimodal();
    let cases: Vec<(ebm::Mlp<f64>, Vec<f64>)> = vec![
        (scaled_mlp(2, &[16, 16], 3, 8.0), sample_mixture(&w, &m, &c, 64, 5)),
        (scaled_mlp(3, &[12, 12], 4, 8.0), {
            let g = ebm::Gaussian::<f64>::init(3, 2).unwrap();
            sample_gaussian(&g, 64, 6, 0)
        }),
    ];
    for (model, x) in &cases {
        let d = model.dim();
        let b = x.len() / d;
        let v = all_signs(b, d);
        let (loss, grad) = exact_sm(model, x);
        for vr in [false, true] {
            let ssm = Ssm::<f64>::new(1 << d, Projection::Rademacher);
            let ssm = if vr { ssm.variance_reduced() } else { ssm };
            let mut g = vec![0.0; model.num_params()];
            let l = ssm.loss_with(model, x, &v, Some(&mut g)).unwrap();
            println!("d = {d}, VR {vr}: sliced {l:.10} vs exact {loss:.10}");
            assert!((l - loss).abs() < 1e-7 * (1.0 + loss.abs()), "d = {d}, VR {vr}: loss {l} vs {loss}");
            let diff: Vec<f64> = g.iter().zip(&grad).map(|(a, b)| a - b).collect();
            assert!(norm(&diff) < 1e-7 * norm(&grad), "d = {d}, VR {vr}: gradient off by {:e}", norm(&diff));
        }
    }
}

#[test]
fn gaussian_projections_average_to_exact_sm() {
    let (w, m, c) = bimodal();
    let model = scaled_mlp(2, &[16, 16], 3, 8.0);
    let x = sample_mixture(&w, &m, &c, 64, 5);
    let p = model.num_params();
    let (loss, grad) = exact_sm(&model, &x);
    // Wrong answers for the power check: the Hessian term with the wrong sign,
    // in the loss (½‖∇E‖² + tr∇²E) and in the gradient (the ½‖∇E‖² part,
    // ∇_θ of gᵀ∇ₓE with g = ∇ₓE held fixed, minus the Hessian part).
    let b = x.len() / 2;
    let (mut e, mut s) = (vec![0.0; b], vec![0.0; 2 * b]);
    model.energy_score(&x, &mut e, &mut s).unwrap();
    let half_sq = 0.5 * s.iter().map(|v| v * v).sum::<f64>() / b as f64;
    let grad_x: Vec<f64> = s.iter().map(|v| -v).collect();
    let mut g_sq = vec![0.0; p];
    model.grad_params_v_dot_grad_x(&x, &grad_x, &vec![1.0 / b as f64; b], &mut g_sq).unwrap();
    let wrong_loss = 2.0 * half_sq - loss;
    let wrong_grad: Vec<f64> = g_sq.iter().zip(&grad).map(|(a, g)| 2.0 * a - g).collect();
    let draws = 400;
    let mut ses = Vec::new();
    for vr in [false, true] {
        let ssm = Ssm::<f64>::new(1, Projection::Gaussian);
        let ssm = if vr { ssm.variance_reduced() } else { ssm };
        let mut losses = Vec::new();
        let mut grads = Vec::new();
        for r in 0..draws {
            let v = ssm.draw(64, 2, StepCtx::new(8, r)).unwrap();
            let mut g = vec![0.0; p];
            losses.push(ssm.loss_with(&model, &x, &v, Some(&mut g)).unwrap());
            grads.push(g);
        }
        let le = Estimate::from_values(&losses);
        let ge = block_estimates(&grads);
        let worst = (0..p).map(|k| ge[k].z_score(grad[k])).fold(0.0, f64::max);
        println!(
            "VR {vr}: sliced loss {:.4} ± {:.4} vs exact {loss:.4}; max gradient |z| {worst:.2} over {p}",
            le.value, le.std_err
        );
        assert!(le.z_score(loss) < 5.0, "VR {vr}: {le:?} vs {loss}");
        assert!(worst < 5.5, "VR {vr}: gradient max z {worst}");
        assert_rejects("loss with +tr∇²E", &[le], &[wrong_loss], 20.0);
        assert_rejects("gradient with +tr∇²E", &ge, &wrong_grad, 20.0);
        ses.push(le.std_err);
    }
    assert!(ses[1] < ses[0], "SSM-VR must have the smaller standard error: {ses:?}");
}
