//! Multi-level DSM (NCSN weighting, `ebm_estimators::dsm`): the weight of
//! every row is λ(σ) = σ² of the level that row was noised at, the levels are
//! drawn uniformly, and the closed-form fixed point on Gaussian data is a
//! stationary point of the estimator's expected gradient.

mod common;

use common::stats::{binomial_z, mean_se};
use ebm_core::gaussian::Gaussian;
use ebm_core::prelude::*;
use ebm_estimators::linalg::inverse_spd;
use ebm_estimators::*;

const D: usize = 2;

fn data() -> Dataset<f64> {
    Dataset::<f64>::gaussian(&[1.0, -0.5], &[1.2, 0.4, 0.4, 0.7], 2000, 8).unwrap()
}

/// Each row's level is read off its own noise, independently of how it was
/// drawn: x̃ − x = σz and the target is z/σ, so (x̃ − x)ᵢ / targetᵢ = σ². The
/// weight must be that σ² (halved for antithetic pairs), σ² must be one of
/// the levels', and each level must hold a Binomial(B, 1/K) share of rows.
#[test]
fn every_row_is_weighted_by_its_own_sigma_squared() {
    let x = data().as_slice().to_vec();
    let b = x.len() / D;
    for antithetic in [false, true] {
        let mut est = Dsm::<f64>::geometric(3.0, 0.3, 4);
        if antithetic {
            est = est.with_antithetic();
        }
        let sigmas = est.sigmas().to_vec();
        let st = est.draw(D, &x, StepCtx::new(4, 2)).unwrap();
        let copies = if antithetic { 2 } else { 1 };
        assert_eq!(st.weight.len(), copies * b);
        let mut count = vec![0usize; sigmas.len()];
        for (r, &w) in st.weight.iter().enumerate() {
            let k = (r % b) * D;
            let s2 = (st.noisy[r * D] - x[k]) / st.target[r * D];
            let level = sigmas.iter().position(|s| (s * s - s2).abs() < 1e-9 * s2).unwrap_or_else(|| {
                panic!("row {r}: noise variance {s2} is no level's σ² ({sigmas:?})");
            });
            let want = sigmas[level].powi(2) / copies as f64;
            assert!((w - want).abs() < 1e-12 * want, "row {r}: weight {w}, σ²/{copies} = {want}");
            if r < b {
                count[level] += 1;
            }
        }
        for (level, &c) in count.iter().enumerate() {
            let z = binomial_z(c, b, 1.0 / sigmas.len() as f64);
            assert!(z < 5.0, "level {level} holds {c} of {b} rows ({z:.1} sd from uniform)");
        }
        eprintln!("antithetic {antithetic}: rows per level {count:?}");
    }
}

/// The stationary point of multi-level DSM for a Gaussian model on data with
/// mean m and (1/n) covariance C, levels σₗ drawn uniformly with weights λₗ:
/// the expected loss over z and the levels is, with r = −P(x − μ) − σPz + z/σ,
///
/// f(μ, P) = Σₗ λₗ [½ tr(P² (C + (m − μ)(m − μ)ᵀ)) + ½ tr((I/σₗ − σₗP)²)] / K,
///
/// so μ* = m and ∂f/∂P = W·½(PC + CP) − W I + S₂ P = 0 with W = Σλₗ,
/// S₂ = Σλₗσₗ², solved by P* = (C + σ²_eff I)⁻¹ with σ²_eff = S₂/W
/// (P* commutes with C). For λ = σ²: σ²_eff = Σσ⁴/Σσ². At θ* the
/// estimator's gradient, averaged over steps on the whole data set, is zero
/// within 5 SE in every component; at the fixed point the weights λ = σ or
/// λ = 1 would have, it is more than 20 SE from zero (power).
#[test]
fn multilevel_dsm_fixed_point_on_gaussian_data() {
    let data = data();
    let x = data.as_slice();
    let (m, c) = data.mean_cov();
    let n = data.len() as f64;
    let c: Vec<f64> = c.iter().map(|v| v * (n - 1.0) / n).collect();
    let est = Dsm::<f64>::geometric(3.0, 0.3, 4);
    let sigmas = est.sigmas().to_vec();
    let fixed_point = |lambda: &dyn Fn(f64) -> f64| {
        let w: f64 = sigmas.iter().map(|&s| lambda(s)).sum();
        let s2: f64 = sigmas.iter().map(|&s| lambda(s) * s * s).sum();
        let shifted: Vec<f64> = (0..D * D).map(|k| c[k] + if k % (D + 1) == 0 { s2 / w } else { 0.0 }).collect();
        Gaussian::from_mean_precision(&m, &inverse_spd(&shifted, D).unwrap()).unwrap()
    };
    // Returns the largest |mean gradient component| / SE over 300 steps.
    let max_z = |model: &Gaussian<f64>| {
        let mut est = est.clone();
        let np = model.num_params();
        let mut g = vec![0.0; np];
        let grads: Vec<Vec<f64>> = (0..300)
            .map(|t| {
                est.prepare(model, x, StepCtx::new(12, t)).unwrap();
                est.loss_grad(model, x, &mut g).unwrap();
                g.clone()
            })
            .collect();
        (0..np)
            .map(|k| {
                let (mean, se) = mean_se(&grads.iter().map(|g| g[k]).collect::<Vec<_>>());
                mean.abs() / se
            })
            .fold(0.0, f64::max)
    };
    let z = max_z(&fixed_point(&|s| s * s));
    eprintln!("λ = σ²: largest |mean gradient|/SE at the closed-form fixed point {z:.2}");
    assert!(z < 5.0, "the closed-form fixed point is not stationary for multi-level DSM ({z:.1} SE)");
    let lambdas: [(&str, &dyn Fn(f64) -> f64); 2] = [("λ = σ", &|s| s), ("λ = 1", &|_| 1.0)];
    for (name, lambda) in lambdas {
        let zw = max_z(&fixed_point(lambda));
        eprintln!("  power: at the fixed point of {name}, |mean gradient|/SE reaches {zw:.1}");
        assert!(zw > 20.0, "power: the fixed point of {name} is not told apart ({zw:.1} SE)");
    }
}
