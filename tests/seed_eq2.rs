//! Seed eq 2: the log-likelihood gradient ∇_θ log p_θ(x) = −∇_θE_θ(x) − ∇_θ log Z_θ
//! with
//!
//! ∇_θ log Z_θ = (1/Z) ∫ ∇_θ exp(−E_θ) dx = −E_{p_θ}[∇_θE_θ(x̃)]   (the negative phase).
//!
//! Checked three ways:
//!
//! 1. a correlated 3-d Gaussian, whose log Z = (d/2) log 2π − Σ log Lᵢᵢ gives
//!    ∇_μ log Z = 0, ∇_{Lᵢⱼ} log Z = −δᵢⱼ/Lᵢᵢ (cross-checked by central differences of
//!    `Gaussian::log_z`), against Monte Carlo over exact samples;
//! 2. a Gaussian mixture, normalised for every θ (log Z ≡ 0), so E_{p_θ}[∇_θE] = 0
//!    for every parameter, logits included;
//! 3. a 2-d MLP energy with no closed form: central differences of log Z by
//!    adaptive quadrature against E_{p_θ}[∇_θE] by quadrature.
//!
//! Monte Carlo error bars come from 40 independent blocks of exact samples (the
//! block means are i.i.d., so their standard error is exact up to the t-factor);
//! each check allows 5 standard errors per component. Each Monte Carlo check is
//! paired with a power check that the same statistic rejects a wrong answer (the
//! flipped sign, a wrong sampling law) by a wide margin.

mod seed_common;

use ebm::estimators::metrics::{log_z_quadrature, QuadratureOptions};
use ebm::prelude::*;
use ebm::{Activation, Gaussian, Mlp};
use seed_common::*;

const BLOCKS: usize = 40;

/// Block means of Σ_b (1/n) ∇_θE(x_b) over exact samples from `sample(block)`.
fn grad_energy_blocks(model: &dyn Model<f64>, n: usize, sample: impl Fn(u64) -> Vec<f64>) -> Vec<Vec<f64>> {
    (0..BLOCKS as u64)
        .map(|b| {
            let x = sample(b);
            let mut g = vec![0.0; model.num_params()];
            model.grad_params_energy(&x, &vec![1.0 / n as f64; n], &mut g).unwrap();
            g
        })
        .collect()
}

#[test]
fn gaussian_grad_log_z_is_minus_the_expected_grad_energy() {
    let d = 3;
    let mean = [0.5, -1.0, 2.0];
    let prec = [2.0, 0.6, -0.3, 0.6, 1.5, 0.4, -0.3, 0.4, 0.9];
    let mut g = Gaussian::from_mean_precision(&mean, &prec).unwrap();
    let theta = g.params().to_vec();
    let p = theta.len();
    let diag_idx: Vec<usize> = (0..d).map(|i| d + i * (i + 1) / 2 + i).collect();
    let mut closed = vec![0.0; p];
    for &k in &diag_idx {
        closed[k] = -1.0 / theta[k];
    }
    // The closed form against central differences of log Z itself.
    for k in 0..p {
        let h: f64 = 1e-6;
        let mut t = theta.clone();
        t[k] += h;
        g.set_params(&t).unwrap();
        let up = g.log_z();
        t[k] -= 2.0 * h;
        g.set_params(&t).unwrap();
        let down = g.log_z();
        assert!(((up - down) / (2.0 * h) - closed[k]).abs() < 1e-8, "∂ log Z/∂θ[{k}]");
    }
    g.set_params(&theta).unwrap();

    let n = 2000;
    let est = block_estimates(&grad_energy_blocks(&g, n, |b| sample_gaussian(&g, n, 17, b)));
    for k in 0..p {
        let z = est[k].z_score(-closed[k]);
        println!(
            "θ[{k}]: E[∇E] = {:+.5} ± {:.5}, −∇ log Z = {:+.5} (z {z:.2})",
            est[k].value, est[k].std_err, -closed[k]
        );
        assert!(z < 5.0, "θ[{k}]: E_p[∇_θE] = {:?} but −∇_θ log Z = {}", est[k], -closed[k]);
    }
    // Power: the other sign, ∇ log Z = +E[∇E], is rejected by a wide margin.
    for &k in &diag_idx {
        assert!(est[k].z_score(closed[k]) > 50.0, "the sign test has no power at θ[{k}]");
    }
}

