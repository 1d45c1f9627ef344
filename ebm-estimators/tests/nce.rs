//! NCE on a Gaussian model (seed §4.1): with the noise fitted to the data,
//! the learned log-normaliser c recovers the model's log Z.

mod common;

use common::{gauss5, mle, rel_err};
use ebm_core::gaussian::Gaussian;
use ebm_estimators::*;

/// A Gaussian model (initial seed 1) and its trainer after 1500 NCE steps
/// (ν = 4, noise `noise`) on `data`: Adam at rate `lr` with a cosine
/// schedule to 0, batches of 1000, training seed `seed`.
fn fit_nce(
    data: &Dataset<f64>,
    noise: GaussianNoise,
    lr: f64,
    seed: u64,
) -> (Gaussian<f64>, Trainer<f64, Nce<f64>, Adam>) {
    let mut model = Gaussian::<f64>::init(data.dim(), 1).unwrap();
    let steps = 1500;
    let opt = Adam::new(lr).with_schedule(Schedule::Cosine { total_steps: steps, final_factor: 0.0 });
    let cfg = TrainConfig { batch_size: 1000, steps, seed, ..Default::default() };
    let mut tr = Trainer::new(Nce::new(noise, 4), opt, cfg);
    tr.fit(&mut model, data, None, |_| Control::Continue).unwrap();
    (model, tr)
}

#[test]
fn nce_recovers_log_z_within_005_nats() {
    let (m, c) = gauss5();
    let data = Dataset::<f64>::gaussian(&m, &c, 20_000, 77).unwrap();
    let (m_mle, p_mle) = mle(&data);
    let noise = GaussianNoise::fit(&data).unwrap();
    let (model, mut tr) = fit_nce(&data, noise, 0.2, 5);
    let c = tr.estimator.log_z().unwrap();
    let log_z = model.log_z();
    let (em, ep) = (rel_err(model.mean(), &m_mle), rel_err(&model.precision(), &p_mle));
    eprintln!("NCE: c = {c:.4}, log Z = {log_z:.4}; mean err {em:.2e}, precision err {ep:.2e}");
    assert!((c - log_z).abs() < 0.05, "c = {c}, log Z of the fitted model = {log_z}");
    // ν = 4: the optimum of the loss is the entropy of the labels, H(1/5).
    let h = -(0.2f64 * 0.2f64.ln() + 0.8 * 0.8f64.ln());
    let last = tr.fit(&mut model.clone(), &data, None, |_| Control::Stop).unwrap().losses[0];
    assert!((last - h).abs() < 0.01, "final NCE loss {last} vs label entropy {h}");
    assert!(em < 0.01 && ep < 0.03, "NCE fit: mean {em:e}, precision {ep:e}");
}

/// With a mismatched (wider, shifted) noise NCE still estimates log Z, less
/// precisely: a sanity check that c is not tied to the noise.
#[test]
fn nce_with_mismatched_noise_still_tracks_log_z() {
    let data = Dataset::<f64>::gaussian(&[0.5, -1.0], &[1.0, 0.3, 0.3, 0.5], 10_000, 3).unwrap();
    let noise = GaussianNoise::new(vec![0.0, 0.0], &[3.0, 0.0, 0.0, 3.0]).unwrap();
    let (model, tr) = fit_nce(&data, noise, 0.05, 6);
    let c = tr.estimator.log_z().unwrap();
    eprintln!("NCE (mismatched noise): c = {c:.4}, log Z = {:.4}", model.log_z());
    assert!((c - model.log_z()).abs() < 0.15);
}
