//! `GpuEnergy` of an MLP on the tiled kernels (`MlpKernels::Tiled`, the
//! default) against the f64 CPU twin, at a width that users train
//! (d = 48, hidden 192-160: one sample of it exceeds a software adapter's
//! loop budget in the one-thread-per-sample kernels, which refuse it):
//! every operation is placed on the device, runs there, and agrees with
//! the twin; θ updates reach the tiled kernels; and the per-sample
//! kernels, still selectable, refuse rather than truncate.

mod common;

use ebm_core::langevin;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::Tolerance;
use ebm_kernels::mlp2::LangevinPath;
use ebm_kernels::{GpuEnergy, MlpKernels, Op, Placement};

/// Batch sizes for the wide model: none a multiple of the 64-sample tiles.
const BATCHES: [usize; 3] = [1, 37, 300];

fn wide(seed: u64) -> Mlp<f32> {
    Mlp::<f32>::init(48, &[192, 160], Activation::Softplus, seed).unwrap()
}

#[test]
fn every_op_of_a_wide_mlp_is_placed_on_the_device_on_default_adapter() {
    let dev = common::device("every_op_of_a_wide_mlp_is_placed_on_the_device_on_default_adapter");
    let gpu = GpuEnergy::new(&dev, wide(1)).unwrap();
    assert_eq!(gpu.mlp_kernels(), Some(MlpKernels::Tiled));
    for op in Op::ALL {
        assert_eq!(gpu.placement(op), Placement::Device, "{op} on {}", dev.info().label());
    }
}

#[test]
fn wide_mlp_eval_matches_cpu_on_default_adapter() {
    let dev = common::device("wide_mlp_eval_matches_cpu_on_default_adapter");
    let m = wide(2);
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let m64 = m.cast::<f64>();
    let reduce = 4 * (48 + 192 + 160);
    for (k, &b) in BATCHES.iter().enumerate() {
        let x = common::normal32(100 + k as u64, b * 48);
        common::check_outputs(&format!("wide mlp on {}", dev.info().label()), &gpu, &m64, &x, 1e-6, reduce, true);
    }
    assert!(gpu.fallbacks().is_empty());
}

#[test]
fn wide_mlp_langevin_matches_cpu_on_default_adapter() {
    let dev = common::device("wide_mlp_langevin_matches_cpu_on_default_adapter");
    let m = wide(3);
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let (steps, b, d) = (4, 37, 48);
    let x0 = common::to32(&common::normal32(7, b * d));
    let (mut xc, mut xg) = (x0.clone(), x0.clone());
    langevin::ula(&m, &mut xc, 0.05, steps, 99, 10).unwrap();
    // The chains run on the persistent kernel: all the steps in one launch.
    for mala in [false, true] {
        assert!(matches!(gpu.tiled_langevin_path(mala), Some(LangevinPath::Persistent { .. })), "mala={mala}");
    }
    let n0 = gpu.tiled_launch_count().unwrap();
    gpu.langevin_ula(&mut xg, 0.05, steps, 99, 10).unwrap();
    assert_eq!(gpu.tiled_launch_count().unwrap() - n0, 1, "one persistent ULA launch");
    let label = dev.info().label();
    Tolerance::new(1e-4, 1e-5).assert_all_close(&format!("wide ULA on {label}"), &xg, &xc);
    assert_ne!(xg, x0, "the chains moved");

    let (mut xc, mut xg) = (x0.clone(), x0.clone());
    let (mut ac, mut ag) = (vec![0u32; b], vec![0u32; b]);
    let rc = langevin::mala(&m, &mut xc, 0.05, steps, 5, 0, &mut ac).unwrap();
    let n0 = gpu.tiled_launch_count().unwrap();
    let rg = gpu.langevin_mala(&mut xg, 0.05, steps, 5, 0, &mut ag).unwrap();
    assert_eq!(gpu.tiled_launch_count().unwrap() - n0, 1, "one persistent MALA launch");
    // A proposal whose log α is within rounding of the uniform may be
    // decided differently; at this step size none is expected.
    assert_eq!(ag, ac, "MALA accepts on {label}");
    assert_eq!(rg, rc);
    assert!(rc > 0.0, "some proposals accepted");
    Tolerance::new(1e-4, 1e-5).assert_all_close(&format!("wide MALA on {label}"), &xg, &xc);
    assert!(gpu.fallbacks().is_empty());
}

