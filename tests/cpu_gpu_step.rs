//! One training step of each estimator on the CPU and on the GPU backend
//! agrees within f32 tolerance: the estimators are written once against
//! `Energy`, and `GpuEnergy` runs the fused kernels behind it (energy,
//! score, Hessian diagonal and the Langevin chains on the device).
//!
//! Runs on the default wgpu adapter (`EBM_ADAPTER` selects another). With
//! no adapter the test fails with the install hint.

use ebm::estimators::samplers::Ula;
use ebm::estimators::ssm::{Projection, Ssm};
use ebm::estimators::{Cd, Dsm, Estimator, ExactSm, StepCtx};
use ebm::kernels::{GpuDevice, GpuEnergy};
use ebm::prelude::*;
use ebm::testing::Tolerance;
use ebm::{Activation, Mlp};

/// The default adapter, with CubeCL's bounds checking (`check_mode =
/// "validate"`) switched on before the first kernel compiles, so an
/// out-of-bounds access fails the test. (The root package has no
/// `cubecl.toml`: one here would also put the benches in validate mode.)
fn device() -> GpuDevice {
    use ebm::kernels::cubecl::config::compilation::BoundsCheckMode;
    use ebm::kernels::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    static VALIDATE: std::sync::Once = std::sync::Once::new();
    VALIDATE.call_once(|| {
        let mut config = CubeClRuntimeConfig::default();
        config.compilation.check_mode = BoundsCheckMode::Validate;
        let _ = CubeClRuntimeConfig::try_set(config);
    });
    let mode = CubeClRuntimeConfig::get().compilation.check_mode;
    assert!(matches!(mode, BoundsCheckMode::Validate), "bounds checking is off: {mode:?}");
    match GpuDevice::from_env() {
        Ok(d) => {
            println!("adapter: {}", d.info());
            d
        }
        Err(e) => panic!("no GPU adapter for the CPU/GPU step test: {e}"),
    }
}

fn step_on<E: Estimator<f32>>(est: &mut E, model: &(dyn Model<f32> + 'static), x: &[f32]) -> (f64, Vec<f32>) {
    let mut g = vec![0f32; model.num_params() + est.aux_params().len()];
    let (loss, _) = est.step(model, x, StepCtx::new(17, 3), &mut g).expect("step");
    (loss, g)
}

fn compare<E: Estimator<f32> + Clone>(name: &str, est: E, tol: Tolerance) {
    let dev = device();
    let cpu = Mlp::<f32>::init(3, &[16, 16], Activation::Softplus, 5).expect("mlp");
    let gpu = GpuEnergy::new(&dev, cpu.clone()).expect("gpu model");
    for b in [7usize, 1000] {
        let x: Vec<f32> = ebm::testing::normal_vec(9, b * 3).iter().map(|&v| v as f32).collect();
        let (lc, gc) = step_on(&mut est.clone(), &cpu, &x);
        let (lg, gg) = step_on(&mut est.clone(), &gpu, &x);
        let what = format!("{name} on {} (B={b})", dev.info().label());
        assert!(tol.close(lg, lc), "{what}: loss gpu {lg} vs cpu {lc}");
        assert_grad_close(&what, &gg, &gc, tol.rtol);
    }
}

/// Every component within `rtol` of the CPU gradient's largest component
/// (plus `rtol` of its own size). The estimators' gradients are batch
/// means, so their scale does not grow with B, and neither does the bound:
/// the same `rtol` at B = 7 and B = 1000. Fails on a gradient of zeros.
#[track_caller]
fn assert_grad_close(what: &str, got: &[f32], want: &[f32], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: gradient lengths differ");
    let scale = want.iter().fold(0f64, |m, &w| m.max((w as f64).abs()));
    assert!(scale > 0.0 && scale.is_finite(), "{what}: CPU gradient scale {scale}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g as f64, w as f64);
        let bound = rtol * (scale + w.abs());
        assert!(
            (g - w).abs() <= bound,
            "{what}: gradient[{i}] gpu {g} vs cpu {w} (bound {bound:.3e}, scale {scale:.3e})"
        );
    }
}

#[test]
fn exact_sm_step_matches_cpu_on_default_adapter() {
    compare("exact SM", ExactSm::new(), Tolerance::new(1e-4, 1e-5));
}

#[test]
fn dsm_step_matches_cpu_on_default_adapter() {
    compare("DSM", Dsm::<f32>::new(0.1), Tolerance::new(1e-4, 1e-5));
}

#[test]
fn cd_step_matches_cpu_on_default_adapter() {
    // 10 Langevin steps on the device against the CPU chain with the same
    // Philox noise; f32 rounding drifts slowly along the chain.
    compare("CD-10", Cd::<f32, Ula>::new(Ula::new(0.05, 10)), Tolerance::new(2e-3, 1e-4));
}

#[test]
fn ssm_vr_step_matches_cpu_on_default_adapter() {
    compare("SSM-VR", Ssm::new(2, Projection::Rademacher).variance_reduced(), Tolerance::new(1e-4, 1e-5));
}

#[test]
fn ssm_step_matches_cpu_on_default_adapter() {
    // The exact Hessian term: vᵀ∇ₓ²E v from the device kernel (the MLP
    // `v_hess_v`), its θ-gradient on the CPU twin.
    compare("SSM", Ssm::new(2, Projection::Gaussian), Tolerance::new(1e-4, 1e-5));
}
