//! Seed eq 14–21 (Hyvärinen 2007): contrastive divergence with one Langevin
//! step of size ε is, to leading order, (ε²/2) times a gradient step on the
//! Fisher divergence:
//!
//! g_CD(ε) = E_data[−∇_θE(x)] + E_{x′}[∇_θE(x′)] = −(ε²/2) ∇_θ D_F(p_data‖p_θ) + o(ε²),
//!
//! x′ = x − (ε²/2)∇ₓE_θ(x) + εz (eq 14, θ_s = θ). Eq 17–19 expand E(x′) − E(x) to
//! second order; odd powers of z vanish in expectation, so the next term is
//! O(ε⁴) and the residual R(ε) = g_CD(ε)/(ε²/2) + ∇_θD_F should shrink like ε²
//! (the seed only claims o(ε²) before division, i.e. a log-log slope > 0; the
//! test requires 2 ± 0.1, which an O(ε³) remainder would fail, and prints the
//! table).
//!
//! # Set-up
//!
//! Data: the bimodal 2-d Gaussian mixture. Model: a softplus MLP (widths 16, 16,
//! output weights ×8), 337 parameters. ∇_θD_F = ∇_θJ (eq 20) with the exact
//! per-sample gradient `grad_params_sm`.
//!
//! # Variance reasoning (why this is not flaky)
//!
//! Sampling z by Monte Carlo would be hopeless: per sample,
//! [∇_θE(x′) − ∇_θE(x)]/(ε²/2) ≈ (2/ε) ∇ₓ∇_θE·z, whose standard deviation grows
//! like 1/ε while the signal R(ε) shrinks like ε². So:
//!
//! 1. **z is integrated, not sampled**, by the tensor Gauss–Hermite rule with
//!    10 nodes per axis (exact for polynomials of degree ≤ 19 in z; the
//!    integrand is analytic in z, so the rule's error is far below the
//!    residual at every ε used — the measured rate would bend otherwise). For a given x the CD term is then a
//!    deterministic, smooth function of ε.
//! 2. **x is sampled once** (4000 exact draws from the mixture) and the *same*
//!    draws are used for every ε and for the SM gradient (common random
//!    numbers). R_n(ε) = (1/n)Σ ρ(xᵢ, ε) with ρ(x, ε) = ε²a(x) + O(ε⁴), so
//!    R_n(ε) = ε² ā_n + O(ε⁴) and the slope is ≈ 2 whatever the draw; the
//!    Monte Carlo error in x only moves ā_n, not the rate.
//!
//! Two Monte Carlo checks tie this to the library and to the population:
//! the per-x mean of ∇_θJ agrees with ∇_θD_F by quadrature over the mixture,
//! and the library's `Cd` with one `Ula` step (Philox noise) agrees with the
//! Gauss–Hermite expectation of eq 16 on the same x at ε = 1 (25 independent
//! Langevin draws per block) — both within 5.5 standard errors per component,
//! from 40 independent blocks (with 337 components and the t₃₉ tails, a 5.5σ
//! excursion somewhere has probability ≈ 1e-3 for a new seed; the seeds here
//! are fixed). The same statistic flags a 5% error in ε (max z > 8), and
//! rejects the population gradient with the Hessian term's sign flipped
//! (max z > 20).

mod seed_common;

use ebm::estimators::samplers::Ula;
use ebm::estimators::{Cd, Estimator, StepCtx};
use ebm::prelude::*;
use ebm::Mlp;
use seed_common::*;

const N: usize = 4000;
const BLOCKS: usize = 40;
/// Independent Langevin draws per block in the library check.
const REPEATS: usize = 25;

struct Setup {
    model: Mlp<f64>,
    x: Vec<f64>,
    nodes: Vec<([f64; 2], f64)>,
}

fn setup() -> Setup {
    let (w, m, c) = bimodal();
    let (z, wz) = gauss_hermite(10);
    let mut nodes = Vec::new();
    for a in 0..z.len() {
        for b in 0..z.len() {
            nodes.push(([z[a], z[b]], wz[a] * wz[b]));
        }
    }
    Setup { model: scaled_mlp(2, &[16, 16], 7, 8.0), x: sample_mixture(&w, &m, &c, N, 2024), nodes }
}