#[test]
fn params_updates_reach_the_tiled_kernels_on_default_adapter() {
    let dev = common::device("params_updates_reach_the_tiled_kernels_on_default_adapter");
    let m = Mlp::<f32>::init(5, &[40, 24], Activation::Tanh, 4).unwrap();
    let mut gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let x = common::to32(&common::normal32(3, 70 * 5));
    let mut e0 = vec![0f32; 70];
    gpu.energy(&x, &mut e0).unwrap();
    let theta: Vec<f32> = m.params().iter().map(|v| v * 0.5 + 0.01).collect();
    gpu.set_params(&theta).unwrap();
    let mut cpu = m.clone();
    cpu.set_params(&theta).unwrap();
    let (mut eg, mut ec) = (vec![0f32; 70], vec![0f32; 70]);
    gpu.energy(&x, &mut eg).unwrap();
    cpu.energy(&x, &mut ec).unwrap();
    Tolerance::new(1e-5, 1e-6).assert_all_close("energy after set_params", &eg, &ec);
    assert!(eg.iter().zip(&e0).any(|(a, b)| a != b), "θ changed the energies");
    // and through params_mut, for a gradient
    gpu.params_mut()[0] += 0.25;
    cpu.params_mut()[0] += 0.25;
    let w = vec![1.0 / 70.0; 70];
    let (mut gg, mut gc) = (vec![0f32; m.num_params()], vec![0f32; m.num_params()]);
    gpu.grad_params_energy(&x, &w, &mut gg).unwrap();
    cpu.grad_params_energy(&x, &w, &mut gc).unwrap();
    let scale = gc.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
    Tolerance::new(1e-4, 1e-4 * scale).assert_all_close("grad after params_mut", &gg, &gc);
}

#[test]
fn per_sample_kernels_refuse_a_wide_mlp_on_a_software_adapter() {
    let dev = common::device("per_sample_kernels_refuse_a_wide_mlp_on_a_software_adapter");
    let gpu = GpuEnergy::with_mlp_kernels(&dev, wide(5), MlpKernels::PerSample).unwrap();
    assert_eq!(gpu.mlp_kernels(), Some(MlpKernels::PerSample));
    match dev.loop_budget() {
        // A software adapter: the per-sample Hessian does not fit, and says so.
        Some(_) => {
            let p = gpu.placement(Op::HessDiag);
            assert!(matches!(p, Placement::Refused(_)), "{p:?}");
            let x = vec![0.1f32; 48];
            let (mut e, mut s, mut h) = (vec![0f32; 1], vec![0f32; 48], vec![0f32; 48]);
            let err = gpu.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap_err();
            assert!(common::not_on_device(&err).is_some(), "{err}");
        }
        // A hardware GPU runs it.
        None => assert_eq!(gpu.placement(Op::HessDiag), Placement::Device),
    }
}

#[test]
fn tiled_kernels_beyond_a_loop_budget_are_refused_on_default_adapter() {
    let dev = common::device("tiled_kernels_beyond_a_loop_budget_are_refused_on_default_adapter");
    // The second layer's product loops ⌈256/bk⌉ + 1 = 17 times per
    // invocation (bk = 16): a budget of 10 (9 planned) cannot hold it.
    let m = Mlp::<f32>::init(4, &[256, 64], Activation::Softplus, 8).unwrap();
    let refuse = GpuEnergy::new(&dev, m.clone()).unwrap().with_loop_budget(Some(10));
    let p = refuse.placement(Op::Energy);
    assert!(matches!(&p, Placement::Refused(w) if w.reason.contains("loop budget")), "{p:?}");
    let x = common::to32(&common::normal32(1, 3 * 4));
    let err = refuse.energy(&x, &mut [0f32; 3]).unwrap_err();
    assert_eq!(common::not_on_device(&err).map(|n| n.op), Some(Op::Energy), "{err}");
    let twin = GpuEnergy::new(&dev, m.clone())
        .unwrap()
        .with_loop_budget(Some(10))
        .with_fallback(ebm_kernels::Fallback::CpuTwin);
    let (mut e, mut c) = (vec![0f32; 3], vec![0f32; 3]);
    twin.energy(&x, &mut e).unwrap();
    m.energy(&x, &mut c).unwrap();
    assert_eq!(e, c, "the CPU twin's bits");
    assert_eq!(twin.fallbacks().iter().map(|r| (r.op, r.count)).collect::<Vec<_>>(), [(Op::Energy, 1)]);
}
