//! vᵦᵀ∇ₓ²E(xᵦ)vᵦ on the device (`GpuEnergy::v_hess_v`, [`ebm_kernels::vhv`])
//! against the f64 CPU twin, at the usual batch sizes: the MLP at several
//! shapes and smooth activations and the Gaussian, the ReLU error, the
//! refusal beyond the loop budget (and the opt-in CPU twin), and the input
//! errors. The other families and the θ-gradient: tests/curvature.rs.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_kernels::{Fallback, GpuDevice, GpuEnergy, MlpKernels, Op};

/// Reduction length of one sample's q: the forward, backward and tangent
/// sweeps through the widest layer per layer, and the sum over units.
fn reduce_len(m: &Mlp<f32>) -> usize {
    let dims = m.dims();
    let w = dims.iter().copied().max().unwrap();
    w * (dims.len() + 1) + dims.iter().sum::<usize>()
}

fn check(dev: &GpuDevice, m: &Mlp<f32>, seed: u64) {
    let d = m.dim();
    let label = format!("v_hess_v mlp d={d} {:?} {}", m.hidden(), m.activation());
    let m64 = m.cast::<f64>();
    let gpu = GpuEnergy::new(dev, m.clone()).unwrap();
    assert!(gpu.v_hess_v_on_device(), "{label}: expected the device path");
    for (b, s) in common::seeded_batches(seed) {
        let (want, got) =
            common::vhv_outputs(b, d, s, |x, v, o| m64.v_hess_v(x, v, o), |x, v, o| gpu.v_hess_v(x, v, o));
        assert!(common::max_abs(&want) > 0.0, "{label}: the reference q is zero");
        let tol = common::tol_for(1e-6, reduce_len(m), &want);
        eprintln!("{label} B={b}: worst/tol {:.3}", common::worst(&got, &want, &tol));
        tol.assert_all_close(&format!("{label} B={b} on {}", dev.info().label()), &got, &want);
    }
}

#[test]
fn v_hess_v_matches_cpu_for_mlp_on_default_adapter() {
    let dev = common::device("v_hess_v_matches_cpu_for_mlp_on_default_adapter");
    let wider: [(usize, &[usize], Activation); 3] = [
        (16, &[64, 48], Activation::Softplus),
        (8, &[32], Activation::Tanh),
        // The bench's smallest shape: about 51 000 loop iterations per
        // sample, within llvmpipe's budget in one launch (a wrong count
        // would show as truncated, wrong values here).
        (2, &[128, 128], Activation::Softplus),
    ];
    for (i, (d, h, a)) in common::SMOOTH_MLPS.into_iter().chain(wider).enumerate() {
        let m = Mlp::<f32>::init(d, h, a, 11 + i as u64).unwrap();
        check(&dev, &m, 1 + i as u64);
    }
}

#[test]
fn over_budget_v_hess_v_is_refused_or_runs_on_the_twin_when_asked_on_default_adapter() {
    let dev = common::device("over_budget_v_hess_v_is_refused_or_runs_on_the_twin_when_asked_on_default_adapter");
    let (b, d) = (9usize, 6usize);
    let x = common::to32(&common::normal32(61, b * d));
    let v = common::to32(&common::normal32(62, b * d));
    // A budget too small for one sample (and, on llvmpipe's own budget, a
    // model whose sample runs far beyond 65 536 loop iterations): refused
    // by default, the CPU twin bit for bit (and recorded) when asked.
    let small = Mlp::<f32>::init(d, &[8, 6], Activation::Softplus, 31).unwrap();
    let big = Mlp::<f32>::init(d, &[160, 160, 160], Activation::Tanh, 32).unwrap();
    for (m, budget) in [(&small, Some(Some(200))), (&big, None)] {
        // The one-thread-per-sample kernels (the tiled ones have no
        // per-sample loop count to exceed: tests/curvature.rs).
        let mut gpu = GpuEnergy::with_mlp_kernels(&dev, m.clone(), MlpKernels::PerSample).unwrap();
        if let Some(bud) = budget {
            gpu = gpu.with_loop_budget(bud);
        }
        let (mut g, mut c) = (vec![f32::NAN; b], vec![0f32; b]);
        m.v_hess_v(&x, &v, &mut c).unwrap();
        if budget.is_some() || dev.loop_budget().is_some() {
            assert!(!gpu.v_hess_v_on_device());
            let err = gpu.v_hess_v(&x, &v, &mut g).unwrap_err();
            assert_eq!(common::not_on_device(&err).map(|n| n.op), Some(Op::VHessV), "{err}");
            let gpu = gpu.with_fallback(Fallback::CpuTwin);
            gpu.v_hess_v(&x, &v, &mut g).unwrap();
            assert_eq!(g, c, "{:?}: the fallback must be the CPU twin", m.hidden());
            assert_eq!(gpu.fallbacks().iter().map(|r| (r.op, r.count)).collect::<Vec<_>>(), [(Op::VHessV, 1)]);
        } else {
            // No budget: the big model runs on the device.
            gpu.v_hess_v(&x, &v, &mut g).unwrap();
            let tol = common::tol_for(1e-6, 4 * 160 + 500, &c.iter().map(|&a| a as f64).collect::<Vec<_>>());
            tol.assert_all_close("big mlp on the device", &g, &c.iter().map(|&a| a as f64).collect::<Vec<_>>());
        }
    }
}

