//! Seed eq 25 (Stein discrepancy) and §4.2.1 (its equivalence with the Fisher
//! divergence), filling the seed's TODO.
//!
//! # Stein's identity
//!
//! For a smooth density p and a smooth critic f: ℝᵈ → ℝᵈ with p f → 0 at
//! infinity, integrating by parts coordinate by coordinate exactly as in eq 11,
//!
//! E_p[∇ₓ log p(x)ᵀ f(x) + tr ∇ₓf(x)] = Σᵢ ∫ (∂ᵢp) fᵢ + p ∂ᵢfᵢ dx = Σᵢ ∫ ∂ᵢ(p fᵢ) dx = 0.
//!
//! # §4.2.1: the optimal L2-penalised critic and the Fisher divergence
//!
//! Take eq 25 with data samples and the model's score s_θ = ∇ₓ log p_θ, and
//! penalise the critic (Grathwohl et al. 2020):
//!
//! S_λ(f) = E_data[s_θᵀf + tr ∇ₓf] − λ E_data‖f‖².
//!
//! Subtracting Stein's identity for p_data (s_d = ∇ₓ log p_data), which is 0,
//!
//! S_λ(f) = E_data[(s_θ − s_d)ᵀ f] − λ E_data‖f‖²
//!        = −λ E_data‖f − (s_θ − s_d)/(2λ)‖² + (1/(4λ)) E_data‖s_θ − s_d‖²
//!
//! (completing the square pointwise). So over all square-integrable critics
//! the supremum is attained at
//!
//! f*(x) = (s_θ(x) − s_d(x)) / (2λ)   — proportional to the score difference —
//!
//! with value sup_f S_λ = (1/(4λ)) E_data‖s_θ − s_d‖² = D_F(p_data‖p_θ)/(2λ)
//! (eq 8), and any other critic loses exactly λ E_data‖f − f*‖². A critic
//! family rich enough to contain f* therefore makes the learned Stein
//! discrepancy 2λ·S_λ equal to the Fisher divergence, and its θ-gradient the
//! score-matching gradient (eq 20), with no Hessian of E: the trace is
//! carried by the critic instead.
//!
//! For Gaussians p_data = N(m, S), p_θ = N(μ, P⁻¹) the score difference is
//! affine, s_θ − s_d = (S⁻¹ − P)x + (Pμ − S⁻¹m), so f* is an affine critic
//! (`Critic` with no hidden layer).
//!
//! # Tests
//!
//! 1. Stein's identity for a bimodal mixture and four critics (constant,
//!    identity, a tanh layer, the library's MLP critic) by quadrature (to
//!    1e-9) and by Monte Carlo (exact and Hutchinson traces; 5 standard
//!    errors from 40 blocks), with a power check: the score of a shifted
//!    mixture violates it by > 10 standard errors.
//! 2. The affine f* in closed form: S_λ(f*) = D_F/(2λ), and
//!    S_λ(f* + δh) = S_λ(f*) − λδ²E‖h‖², by quadrature (1e-9) and, through the
//!    library's `Critic::stein_objective`, by Monte Carlo.
//! 3. The learned critic: the library's `Lsd` trains an affine critic (θ
//!    frozen) to the empirical optimum (checked against the normal equations),
//!    and 2λ·S_λ is the Fisher divergence within 5 standard errors.
//! 4. The gradient at f*: the library's `Lsd` θ-gradient with the critic set
//!    to f* is ∇_θD_F/(2λ) (Monte Carlo, 5.5 standard errors), with a power
//!    check against a wrong factor and sign.

mod seed_common;

use ebm::estimators::critic::{Critic, CriticActivation, TraceMode};
use ebm::estimators::linalg::inverse_spd;
use ebm::estimators::metrics::{log_z_quadrature, Estimate, QuadratureOptions};
use ebm::estimators::{Estimator, Lsd, StepCtx};
use ebm::prelude::*;
use ebm::Gaussian;
use seed_common::*;

const D: usize = 2;

/// Score of `model` at the rows of `x`.
fn scores(model: &dyn Model<f64>, x: &[f64]) -> Vec<f64> {
    let n = x.len() / model.dim();
    let (mut e, mut s) = (vec![0.0; n], vec![0.0; x.len()]);
    model.energy_score(x, &mut e, &mut s).unwrap();
    s
}

