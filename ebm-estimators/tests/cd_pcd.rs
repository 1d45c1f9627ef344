//! Maximum likelihood with MCMC negatives (seed §2, eq 2–3): CD-k and PCD
//! on a 1-D and a 2-D Gaussian recover the data's mean and (co)variance
//! within 5 %.

mod common;

use common::mle;
use ebm_core::gaussian::Gaussian;
use ebm_estimators::linalg::inverse_spd;
use ebm_estimators::*;

/// Trains a Gaussian model with `est` and checks mean and covariance
/// entries against the sample moments (relative 5 % of each entry's scale).
fn check<E: Estimator<f64>>(what: &str, est: E, mean: &[f64], cov: &[f64], steps: usize) {
    let d = mean.len();
    let data = Dataset::<f64>::gaussian(mean, cov, 10_000, 31 + d as u64).unwrap();
    let (m_mle, _) = mle(&data);
    let (_, c_mle) = data.mean_cov();
    let mut model = Gaussian::<f64>::init(d, 2).unwrap();
    let opt = Adam::new(0.05).with_schedule(Schedule::Cosine { total_steps: steps, final_factor: 0.0 });
    let cfg = TrainConfig { batch_size: 500, steps, seed: 17, ..Default::default() };
    let mut tr = Trainer::new(est, opt, cfg);
    let mut acc = Vec::new();
    tr.fit(&mut model, &data, None, |p| {
        if let Some(a) = p.info.sampler.and_then(|s| s.accept_rate) {
            acc.push(a);
        }
        Control::Continue
    })
    .unwrap();
    let cov_fit = inverse_spd(&model.precision(), d).unwrap();
    eprintln!(
        "{what}: mean {:?} vs {m_mle:?}; cov {cov_fit:?} vs {c_mle:?}; mean accept {:.3}",
        model.mean(),
        acc.iter().sum::<f64>() / acc.len().max(1) as f64
    );
    for i in 0..d {
        let m = model.mean()[i];
        assert!((m - m_mle[i]).abs() < 0.05 * m_mle[i].abs(), "{what}: mean[{i}] {m} vs {}", m_mle[i]);
        for j in 0..d {
            let (a, b) = (cov_fit[i * d + j], c_mle[i * d + j]);
            let scale = (c_mle[i * d + i] * c_mle[j * d + j]).sqrt();
            assert!((a - b).abs() < 0.05 * scale, "{what}: cov[{i}][{j}] {a} vs {b}");
        }
    }
}

const M1: [f64; 1] = [2.0];
const C1: [f64; 1] = [0.5];
const M2: [f64; 2] = [1.5, -2.0];
const C2: [f64; 4] = [1.0, 0.4, 0.4, 0.6];

#[test]
fn cd_recovers_1d_and_2d_gaussians() {
    check("CD-10 1-D", Cd::new(Mala::new(0.5, 10)), &M1, &C1, 800);
    check("CD-10 2-D", Cd::new(Mala::new(0.5, 10)), &M2, &C2, 800);
}

#[test]
fn pcd_recovers_1d_and_2d_gaussians() {
    check("PCD 1-D", Pcd::new(Mala::new(0.5, 10)), &M1, &C1, 800);
    check("PCD 2-D", Pcd::new(Mala::new(0.5, 10)), &M2, &C2, 800);
}

#[test]
fn improved_cd_recovers_a_2d_gaussian() {
    check("improved CD 2-D", Cd::new(Mala::new(0.5, 10)).with_kl(KlTerm { weight: 1.0, eps: 0.1 }), &M2, &C2, 800);
}
