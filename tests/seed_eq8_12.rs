//! Seed eq 8–12: Hyvärinen's score-matching objective equals the Fisher
//! divergence up to a θ-independent constant,
//!
//! D_F(p_data‖p_θ) = J(θ) + C,  J(θ) = E_data[Σᵢ ½(∂ᵢE_θ)² − ∂²ᵢᵢE_θ]  (eq 12),
//! C = E_data[½‖∇ₓ log p_data‖²],
//!
//! by the integration by parts of eq 10–11 (the cross term
//! −E_data[s_dataᵀs_θ] becomes E_data[Σᵢ ∂ᵢ s_θ,ᵢ] = −E_data[ΔE_θ]); and the
//! gradients agree (eq 20).
//!
//! 1. Gaussians in closed form: data N(m, S), model N(μ, P⁻¹):
//!    D_F = ½[tr((P − S⁻¹)S(P − S⁻¹)) + ‖P(m − μ)‖²],
//!    J = ½[tr(PSP) + ‖P(m − μ)‖²] − tr P, C = ½ tr S⁻¹.
//!    Then by Monte Carlo with the library (`sm_loss`, `fisher_divergence`): the
//!    per-sample difference ½‖s_data − s_θ‖² − J(x) is *not* constant (it is
//!    ½‖s_data‖² − s_dataᵀs_θ + ΔE_θ), only its mean is, so its mean equals C
//!    within 5 standard errors for every θ — the integration by parts at work.
//! 2. A 2-d MLP energy (softplus, widths 16, 16, output weights ×12) against a bimodal Gaussian-mixture data law, all three
//!    expectations by quadrature on the mixture's grid (`density_grid`): the
//!    identity holds to 1e-8 for several random MLPs, and ∇_θ J (the library's
//!    `grad_params_sm`) equals ∇_θ D_F (through `grad_params_v_dot_grad_x`
//!    with v = s_data − s_θ) to 1e-7 — eq 20.

mod seed_common;

use ebm::estimators::esm::sm_loss;
use ebm::estimators::linalg::inverse_spd;
use ebm::estimators::metrics::{fisher_divergence, fisher_divergence_weighted, Estimate};
use ebm::prelude::*;
use ebm::{sm_integrand, Gaussian};
use seed_common::*;

/// (D_F, J, C) in closed form.
fn gaussian_closed_forms(m: &[f64], s: &[f64], mu: &[f64], p: &[f64]) -> (f64, f64, f64) {
    let d = m.len();
    let si = inverse_spd(s, d).unwrap();
    let pd: f64 = (0..d).map(|i| (0..d).map(|k| p[i * d + k] * (m[k] - mu[k])).sum::<f64>().powi(2)).sum();
    let j = 0.5 * (trace(&mat_mul(&mat_mul(p, s, d), p, d), d) + pd) - trace(p, d);
    (gaussian_fisher(m, s, mu, p), j, 0.5 * trace(&si, d))
}

