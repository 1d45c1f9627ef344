//! The literature setups of `docs/literature.md` at tiny sizes, asserting
//! the qualitative claims that are cheap and robust (no timing: speed is
//! only measured by the `literature` example).

use ebm_literature::ica_fit::{self, IcaConfig, METHODS};
use ebm_literature::ncsn_mixture::{self, MixtureConfig};
use ebm_literature::ssm_scaling::{self, Method, ScalingConfig};
use ebm_literature::Size;

/// NCSN: annealed Langevin with the perturbed true scores recovers the
/// 0.8 / 0.2 weights within 0.05; plain Langevin from uniform starts does not.
#[test]
fn annealed_langevin_recovers_mode_weights_and_plain_does_not() {
    let r = ncsn_mixture::run(&MixtureConfig::of(Size::Tiny)).unwrap();
    eprintln!("{}", r.table().to_markdown());
    assert!(r.annealed.weight_error() <= 0.05, "annealed weight {}", r.annealed.weight(0));
    assert!(r.plain.weight_error() > 0.15, "plain weight {}", r.plain.weight(0));
    assert!(r.plain.weight_error() > r.annealed.weight_error() + 0.1);
    // Almost every plain chain sits in a mode (it is the weights that are wrong).
    assert!(r.plain.stray() < 0.05, "plain stray {}", r.plain.stray());
}

/// ICA: every fitted model has a finite exact test NLL, better than the
/// untrained start, and the exact-likelihood fit is within 0.2 nats of the
/// true model (and no better than it by more than sampling noise).
#[test]
fn ica_fits_approach_the_true_nll() {
    let cfg = IcaConfig::of(Size::Tiny);
    let r = ica_fit::run(&cfg).unwrap();
    eprintln!("{}", r.table().to_markdown());
    for &(d, truth, init) in &r.reference {
        assert!(truth.is_finite() && init > truth, "D = {d}: truth {truth}, init {init}");
        for m in METHODS {
            let row = r.row(m, d).unwrap();
            assert!(row.error.is_none(), "{m}: {:?}", row.error);
            assert!(row.nll.is_finite() && row.nll < init, "{m}: NLL {} vs untrained {init}", row.nll);
            assert!(row.nll - truth < 0.5 * (init - truth), "{m}: NLL {} truth {truth} init {init}", row.nll);
        }
        let mle = r.row(METHODS[0], d).unwrap().nll;
        assert!((mle - truth).abs() < 0.2, "MLE {mle} vs truth {truth}");
    }
}

/// SSM scalability: every method lowers the held-out Fisher divergence to
/// N(0, I) and records a step time (no assertion on the times themselves).
#[test]
fn score_matching_variants_reduce_the_fisher_divergence() {
    let r = ssm_scaling::run(&ScalingConfig::of(Size::Tiny)).unwrap();
    eprintln!("{}", r.fisher_table().to_markdown());
    for &(d, init) in &r.init_fisher {
        for m in Method::ALL {
            let row = r.row(m, d).unwrap();
            assert!(row.error.is_none(), "{m:?} D = {d}: {:?}", row.error);
            assert!(row.ms_per_step.is_finite() && row.ms_per_step > 0.0);
            assert!(
                row.fisher.value < 0.8 * init.value,
                "{m:?} D = {d}: {} vs untrained {}",
                row.fisher.value,
                init.value
            );
        }
    }
}