/// (1/n) Σᵢ [E_z ∇_θE(x′ᵢ) − ∇_θE(xᵢ)] · scale, with E_z by Gauss–Hermite.
fn cd_expectation(s: &Setup, x: &[f64], eps: f64, scale: f64) -> Vec<f64> {
    let d = 2;
    let n = x.len() / d;
    let (mut e, mut score) = (vec![0.0; n], vec![0.0; n * d]);
    s.model.energy_score(x, &mut e, &mut score).unwrap();
    let h = 0.5 * eps * eps;
    let k = s.nodes.len();
    let mut rows = Vec::with_capacity((n * k + n) * d);
    let mut weights = Vec::with_capacity(n * k + n);
    for i in 0..n {
        for (z, wz) in &s.nodes {
            for j in 0..d {
                rows.push(x[i * d + j] + h * score[i * d + j] + eps * z[j]);
            }
            weights.push(wz * scale / n as f64);
        }
    }
    rows.extend_from_slice(x);
    weights.extend(std::iter::repeat_n(-scale / n as f64, n));
    let mut g = vec![0.0; s.model.num_params()];
    s.model.grad_params_energy(&rows, &weights, &mut g).unwrap();
    g
}

#[test]
fn cd_over_half_eps_squared_tends_to_minus_grad_fisher() {
    let s = setup();
    let p = s.model.num_params();
    let mut grad_j = vec![0.0; p];
    s.model.grad_params_sm(&s.x, &vec![1.0 / N as f64; N], &mut grad_j).unwrap();
    let scale = norm(&grad_j);
    let epss = [0.8, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125];
    let mut pts = Vec::new();
    println!("   ε       ‖g_CD/(ε²/2) + ∇D_F‖/‖∇D_F‖   local slope");
    let mut prev: Option<f64> = None;
    for &eps in &epss {
        let g = cd_expectation(&s, &s.x, eps, 1.0 / (0.5 * eps * eps));
        // g = (1/n)Σ[E_z∇_θE(x′) − ∇_θE(x)]/(ε²/2) = g_CD/(ε²/2) (eq 16), and
        // the limit of eq 21 is −∇_θD_F = −∇_θJ.
        let r: Vec<f64> = g.iter().zip(&grad_j).map(|(a, b)| a + b).collect();
        let rel = norm(&r) / scale;
        let slope = prev.map(|q: f64| (q / rel).ln() / 2f64.ln());
        match slope {
            Some(sl) => println!("{eps:8.4}   {rel:12.4e}                      {sl:6.3}"),
            None => println!("{eps:8.4}   {rel:12.4e}"),
        }
        prev = Some(rel);
        pts.push((eps.ln(), rel.ln()));
    }
    let slope = fit_slope(&pts);
    println!("fitted log-log slope of the residual against ε: {slope:.3} (O(ε⁴) before division ⇔ 2)");
    // The remainder after ε²/2 is O(ε⁴), not merely o(ε²) (odd powers of z
    // vanish in expectation): the slope is 2, where an O(ε³) remainder would
    // give 1 (docs/seed-errata.md).
    assert!((slope - 2.0).abs() < 0.1, "slope {slope}, want 2");
    let last = pts.last().unwrap().1.exp();
    assert!(last < 1e-3, "relative residual at the smallest ε: {last:e}");
    // The limit is approached, not met trivially: the residual falls by orders of magnitude.
    assert!(pts[0].1.exp() > 1e3 * last, "residuals {:e} at ε = 0.8 and {last:e} at ε = 0.0125", pts[0].1.exp());
}