/// Per-sample ½‖s_data − s_θ‖², J(x), and the wrong-sign integrand ½‖∇E‖² + ΔE.
fn per_sample(data: &dyn Model<f64>, model: &dyn Model<f64>, x: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = model.dim();
    let n = x.len() / d;
    let (mut e, mut sd) = (vec![0.0; n], vec![0.0; n * d]);
    data.energy_score(x, &mut e, &mut sd).unwrap();
    let (mut s, mut h) = (vec![0.0; n * d], vec![0.0; n * d]);
    model.energy_score_hess_diag(x, &mut e, &mut s, &mut h).unwrap();
    let mut dfv = Vec::with_capacity(n);
    let mut jv = Vec::with_capacity(n);
    let mut wrong = Vec::with_capacity(n);
    for b in 0..n {
        let r = b * d..(b + 1) * d;
        dfv.push(0.5 * sd[r.clone()].iter().zip(&s[r.clone()]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>());
        jv.push(sm_integrand(&s[r.clone()], &h[r.clone()]));
        wrong.push(0.5 * s[r.clone()].iter().map(|v| v * v).sum::<f64>() + h[r].iter().sum::<f64>());
    }
    (dfv, jv, wrong)
}

#[test]
fn gaussian_score_matching_is_fisher_divergence_minus_a_constant() {
    let (m, s) = (vec![1.0, -0.5], vec![1.2, 0.3, 0.3, 0.6]);
    let data = Gaussian::from_mean_precision(&m, &inverse_spd(&s, 2).unwrap()).unwrap();
    let x = sample_gaussian(&data, 40_000, 5, 0);
    let models = [
        (vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0]),
        (vec![1.5, -1.0], vec![3.0, -0.8, -0.8, 0.7]),
        (vec![0.9, -0.4], vec![0.9, 0.35, 0.35, 1.9]),
    ];
    let mut wrong_detected = false;
    for (mu, p) in &models {
        let model = Gaussian::from_mean_precision(mu, p).unwrap();
        let (df, j, c) = gaussian_closed_forms(&m, &s, mu, p);
        assert!((df - j - c).abs() < 1e-12 * (1.0 + df.abs()), "closed forms: D_F − J = {} ≠ C = {c}", df - j);
        let (dfv, jv, wrong) = per_sample(&data, &model, &x);
        let (dfe, je) = (Estimate::from_values(&dfv), Estimate::from_values(&jv));
        // The library's estimators compute the same means.
        assert!((sm_loss(&model, &x).unwrap() - je.value).abs() < 1e-10);
        assert!((fisher_divergence(&data, &model, &x).unwrap().value - dfe.value).abs() < 1e-10);
        assert!(dfe.z_score(df) < 5.0, "D_F {dfe:?} vs {df}");
        assert!(je.z_score(j) < 5.0, "J {je:?} vs {j}");
        // Power: D_F without eq 8's ½, and J with the Hessian term's sign
        // flipped (+tr P), are rejected.
        let tr_p = p[0] + p[3];
        assert_rejects("2·D_F", std::slice::from_ref(&dfe), &[2.0 * df], 20.0);
        assert_rejects("J + 2 tr P", std::slice::from_ref(&je), &[j + 2.0 * tr_p], 20.0);
        let diff: Vec<f64> = dfv.iter().zip(&jv).map(|(a, b)| a - b).collect();
        let de = Estimate::from_values(&diff);
        println!("μ {mu:?}: D_F {df:.4}, J {j:.4}; MC D_F − J = {:.4} ± {:.4}, C = {c:.4}", de.value, de.std_err);
        assert!(de.z_score(c) < 5.0, "D_F − J = {de:?} vs C = {c}");
        assert!(de.std_err > 0.0);
        let w: Vec<f64> = dfv.iter().zip(&wrong).map(|(a, b)| a - b).collect();
        wrong_detected |= Estimate::from_values(&w).z_score(c) > 20.0;
    }
    assert!(wrong_detected, "a sign error in eq 12's Hessian term must be detected");
}

#[test]
fn mlp_score_matching_against_a_mixture_by_quadrature() {
    let (w, m, c) = bimodal();
    let mix = mixture_model(&w, &m, &c);
    let (pts, pw) = density_grid(&mix);
    let n = pw.len();
    let (mut e, mut sd) = (vec![0.0; n], vec![0.0; 2 * n]);
    mix.energy_score(&pts, &mut e, &mut sd).unwrap();
    let cst: f64 = sd.chunks(2).zip(&pw).map(|(s, w)| w * 0.5 * (s[0] * s[0] + s[1] * s[1])).sum();
    let mut seen = Vec::new();
    for seed in 1..=4 {
        let mlp = scaled_mlp(2, &[16, 16], seed, 12.0);
        let (mut s, mut h) = (vec![0.0; 2 * n], vec![0.0; 2 * n]);
        mlp.energy_score_hess_diag(&pts, &mut e, &mut s, &mut h).unwrap();
        let j: f64 = (0..n).map(|b| pw[b] * sm_integrand(&s[2 * b..2 * b + 2], &h[2 * b..2 * b + 2])).sum();
        let df = fisher_divergence_weighted(&mix, &mlp, &pts, &pw).unwrap();
        println!("MLP seed {seed}: D_F {df:.6} = J {j:.6} + C {cst:.6} (residual {:e})", df - j - cst);
        assert!((df - j - cst).abs() < 1e-8 * (1.0 + df.abs()), "seed {seed}: D_F {df}, J {j}, C {cst}");
        seen.push(df);
        // eq 20: ∇_θ J = ∇_θ D_F.
        let p = mlp.num_params();
        let (mut gj, mut gd) = (vec![0.0; p], vec![0.0; p]);
        mlp.grad_params_sm(&pts, &pw, &mut gj).unwrap();
        let v: Vec<f64> = sd.iter().zip(&s).map(|(a, b)| a - b).collect();
        mlp.grad_params_v_dot_grad_x(&pts, &v, &pw, &mut gd).unwrap();
        let diff: Vec<f64> = gj.iter().zip(&gd).map(|(a, b)| a - b).collect();
        assert!(
            norm(&diff) < 1e-7 * norm(&gd),
            "seed {seed}: ‖∇J − ∇D_F‖ = {:e}, ‖∇D_F‖ = {:e}",
            norm(&diff),
            norm(&gd)
        );
    }
    let spread = seen.iter().cloned().fold(f64::MIN, f64::max) - seen.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 1e-2, "the MLPs must differ for the identity to mean anything");
}
