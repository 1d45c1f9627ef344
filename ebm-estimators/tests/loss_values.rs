//! Each estimator's loss value, not only its gradient, against an
//! independent closed form (Gaussian model and data) or quadrature, at
//! settings where every term of the loss matters: σ ≠ 1, K > 1 noise levels,
//! ν ≠ 1, a model away from the data's law, and a normaliser c ≠ log Z.
//!
//! The estimators' own finite-difference tests compare a gradient with the
//! estimator's loss, so they cannot see a wrong loss; these can. Stochastic
//! losses are averaged over R independent steps on a fixed batch x; the
//! closed form is the expectation over the estimator's noise given x, and
//! must lie within 5 standard errors of the average. Power check: each
//! test names plausible wrong answers (a wrong weight, a dropped term) and
//! the same average must lie more than 20 standard errors from each.
//!
//! Notation: model N(μ, P⁻¹), E(x) = ½(x − μ)ᵀP(x − μ), score −P(x − μ);
//! S = (1/B) Σ (xᵦ − μ)(xᵦ − μ)ᵀ, the batch's second moment about μ.

mod common;

use common::stats::mean_se;
use ebm_core::gaussian::Gaussian;
use ebm_core::prelude::*;
use ebm_estimators::*;

const MU: [f64; 2] = [0.3, -0.4];
const PREC: [f64; 4] = [1.7, 0.5, 0.5, 0.9];

fn model() -> Gaussian<f64> {
    Gaussian::from_mean_precision(&MU, &PREC).unwrap()
}

fn batch() -> Vec<f64> {
    Dataset::<f64>::gaussian(&[1.0, -1.0], &[0.8, -0.3, -0.3, 1.4], 1000, 21).unwrap().as_slice().to_vec()
}

fn mat_mul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|k| (0..d).map(|l| a[k / d * d + l] * b[l * d + k % d]).sum()).collect()
}

fn trace(a: &[f64], d: usize) -> f64 {
    (0..d).map(|i| a[i * d + i]).sum()
}

/// S = (1/B) Σ (xᵦ − μ)(xᵦ − μ)ᵀ.
fn second_moment(x: &[f64], mu: &[f64]) -> Vec<f64> {
    let d = mu.len();
    let b = x.len() / d;
    let mut s = vec![0.0; d * d];
    for r in x.chunks(d) {
        for k in 0..d * d {
            s[k] += (r[k / d] - mu[k / d]) * (r[k % d] - mu[k % d]) / b as f64;
        }
    }
    s
}

/// ½ tr(P² S) = ½ (1/B) Σ ‖P(xᵦ − μ)‖²: the batch mean of ½‖∇ₓE‖².
fn half_score_sq(x: &[f64]) -> f64 {
    let p2 = mat_mul(&PREC, &PREC, 2);
    0.5 * trace(&mat_mul(&p2, &second_moment(x, &MU), 2), 2)
}

/// The average over `steps` steps of the loss at the prepared state, and its
/// standard error; `loss` and `loss_grad` must give the same value each step.
fn mc_loss<M: Trainable<f64>, E: Estimator<f64, M>>(est: &mut E, model: &M, x: &[f64], steps: u64) -> (f64, f64) {
    let mut g = vec![0.0; model.num_params() + est.aux_params().len()];
    let v: Vec<f64> = (0..steps)
        .map(|t| {
            est.prepare(model, x, StepCtx::new(77, t)).unwrap();
            let l = est.loss(model, x).unwrap();
            let lg = est.loss_grad(model, x, &mut g).unwrap();
            assert!((l - lg).abs() <= 1e-10 * l.abs().max(1.0), "{}: loss {l} ≠ loss_grad's value {lg}", est.name());
            l
        })
        .collect();
    mean_se(&v)
}

/// Asserts |mean − truth| < 5 SE and |mean − wrong| > 20 SE for each wrong.
#[track_caller]
fn assert_mc(what: &str, (mean, se): (f64, f64), truth: f64, wrongs: &[(&str, f64)]) {
    let z = (mean - truth).abs() / se;
    eprintln!("{what}: Monte Carlo {mean:.6} ± {se:.1e}, closed form {truth:.6} ({z:.2} SE)");
    assert!(z < 5.0, "{what}: loss {mean} ± {se} vs closed form {truth} ({z:.1} SE)");
    for (name, w) in wrongs {
        let zw = (mean - w).abs() / se;
        eprintln!("  power: {name} = {w:.6} is {zw:.1} SE away");
        assert!(zw > 20.0, "{what}: power check: cannot tell the loss from {name} = {w} ({zw:.1} SE)");
    }
}

