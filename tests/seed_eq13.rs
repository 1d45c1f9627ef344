//! Seed eq 13: denoising score matching equals the Fisher divergence to the
//! *noised* data law plus a θ-independent constant.
//!
//! With q_σ(x̃|x) = N(x, σ²I) and q_σ(x̃) = ∫ q_σ(x̃|x) p_data(x) dx, the DSM loss
//! (`Dsm`, per sample ½‖s_θ(x̃) + (x̃ − x)/σ²‖²) satisfies
//!
//! L_DSM(θ) = D_F(q_σ‖p_θ) + C′,  C′ = ½(d/σ² − E_q‖∇ log q_σ‖²),
//!
//! because E[∇ log q_σ(x̃|x) | x̃] = ∇ log q_σ(x̃) (the step from line 3 to line 5
//! of eq 13) and E‖(x̃ − x)/σ²‖² = d/σ².
//!
//! For Gaussian-mixture data the noised law is again a mixture, with
//! covariances Σₖ + σ²I, so ∇ log q_σ is exact and D_F(q_σ‖p_θ) and
//! E_q‖∇ log q_σ‖² come from quadrature. L_DSM comes from the library's `Dsm`
//! on 20 000 exact data samples with its own Philox noise; the same data and
//! noise are used for every θ (common random numbers), so differences between
//! models have a much smaller error than the losses themselves. Tolerances:
//! 5 standard errors of the per-sample losses (or of their differences).

mod seed_common;

use ebm::estimators::metrics::{fisher_divergence_weighted, Estimate};
use ebm::estimators::{Dsm, StepCtx};
use ebm::prelude::*;
use ebm::Gaussian;
use seed_common::*;

const SIGMA: f64 = 0.5;

/// Per-row ½‖s_θ(x̃) + target‖², paired back to data points (antithetic rows
/// averaged), and the library's loss.
fn dsm_per_sample(dsm: &Dsm<f64>, model: &dyn Model<f64>, st: &ebm::estimators::dsm::DsmState<f64>) -> (Vec<f64>, f64) {
    let d = model.dim();
    let rows = st.weight.len();
    let (mut e, mut s) = (vec![0.0; rows], vec![0.0; rows * d]);
    model.energy_score(&st.noisy, &mut e, &mut s).unwrap();
    let mut per = vec![0.0; st.batch];
    for r in 0..rows {
        let l: f64 = (0..d).map(|i| (s[r * d + i] + st.target[r * d + i]).powi(2)).sum::<f64>() * 0.5;
        per[r % st.batch] += st.weight[r] * l;
    }
    (per, dsm.loss_with(model, st, None).unwrap())
}

#[test]
fn dsm_is_the_fisher_divergence_to_the_noised_law_plus_a_constant() {
    let (w, m, c) = bimodal();
    let d = 2;
    let noised = mixture_model(&w, &m, &noised_covs(&c, d, SIGMA));
    let clean = mixture_model(&w, &m, &c);
    let (qp, qw) = density_grid(&noised);
    let (cp, cw) = density_grid(&clean);
    let nq = qw.len();
    let (mut e, mut sq) = (vec![0.0; nq], vec![0.0; nq * d]);
    noised.energy_score(&qp, &mut e, &mut sq).unwrap();
    let e_sq: f64 = sq.chunks(d).zip(&qw).map(|(s, w)| w * (s[0] * s[0] + s[1] * s[1])).sum();
    let c_prime = 0.5 * (d as f64 / (SIGMA * SIGMA) - e_sq);

    let x = sample_mixture(&w, &m, &c, 20_000, 77);
    let mut models: Vec<Box<dyn Model<f64>>> =
        (1..=3).map(|s| Box::new(scaled_mlp(2, &[16, 16], s, 12.0)) as Box<dyn Model<f64>>).collect();
    models.push(Box::new(Gaussian::from_mean_precision(&[0.8, -0.5], &[0.4, 0.1, 0.1, 1.2]).unwrap()));
    for antithetic in [false, true] {
        let dsm = if antithetic { Dsm::new(SIGMA).with_antithetic() } else { Dsm::new(SIGMA) };
        let st = dsm.draw(d, &x, StepCtx::new(3, 0)).unwrap();
        let mut per_model = Vec::new();
        for (i, model) in models.iter().enumerate() {
            let (per, lib) = dsm_per_sample(&dsm, model.as_ref(), &st);
            let est = Estimate::from_values(&per);
            assert!((est.value - lib).abs() < 1e-10, "the library's DSM loss is the mean of the per-sample losses");
            let df_q = fisher_divergence_weighted(&noised, model.as_ref(), &qp, &qw).unwrap();
            let df_p = fisher_divergence_weighted(&clean, model.as_ref(), &cp, &cw).unwrap();
            println!(
                "antithetic {antithetic} model {i}: L_DSM {:.4} ± {:.4}; D_F(q‖p_θ) + C′ = {:.4} (D_F(p_data‖p_θ) {:.4})",
                est.value, est.std_err, df_q + c_prime, df_p
            );
            assert!(
                est.z_score(df_q + c_prime) < 5.0,
                "model {i}: L_DSM {est:?} vs D_F(q‖p_θ) + C′ = {}",
                df_q + c_prime
            );
            // Power: the same estimate rejects the loss without its constant C′.
            assert_rejects("L_DSM = D_F(q‖p_θ)", std::slice::from_ref(&est), &[df_q], 20.0);
            per_model.push((per, df_q, df_p));
        }
        // Differences with common random numbers: tighter, and they tell q_σ from p_data.
        let mut clean_rejected = false;
        for a in 0..per_model.len() {
            for b in a + 1..per_model.len() {
                let diff: Vec<f64> = per_model[a].0.iter().zip(&per_model[b].0).map(|(u, v)| u - v).collect();
                let de = Estimate::from_values(&diff);
                let want = per_model[a].1 - per_model[b].1;
                assert!(de.z_score(want) < 5.0, "models {a}, {b}: ΔL_DSM {de:?} vs ΔD_F(q‖p_θ) {want}");
                clean_rejected |= de.z_score(per_model[a].2 - per_model[b].2) > 10.0;
            }
        }
        assert!(clean_rejected, "DSM must be told apart from the Fisher divergence to the clean data");
    }
}
