//! The evaluation metrics against closed forms.
//!
//! - quadrature log Z of Gaussians (any mean, correlated precision, narrow
//!   and wide) and of a Gaussian mixture (log Z = 0), within the reported
//!   error bound; a non-normalisable energy is a typed error;
//! - AIS log Z of a 5-d Gaussian (HMC, geometric schedule) and of a bimodal
//!   2-d mixture (MALA, linear schedule) within 4 standard errors;
//! - KSD of a distribution against itself is 0 within 4 standard errors, and
//!   for N(0, I) samples against N(μ, I) equals ‖μ‖²(h²/(h² + 2))^{d/2} (RBF);
//! - MMD of two samples of one law: n·E[MMD²_V] is the closed-form constant,
//!   so MMD → 0 at rate n^{−1/2} (log-log slope fitted); between N(0, I) and
//!   N(μ, I) the U-statistic matches its closed form;
//! - Fisher divergence between Gaussians (seed eq 8) by Monte Carlo and by
//!   quadrature.
//!
//! Monte Carlo tolerances are 4 standard errors with fixed Philox seeds
//! (deterministic; a 4σ miss has probability 6e-5 for a new seed).

use ebm_core::testing::fit_slope;
use ebm_core::{Gaussian, GaussianMixture, Mlp};
use ebm_estimators::linalg::inverse_spd;
use ebm_estimators::metrics::{
    ais_log_z, fisher_divergence, fisher_divergence_weighted, ksd, log_likelihood, log_z_quadrature, mmd,
    sample_gaussian, AisOptions, BetaSchedule, Kernel, QuadratureOptions, Statistic, Transition,
};
use ebm_estimators::Dataset;

/// A full-covariance mixture model and exact samples of it.
fn mixture(weights: &[f64], means: &[f64], covs: &[f64], n: usize, seed: u64) -> (GaussianMixture<f64>, Vec<f64>) {
    let m = GaussianMixture::from_moments(weights, means, covs).unwrap();
    let x = if n > 0 {
        Dataset::<f64>::gaussian_mixture(weights, means, covs, n, seed).unwrap().as_slice().to_vec()
    } else {
        Vec::new()
    };
    (m, x)
}

fn bimodal() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (vec![0.3, 0.7], vec![-2.5, 0.5, 2.0, -1.0], vec![0.6, 0.2, 0.2, 0.4, 1.0, -0.3, -0.3, 0.5])
}

#[test]
fn quadrature_log_z_of_gaussians_matches_the_closed_form() {
    let cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
        (vec![0.7], vec![3.0]),
        (vec![-4.0], vec![1e-3]), // σ ≈ 32: the box must grow
        (vec![20.0], vec![25.0]), // σ = 0.2, far from the initial box
        (vec![1.0, -2.0], vec![2.0, 0.9, 0.9, 0.8]),
        (vec![3.0, 0.5], vec![40.0, -5.0, -5.0, 2.0]),
    ];
    for (mean, prec) in cases {
        let g = Gaussian::from_mean_precision(&mean, &prec).unwrap();
        let q = log_z_quadrature(&g, &QuadratureOptions::default()).unwrap();
        let want = g.log_z();
        println!(
            "d={} mean {mean:?}: log Z {} vs {want}, bound {:e}, grid {:?} × {}",
            mean.len(),
            q.log_z,
            q.err_bound,
            q.grid.bounds(),
            q.grid.points_per_axis()
        );
        assert!(q.converged, "{q:?}");
        assert!(q.err_bound < 1e-8, "bound {:e}", q.err_bound);
        assert!((q.log_z - want).abs() <= q.err_bound + 1e-12, "log Z {} vs {want}, bound {:e}", q.log_z, q.err_bound);
    }
}

#[test]
fn quadrature_normalises_a_bimodal_mixture_and_its_density_weights_sum_to_one() {
    let (w, m, c) = bimodal();
    let (mix, _) = mixture(&w, &m, &c, 0, 0);
    let q = log_z_quadrature(&mix, &QuadratureOptions::default()).unwrap();
    assert!(q.log_z.abs() <= q.err_bound + 1e-12, "log Z {} (bound {:e})", q.log_z, q.err_bound);
    let (pts, pw) = q.density_weights(&mix).unwrap();
    let total: f64 = pw.iter().sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    // The mixture mean Σ πₖ μₖ.
    let mean0: f64 = pts.chunks(2).zip(&pw).map(|(x, w)| w * x[0]).sum();
    assert!((mean0 - (0.3 * -2.5 + 0.7 * 2.0)).abs() < 1e-9, "{mean0}");
}

