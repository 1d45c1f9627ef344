//! The fused MLP kernels against the f64 CPU twin `ebm_core::mlp::Mlp`.

mod common;

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_kernels::GpuEnergy;

/// f32 rounding per operation, grown with the reduction length below.
const RTOL: f64 = 1e-6;

fn reduce_len(d: usize, hidden: &[usize]) -> usize {
    // the longest dot product times the depth the error travels through
    let w = hidden.iter().copied().chain([d]).max().unwrap();
    w * (hidden.len() + 1)
}

fn run(dev: &ebm_kernels::GpuDevice, d: usize, hidden: &[usize], act: Activation, seed: u64, global: bool) {
    let m32 = Mlp::<f32>::init(d, hidden, act, seed).unwrap();
    let m64: Mlp<f64> = m32.cast();
    let gpu = if global { GpuEnergy::new_global_params(dev, m32).unwrap() } else { GpuEnergy::new(dev, m32).unwrap() };
    let label = format!("mlp d={d} hidden={hidden:?} {act} shared={} on {}", gpu.spec().shared, dev.info().label());
    for (k, &b) in common::BATCHES.iter().enumerate() {
        let x = common::uniform32(seed * 100 + k as u64, b * d, -2.0, 2.0);
        common::check_outputs(&label, &gpu, &m64, &x, RTOL, reduce_len(d, hidden), act.is_smooth());
    }
}

#[test]
fn mlp_fused_kernels_match_cpu_on_default_adapter() {
    let dev = common::device("mlp_fused_kernels_match_cpu_on_default_adapter");
    run(&dev, 3, &[5], Activation::Softplus, 1, false);
    run(&dev, 6, &[8, 7], Activation::Tanh, 2, false);
    run(&dev, 5, &[16, 9, 12], Activation::Silu, 3, false);
    run(&dev, 4, &[10, 10], Activation::GeluTanh, 4, false);
    run(&dev, 7, &[12], Activation::Relu, 5, false);
    // θ of 10 705 values (42 KB): larger than lavapipe's 32 KB of shared
    // memory, so this one reads θ from global memory there.
    run(&dev, 16, &[128, 64], Activation::Tanh, 7, false);
}

#[test]
fn mlp_global_params_path_matches_cpu_on_default_adapter() {
    let dev = common::device("mlp_global_params_path_matches_cpu_on_default_adapter");
    run(&dev, 6, &[8, 7], Activation::Softplus, 6, true);
}

#[test]
fn mlp_relu_hess_is_refused_like_cpu_on_default_adapter() {
    let dev = common::device("mlp_relu_hess_is_refused_like_cpu_on_default_adapter");
    let m = Mlp::<f32>::init(3, &[4], Activation::Relu, 1).unwrap();
    let cpu_err = m.energy_score_hess_diag(&[0.0; 3], &mut [0.0], &mut [0.0; 3], &mut [0.0; 3]).unwrap_err();
    let gpu = GpuEnergy::new(&dev, m).unwrap();
    let gpu_err = gpu.energy_score_hess_diag(&[0.0; 3], &mut [0.0], &mut [0.0; 3], &mut [0.0; 3]).unwrap_err();
    assert_eq!(gpu_err, cpu_err, "on {}", dev.info().label());
}