#[test]
fn a_normalised_mixture_has_zero_expected_grad_energy() {
    let (w, m, c) = bimodal();
    let mix = mixture_model(&w, &m, &c);
    let n = 2000;
    let est = block_estimates(&grad_energy_blocks(&mix, n, |b| sample_mixture(&w, &m, &c, n, 100 + b)));
    for (k, e) in est.iter().enumerate() {
        assert!(e.z_score(0.0) < 5.0, "θ[{k}]: E_p[∇_θE] = {e:?}, but log Z ≡ 0");
    }
    // Power: samples from a mixture with other weights give a non-zero mean.
    let est = block_estimates(&grad_energy_blocks(&mix, n, |b| sample_mixture(&[0.4, 0.6], &m, &c, n, 100 + b)));
    let worst = est.iter().map(|e| e.z_score(0.0)).fold(0.0, f64::max);
    assert!(worst > 20.0, "a wrong sampling law must be detected (max z {worst})");
}

/// A 2-d MLP energy E(x) = Σⱼ aⱼ softplus(wⱼᵀx + bⱼ) + b_out with aⱼ > 0 and
/// directions wⱼ around the circle, so E grows linearly in every direction and
/// exp(−E) is integrable.
fn confining_mlp() -> Mlp<f64> {
    let h = 8;
    let mut u = vec![0.0; 3 * h];
    ebm::rng::fill_uniform(42, 0, 0, &mut u);
    let mut params = Vec::new();
    for j in 0..h {
        let phi = std::f64::consts::TAU * (j as f64 + 0.4 * u[j]) / h as f64;
        let r = 0.8 + 0.8 * u[h + j];
        params.extend_from_slice(&[r * phi.cos(), r * phi.sin()]);
    }
    params.extend((0..h).map(|j| 2.0 * u[2 * h + j] - 1.0));
    params.extend((0..h).map(|j| 0.5 + u[(j * 7) % (3 * h)]));
    params.push(0.3);
    Mlp::new(2, &[h], Activation::Softplus, params).unwrap()
}

#[test]
fn mlp_grad_log_z_by_quadrature_is_minus_the_expected_grad_energy() {
    let mut mlp = confining_mlp();
    let opts = QuadratureOptions { rel_tol: 1e-12, ..Default::default() };
    let q = log_z_quadrature(&mlp, &opts).unwrap();
    assert!(q.converged && q.err_bound < 1e-10, "{q:?}");
    let (pts, w) = q.density_weights(&mlp).unwrap();
    let p = mlp.num_params();
    let mut expected = vec![0.0; p];
    mlp.grad_params_energy(&pts, &w, &mut expected).unwrap();
    let theta = mlp.params().to_vec();
    let h = 1e-5;
    let mut worst = 0.0f64;
    for k in 0..p {
        let mut t = theta.clone();
        t[k] += h;
        mlp.set_params(&t).unwrap();
        let up = log_z_quadrature(&mlp, &opts).unwrap().log_z;
        t[k] -= 2.0 * h;
        mlp.set_params(&t).unwrap();
        let down = log_z_quadrature(&mlp, &opts).unwrap().log_z;
        let fd = (up - down) / (2.0 * h);
        worst = worst.max((fd + expected[k]).abs());
        assert!((fd + expected[k]).abs() < 1e-6, "θ[{k}]: ∇ log Z = {fd} but −E_p[∇E] = {}", -expected[k]);
    }
    mlp.set_params(&theta).unwrap();
    // ∂E/∂b_out = 1, so this entry is −1 exactly.
    assert!((expected[p - 1] - 1.0).abs() < 1e-10);
    println!(
        "MLP: log Z = {} (bound {:e}); max |∇ log Z + E_p[∇E]| = {worst:e} over {p} parameters",
        q.log_z, q.err_bound
    );
}
