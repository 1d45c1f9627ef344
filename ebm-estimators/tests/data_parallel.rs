//! Data-parallel training (`Trainer::fit_on`) with N ranks as N threads
//! ([`ThreadComm`]): the same parameters and estimator state (PCD's buffer,
//! LSD's critic) as the single-process run for every estimator, replicas
//! bit-identical to each other, a divergence on one rank's share stopping
//! every rank at the same step (also inside PCD's and LSD's exchanges), and
//! a typed refusal for an estimator that does not support it.

use ebm_core::gaussian::Gaussian;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::{Ica, Source};
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
        "cd" => Box::new(Cd::<f32, _>::new(Ula::new(0.1, 3)).with_l2(0.1)),
        // The contrastive losses take an L2 energy penalty: without it the
        // energy's offset (the MLP's output bias) has a gradient that is 0
        // in exact arithmetic, and Adam turns its rounding residue into a
        // step of up to lr, differently in each reduction order (harmless:
        // p_θ does not depend on the offset; docs/scale.md).
        "cd-mala" => Box::new(Cd::<f32, _>::new(Mala::new(0.3, 3)).with_l2(0.1)),
        "cd-hmc" => Box::new(Cd::<f32, _>::new(Hmc::new(0.1, 2, 2)).with_l2(0.1)),
        "cd-annealed" => Box::new(Cd::<f32, _>::new(AnnealedLangevin::geometric(1.0, 0.1, 2, 0.1, 2)).with_l2(0.1)),
        "icd" => Box::new(Cd::<f32, _>::new(Ula::new(0.1, 2)).with_l2(0.1).with_kl(KlTerm { weight: 0.5, eps: 0.1 })),
        // A small buffer: rows of one batch often draw the same chain.
        "pcd" | "pcd-gaussian" => {
            Box::new(Pcd::<f32, _>::new(Ula::new(0.1, 3)).with_capacity(16).with_reinit_prob(0.3).with_l2(0.1))
        }
        "lsd" | "lsd-gaussian" => Box::new(Lsd::<f32>::new(2, &[8], CriticActivation::Swish, 1.0, 2, 0.01, 5).unwrap()),
        "lsd-hutchinson" => {
            Box::new(Lsd::<f32>::new(2, &[8], CriticActivation::Tanh, 1.0, 2, 0.01, 5).unwrap().with_hutchinson(2))
        }
        "ica-mle" => Box::new(ica_mle::IcaMle::new(Source::LogCosh)),
        "plain" => Box::new(Plain),
        other => panic!("no estimator {other}"),
    }
}

/// An estimator that keeps the default `data_parallel() == false`: the
/// energy's mean, with no noise.
struct Plain;

impl Resumable for Plain {}

impl EstimatorBase<f32> for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }
}

impl Estimator<f32> for Plain {
    fn prepare(&mut self, _: &dyn Model<f32>, _: &[f32], _: StepCtx) -> Result<StepInfo> {
        Ok(StepInfo::default())
    }
    fn loss(&self, model: &dyn Model<f32>, x: &[f32]) -> Result<f64> {
        let mut e = vec![0.0; x.len() / model.dim()];
        model.energy(x, &mut e)?;
        Ok(e.iter().map(|&v| v as f64).sum::<f64>() / e.len() as f64)
    }
    fn loss_grad(&self, model: &dyn Model<f32>, x: &[f32], grad: &mut [f32]) -> Result<f64> {
        let b = x.len() / model.dim();
        let mut e = vec![0.0; b];
        model.grad_params_energy_weighted(x, &vec![1.0 / b as f32; b], &mut e, grad)?;
        Ok(e.iter().map(|&v| v as f64).sum::<f64>() / b as f64)
    }
    fn eval_loss(&self, _: &dyn Model<f32>, _: &[f32], _: StepCtx) -> Result<f64> {
        unreachable!("no held-out split in these tests")
    }
}

/// The parameters [θ, aux], the estimator's saved state (flat) and the
/// losses after `steps` steps on rank `comm.rank()`, or the error that
/// stopped it.
type Outcome = Result<(Vec<f32>, Vec<f64>, Vec<f64>)>;

fn train(name: &str, data: &Dataset<f32>, comm: &dyn Communicator, steps: usize) -> Outcome {
    // An MLP; a Gaussian on data with an outlier (its score, and so its
    // loss, grows without bound).
    let mut model: Box<dyn Model<f32>> = match name {
        _ if name.ends_with("-gaussian") => Box::new(Gaussian::<f32>::init(2, 3).unwrap()),
        "ica-mle" => Box::new(Ica::<f32>::new(2, 2, Source::LogCosh, vec![1.0, 0.2, -0.3, 0.9]).unwrap()),
        _ => Box::new(Mlp::<f32>::init(2, &[6], Activation::Softplus, 3).unwrap()),
    };
    let cfg = TrainConfig { batch_size: 10, steps, seed: 5, ..Default::default() };
    let mut tr = Trainer::new(estimator(name, data), Adam::new(0.02), cfg);
    let report = tr.fit_on(comm, &mut *model, data, None, |_| Control::Continue)?;
    let mut p = model.params().to_vec();
    p.extend_from_slice(tr.estimator.aux_params());
    Ok((p, tr.estimator.save_state().into_iter().flat_map(|(_, v)| v).collect(), report.losses))
}