/// Per-point sᵀf + ∇·f for the hand-written critics (constant, identity,
/// tanh(Wx + b)) and the library's MLP critic (divergence by central
/// differences of `Critic::forward`).
fn stein_terms(x: &[f64], s: &[f64], critic: &Critic) -> Vec<[f64; 4]> {
    let a = [0.7, -1.3];
    let (w, b) = ([0.8, -0.5, 0.3, 1.1], [0.2, -0.4]);
    let n = x.len() / D;
    let mut f4 = vec![0.0; x.len()];
    critic.forward(x, &mut f4);
    let h = 1e-5;
    let mut div4 = vec![0.0; n];
    for i in 0..D {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        for r in 0..n {
            up[r * D + i] += h;
            down[r * D + i] -= h;
        }
        let (mut fu, mut fd) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        critic.forward(&up, &mut fu);
        critic.forward(&down, &mut fd);
        for r in 0..n {
            div4[r] += (fu[r * D + i] - fd[r * D + i]) / (2.0 * h);
        }
    }
    (0..n)
        .map(|r| {
            let (xr, sr) = (&x[r * D..r * D + D], &s[r * D..r * D + D]);
            let t1 = sr[0] * a[0] + sr[1] * a[1];
            let t2 = sr[0] * xr[0] + sr[1] * xr[1] + D as f64;
            let mut t3 = 0.0;
            for i in 0..D {
                let th = (w[i * D] * xr[0] + w[i * D + 1] * xr[1] + b[i]).tanh();
                t3 += sr[i] * th + (1.0 - th * th) * w[i * D + i];
            }
            let t4 = sr[0] * f4[r * D] + sr[1] * f4[r * D + 1] + div4[r];
            [t1, t2, t3, t4]
        })
        .collect()
}

#[test]
fn stein_identity_holds_for_several_critics() {
    let (w, m, c) = bimodal();
    let mix = mixture_model(&w, &m, &c);
    let critic = Critic::new(D, &[16], CriticActivation::Tanh, 5).unwrap();
    // Quadrature.
    let (pts, pw) = density_grid(&mix);
    let terms = stein_terms(&pts, &scores(&mix, &pts), &critic);
    for k in 0..4 {
        let v: f64 = terms.iter().zip(&pw).map(|(t, w)| w * t[k]).sum();
        let scale: f64 = terms.iter().zip(&pw).map(|(t, w)| w * t[k].abs()).sum();
        assert!(v.abs() < 1e-9 * scale.max(1.0), "critic {k}: E_p[sᵀf + ∇·f] = {v:e} by quadrature");
    }
    // Monte Carlo, with the true score and with a shifted mixture's score.
    let shifted_means: Vec<f64> = m.iter().enumerate().map(|(i, v)| if i % 2 == 0 { v + 0.3 } else { *v }).collect();
    let wrong = mixture_model(&w, &shifted_means, &c);
    let (nb, per) = (40, 500);
    let (mut right, mut bad) = (Vec::new(), Vec::new());
    for b in 0..nb {
        let x = sample_mixture(&w, &m, &c, per, 300 + b);
        let s = scores(&mix, &x);
        let mut row: Vec<f64> =
            (0..4).map(|k| stein_terms(&x, &s, &critic).iter().map(|t| t[k]).sum::<f64>() / per as f64).collect();
        // The library's own Stein terms (exact and Hutchinson traces).
        let exact = critic.stein_objective(&x, &s, 0.0, TraceMode::Exact, None, None).unwrap();
        let mut probes = vec![0.0; per * 2 * D];
        ebm::rng::fill_normal(77, b, 0, &mut probes);
        let hutch =
            critic.stein_objective(&x, &s, 0.0, TraceMode::Hutchinson { probes: 2 }, Some(&probes), None).unwrap();
        assert!((exact.objective - row[3]).abs() < 1e-7, "library trace vs central differences");
        row.push(hutch.objective);
        right.push(row);
        let sw = scores(&wrong, &x);
        bad.push(
            (0..4).map(|k| stein_terms(&x, &sw, &critic).iter().map(|t| t[k]).sum::<f64>() / per as f64).collect(),
        );
    }
    let est = block_estimates(&right);
    for (k, e) in est.iter().enumerate() {
        println!("critic {k}: E_p[sᵀf + ∇·f] = {:+.5} ± {:.5}", e.value, e.std_err);
        assert!(e.z_score(0.0) < 5.0, "critic {k}: {e:?}");
    }
    let worst = block_estimates(&bad).iter().map(|e| e.z_score(0.0)).fold(0.0, f64::max);
    assert!(worst > 10.0, "the wrong score must violate Stein's identity (max z {worst})");
}