#[test]
fn quadrature_refuses_a_non_normalisable_energy_and_three_dimensions() {
    // E(x) = −softplus(x): exp(−E) grows like eˣ.
    let mlp = Mlp::new(1, &[1], ebm_core::Activation::Softplus, vec![1.0, 0.0, -1.0, 0.0]).unwrap();
    let err = log_z_quadrature(&mlp, &QuadratureOptions::default()).unwrap_err();
    assert!(err.to_string().contains("normalisable"), "{err}");
    let g3 = Gaussian::<f64>::init(3, 1).unwrap();
    assert!(log_z_quadrature(&g3, &QuadratureOptions::default()).is_err());
}

/// The mean log-likelihood of exact samples is −H = −(d/2)(1 + log 2π) + ½ log det P.
#[test]
fn log_likelihood_of_exact_samples_is_minus_the_entropy() {
    let prec = [2.0, 0.9, 0.9, 0.8];
    let g = Gaussian::from_mean_precision(&[1.0, -2.0], &prec).unwrap();
    let q = log_z_quadrature(&g, &QuadratureOptions::default()).unwrap();
    let x = sample_gaussian(&g, 20_000, 11, 0);
    let ll = log_likelihood(&g, &x, q.log_z).unwrap();
    let det = prec[0] * prec[3] - prec[1] * prec[2];
    let want = -(1.0 + (2.0 * std::f64::consts::PI).ln()) + 0.5 * f64::ln(det);
    assert!(ll.z_score(want) < 4.0, "{ll:?} vs {want}");
}

#[test]
fn ais_log_z_of_a_correlated_gaussian_matches_the_closed_form() {
    let d = 5;
    let mut prec = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            prec[i * d + j] = if i == j { 1.5 + 0.5 * i as f64 } else { 0.3 / (1 + i.abs_diff(j)) as f64 };
        }
    }
    let mean: Vec<f64> = (0..d).map(|i| 0.5 * i as f64 - 1.0).collect();
    let target = Gaussian::from_mean_precision(&mean, &prec).unwrap();
    // Base N(0, 2² I), covering the target (means in [−1, 1], σ ≤ 0.8).
    let base = Gaussian::from_mean_precision(&vec![0.0; d], &diag(&vec![0.25; d])).unwrap();
    // The default 500 temperatures with one transition each.
    let opts = AisOptions {
        chains: 400,
        schedule: BetaSchedule::Geometric { beta_min: 1e-2 },
        transition: Transition::Hmc { eps: 0.4, leapfrog_steps: 5 },
        seed: 3,
        ..Default::default()
    };
    let est = ais_log_z(&target, &base, &opts).unwrap();
    let want = target.log_z();
    println!(
        "AIS d=5: {} ± {} (ESS {:.0}/{}, accept {:.2}) vs {want}",
        est.log_z, est.std_err, est.ess, opts.chains, est.accept_rate
    );
    assert!(est.std_err < 0.04 && est.std_err > 0.0, "{}", est.std_err);
    assert!((est.log_z - want).abs() < 4.0 * est.std_err, "{} ± {} vs {want}", est.log_z, est.std_err);
    // A single temperature is importance sampling from the base: far worse.
    let is =
        ais_log_z(&target, &base, &AisOptions { temperatures: 1, steps_per_temperature: 0, ..opts.clone() }).unwrap();
    assert!(is.ess < 0.1 * est.ess, "IS ESS {} vs AIS ESS {}", is.ess, est.ess);
}

#[test]
fn ais_with_mala_normalises_a_bimodal_mixture() {
    let (w, m, c) = bimodal();
    let (mix, _) = mixture(&w, &m, &c, 0, 0);
    let base = Gaussian::from_mean_precision(&[0.0, 0.0], &diag(&[1.0 / 9.0, 1.0 / 9.0])).unwrap();
    let opts = AisOptions {
        chains: 400,
        temperatures: 300,
        schedule: BetaSchedule::Linear,
        transition: Transition::Mala { eps: 0.5 },
        steps_per_temperature: 2,
        seed: 5,
    };
    let est = ais_log_z(&mix, &base, &opts).unwrap();
    println!("AIS mixture: {} ± {} (ESS {:.0}, accept {:.2})", est.log_z, est.std_err, est.ess, est.accept_rate);
    assert!(est.std_err < 0.05, "{}", est.std_err);
    assert!(est.log_z.abs() < 4.0 * est.std_err, "{} ± {}", est.log_z, est.std_err);
    assert!(est.accept_rate > 0.5, "{}", est.accept_rate);
}

