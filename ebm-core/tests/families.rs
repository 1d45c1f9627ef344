//! The four energy families of ebm-core (Gaussian, Gaussian mixture, ICA /
//! product of experts, Gaussian-Bernoulli RBM): every derivative against f64
//! finite differences on random shapes and parameters (including the
//! Hessian quadratic form vᵀ∇ₓ²E v and its parameter gradient), f32
//! against f64, closed forms and typed errors.
//!
//! Run with `cargo test -p ebm-core --release --test families`.

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::testing::{
    check_all_derivatives, check_v_hess_v, normal_vec, uniform_vec, F32Check, SumRef, Tolerance, FD_TOL,
};
use ebm_core::EbmError;
use proptest::prelude::*;

/// f32 arithmetic against f64 at the same (f32-rounded) inputs.
const F32_TOL: Tolerance = Tolerance::new(2e-4, 2e-4);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A batch x (uniform in [−2, 2]), directions v (standard normal) and
/// weights w (uniform in [−1, 2], so negative phases are covered too).
fn batch(seed: u64, b: usize, d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (uniform_vec(seed ^ 0xa1, b * d, -2.0, 2.0), normal_vec(seed ^ 0xb2, b * d), uniform_vec(seed ^ 0xc3, b, -1.0, 2.0))
}

/// Every derivative of `m` and its Hessian quadratic form against finite
/// differences at [`batch`]`(seed, b, d)`.
fn check_fd<M: Curvature<f64> + Clone>(m: &M, seed: u64, b: usize) {
    let (x, v, w) = batch(seed, b, m.dim());
    check_all_derivatives(m, &x, &v, &w, FD_TOL);
    check_v_hess_v(m, &x, &v, &w, FD_TOL);
}

/// `m32` (the f32 cast of `m`) against `m` at [`batch`]`(seed, b, d)`, on
/// every output and the Hessian quadratic form.
fn check_f32<A: Curvature<f32>, M: Curvature<f64>>(m32: &A, m: &M, seed: u64, b: usize) {
    let (x, v, w) = batch(seed, b, m.dim());
    let check = F32Check::new(&x, &v, &w, F32_TOL);
    check.outputs(m32, m);
    check.v_hess_v(m32, m);
}

/// `r` is the typed error of a θ of length `got` where `expected` belongs.
#[track_caller]
fn assert_param_len<M>(r: ebm_core::Result<M>, expected: usize, got: usize) {
    assert!(matches!(r, Err(EbmError::ParamLen { expected: e, got: g, .. }) if (e, g) == (expected, got)));
}

/// A well-conditioned packed lower triangle: |Lᵢᵢ| in [0.6, 1.4] with a
/// random sign, off-diagonal entries in ±0.4/√d.
fn chol(seed: u64, d: usize) -> Vec<f64> {
    let u = uniform_vec(seed, d * (d + 1) / 2, -1.0, 1.0);
    let mut l = Vec::with_capacity(u.len());
    let mut k = 0;
    for i in 0..d {
        for j in 0..=i {
            let t = u[k];
            k += 1;
            l.push(if i == j { t.signum() * (0.6 + 0.8 * t.abs()) } else { 0.4 * t / (d as f64).sqrt() });
        }
    }
    l
}

fn gaussian_params(seed: u64, d: usize) -> Vec<f64> {
    let mut p = uniform_vec(seed, d, -1.0, 1.0);
    p.extend(chol(seed ^ 0x77, d));
    p
}