#[test]
fn v_hess_v_errors_match_the_cpu_twin_on_default_adapter() {
    let dev = common::device("v_hess_v_errors_match_the_cpu_twin_on_default_adapter");
    let x = [0.5f32; 6];
    let relu = Mlp::<f32>::init(3, &[4], Activation::Relu, 2).unwrap();
    let gpu = GpuEnergy::new(&dev, relu.clone()).unwrap();
    let (mut g, mut c) = ([0f32; 2], [0f32; 2]);
    let v = [0.25f32; 6];
    assert_eq!(gpu.v_hess_v(&x, &v, &mut g).unwrap_err(), relu.v_hess_v(&x, &v, &mut c).unwrap_err());
    let m = Mlp::<f32>::init(3, &[4], Activation::Tanh, 2).unwrap();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let bad_v = [0.0f32, f32::NEG_INFINITY, 0.0, 0.0, 0.0, 0.0];
    let bad_x = [0.0f32, f32::INFINITY, 0.0, 0.0, 0.0, 0.0];
    let cases: [(&[f32], &[f32], usize); 5] =
        [(&x[..5], &v, 2), (&x, &v[..5], 2), (&x, &bad_v, 2), (&bad_x, &v, 2), (&x, &v, 1)];
    for (xx, vv, n) in cases {
        assert_eq!(
            gpu.v_hess_v(xx, vv, &mut g[..n]).unwrap_err(),
            m.v_hess_v(xx, vv, &mut c[..n]).unwrap_err(),
            "x {xx:?} v {vv:?} out {n}"
        );
    }
}

#[test]
fn v_hess_v_matches_cpu_for_gaussian_on_default_adapter() {
    let dev = common::device("v_hess_v_matches_cpu_for_gaussian_on_default_adapter");
    for (k, d) in [1usize, 4, 33].into_iter().enumerate() {
        let g = Gaussian::<f32>::init(d, 5 + k as u64).unwrap();
        let g64 = g.cast::<f64>();
        let gpu = GpuEnergy::new(&dev, g.clone()).unwrap();
        assert!(gpu.v_hess_v_on_device(), "gaussian d={d}: expected the device path");
        for &b in &common::BATCHES {
            let s = 700 + 10 * k as u64;
            let (want, got) =
                common::vhv_outputs(b, d, s, |x, v, o| g64.v_hess_v(x, v, o), |x, v, o| gpu.v_hess_v(x, v, o));
            let tol = common::tol_for(1e-6, 2 * d, &want);
            eprintln!("v_hess_v gaussian d={d} B={b}: worst/tol {:.3}", common::worst(&got, &want, &tol));
            tol.assert_all_close(&format!("gaussian d={d} B={b} on {}", dev.info().label()), &got, &want);
        }
        // Beyond a (tiny) loop budget: refused, or (opt-in) the CPU twin,
        // bit for bit.
        let small = GpuEnergy::new(&dev, g.clone()).unwrap().with_loop_budget(Some(10));
        assert!(!small.v_hess_v_on_device());
        let x = common::to32(&common::normal32(71, 7 * d));
        let v = common::to32(&common::normal32(72, 7 * d));
        let (mut a, mut c) = (vec![0f32; 7], vec![0f32; 7]);
        assert!(common::not_on_device(&small.v_hess_v(&x, &v, &mut a).unwrap_err()).is_some());
        let small = small.with_fallback(Fallback::CpuTwin);
        small.v_hess_v(&x, &v, &mut a).unwrap();
        g.v_hess_v(&x, &v, &mut c).unwrap();
        assert_eq!(a, c);
    }
}