/// The Gaussian pair of §4.2.1: data N(m, S), model N(μ, P⁻¹).
struct Pair {
    m: Vec<f64>,
    s: Vec<f64>,
    mu: Vec<f64>,
    p: Vec<f64>,
}

impl Pair {
    fn new() -> Self {
        Self { m: vec![1.0, -0.5], s: vec![1.2, 0.3, 0.3, 0.6], mu: vec![0.4, 0.2], p: vec![1.5, -0.2, -0.2, 1.1] }
    }
    fn data(&self) -> Gaussian<f64> {
        Gaussian::from_mean_precision(&self.m, &inverse_spd(&self.s, D).unwrap()).unwrap()
    }
    fn model(&self) -> Gaussian<f64> {
        Gaussian::from_mean_precision(&self.mu, &self.p).unwrap()
    }
    /// f* = (s_θ − s_d)/(2λ) = (A x + b)/(2λ) as critic parameters [W (row-major), b].
    fn optimal_critic(&self, lambda: f64) -> Vec<f64> {
        let si = inverse_spd(&self.s, D).unwrap();
        let mut params: Vec<f64> = (0..D * D).map(|k| (si[k] - self.p[k]) / (2.0 * lambda)).collect();
        for i in 0..D {
            let b: f64 = (0..D).map(|k| self.p[i * D + k] * self.mu[k] - si[i * D + k] * self.m[k]).sum();
            params.push(b / (2.0 * lambda));
        }
        params
    }
}

/// S_λ of the affine critic [W, b] per point: s_θᵀf + tr W − λ‖f‖².
fn affine_objective(params: &[f64], x: &[f64], s: &[f64], lambda: f64) -> Vec<f64> {
    let tr = params[0] + params[3];
    x.chunks(D)
        .zip(s.chunks(D))
        .map(|(xr, sr)| {
            let f =
                [params[0] * xr[0] + params[1] * xr[1] + params[4], params[2] * xr[0] + params[3] * xr[1] + params[5]];
            sr[0] * f[0] + sr[1] * f[1] + tr - lambda * (f[0] * f[0] + f[1] * f[1])
        })
        .collect()
}

