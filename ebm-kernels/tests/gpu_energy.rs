//! `GpuEnergy` as an `Energy<f32>`: θ updates reach the device, buffers
//! follow batch-size changes, parameter gradients equal the CPU twin's, and
//! the fused Langevin of every family follows the CPU reference.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::langevin;
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::testing::Tolerance;
use ebm_core::EbmError;
use ebm_kernels::{Fallback, GpuDevice, GpuEnergy, GpuFamily, KernelError, MlpKernels, Op};

#[test]
fn params_updates_reach_the_device_on_default_adapter() {
    let dev = common::device("params_updates_reach_the_device_on_default_adapter");
    let m = Mlp::<f32>::init(4, &[6], Activation::Tanh, 3).unwrap();
    let mut gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let x = common::to32(&common::normal32(1, 5 * 4));
    let tol = Tolerance::new(1e-5, 1e-6);
    let (mut e0, mut e1) = (vec![0f32; 5], vec![0f32; 5]);
    gpu.energy(&x, &mut e0).unwrap();
    // Through params_mut …
    gpu.params_mut().iter_mut().for_each(|p| *p *= 1.5);
    gpu.energy(&x, &mut e1).unwrap();
    let mut want = vec![0f32; 5];
    gpu.cpu().energy(&x, &mut want).unwrap();
    tol.assert_all_close(&format!("energy after params_mut on {}", dev.info().label()), &e1, &want);
    assert!(e0.iter().zip(&e1).any(|(a, b)| a != b));
    // … and through set_params, with a batch of another size in between.
    let theta: Vec<f32> = m.params().iter().map(|p| p * -0.5).collect();
    gpu.set_params(&theta).unwrap();
    let x3 = common::to32(&common::normal32(2, 3 * 4));
    let mut e3 = vec![0f32; 3];
    gpu.energy(&x3, &mut e3).unwrap();
    let mut cpu = m.clone();
    cpu.set_params(&theta).unwrap();
    let mut want3 = vec![0f32; 3];
    cpu.energy(&x3, &mut want3).unwrap();
    tol.assert_all_close(&format!("energy after set_params on {}", dev.info().label()), &e3, &want3);
    assert!(matches!(gpu.set_params(&[0.0; 3]), Err(EbmError::ParamLen { .. })));
}

#[test]
fn input_errors_match_the_cpu_twin_on_default_adapter() {
    let dev = common::device("input_errors_match_the_cpu_twin_on_default_adapter");
    let m = Gaussian::<f32>::init(3, 1).unwrap();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let bad = [0.0f32, f32::INFINITY, 1.0, 2.0, 3.0, 4.0];
    assert_eq!(gpu.energy(&bad, &mut [0.0; 2]).unwrap_err(), m.energy(&bad, &mut [0.0; 2]).unwrap_err());
    assert_eq!(gpu.energy(&[0.0; 4], &mut [0.0; 1]).unwrap_err(), m.energy(&[0.0; 4], &mut [0.0; 1]).unwrap_err());
    assert_eq!(gpu.energy(&[], &mut []).unwrap_err(), m.energy(&[], &mut []).unwrap_err());
    assert_eq!(
        gpu.energy_score(&[0.0; 3], &mut [0.0; 1], &mut [0.0; 2]).unwrap_err(),
        m.energy_score(&[0.0; 3], &mut [0.0; 1], &mut [0.0; 2]).unwrap_err()
    );
}

#[test]
fn over_budget_param_gradients_are_refused_or_run_on_the_twin_when_asked_on_default_adapter() {
    // A sample beyond the loop budget: ∇θ vᵀ∇ₓE and ∇θ𝒥 are refused with
    // the typed reason under the default policy, and run on the CPU twin
    // (same bits, recorded) under the opt-in one (the device kernels are
    // checked in tests/param_grads.rs).
    let dev =
        common::device("over_budget_param_gradients_are_refused_or_run_on_the_twin_when_asked_on_default_adapter");
    let m = GaussianMixture::<f32>::init(3, 2, Covariance::Full, 8).unwrap();
    let refuse = GpuEnergy::new(&dev, m.clone()).unwrap().with_loop_budget(Some(100));
    let twin = GpuEnergy::new(&dev, m.clone()).unwrap().with_loop_budget(Some(100)).with_fallback(Fallback::CpuTwin);
    let b = 7;
    let x = common::to32(&common::normal32(3, b * 3));
    let v = common::to32(&common::normal32(4, b * 3));
    let w = common::to32(&common::uniform32(5, b, 0.0, 1.0));
    let mut g = vec![0f32; m.num_params()];
    let err = refuse.grad_params_v_dot_grad_x(&x, &v, &w, &mut g).unwrap_err();
    assert_eq!(common::not_on_device(&err).map(|n| n.op), Some(Op::GradVDotGradX), "{err}");
    let err = refuse.grad_params_sm(&x, &w, &mut g).unwrap_err();
    assert_eq!(common::not_on_device(&err).map(|n| n.op), Some(Op::GradSm), "{err}");
    assert!(refuse.fallbacks().is_empty());
    common::assert_param_grads_are_the_twins(&twin, &m, &x, &v, &w);
    let ops: Vec<(Op, u64)> = twin.fallbacks().iter().map(|r| (r.op, r.count)).collect();
    assert_eq!(ops, [(Op::GradVDotGradX, 1), (Op::GradSm, 1)]);
}