fn diag(v: &[f64]) -> Vec<f64> {
    let d = v.len();
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        m[i * d + i] = v[i];
    }
    m
}

fn std_normal(d: usize) -> Gaussian<f64> {
    Gaussian::from_mean_precision(&vec![0.0; d], &diag(&vec![1.0; d])).unwrap()
}

#[test]
fn ksd_of_a_distribution_against_itself_is_zero() {
    let g = Gaussian::from_mean_precision(&[0.5, -1.0], &[1.5, 0.4, 0.4, 0.7]).unwrap();
    let x = sample_gaussian(&g, 1500, 21, 0);
    for k in [Kernel::imq_default(), Kernel::rbf(1.0)] {
        let u = ksd(&g, &x, k, Statistic::U).unwrap();
        let v = ksd(&g, &x, k, Statistic::V).unwrap();
        // A shifted model for power: the same samples, the score moved by 0.3.
        let shifted = Gaussian::from_mean_precision(&[0.8, -1.0], &[1.5, 0.4, 0.4, 0.7]).unwrap();
        let far = ksd(&shifted, &x, k, Statistic::U).unwrap();
        println!(
            "{k:?}: self U {:e} ± {:e}, V {:e}; shifted U {:e} ± {:e}",
            u.ksd2, u.std_err, v.ksd2, far.ksd2, far.std_err
        );
        assert!(u.ksd2.abs() < 4.0 * u.std_err, "self KSD² {} ± {}", u.ksd2, u.std_err);
        assert!(v.ksd2 > u.ksd2, "V ≥ U for a positive-definite kernel");
        assert!(far.ksd2 > 10.0 * u.std_err, "the shifted model must be detected: {far:?}");
    }
}

/// For samples of p = N(0, I) and the model q = N(μ, I), s_q − s_p = μ and
/// Stein's identity for p leave KSD² = ‖μ‖² E k(x, y) = ‖μ‖² (h²/(h² + 2))^{d/2}
/// for the RBF kernel (x − y ~ N(0, 2I)).
#[test]
fn ksd_rbf_between_gaussians_matches_the_closed_form() {
    let d = 3;
    let mu = [0.4, -0.2, 0.3];
    let h = 1.3;
    let p = std_normal(d);
    let q = Gaussian::from_mean_precision(&mu, &diag(&[1.0; 3])).unwrap();
    let x = sample_gaussian(&p, 2000, 4, 0);
    let est = ksd(&q, &x, Kernel::rbf(h), Statistic::U).unwrap();
    let want = mu.iter().map(|m| m * m).sum::<f64>() * (h * h / (h * h + 2.0)).powf(d as f64 / 2.0);
    println!("KSD² {} ± {} vs {want}", est.ksd2, est.std_err);
    assert!((est.ksd2 - want).abs() < 4.0 * est.std_err, "{est:?} vs {want}");
    assert!(est.std_err < 0.2 * want);
}

/// Two samples of N(0, I₂) of size n: E[MMD²_V] = (2/n)(1 − c), c = (h²/(h²+2))^{d/2}
/// (the diagonal terms), so MMD_V → 0 like n^{−1/2}.
#[test]
fn mmd_of_two_samples_of_one_law_vanishes_at_rate_inverse_sqrt_n() {
    let d = 2;
    let h: f64 = 1.0;
    let c = (h * h / (h * h + 2.0)).powf(d as f64 / 2.0);
    let p = std_normal(d);
    let reps = 6;
    let mut logs = Vec::new();
    for (i, n) in [200usize, 800, 3200].into_iter().enumerate() {
        let mut scaled = Vec::new();
        let mut mmd_mean = 0.0;
        for r in 0..reps {
            let x = sample_gaussian(&p, n, 100 + (i * reps + r) as u64, 0);
            let y = sample_gaussian(&p, n, 100 + (i * reps + r) as u64, 1);
            let e = mmd(&x, &y, d, Kernel::rbf(h), Statistic::V).unwrap();
            scaled.push(n as f64 * e.mmd2);
            mmd_mean += e.mmd() / reps as f64;
        }
        let s = ebm_estimators::metrics::Estimate::from_values(&scaled);
        println!(
            "n = {n}: n·MMD²_V = {} ± {} (expected {}), mean MMD_V {mmd_mean:.4}",
            s.value,
            s.std_err,
            2.0 * (1.0 - c)
        );
        assert!(s.z_score(2.0 * (1.0 - c)) < 4.0, "n = {n}: {s:?}");
        logs.push(((n as f64).ln(), mmd_mean.ln()));
    }
    let slope = fit_slope(&logs);
    println!("log-log slope of MMD_V against n: {slope:.3}");
    assert!((slope + 0.5).abs() < 0.1, "slope {slope}");
}