#[test]
fn optimal_penalised_critic_is_the_scaled_score_difference() {
    let pair = Pair::new();
    let (data, model) = (pair.data(), pair.model());
    let df = gaussian_fisher(&pair.m, &pair.s, &pair.mu, &pair.p);
    let q = log_z_quadrature(&data, &QuadratureOptions { rel_tol: 1e-12, ..Default::default() }).unwrap();
    let (pts, pw) = q.density_weights(&data).unwrap();
    let s = scores(&model, &pts);
    for lambda in [0.25, 0.5, 2.0] {
        let star = pair.optimal_critic(lambda);
        let quad = |params: &[f64]| -> f64 {
            affine_objective(params, &pts, &s, lambda).iter().zip(&pw).map(|(v, w)| v * w).sum()
        };
        let best = quad(&star);
        assert!(
            (best - df / (2.0 * lambda)).abs() < 1e-9 * df,
            "λ {lambda}: S(f*) = {best} vs D_F/(2λ) = {}",
            df / (2.0 * lambda)
        );
        // Any perturbation h = Gx + g loses exactly λδ²E‖h‖².
        for (k, delta) in [0.1, -0.3, 1.0].into_iter().enumerate() {
            let mut hp = vec![0.0; 6];
            ebm::rng::fill_normal(9, k as u64, 0, &mut hp);
            let e_h2: f64 = pts
                .chunks(D)
                .zip(&pw)
                .map(|(x, w)| {
                    let h0 = hp[0] * x[0] + hp[1] * x[1] + hp[4];
                    let h1 = hp[2] * x[0] + hp[3] * x[1] + hp[5];
                    w * (h0 * h0 + h1 * h1)
                })
                .sum();
            let moved: Vec<f64> = star.iter().zip(&hp).map(|(a, b)| a + delta * b).collect();
            let loss = best - quad(&moved);
            assert!(
                (loss - lambda * delta * delta * e_h2).abs() < 1e-9 * (1.0 + loss),
                "λ {lambda}, δ {delta}: lost {loss}"
            );
        }
    }
    // Monte Carlo through the library's critic (no hidden layer = affine).
    let lambda = 0.5;
    let mut critic = Critic::new(D, &[], CriticActivation::Tanh, 0).unwrap();
    critic.params_mut().copy_from_slice(&pair.optimal_critic(lambda));
    let blocks: Vec<Vec<f64>> = (0..40)
        .map(|b| {
            let x = sample_gaussian(&data, 1000, 61, b);
            let t = critic.stein_objective(&x, &scores(&model, &x), lambda, TraceMode::Exact, None, None).unwrap();
            vec![2.0 * lambda * t.objective]
        })
        .collect();
    let est = &block_estimates(&blocks)[0];
    println!("2λ·S_λ(f*) by Monte Carlo: {:.5} ± {:.5}; D_F = {df:.5}", est.value, est.std_err);
    assert!(est.z_score(df) < 5.0, "{est:?} vs D_F {df}");
    // Power: sup S = D_F/λ (a lost factor ½) is rejected.
    assert_rejects("2λ·S_λ(f*) = 2·D_F", std::slice::from_ref(est), &[2.0 * df], 20.0);
}

#[test]
fn learned_stein_discrepancy_approaches_the_fisher_divergence() {
    let pair = Pair::new();
    let (data, model) = (pair.data(), pair.model());
    let df = gaussian_fisher(&pair.m, &pair.s, &pair.mu, &pair.p);
    let lambda = 0.5;
    let n = 4000;
    let x = sample_gaussian(&data, n, 71, 0);
    let s = scores(&model, &x);
    // The empirical optimum from the normal equations: with φ = (x, 1),
    // M = mean(s φᵀ) + [I 0], Φ = mean(φ φᵀ), W = M Φ⁻¹/(2λ).
    let mut mm = [0.0; D * (D + 1)];
    let mut phi2 = vec![0.0; (D + 1) * (D + 1)];
    for (xr, sr) in x.chunks(D).zip(s.chunks(D)) {
        let phi = [xr[0], xr[1], 1.0];
        for i in 0..D {
            for j in 0..D + 1 {
                mm[i * (D + 1) + j] += sr[i] * phi[j] / n as f64;
            }
        }
        for i in 0..D + 1 {
            for j in 0..D + 1 {
                phi2[i * (D + 1) + j] += phi[i] * phi[j] / n as f64;
            }
        }
    }
    for i in 0..D {
        mm[i * (D + 1) + i] += 1.0;
    }
    let phi_inv = inverse_spd(&phi2, D + 1).unwrap();
    let mut w_emp = [0.0; D * (D + 1)];
    for i in 0..D {
        for j in 0..D + 1 {
            w_emp[i * (D + 1) + j] =
                (0..D + 1).map(|k| mm[i * (D + 1) + k] * phi_inv[k * (D + 1) + j]).sum::<f64>() / (2.0 * lambda);
        }
    }
    let emp_params = [w_emp[0], w_emp[1], w_emp[3], w_emp[4], w_emp[2], w_emp[5]];
    let emp_best = Estimate::from_values(&affine_objective(&emp_params, &x, &s, lambda)).value;

    // The library's learned Stein discrepancy, critic trained with θ frozen.
    let mut lsd = Lsd::<f64>::new(D, &[], CriticActivation::Tanh, lambda, 100, 0.1, 3).unwrap();
    let mut last = f64::NAN;
    for t in 0..8 {
        last = lsd.prepare(&model, &x, StepCtx::new(1, t)).unwrap().critic_objective.unwrap();
    }
    let learned = Estimate::from_values(&affine_objective(lsd.critic().params(), &x, &s, lambda));
    println!(
        "LSD: learned S_λ {last:.6} (empirical optimum {emp_best:.6}); 2λ·S_λ = {:.4} ± {:.4} vs D_F {df:.4}",
        2.0 * lambda * learned.value,
        2.0 * lambda * learned.std_err
    );
    assert!((last - learned.value).abs() < 1e-9, "the library reports the objective of its critic");
    assert!(
        last <= emp_best + 1e-9 && emp_best - last < 1e-4 * emp_best,
        "critic not at the optimum: {last} vs {emp_best}"
    );
    let z = (2.0 * lambda * learned.value - df).abs() / (2.0 * lambda * learned.std_err);
    assert!(z < 5.0, "2λ·LSD = {} vs D_F = {df} (z {z})", 2.0 * lambda * learned.value);
    // Power: the same estimate rejects 2·D_F (a lost factor ½) by a wide margin.
    let zw = (2.0 * lambda * learned.value - 2.0 * df).abs() / (2.0 * lambda * learned.std_err);
    assert!(zw > 20.0, "power: 2λ·LSD is not told apart from 2·D_F ({zw:.1} SE)");
}

