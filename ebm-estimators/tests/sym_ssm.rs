//! Sliced score matching (exact Hessian term, [`HvpMode::Exact`]) runs on
//! symbolic energies: [`SymEnergy`] implements `v_hess_v` and
//! `grad_params_v_hess_v`, so SSM and SSM-VR agree with the hand-written
//! Gaussian on its symbolic twin (same θ, same projections), and with the
//! central-difference mode on a non-quadratic formula.
//!
//! Run with `cargo test -p ebm-estimators --release --test sym_ssm`.

use ebm_core::gaussian::Gaussian;
use ebm_core::prelude::*;
use ebm_core::sym::SymEnergy;
use ebm_core::testing::{normal_vec, Tolerance};
use ebm_estimators::*;

const GAUSSIAN: &str = "energy(x[d]; mu[d], L[d,d] lower) = \
    0.5 * sum(j, 0..d, square(sum(i, j..d, L[i,j] * (x[i] - mu[i]))))";

fn estimators() -> [Ssm<f64>; 3] {
    [
        Ssm::new(3, Projection::Gaussian),
        Ssm::new(1, Projection::Rademacher),
        Ssm::new(2, Projection::Gaussian).variance_reduced(),
    ]
}

/// The symbolic twin of a Gaussian gives the Gaussian's SSM loss and
/// gradient (before `SymEnergy::v_hess_v` existed this was
/// `EbmError::Unsupported { model: "sym", method: "v_hess_v" }`).
#[test]
fn exact_ssm_on_a_symbolic_gaussian_matches_the_family() {
    let d = 4;
    let hand = Gaussian::<f64>::init(d, 3).unwrap();
    let sym = SymEnergy::<f64>::parse_with(GAUSSIAN, &[("d", d)], hand.params()).unwrap();
    let x = normal_vec(11, 9 * d);
    let np = hand.num_params();
    for mut est in estimators() {
        est.prepare(&sym, &x, StepCtx::new(3, 2)).unwrap();
        assert_eq!(est.hvp(), HvpMode::Exact);
        let mut g = vec![f64::NAN; np];
        let l = est.loss_grad(&sym, &x, &mut g).expect("SSM on a SymEnergy");
        // Same projections (they depend on the step, B and d only).
        let mut gh = vec![0.0; np];
        let lh = est.loss_grad(&hand, &x, &mut gh).unwrap();
        assert!((l - lh).abs() < 1e-10 * lh.abs().max(1.0), "{}: sym {l} vs gaussian {lh}", est.name());
        Tolerance::new(1e-9, 1e-10).assert_all_close(est.name(), &g, &gh);
        assert!((est.loss(&sym, &x).unwrap() - l).abs() < 1e-12 * l.abs().max(1.0));
    }
}

/// On a non-quadratic formula the exact mode agrees with the central
/// difference of the exact score to O(h²), loss and gradient.
#[test]
fn exact_ssm_on_a_symbolic_formula_matches_central_difference() {
    let src = "energy(x[3]; W[4,3], a[4], b) = \
        sum(k, 0..4, a[k] * logcosh(sum(i, 0..3, W[k,i] * x[i]))) \
        + 0.25 * exp(b) * (x0^4 + x1^4 + x2^4) + 0.1 * tanh(x0 * x1 - x2)";
    let theta: Vec<f64> = normal_vec(5, 17).iter().map(|t| 0.5 * t).collect();
    let model = SymEnergy::<f64>::parse(src, &theta).unwrap();
    let x = normal_vec(6, 12 * 3);
    for mut est in estimators() {
        est.prepare(&model, &x, StepCtx::new(4, 0)).unwrap();
        let fd = est.clone().with_hvp(HvpMode::CentralDifference { h: 1e-4 });
        let (mut g, mut gf) = (vec![0.0; 17], vec![0.0; 17]);
        let l = est.loss_grad(&model, &x, &mut g).unwrap();
        let lf = fd.loss_grad(&model, &x, &mut gf).unwrap();
        assert!((l - lf).abs() < 1e-6 * l.abs().max(1.0), "{}: exact {l} vs central difference {lf}", est.name());
        Tolerance::new(1e-5, 1e-6).assert_all_close(est.name(), &g, &gf);
    }
}
