//! Data-parallel training (`Trainer::fit_on`) with N ranks as N threads
//! ([`ThreadComm`]): the same parameters as the single-process run for
//! every estimator that accepts it, bit-identical replicas, a divergence on
//! one rank's share stopping every rank at the same step, and a typed
//! refusal for the estimators that do not support it.

use ebm_core::gaussian::Gaussian;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_dist::ThreadComm;
use ebm_estimators::parallel::{Communicator, Local};
use ebm_estimators::*;

/// 40 samples of a correlated 2-D Gaussian (f32).
fn data() -> Dataset<f32> {
    let d = Dataset::<f64>::gaussian(&[1.0, -0.5], &[0.8, 0.3, 0.3, 0.5], 40, 8).unwrap();
    Dataset::new(d.as_slice().iter().map(|&v| v as f32).collect(), 2).unwrap()
}

fn estimator(name: &str, data: &Dataset<f32>) -> Box<dyn Estimator<f32>> {
    match name {
        "esm" | "esm-gaussian" => Box::new(ExactSm::new()),
        "dsm" => Box::new(Dsm::<f32>::new(0.3)),
        "dsm-levels" => Box::new(Dsm::<f32>::geometric(1.0, 0.05, 4)),
        "ssm" => Box::new(Ssm::<f32>::new(2, Projection::Gaussian)),
        "ssm-vr-rademacher" => Box::new(Ssm::<f32>::new(3, Projection::Rademacher).variance_reduced()),
        "nce" => Box::new(Nce::<f32>::new(GaussianNoise::fit(data).unwrap(), 2)),
        "cd" => Box::new(Cd::<f32, _>::new(Ula::new(0.1, 3))),
        other => panic!("no estimator {other}"),
    }
}

/// The parameters [θ, aux] after `steps` steps on rank `comm.rank()`, or
/// the error that stopped it.
fn train(name: &str, data: &Dataset<f32>, comm: &dyn Communicator, steps: usize) -> Result<Vec<f32>> {
    // An MLP; a Gaussian for ESM on data with an outlier (its score, and
    // so its loss, grows without bound).
    let mut model: Box<dyn Model<f32>> = match name {
        "esm-gaussian" => Box::new(Gaussian::<f32>::init(2, 3).unwrap()),
        _ => Box::new(Mlp::<f32>::init(2, &[6], Activation::Softplus, 3).unwrap()),
    };
    let cfg = TrainConfig { batch_size: 10, steps, seed: 5, ..Default::default() };
    let mut tr = Trainer::new(estimator(name, data), Adam::new(0.02), cfg);
    tr.fit_on(comm, &mut *model, data, None, |_| Control::Continue)?;
    let mut p = model.params().to_vec();
    p.extend_from_slice(tr.estimator.aux_params());
    Ok(p)
}

/// Every rank's outcome for N ranks as threads.
fn ranks(name: &'static str, data: &Dataset<f32>, n: usize, steps: usize) -> Vec<Result<Vec<f32>>> {
    let handles: Vec<_> = ThreadComm::group(n)
        .into_iter()
        .map(|c| {
            let data = data.clone();
            std::thread::spawn(move || train(name, &data, &c, steps))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn every_data_parallel_estimator_matches_one_process_for_any_rank_count() {
    let data = data();
    for name in ["esm", "dsm", "dsm-levels", "ssm", "ssm-vr-rademacher", "nce"] {
        let plain = train(name, &data, &Local, 6).unwrap();
        let start = train(name, &data, &Local, 0).unwrap();
        assert!(rel_diff(&plain, &start) > 1e-3, "{name}: training moved the parameters");
        // B = 10: 3 and 4 ranks get shares of unequal sizes, 12 ranks
        // leave two ranks without a row.
        for n in [2, 3, 4, 12] {
            let out: Vec<_> = ranks(name, &data, n, 6).into_iter().map(|r| r.unwrap()).collect();
            for (r, p) in out.iter().enumerate() {
                assert_eq!(p, &out[0], "{name}, {n} ranks: rank {r}'s replica differs from rank 0's");
            }
            let e = rel_diff(&out[0], &plain);
            assert!(e <= 1e-6, "{name}, {n} ranks: relative difference {e:e} from one process");
        }
    }
}

#[test]
fn a_non_finite_value_in_one_ranks_share_stops_every_rank_at_that_step() {
    // One far outlier: its energy overflows f32 in whichever share (of
    // whichever batch) holds it; the other rank's share is finite.
    let mut x = data().as_slice().to_vec();
    x[14..16].copy_from_slice(&[1e38, 1e38]);
    let data = Dataset::new(x, 2).unwrap();
    let results = ranks("esm-gaussian", &data, 2, 50);
    let step = |r: &Result<Vec<f32>>| match r {
        Err(EstError::Diverged { step, .. }) => *step,
        other => panic!("expected a divergence, got {other:?}"),
    };
    let steps: Vec<_> = results.iter().map(step).collect();
    assert_eq!(steps[0], steps[1], "{results:?}");
    let plain = train("esm-gaussian", &data, &Local, 50);
    assert!(matches!(plain, Err(EstError::Diverged { step, .. }) if step == steps[0]), "{plain:?}");
}

#[test]
fn estimators_without_global_noise_addressing_are_refused_on_several_ranks() {
    let data = data();
    for r in ranks("cd", &data, 2, 2) {
        assert!(matches!(&r, Err(EstError::Config(m)) if m.contains("`cd` does not support data-parallel")), "{r:?}");
    }
    assert!(train("cd", &data, &Local, 2).is_ok());
}