/// DSM, expected loss over z and the levels given x: with
/// r = −P(x − μ) − σPz + z/σ and E_z over N(0, I),
///
/// E[½‖r‖²] = ½ tr(P²S) + ½ tr((I/σ − σP)²),
///
/// averaged over the K levels with weights λ(σ) (the level of a sample is
/// uniform over the K levels).
fn dsm_expected(x: &[f64], sigmas: &[f64], lambda: impl Fn(f64) -> f64) -> f64 {
    let k = sigmas.len() as f64;
    sigmas
        .iter()
        .map(|&s| {
            let a: Vec<f64> = (0..4).map(|i| if i % 3 == 0 { 1.0 / s } else { 0.0 } - s * PREC[i]).collect();
            lambda(s) * (half_score_sq(x) + 0.5 * trace(&mat_mul(&a, &a, 2), 2)) / k
        })
        .sum()
}

#[test]
fn dsm_loss_value_one_level() {
    let (x, m) = (batch(), model());
    let sigma = 0.6;
    let got = mc_loss(&mut Dsm::new(sigma), &m, &x, 1000);
    // A wrong target z·σ instead of z/σ: r = −P(x − μ) − σPz + σz.
    let a: Vec<f64> = (0..4).map(|i| sigma * (if i % 3 == 0 { 1.0 } else { 0.0 } - PREC[i])).collect();
    let wrong_target = half_score_sq(&x) + 0.5 * trace(&mat_mul(&a, &a, 2), 2);
    let truth = dsm_expected(&x, &[sigma], |_| 1.0);
    assert_mc("DSM σ = 0.6", got, truth, &[("target zσ", wrong_target), ("weight σ²", truth * sigma * sigma)]);
}

#[test]
fn dsm_loss_value_four_levels() {
    let (x, m) = (batch(), model());
    let mut est = Dsm::geometric(2.0, 0.25, 4);
    let sigmas = est.sigmas().to_vec();
    let got = mc_loss(&mut est, &m, &x, 200);
    assert_mc(
        "DSM K = 4, λ = σ²",
        got,
        dsm_expected(&x, &sigmas, |s| s * s),
        &[("λ = σ", dsm_expected(&x, &sigmas, |s| s)), ("λ = 1", dsm_expected(&x, &sigmas, |_| 1.0))],
    );
}

/// SSM and SSM-VR average over the projections to exact SM's
/// ½ tr(P²S) − tr P (E[vvᵀ] = I); exact SM equals it on the batch to
/// rounding.
#[test]
fn score_matching_loss_values() {
    let (x, m) = (batch(), model());
    let truth = half_score_sq(&x) - trace(&PREC, 2);
    let esm = mc_loss(&mut ExactSm::new(), &m, &x, 1).0;
    eprintln!("exact SM: {esm:.12} vs {truth:.12}");
    assert!((esm - truth).abs() < 1e-12 * truth.abs().max(1.0), "exact SM loss {esm} vs closed form {truth}");
    let wrongs = [("+tr P", truth + 2.0 * trace(&PREC, 2)), ("‖∇E‖² without ½", truth + half_score_sq(&x))];
    for (what, est) in [
        ("SSM, 3 Rademacher", Ssm::new(3, Projection::Rademacher)),
        ("SSM, 3 Gaussian", Ssm::new(3, Projection::Gaussian)),
        ("SSM-VR, 2 Gaussian", Ssm::new(2, Projection::Gaussian).variance_reduced()),
    ] {
        assert_mc(what, mc_loss(&mut est.clone(), &m, &x, 200), truth, &wrongs);
    }
}

fn softplus(g: f64) -> f64 {
    g.max(0.0) + (-g.abs()).exp().ln_1p()
}

/// NCE in 1-d: model N(μ, 1/p) with c ≠ log Z, noise N(m_n, s_n²), ν = 3.
/// With G(y) = −½p(y − μ)² − c − log p_n(y) − log ν, the expected loss over
/// the noise given x is
///
/// [Σ_data softplus(−G(xᵦ)) + νB ∫ p_n(y) softplus(G(y)) dy] / ((1 + ν)B),
///
/// the integral by the trapezoidal rule on m_n ± 12 s_n (error far below
/// the Monte Carlo error: the integrand is smooth and decays like a
/// Gaussian).
#[test]
fn nce_loss_value() {
    let (mu, p, c, nu) = (0.2, 1.8, 0.3, 3usize);
    let (mn, sn) = (0.5, 1.5);
    let x = Dataset::<f64>::gaussian(&[0.7], &[0.36], 1000, 5).unwrap().as_slice().to_vec();
    let m = Gaussian::from_mean_precision(&[mu], &[p]).unwrap();
    let mut est = Nce::new(GaussianNoise::new(vec![mn], &[sn * sn]).unwrap(), nu).with_log_z(c);
    let got = mc_loss(&mut est, &m, &x, 200);
    let expected = |log_nu: f64, c: f64| {
        let log_pn = |y: f64| -0.5 * ((y - mn) / sn).powi(2) - (sn * (2.0 * std::f64::consts::PI).sqrt()).ln();
        let g = |y: f64| -0.5 * p * (y - mu).powi(2) - c - log_pn(y) - log_nu;
        let data: f64 = x.iter().map(|&v| softplus(-g(v))).sum();
        let n = 24_000;
        let h = 24.0 * sn / n as f64;
        let noise: f64 = (0..=n)
            .map(|i| {
                let y = mn - 12.0 * sn + i as f64 * h;
                let w = if i == 0 || i == n { 0.5 } else { 1.0 };
                w * h * log_pn(y).exp() * softplus(g(y))
            })
            .sum();
        let b = x.len() as f64;
        (data + nu as f64 * b * noise) / ((1.0 + nu as f64) * b)
    };
    let log_nu = (nu as f64).ln();
    assert_mc(
        "NCE ν = 3",
        got,
        expected(log_nu, c),
        &[("log ν dropped", expected(0.0, c)), ("c sign flipped", expected(log_nu, -c))],
    );
}