#[test]
fn sample_sm_gradient_matches_the_population_fisher_gradient() {
    let s = setup();
    let p = s.model.num_params();
    let (w, m, c) = bimodal();
    let (pts, pw) = density_grid(&mixture_model(&w, &m, &c));
    let mut pop = vec![0.0; p];
    s.model.grad_params_sm(&pts, &pw, &mut pop).unwrap();
    let nb = N / BLOCKS;
    let blocks: Vec<Vec<f64>> = (0..BLOCKS)
        .map(|b| {
            let mut g = vec![0.0; p];
            s.model.grad_params_sm(&s.x[b * nb * 2..(b + 1) * nb * 2], &vec![1.0 / nb as f64; nb], &mut g).unwrap();
            g
        })
        .collect();
    let est = block_estimates(&blocks);
    let worst = (0..p).map(|k| est[k].z_score(pop[k])).fold(0.0, f64::max);
    println!("max |z| of the sample ∇_θJ against the quadrature ∇_θD_F over {p} components: {worst:.2}");
    assert!(worst < 5.5, "max z {worst}");
    // Power: the population gradient with the Hessian term's sign flipped,
    // 2∇_θE[½‖∇ₓE‖²] − ∇_θD_F (the first part is ∇_θ of gᵀ∇ₓE with
    // g = ∇ₓE held fixed), is rejected.
    let (mut e, mut sc) = (vec![0.0; pw.len()], vec![0.0; pts.len()]);
    s.model.energy_score(&pts, &mut e, &mut sc).unwrap();
    let grad_x: Vec<f64> = sc.iter().map(|v| -v).collect();
    let mut g_sq = vec![0.0; p];
    s.model.grad_params_v_dot_grad_x(&pts, &grad_x, &pw, &mut g_sq).unwrap();
    let wrong: Vec<f64> = g_sq.iter().zip(&pop).map(|(a, g)| 2.0 * a - g).collect();
    assert_rejects("∇_θD_F with +tr∇²E", &est, &wrong, 20.0);
}

#[test]
fn library_cd_with_one_ula_step_matches_eq_16() {
    let s = setup();
    let p = s.model.num_params();
    let eps = 1.0;
    let nb = N / BLOCKS;
    let mut cd = Cd::new(Ula::new(eps, 1));
    // Per block: the library's CD gradient (it descends E_data[∇E] − E_x′[∇E])
    // averaged over REPEATS independent Langevin draws, and the Gauss–Hermite
    // value of the same quantity, −cd_expectation, at ε and at 1.05ε (power).
    let mut right = Vec::new();
    let mut wrong = Vec::new();
    for b in 0..BLOCKS {
        let xb = &s.x[b * nb * 2..(b + 1) * nb * 2];
        let mut g = vec![0.0; p];
        for r in 0..REPEATS {
            cd.prepare(&s.model, xb, StepCtx::new(99, (b * REPEATS + r) as u64)).unwrap();
            let mut gr = vec![0.0; p];
            cd.loss_grad(&s.model, xb, &mut gr).unwrap();
            g.iter_mut().zip(&gr).for_each(|(a, v)| *a += v / REPEATS as f64);
        }
        let gh = cd_expectation(&s, xb, eps, 1.0);
        let gh_off = cd_expectation(&s, xb, 1.05 * eps, 1.0);
        right.push(g.iter().zip(&gh).map(|(a, v)| a + v).collect::<Vec<_>>());
        wrong.push(g.iter().zip(&gh_off).map(|(a, v)| a + v).collect::<Vec<_>>());
    }
    // b_out's gradient is 0 in both (∂E/∂b_out = 1), up to rounding: floor the error.
    let max_z = |blocks: &[Vec<f64>]| {
        let est = block_estimates(blocks);
        (0..p).map(|k| est[k].value.abs() / (est[k].std_err + 1e-12)).fold(0.0, f64::max)
    };
    let (z_right, z_wrong) = (max_z(&right), max_z(&wrong));
    println!("max |z| over {p} components of library CD − Gauss–Hermite eq 16: {z_right:.2} (with a 5% wrong ε: {z_wrong:.2})");
    assert!(z_right < 5.5, "max z {z_right}");
    assert!(z_wrong > 8.0, "a 5% error in ε must be detected (max z {z_wrong})");
}

/// The Gauss–Hermite rule integrates N(0, 1) moments exactly up to degree 19.
#[test]
fn gauss_hermite_rule_has_the_normal_moments() {
    let (z, w) = gauss_hermite(10);
    let mut double_fact = 1.0; // (k − 1)!! for even k
    for k in (0..20i32).step_by(2) {
        if k > 0 {
            double_fact *= (k - 1) as f64;
        }
        let even: f64 = z.iter().zip(&w).map(|(z, w)| w * z.powi(k)).sum();
        let odd: f64 = z.iter().zip(&w).map(|(z, w)| w * z.powi(k + 1)).sum();
        assert!((even - double_fact).abs() < 1e-10 * double_fact, "E z^{k} = {even} vs {double_fact}");
        assert!(odd.abs() < 1e-9 * double_fact.max(1.0), "E z^{} = {odd}", k + 1);
    }
}