/// Every rank's outcome for N ranks as threads.
fn ranks(name: &'static str, data: &Dataset<f32>, n: usize, steps: usize) -> Vec<Outcome> {
    let handles: Vec<_> = ThreadComm::group(n)
        .into_iter()
        .map(|c| {
            let data = data.clone();
            std::thread::spawn(move || train(name, &data, &c, steps))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn rel_diff<A: Copy + Into<f64>>(a: &[A], b: &[A]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(&x, &y)| (x.into() - y.into()).powi(2)).sum();
    let den: f64 = b.iter().map(|&y| y.into().powi(2)).sum();
    if num == 0.0 {
        0.0
    } else {
        (num / den).sqrt()
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// N ranks (threads) against one process: every replica holds the same
/// bits (parameters and estimator state), within 1e-6 relative of one
/// process's.
fn matches_one_process(names: &[&'static str]) {
    let data = data();
    for &name in names {
        let (plain, plain_state, plain_losses) = train(name, &data, &Local, 6).unwrap();
        let (start, start_state, _) = train(name, &data, &Local, 0).unwrap();
        assert!(rel_diff(&plain, &start) > 1e-3, "{name}: training moved the parameters");
        // (PCD's buffer is empty before the first step; LSD's critic leads its state.)
        let n = plain_state.len().min(start_state.len());
        if n > 0 {
            assert!(rel_diff(&plain_state[..n], &start_state[..n]) > 1e-3, "{name}: training changed the state");
        }
        // B = 10: 3 and 4 ranks get shares of unequal sizes, 12 ranks
        // leave two ranks without a row.
        for n in [2, 3, 4, 12] {
            let out: Vec<_> = ranks(name, &data, n, 6).into_iter().map(|r| r.unwrap()).collect();
            for (r, p) in out.iter().enumerate() {
                assert_eq!(p, &out[0], "{name}, {n} ranks: rank {r}'s replica differs from rank 0's");
            }
            let e = rel_diff(&out[0].0, &plain);
            assert!(e <= 1e-6, "{name}, {n} ranks: relative difference {e:e} from one process");
            let e = rel_diff(&out[0].1, &plain_state);
            assert!(e <= 1e-6, "{name}, {n} ranks: estimator state {e:e} from one process");
            // (Improved CD's KL value depends on noise its gradient does
            // not.) Relative to max(‖losses‖, 1): a contrastive loss is a
            // difference of O(1) means that cancels to ~1e-3.
            let e = rel_diff(&out[0].2, &plain_losses) * norm(&plain_losses).min(1.0);
            assert!(e <= 1e-6, "{name}, {n} ranks: losses {e:e} from one process");
        }
    }
}

#[test]
fn every_data_parallel_estimator_matches_one_process_for_any_rank_count() {
    matches_one_process(&["esm", "dsm", "dsm-levels", "ssm", "ssm-vr-rademacher", "nce", "ica-mle"]);
}

#[test]
fn contrastive_divergence_with_every_sampler_matches_one_process() {
    matches_one_process(&["cd", "cd-mala", "cd-hmc", "cd-annealed", "icd"]);
}

#[test]
fn pcd_buffer_and_lsd_critic_match_one_process_on_every_rank() {
    matches_one_process(&["pcd", "lsd", "lsd-hutchinson"]);
}

#[test]
fn a_non_finite_value_in_one_ranks_share_stops_every_rank_at_that_step() {
    // One far outlier: its energy overflows f32 in whichever share (of
    // whichever batch) holds it; the other rank's share is finite.
    let mut x = data().as_slice().to_vec();
    x[14..16].copy_from_slice(&[1e38, 1e38]);
    let data = Dataset::new(x, 2).unwrap();
    // LSD meets it before its critic's exchange, PCD after its buffer's.
    for name in ["esm-gaussian", "lsd-gaussian", "pcd-gaussian"] {
        let results = ranks(name, &data, 2, 50);
        let step = |r: &Outcome| match r {
            Err(EstError::Diverged { step, .. }) => *step,
            other => panic!("{name}: expected a divergence, got {other:?}"),
        };
        let steps: Vec<_> = results.iter().map(step).collect();
        assert_eq!(steps[0], steps[1], "{name}: {results:?}");
        let plain = train(name, &data, &Local, 50);
        assert!(matches!(plain, Err(EstError::Diverged { step, .. }) if step == steps[0]), "{name}: {plain:?}");
    }
}

#[test]
fn estimators_without_global_noise_addressing_are_refused_on_several_ranks() {
    let data = data();
    for r in ranks("plain", &data, 2, 2) {
        assert!(
            matches!(&r, Err(EstError::Config(m)) if m.contains("`plain` does not support data-parallel")),
            "{r:?}"
        );
    }
    assert!(train("plain", &data, &Local, 2).is_ok());
}