/// §4.2.1's gradient claim (the envelope theorem): at the optimal critic f*
/// the model's gradient ∇_θ S_λ(θ, f*) (φ frozen) is ∇_θ D_F/(2λ), because
/// ∂_θ S = E[(∂s_θ/∂θ)ᵀ f*] = E[(∂s_θ/∂θ)ᵀ(s_θ − s_d)]/(2λ) = ∇_θ D_F/(2λ).
/// The library's `Lsd` gradient with the critic set to f* (no critic steps),
/// averaged over 40 blocks of exact data samples, against central
/// differences of the closed-form D_F in the Gaussian parameters θ; at
/// λ = 2 so that a missing or doubled 1/(2λ) would show. Power: the same
/// estimates reject ∇_θ D_F/λ, ∇_θ D_F and −∇_θ D_F/(2λ) by > 20 SE.
#[test]
fn lsd_gradient_at_the_optimal_critic_is_the_fisher_gradient() {
    let pair = Pair::new();
    let (data, model) = (pair.data(), pair.model());
    let lambda = 2.0;
    let mut lsd = Lsd::<f64>::new(D, &[], CriticActivation::Tanh, lambda, 0, 0.1, 0).unwrap();
    lsd.critic_mut().params_mut().copy_from_slice(&pair.optimal_critic(lambda));
    let np = model.num_params();
    let blocks: Vec<Vec<f64>> = (0..40)
        .map(|b| {
            let x = sample_gaussian(&data, 1000, 83, b);
            lsd.prepare(&model, &x, StepCtx::new(0, b)).unwrap();
            let mut g = vec![0.0; np];
            lsd.loss_grad(&model, &x, &mut g).unwrap();
            g
        })
        .collect();
    let est = block_estimates(&blocks);
    let theta = model.params().to_vec();
    let fisher = |t: &[f64]| {
        let g = Gaussian::new(D, t.to_vec()).unwrap();
        gaussian_fisher(&pair.m, &pair.s, g.mean(), &g.precision())
    };
    let grad_df: Vec<f64> = (0..np)
        .map(|k| {
            let h = 1e-6;
            let (mut tp, mut tm) = (theta.clone(), theta.clone());
            tp[k] += h;
            tm[k] -= h;
            (fisher(&tp) - fisher(&tm)) / (2.0 * h)
        })
        .collect();
    let max_z = |scale: f64| est.iter().zip(&grad_df).map(|(e, g)| e.z_score(scale * g)).fold(0.0, f64::max);
    for (e, g) in est.iter().zip(&grad_df) {
        println!("∇_θS(f*) = {:+.5} ± {:.5}; ∇_θD_F/(2λ) = {:+.5}", e.value, e.std_err, g / (2.0 * lambda));
    }
    let z = max_z(1.0 / (2.0 * lambda));
    assert!(z < 5.5, "LSD's gradient at f* is not ∇_θD_F/(2λ): {z:.1} SE");
    for (what, scale) in [("∇D_F/λ", 1.0 / lambda), ("∇D_F", 1.0), ("−∇D_F/(2λ)", -1.0 / (2.0 * lambda))] {
        let zw = max_z(scale);
        assert!(zw > 20.0, "power: {what} is not rejected ({zw:.1} SE)");
    }
}