/// N(0, I) vs N(μ, I): MMD² = 2c(1 − exp(−‖μ‖²/(2(h² + 2)))).
#[test]
fn mmd_between_shifted_gaussians_matches_the_closed_form() {
    let d = 2;
    let h: f64 = 1.5;
    let mu: [f64; 2] = [0.6, -0.3];
    let c = (h * h / (h * h + 2.0)).powf(d as f64 / 2.0);
    let want = 2.0 * c * (1.0 - (-(mu[0] * mu[0] + mu[1] * mu[1]) / (2.0 * (h * h + 2.0))).exp());
    let x = sample_gaussian(&std_normal(d), 2000, 8, 0);
    let q = Gaussian::from_mean_precision(&mu, &diag(&[1.0, 1.0])).unwrap();
    let y = sample_gaussian(&q, 1500, 8, 1);
    let e = mmd(&x, &y, d, Kernel::rbf(h), Statistic::U).unwrap();
    println!("MMD²_U {} ± {} vs {want}", e.mmd2, e.std_err);
    assert!((e.mmd2 - want).abs() < 4.0 * e.std_err, "{e:?} vs {want}");
    assert!(e.std_err < 0.25 * want);
}

/// Seed eq 8 for Gaussians: with r = x − m ~ N(0, S),
/// s_data − s_θ = −S⁻¹r + P(r + m − μ), so
/// D_F = ½[tr((P − S⁻¹) S (P − S⁻¹)) + ‖P(m − μ)‖²].
#[test]
fn fisher_divergence_between_gaussians_matches_the_closed_form() {
    let (m, s) = (vec![1.0, -0.5], vec![1.2, 0.3, 0.3, 0.6]);
    let (mu, p) = (vec![0.7, 0.0], vec![1.5, -0.2, -0.2, 1.1]);
    let si = inverse_spd(&s, 2).unwrap();
    let data = Gaussian::from_mean_precision(&m, &si).unwrap();
    let model = Gaussian::from_mean_precision(&mu, &p).unwrap();
    let want = fisher_gauss(&m, &s, &mu, &p);
    let x = sample_gaussian(&data, 20_000, 9, 0);
    let mc = fisher_divergence(&data, &model, &x).unwrap();
    println!("D_F MC {} ± {} vs {want}", mc.value, mc.std_err);
    assert!(mc.z_score(want) < 4.0, "{mc:?} vs {want}");
    let q = log_z_quadrature(&data, &QuadratureOptions::default()).unwrap();
    let (pts, w) = q.density_weights(&data).unwrap();
    let quad = fisher_divergence_weighted(&data, &model, &pts, &w).unwrap();
    assert!((quad - want).abs() < 1e-8 * want.max(1.0), "{quad} vs {want}");
}

/// ½[tr((P − S⁻¹) S (P − S⁻¹)) + ‖P(m − μ)‖²] for 2×2 matrices.
fn fisher_gauss(m: &[f64], s: &[f64], mu: &[f64], p: &[f64]) -> f64 {
    let si = inverse_spd(s, 2).unwrap();
    let a: Vec<f64> = (0..4).map(|i| p[i] - si[i]).collect();
    let mul = |x: &[f64], y: &[f64]| -> Vec<f64> {
        (0..4).map(|k| (0..2).map(|t| x[(k / 2) * 2 + t] * y[t * 2 + k % 2]).sum()).collect()
    };
    let asa = mul(&mul(&a, s), &a);
    let dm = [m[0] - mu[0], m[1] - mu[1]];
    let pd = [p[0] * dm[0] + p[1] * dm[1], p[2] * dm[0] + p[3] * dm[1]];
    0.5 * (asa[0] + asa[3] + pd[0] * pd[0] + pd[1] * pd[1])
}