fn ula_matches<M: GpuFamily>(dev: &GpuDevice, label: &str, m: M) {
    let gpu = GpuEnergy::new(dev, m.clone()).unwrap();
    let d = m.dim();
    let (k, b) = (8, 1000);
    let x0 = common::to32(&common::normal32(77, b * d));
    let (mut xc, mut xg) = (x0.clone(), x0.clone());
    langevin::ula(&m, &mut xc, 0.1, k, 99, 1000).unwrap();
    gpu.langevin_ula(&mut xg, 0.1, k, 99, 1000).unwrap();
    Tolerance::new(3e-6, 3e-6).grown(k).assert_all_close(&format!("{label} ULA on {}", dev.info().label()), &xg, &xc);
}

#[test]
fn fused_ula_matches_cpu_for_every_family_on_default_adapter() {
    let dev = common::device("fused_ula_matches_cpu_for_every_family_on_default_adapter");
    ula_matches(&dev, "gaussian", Gaussian::<f32>::init(4, 1).unwrap());
    ula_matches(&dev, "ica", Ica::<f32>::init(4, 6, Source::StudentT, 2).unwrap());
    ula_matches(&dev, "mixture full", GaussianMixture::<f32>::init(3, 3, Covariance::Full, 3).unwrap());
    ula_matches(&dev, "mixture diag", GaussianMixture::<f32>::init(3, 2, Covariance::Diagonal, 4).unwrap());
    ula_matches(&dev, "rbm", GaussBernoulliRbm::<f32>::init(5, 7, 5).unwrap());
    ula_matches(&dev, "mlp", Mlp::<f32>::init(3, &[8, 8], Activation::GeluTanh, 6).unwrap());
}

#[test]
fn split_launches_equal_single_launches_on_default_adapter() {
    // A loop budget small enough to split the Hessian diagonal over
    // several launches and the Langevin steps over several launches, on
    // any adapter: the results must be the same bits as unsplit launches.
    let dev = common::device("split_launches_equal_single_launches_on_default_adapter");
    let m = Mlp::<f32>::init(6, &[16, 16], Activation::Softplus, 21).unwrap();
    let per_sample = || GpuEnergy::with_mlp_kernels(&dev, m.clone(), MlpKernels::PerSample).unwrap();
    let one = per_sample().with_loop_budget(None);
    let split = per_sample().with_loop_budget(Some(2500));
    let b = 7;
    let x = common::to32(&common::normal32(5, b * 6));
    let run = |g: &GpuEnergy<Mlp<f32>>| {
        let (mut e, mut s, mut h) = (vec![0f32; b], vec![0f32; b * 6], vec![0f32; b * 6]);
        g.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
        let mut xu = x.clone();
        g.langevin_ula(&mut xu, 0.1, 20, 3, 40).unwrap();
        let mut xm = x.clone();
        let mut acc = vec![0u32; b];
        let rate = g.langevin_mala(&mut xm, 0.5, 20, 3, 40, &mut acc).unwrap();
        (e, s, h, xu, xm, acc, rate)
    };
    let (a, c) = (run(&one), run(&split));
    assert_eq!(a, c, "split vs single launches on {}", dev.info().label());
}

#[test]
fn over_budget_models_are_refused_not_truncated_on_default_adapter() {
    let dev = common::device("over_budget_models_are_refused_not_truncated_on_default_adapter");
    let m = Mlp::<f32>::init(6, &[16, 16], Activation::Softplus, 21).unwrap();
    let g = GpuEnergy::with_mlp_kernels(&dev, m, MlpKernels::PerSample).unwrap().with_loop_budget(Some(200));
    // The refusal is the kernel's own typed error, kept as the source of
    // `EbmError::Backend` (not flattened into a string), naming the
    // operation, the reason and the remedy.
    let refused = |err: &EbmError, op: Op| {
        let source = std::error::Error::source(err).expect("Backend has a source");
        assert!(source.downcast_ref::<KernelError>().is_some(), "{err:?}");
        common::not_on_device(err).is_some_and(|n| n.op == op && n.reason.contains("loop budget"))
    };
    let err = g.energy(&[0.0; 6], &mut [0.0]).unwrap_err();
    assert!(refused(&err, Op::Energy), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("GPU backend: energy of this mlp model does not run on the device:"), "{msg}");
    assert!(msg.contains("Fallback::CpuTwin") && msg.contains("hardware GPU"), "{msg}");
    let err = g.langevin_ula(&mut [0.0; 6], 0.1, 3, 0, 0).unwrap_err();
    assert!(refused(&err, Op::Ula), "{err:?}");
}

#[test]
fn long_chains_match_cpu_on_default_adapter() {
    // 200 steps: on llvmpipe this exceeds one invocation's loop budget and
    // runs as several launches (without the split, chains come back wrong);
    // elsewhere it is one launch.
    let dev = common::device("long_chains_match_cpu_on_default_adapter");
    let m = Mlp::<f32>::init(5, &[12, 9], Activation::Softplus, 11).unwrap();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let (k, b) = (200, 300);
    let x0 = common::to32(&common::normal32(17, b * 5));
    let (mut xc, mut xg) = (x0.clone(), x0);
    langevin::ula(&m, &mut xc, 0.1, k, 5, 0).unwrap();
    gpu.langevin_ula(&mut xg, 0.1, k, 5, 0).unwrap();
    eprintln!("loop budget {:?} on {}", gpu.loop_budget(), dev.info().label());
    Tolerance::new(3e-6, 3e-6).grown(k).assert_all_close(&format!("200-step ULA on {}", dev.info().label()), &xg, &xc);
}