/// A large batch (split into several parallel jobs) gives the same outputs
/// as the samples one at a time, and the parameter gradients equal the
/// weighted sums of single-sample gradients.
fn check_batched_matches_rows<E: Model<f64>>(m: &E, b: usize, seed: u64) {
    let d = m.dim();
    let p = m.num_params();
    let (x, v, w) = batch(seed, b, d);
    let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
    let mut e_only = vec![0.0; b];
    m.energy(&x, &mut e_only).unwrap();
    let mut q = vec![0.0; b];
    m.v_hess_v(&x, &v, &mut q).unwrap();
    let mut g = [vec![0.0; p], vec![0.0; p], vec![0.0; p], vec![0.0; p]];
    m.grad_params_energy(&x, &w, &mut g[0]).unwrap();
    m.grad_params_v_dot_grad_x(&x, &v, &w, &mut g[1]).unwrap();
    m.grad_params_sm(&x, &w, &mut g[2]).unwrap();
    m.grad_params_v_hess_v(&x, &v, &w, &mut g[3]).unwrap();
    let mut want = [SumRef::zeros(p), SumRef::zeros(p), SumRef::zeros(p), SumRef::zeros(p)];
    let (mut e1, mut s1, mut h1, mut g1, mut q1) = ([0.0], vec![0.0; d], vec![0.0; d], vec![0.0; p], [0.0]);
    let exact = Tolerance::new(1e-13, 1e-13);
    for n in 0..b {
        let (xr, vr, wr) = (&x[n * d..(n + 1) * d], &v[n * d..(n + 1) * d], &w[n..n + 1]);
        m.energy_score_hess_diag(xr, &mut e1, &mut s1, &mut h1).unwrap();
        exact.assert_all_close("energy row", &e1, &e[n..n + 1]);
        exact.assert_all_close("energy-only row", &e1, &e_only[n..n + 1]);
        exact.assert_all_close("score row", &s1, &s[n * d..(n + 1) * d]);
        exact.assert_all_close("hess_diag row", &h1, &h[n * d..(n + 1) * d]);
        m.grad_params_energy(xr, wr, &mut g1).unwrap();
        want[0].add(&g1);
        m.grad_params_v_dot_grad_x(xr, vr, wr, &mut g1).unwrap();
        want[1].add(&g1);
        m.grad_params_sm(xr, wr, &mut g1).unwrap();
        want[2].add(&g1);
        m.v_hess_v(xr, vr, &mut q1).unwrap();
        exact.assert_all_close("v_hess_v row", &q1, &q[n..n + 1]);
        m.grad_params_v_hess_v(xr, vr, wr, &mut g1).unwrap();
        want[3].add(&g1);
    }
    let tol = Tolerance::new(1e-13, 0.0);
    let names = ["grad_params_energy", "grad_params_v_dot_grad_x", "grad_params_sm", "grad_params_v_hess_v"];
    for (k, what) in names.iter().enumerate() {
        tol.assert_sum_close(&format!("{} batched {what}", m.name()), &g[k], &want[k]);
    }
}

// ---------------------------------------------------------------- Gaussian

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn gaussian_derivatives(d in 1usize..=8, b in 1usize..=9, seed in any::<u64>()) {
        check_fd(&Gaussian::new(d, gaussian_params(seed, d)).unwrap(), seed, b);
    }
}

#[test]
fn gaussian_f32_matches_f64() {
    for (d, b, seed) in [(1, 3, 1u64), (5, 9, 2), (8, 130, 3)] {
        let m = Gaussian::new(d, gaussian_params(seed, d)).unwrap();
        check_f32(&m.cast::<f32>(), &m, seed, b);
    }
}

#[test]
fn gaussian_batched_matches_rows() {
    let d = 16;
    check_batched_matches_rows(&Gaussian::new(d, gaussian_params(5, d)).unwrap(), 1500, 5);
}

/// Composite Simpson's rule for ∫ f on [a, b] with n (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for i in 1..n {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

#[test]
fn gaussian_log_z_matches_quadrature_in_1d() {
    for (mu, l) in [(0.0, 1.0), (0.7, 0.4), (-1.3, -2.5)] {
        let m = Gaussian::new(1, vec![mu, l]).unwrap();
        let e = |t: f64| {
            let mut out = [0.0];
            m.energy(&[t], &mut out).unwrap();
            (-out[0]).exp()
        };
        let sd = 1.0 / f64::abs(l);
        let z = simpson(e, mu - 12.0 * sd, mu + 12.0 * sd, 2000);
        let lz = m.log_z();
        assert!((z.ln() - lz).abs() < 1e-9, "1d: quadrature log Z {} vs closed form {lz}", z.ln());
    }
}

#[test]
fn gaussian_log_z_matches_quadrature_in_2d() {
    // Correlated precision [[2.0, 0.6], [0.6, 0.5]].
    let m = Gaussian::from_mean_precision(&[0.3, -0.5], &[2.0, 0.6, 0.6, 0.5]).unwrap();
    let row = |s: f64| {
        simpson(
            |t| {
                let mut out = [0.0];
                m.energy(&[s, t], &mut out).unwrap();
                (-out[0]).exp()
            },
            -16.0,
            16.0,
            800,
        )
    };
    let z = simpson(row, -12.0, 12.0, 800);
    let lz = m.log_z();
    assert!((z.ln() - lz).abs() < 1e-7, "2d: quadrature log Z {} vs closed form {lz}", z.ln());
    // log Z = log 2π − ½ log det P, det P = 1 − 0.36.
    let want = (2.0 * std::f64::consts::PI).ln() - 0.5 * (1.0f64 - 0.36).ln();
    assert!((lz - want).abs() < 1e-12);
}