/// PCD (and so CD, which shares the loss) with the L2 energy penalty: the
/// loss is mean E(x⁺) − mean E(x⁻) + α(mean E(x⁺)² + mean E(x⁻)²) at the
/// prepared negatives, each energy from the closed form.
#[test]
fn contrastive_loss_value_with_l2_penalty() {
    let (x, m) = (batch(), model());
    let alpha = 0.3;
    let mut est = Pcd::new(Ula::new(0.3, 5)).with_capacity(500).with_l2(alpha);
    est.prepare(&m, &x, StepCtx::new(3, 0)).unwrap();
    let energy = |r: &[f64]| {
        let u = [r[0] - MU[0], r[1] - MU[1]];
        0.5 * (PREC[0] * u[0] * u[0] + 2.0 * PREC[1] * u[0] * u[1] + PREC[3] * u[1] * u[1])
    };
    let moments = |v: &[f64]| {
        let e: Vec<f64> = v.chunks(2).map(energy).collect();
        let n = e.len() as f64;
        (e.iter().sum::<f64>() / n, e.iter().map(|v| v * v).sum::<f64>() / n)
    };
    let ((ep, ep2), (en, en2)) = (moments(&x), moments(est.negatives().unwrap()));
    let truth = ep - en + alpha * (ep2 + en2);
    let got = Estimator::<f64, Gaussian<f64>>::loss(&est, &m, &x).unwrap();
    eprintln!("PCD + L2: {got:.12} vs {truth:.12}");
    assert!((got - truth).abs() < 1e-10 * truth.abs().max(1.0), "PCD loss {got} vs closed form {truth}");
}

/// LSD at a frozen affine critic f(x) = Wx + b (no critic steps), λ = 0.7:
/// the loss is S = (1/B)Σ s_θ(xᵦ)ᵀf(xᵦ) + tr W − λ(1/B)Σ‖f(xᵦ)‖², with
/// s_θ = −P(x − μ) and tr ∇ₓf = tr W; with Hutchinson's trace (2 probes)
/// the loss is unbiased for it. Power: the loss without the trace, and with
/// the penalty's sign flipped, are rejected.
#[test]
fn lsd_loss_value_with_hutchinson_trace() {
    let (x, m) = (batch(), model());
    let lambda = 0.7;
    let critic = [0.4, -0.2, 0.3, -0.9, 0.25, -0.1];
    let mut est = Lsd::<f64>::new(2, &[], CriticActivation::Tanh, lambda, 0, 0.1, 0).unwrap().with_hutchinson(2);
    est.critic_mut().params_mut().copy_from_slice(&critic);
    let b = x.len() as f64 / 2.0;
    let (mut sf, mut ff) = (0.0, 0.0);
    for r in x.chunks(2) {
        let f = [critic[0] * r[0] + critic[1] * r[1] + critic[4], critic[2] * r[0] + critic[3] * r[1] + critic[5]];
        let u = [r[0] - MU[0], r[1] - MU[1]];
        let s = [-(PREC[0] * u[0] + PREC[1] * u[1]), -(PREC[2] * u[0] + PREC[3] * u[1])];
        sf += (s[0] * f[0] + s[1] * f[1]) / b;
        ff += (f[0] * f[0] + f[1] * f[1]) / b;
    }
    let tr = critic[0] + critic[3];
    let got = mc_loss(&mut est, &m, &x, 400);
    let wrongs = [("trace dropped", sf - lambda * ff), ("+λ‖f‖²", sf + tr + lambda * ff)];
    assert_mc("LSD λ = 0.7, Hutchinson", got, sf + tr - lambda * ff, &wrongs);
}