#[test]
fn gaussian_from_mean_precision_round_trips() {
    let p = [4.0, 1.0, 0.5, 1.0, 3.0, -0.2, 0.5, -0.2, 2.0];
    let m = Gaussian::from_mean_precision(&[1.0, 2.0, 3.0], &p).unwrap();
    assert_eq!(m.mean(), &[1.0, 2.0, 3.0]);
    Tolerance::new(1e-14, 1e-14).assert_all_close("L Lᵀ", &m.precision(), &p);
    // The energy at μ + e₀ is ½ P₀₀.
    let mut e = [0.0f64];
    m.energy(&[2.0, 2.0, 3.0], &mut e).unwrap();
    assert!((e[0] - 2.0).abs() < 1e-14);
}

#[test]
fn gaussian_typed_errors() {
    assert_param_len(Gaussian::<f64>::new(3, vec![0.0; 8]), 9, 8);
    assert!(matches!(Gaussian::<f64>::new(0, vec![]), Err(EbmError::InvalidConfig(_))));
    // Indefinite and semi-definite precisions.
    for p in [[1.0, 2.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [-1.0, 0.0, 0.0, 1.0]] {
        match Gaussian::from_mean_precision(&[0.0, 0.0], &p) {
            Err(EbmError::InvalidConfig(msg)) => assert!(msg.contains("positive definite"), "{msg}"),
            other => panic!("expected a non-PD error for {p:?}, got {other:?}"),
        }
    }
    assert!(matches!(
        Gaussian::from_mean_precision(&[0.0, 0.0], &[1.0, 0.5, 0.0, 1.0]),
        Err(EbmError::InvalidConfig(_))
    ));
    assert!(matches!(
        Gaussian::from_mean_precision(&[0.0, 0.0], &[1.0, 0.0, 0.0]),
        Err(EbmError::DimMismatch { what: "precision", .. })
    ));
    let m = Gaussian::<f64>::init(2, 7).unwrap();
    let mut e = [0.0; 2];
    let mut s = [0.0; 3];
    assert!(matches!(
        m.energy_score(&[0.0; 4], &mut e, &mut s),
        Err(EbmError::DimMismatch { what: "score", expected: 4, got: 3 })
    ));
    assert!(matches!(m.energy(&[0.0; 3], &mut e), Err(EbmError::RaggedBatch { .. })));
    let mut g = vec![0.0; m.num_params()];
    assert!(matches!(
        m.grad_params_energy(&[0.0; 4], &[1.0], &mut g),
        Err(EbmError::DimMismatch { what: "weights", .. })
    ));
    assert!(matches!(
        m.grad_params_v_dot_grad_x(&[0.0; 4], &[0.0, f64::NAN, 0.0, 0.0], &[1.0, 1.0], &mut g),
        Err(EbmError::NonFinite { what: "v", row: 0, col: 1, .. })
    ));
}

// ---------------------------------------------------------- Gaussian mixture

fn mixture_params(seed: u64, d: usize, k: usize, cov: Covariance) -> Vec<f64> {
    let mut p = uniform_vec(seed, k, -1.0, 1.0);
    p.extend(uniform_vec(seed ^ 0x11, k * d, -1.5, 1.5));
    for c in 0..k as u64 {
        match cov {
            Covariance::Full => p.extend(chol(seed ^ (0x100 + c), d)),
            Covariance::Diagonal => p.extend(uniform_vec(seed ^ (0x200 + c), d, -0.5, 0.5)),
        }
    }
    p
}

fn mixture(seed: u64, d: usize, k: usize, cov: Covariance) -> GaussianMixture<f64> {
    GaussianMixture::new(d, k, cov, mixture_params(seed, d, k, cov)).unwrap()
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn mixture_full_derivatives(d in 1usize..=8, k in 1usize..=4, b in 1usize..=9, seed in any::<u64>()) {
        check_fd(&mixture(seed, d, k, Covariance::Full), seed, b);
    }

    #[test]
    fn mixture_diagonal_derivatives(d in 1usize..=8, k in 1usize..=4, b in 1usize..=9, seed in any::<u64>()) {
        check_fd(&mixture(seed, d, k, Covariance::Diagonal), seed, b);
    }
}

#[test]
fn mixture_f32_matches_f64() {
    for cov in [Covariance::Full, Covariance::Diagonal] {
        for (d, k, b, seed) in [(1, 1, 3, 1u64), (4, 3, 9, 2), (8, 4, 70, 3)] {
            let m = mixture(seed, d, k, cov);
            check_f32(&m.cast::<f32>(), &m, seed, b);
        }
    }
}

#[test]
fn mixture_batched_matches_rows() {
    check_batched_matches_rows(&mixture(9, 6, 3, Covariance::Full), 700, 9);
    check_batched_matches_rows(&mixture(10, 12, 4, Covariance::Diagonal), 700, 10);
}

/// With one component, the mixture is the normalised Gaussian:
/// E_gmm = E_gauss + log Z, with the same score and Hessian diagonal; with
/// diagonal precision, Lᵢᵢ = exp(log_lᵢ).
#[test]
fn mixture_with_one_component_is_the_normalised_gaussian() {
    for d in [1usize, 3, 7] {
        let gp = gaussian_params(d as u64, d);
        let g = Gaussian::new(d, gp.clone()).unwrap();
        let mut mp = vec![0.37];
        mp.extend_from_slice(&gp);
        let full = GaussianMixture::new(d, 1, Covariance::Full, mp).unwrap();
        let log_l = uniform_vec(d as u64 ^ 5, d, -0.7, 0.7);
        let mut gd = gp[..d].to_vec();
        for i in 0..d {
            for j in 0..=i {
                gd.push(if i == j { log_l[i].exp() } else { 0.0 });
            }
        }
        let gdiag = Gaussian::new(d, gd).unwrap();
        let mut mp = vec![-1.2];
        mp.extend_from_slice(&gp[..d]);
        mp.extend_from_slice(&log_l);
        let diag = GaussianMixture::new(d, 1, Covariance::Diagonal, mp).unwrap();
        let b = 5;
        let (x, _, _) = batch(d as u64, b, d);
        for (gauss, mix) in [(&g, &full), (&gdiag, &diag)] {
            let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
            let (mut e2, mut s2, mut h2) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
            gauss.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
            mix.energy_score_hess_diag(&x, &mut e2, &mut s2, &mut h2).unwrap();
            let lz = gauss.log_z();
            let shifted: Vec<f64> = e.iter().map(|v| v + lz).collect();
            let tol = Tolerance::new(1e-12, 1e-12);
            tol.assert_all_close("E_gmm vs E_gauss + log Z", &e2, &shifted);
            tol.assert_all_close("score", &s2, &s);
            tol.assert_all_close("hess_diag", &h2, &h);
        }
    }
}

/// `from_moments` against the closed form −log Σₖ πₖ N(x; μₖ, Σₖ) with
/// N(x; μ, Σ) = (2π)^(−d/2) |Σ|^(−1/2) exp(−½ rᵀΣ⁻¹r), written here
/// independently for d = 2 (explicit 2×2 inverse and determinant); and its
/// typed errors.
#[test]
fn mixture_from_moments_is_the_closed_form_density() {
    let weights = [0.3f64, 0.5, 0.2];
    let means = [0.0, 1.0, -2.0, 0.5, 1.5, -1.0];
    let covs = [1.0, 0.3, 0.3, 0.5, 2.0, -0.4, -0.4, 0.8, 0.25, 0.0, 0.0, 1.5];
    let m = GaussianMixture::from_moments(&weights, &means, &covs).unwrap();
    let x = [0.2, -0.1, -1.7, 0.9, 3.0, -2.5];
    let mut e = vec![0.0; 3];
    m.energy(&x, &mut e).unwrap();
    for (b, row) in x.chunks(2).enumerate() {
        let p: f64 = (0..3)
            .map(|k| {
                let c = &covs[4 * k..4 * k + 4];
                let det = c[0] * c[3] - c[1] * c[2];
                let (r0, r1) = (row[0] - means[2 * k], row[1] - means[2 * k + 1]);
                let q = (c[3] * r0 * r0 - 2.0 * c[1] * r0 * r1 + c[0] * r1 * r1) / det;
                weights[k] * (-0.5 * q).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
            })
            .sum();
        assert!((e[b] + p.ln()).abs() < 1e-12, "row {b}: E = {}, −log p = {}", e[b], -p.ln());
    }
    let bad_cov = [1.0, 2.0, 2.0, 1.0];
    assert!(matches!(GaussianMixture::from_moments(&[1.0], &[0.0, 0.0], &bad_cov), Err(EbmError::InvalidConfig(_))));
    assert!(matches!(GaussianMixture::from_moments(&[0.0], &[0.0, 0.0], &covs[..4]), Err(EbmError::InvalidConfig(_))));
    assert!(matches!(GaussianMixture::<f64>::from_moments(&[], &[], &[]), Err(EbmError::InvalidConfig(_))));
    assert!(matches!(
        GaussianMixture::from_moments(&[1.0], &[0.0, 0.0], &covs[..3]),
        Err(EbmError::DimMismatch { .. })
    ));
}

/// Two far-apart components: the energy far from both stays finite and
/// matches the closed form of the nearer one (the log-sum-exp is stable).
#[test]
fn mixture_log_sum_exp_is_stable_far_away() {
    let m = GaussianMixture::new(1, 2, Covariance::Diagonal, vec![0.0, 0.0, -50.0, 50.0, 0.0, 0.0]).unwrap();
    let (mut e, mut s, mut h) = ([0.0f64; 1], [0.0; 1], [0.0; 1]);
    m.energy_score_hess_diag(&[60.0], &mut e, &mut s, &mut h).unwrap();
    let want = 0.5 * 100.0 + 0.5 * (2.0 * std::f64::consts::PI).ln() + 2f64.ln();
    assert!((e[0] - want).abs() < 1e-12, "{} vs {want}", e[0]);
    assert!((s[0] + 10.0).abs() < 1e-12 && (h[0] - 1.0).abs() < 1e-12);
    // f32, one full component far from its mean: the Hessian diagonal is
    // the precision's diagonal, with no cancellation between γ-moments.
    let g = Gaussian::new(2, vec![0.5, -0.5, 1.3, 0.4, 0.9]).unwrap();
    let mut p = vec![0.0];
    p.extend_from_slice(g.params());
    let m32 = GaussianMixture::new(2, 1, Covariance::Full, p).unwrap().cast::<f32>();
    let (mut e, mut s, mut h) = ([0f32; 1], [0f32; 2], [0f32; 2]);
    m32.energy_score_hess_diag(&[300.0, -250.0], &mut e, &mut s, &mut h).unwrap();
    let prec = g.precision();
    Tolerance::new(1e-6, 1e-6).assert_all_close("f32 hess_diag far away", &h, &[prec[0], prec[3]]);
}

#[test]
fn mixture_typed_errors() {
    assert_param_len(GaussianMixture::<f64>::new(2, 2, Covariance::Full, vec![0.0; 11]), 12, 11);
    assert_param_len(GaussianMixture::<f64>::new(2, 2, Covariance::Diagonal, vec![0.0; 12]), 10, 12);
    assert!(matches!(GaussianMixture::<f64>::new(2, 0, Covariance::Full, vec![]), Err(EbmError::InvalidConfig(_))));
    let mut p = vec![0.0; 10];
    p[3] = f64::NAN;
    assert!(matches!(
        GaussianMixture::<f64>::new(2, 2, Covariance::Diagonal, p),
        Err(EbmError::NonFinite { what: "params", .. })
    ));
    let m = GaussianMixture::<f64>::init(2, 3, Covariance::Full, 1).unwrap();
    let mut g = vec![0.0; m.num_params() + 1];
    assert!(matches!(
        m.grad_params_sm(&[0.0; 4], &[1.0, 1.0], &mut g),
        Err(EbmError::DimMismatch { what: "grad", .. })
    ));
    let mut e = [0.0; 1];
    assert!(matches!(m.energy(&[f64::INFINITY, 0.0], &mut e), Err(EbmError::NonFinite { what: "x", .. })));
}

// ------------------------------------------------ ICA / product of experts

const SOURCES: [Source; 3] = [Source::LogCosh, Source::Logistic, Source::StudentT];

/// W uniform in ±1.5/√d (projections of order 1–3 on the test batches), and
/// α in [0.5, 2.5] for Student-t.
fn ica(seed: u64, d: usize, k: usize, source: Source) -> Ica<f64> {
    let mut p = uniform_vec(seed, k * d, -1.5, 1.5);
    p.iter_mut().for_each(|w| *w /= (d as f64).sqrt());
    if source == Source::StudentT {
        p.extend(uniform_vec(seed ^ 0x33, k, 0.5, 2.5));
    }
    Ica::new(d, k, source, p).unwrap()
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn ica_derivatives(d in 1usize..=8, k in 1usize..=4, b in 1usize..=9, src in 0usize..3, seed in any::<u64>()) {
        check_fd(&ica(seed, d, k, SOURCES[src]), seed, b);
    }
}

/// Every source on a fixed grid of shapes, so no source depends on the
/// proptest draw for coverage (including K > d and K < d).
#[test]
fn ica_derivatives_every_source() {
    for source in SOURCES {
        for (d, k, b, seed) in [(1, 1, 1, 1u64), (2, 5, 4, 2), (6, 3, 9, 3), (8, 4, 7, 4)] {
            check_fd(&ica(seed, d, k, source), seed, b);
        }
    }
}

#[test]
fn ica_f32_matches_f64() {
    for source in SOURCES {
        for (d, k, b, seed) in [(1, 1, 3, 1u64), (4, 7, 9, 2), (8, 4, 150, 3)] {
            let m = ica(seed, d, k, source);
            check_f32(&m.cast::<f32>(), &m, seed, b);
        }
    }
}

#[test]
fn ica_batched_matches_rows() {
    for (i, source) in SOURCES.into_iter().enumerate() {
        check_batched_matches_rows(&ica(20 + i as u64, 24, 16, source), 400, 20 + i as u64);
    }
}

/// The sources against their definitions at a few points, including far
/// tails where a naive log(cosh s) overflows.
#[test]
fn ica_sources_match_their_definitions() {
    let w = vec![1.0];
    for (s, lc) in [(0.3f64, 0.3f64.cosh().ln()), (-2.0, 2.0f64.cosh().ln()), (800.0, 800.0 - 2f64.ln())] {
        let mut e = [0.0];
        Ica::new(1, 1, Source::LogCosh, w.clone()).unwrap().energy(&[s], &mut e).unwrap();
        assert!((e[0] - lc).abs() <= 1e-12 * lc.abs().max(1.0), "logcosh({s}) = {} vs {lc}", e[0]);
        // Logistic: g(s) = −log σ(s) − log σ(−s) = −log p(s) of the standard logistic.
        Ica::new(1, 1, Source::Logistic, w.clone()).unwrap().energy(&[s], &mut e).unwrap();
        let sp = |t: f64| t.max(0.0) + (-t.abs()).exp().ln_1p();
        let want = sp(s) + sp(-s) - 2.0 * 2f64.ln();
        assert!((e[0] - want).abs() <= 1e-12 * want.abs().max(1.0), "logistic({s}) = {} vs {want}", e[0]);
        Ica::new(1, 1, Source::StudentT, vec![1.0, 1.7]).unwrap().energy(&[s], &mut e).unwrap();
        let want = 1.7 * (1.0 + 0.5 * s * s).ln();
        assert!((e[0] - want).abs() <= 1e-12 * want.abs().max(1.0));
    }
}

#[test]
fn ica_typed_errors() {
    assert_param_len(Ica::<f64>::new(3, 2, Source::StudentT, vec![0.0; 6]), 8, 6);
    assert_param_len(Ica::<f64>::new(3, 2, Source::LogCosh, vec![0.0; 8]), 6, 8);
    assert!(matches!(Ica::<f64>::new(0, 2, Source::LogCosh, vec![]), Err(EbmError::InvalidConfig(_))));
    let m = Ica::<f64>::init(3, 4, Source::Logistic, 3).unwrap();
    let (mut e, mut s, mut h) = (vec![0.0; 2], vec![0.0; 6], vec![0.0; 5]);
    assert!(matches!(
        m.energy_score_hess_diag(&[0.0; 6], &mut e, &mut s, &mut h),
        Err(EbmError::DimMismatch { what: "hess_diag", expected: 6, got: 5 })
    ));
    let mut g = vec![0.0; m.num_params()];
    assert!(matches!(m.grad_params_energy(&[], &[], &mut g), Err(EbmError::EmptyBatch { .. })));
    assert!(matches!(
        m.grad_params_energy(&[0.0; 6], &[1.0, f64::NAN], &mut g),
        Err(EbmError::NonFinite { what: "weights", row: 1, .. })
    ));
}

// ------------------------------------------------ Gaussian-Bernoulli RBM

/// b, c in [−1, 1], W in ±1.5/√d, log σ in [−0.5, 0.5].
fn rbm_params(seed: u64, d: usize, h: usize) -> Vec<f64> {
    let mut p = uniform_vec(seed, d + h, -1.0, 1.0);
    let s = 1.5 / (d as f64).sqrt();
    p.extend(uniform_vec(seed ^ 0x44, h * d, -s, s));
    p.extend(uniform_vec(seed ^ 0x55, d, -0.5, 0.5));
    p
}

fn rbm(seed: u64, d: usize, h: usize) -> GaussBernoulliRbm<f64> {
    GaussBernoulliRbm::new(d, h, rbm_params(seed, d, h)).unwrap()
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn rbm_derivatives(d in 1usize..=8, h in 1usize..=8, b in 1usize..=9, seed in any::<u64>()) {
        check_fd(&rbm(seed, d, h), seed, b);
    }
}

#[test]
fn rbm_f32_matches_f64() {
    for (d, h, b, seed) in [(1, 1, 3, 1u64), (4, 7, 9, 2), (8, 8, 150, 3)] {
        let m = rbm(seed, d, h);
        check_f32(&m.cast::<f32>(), &m, seed, b);
    }
}

#[test]
fn rbm_batched_matches_rows() {
    check_batched_matches_rows(&rbm(30, 20, 24), 400, 30);
}

/// The free energy against the explicit sum over all 2^H hidden states:
/// exp(−F(x)) = Σ_h exp(−E(x, h)) with
/// E(x, h) = Σᵢ(xᵢ−bᵢ)²/(2σᵢ²) − cᵀh − Σⱼᵢ hⱼ Wⱼᵢ xᵢ/σᵢ².
#[test]
fn rbm_free_energy_sums_out_the_hidden_units() {
    let (d, hd) = (3, 4);
    let m = rbm(77, d, hd);
    let p = rbm_params(77, d, hd);
    let (b, c, w, ls) = (&p[..d], &p[d..d + hd], &p[d + hd..d + hd + hd * d], &p[d + hd + hd * d..]);
    let (x, _, _) = batch(77, 4, d);
    let mut f = vec![0.0; 4];
    m.energy(&x, &mut f).unwrap();
    for n in 0..4 {
        let xr = &x[n * d..(n + 1) * d];
        let rho: Vec<f64> = ls.iter().map(|l| (-2.0 * l).exp()).collect();
        let quad: f64 = (0..d).map(|i| 0.5 * rho[i] * (xr[i] - b[i]).powi(2)).sum();
        let z: f64 = (0..1u32 << hd)
            .map(|mask| {
                let mut e = quad;
                for j in 0..hd {
                    if mask >> j & 1 == 1 {
                        e -= c[j] + (0..d).map(|i| w[j * d + i] * xr[i] * rho[i]).sum::<f64>();
                    }
                }
                (-e).exp()
            })
            .sum();
        assert!((f[n] + z.ln()).abs() < 1e-12, "F = {} vs −log Σ_h = {}", f[n], -z.ln());
    }
}

#[test]
fn rbm_typed_errors() {
    assert_param_len(GaussBernoulliRbm::<f64>::new(3, 2, vec![0.0; 13]), 14, 13);
    assert!(matches!(GaussBernoulliRbm::<f64>::new(3, 0, vec![0.0; 6]), Err(EbmError::InvalidConfig(_))));
    let m = GaussBernoulliRbm::<f64>::init(3, 2, 9).unwrap();
    assert_eq!(m.num_params(), 14);
    let mut g = vec![0.0; 14];
    assert!(matches!(
        m.grad_params_v_dot_grad_x(&[0.0; 6], &[0.0; 3], &[1.0, 1.0], &mut g),
        Err(EbmError::DimMismatch { what: "v", expected: 6, got: 3 })
    ));
    let mut e = [0.0; 2];
    assert!(matches!(m.energy(&[0.0; 7], &mut e), Err(EbmError::RaggedBatch { len: 7, dim: 3, .. })));
}
