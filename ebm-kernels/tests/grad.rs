//! Σᵦ wᵦ∇θE(xᵦ) on the device against the f64 CPU twins.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_kernels::{GpuDevice, GpuEnergy, GpuFamily};

fn check<M: GpuFamily, C: Model<f64>>(dev: &GpuDevice, label: &str, m32: M, m64: &C, seed: u64, reduce: usize) {
    let d = m64.dim();
    let p = m64.num_params();
    for (k, &b) in common::BATCHES.iter().enumerate() {
        let gpu = GpuEnergy::new(dev, m32.clone()).unwrap();
        let x = common::uniform32(seed * 10 + k as u64, b * d, -2.0, 2.0);
        let w = common::uniform32(seed * 10 + k as u64 + 5, b, 0.0, 1.0);
        let want = common::sum_of_rows(d, p, &x, &[], &w, |x, _, w, g| m64.grad_params_energy(x, w, g).unwrap());
        let mut got = vec![f32::NAN; p];
        gpu.grad_params_energy(&common::to32(&x), &common::to32(&w), &mut got).unwrap();
        // Per-sample gradients (reduction length `reduce`) summed over b
        // samples: checked against the magnitude of the terms.
        common::assert_sum(
            &format!("{label} grad_params_energy B={b} on {}", dev.info().label()),
            &got,
            &want,
            1e-6,
            reduce + 16,
        );
    }
}

#[test]
fn grad_params_energy_matches_cpu_for_every_family_on_default_adapter() {
    let dev = common::device("grad_params_energy_matches_cpu_for_every_family_on_default_adapter");
    for (d, hidden, act) in [
        (3usize, vec![5usize], Activation::Softplus),
        (4, vec![8, 6], Activation::Tanh),
        (2, vec![7, 3, 5], Activation::Relu),
    ] {
        let m32 = Mlp::<f32>::init(d, &hidden, act, 3).unwrap();
        let m64: Mlp<f64> = m32.cast();
        let w = hidden.iter().copied().chain([d]).max().unwrap();
        check(&dev, &format!("mlp d={d} {hidden:?} {act}"), m32, &m64, 1, w * (hidden.len() + 1));
    }
    let g32 = Gaussian::<f32>::init(5, 2).unwrap();
    check(&dev, "gaussian d=5", g32.clone(), &g32.cast::<f64>(), 2, 10);
    for src in [Source::LogCosh, Source::Logistic, Source::StudentT] {
        let i32_ = Ica::<f32>::init(4, 6, src, 3).unwrap();
        check(&dev, &format!("ica {src:?}"), i32_.clone(), &i32_.cast::<f64>(), 3, 8);
    }
    for cov in [Covariance::Full, Covariance::Diagonal] {
        let mut p = common::uniform32(9, 3, -1.0, 1.0);
        p.extend(common::uniform32(10, 3 * 4, -1.5, 1.5));
        let fl = cov.factor_len(4);
        for c in 0..3 {
            let mut f = common::uniform32(20 + c, fl, -0.3, 0.3);
            if cov == Covariance::Full {
                for i in 0..4 {
                    f[i * (i + 1) / 2 + i] = if i % 2 == 0 { 1.0 + 0.1 * c as f64 } else { -0.8 };
                }
            }
            p.extend(f);
        }
        let m64 = GaussianMixture::<f64>::new(4, 3, cov, p.clone()).unwrap();
        let m32 = GaussianMixture::<f32>::new(4, 3, cov, common::to32(&p)).unwrap();
        check(&dev, &format!("mixture {cov:?}"), m32, &m64, 4, 16);
    }
    let mut p = common::uniform32(30, 4 + 6, -0.5, 0.5);
    p.extend(common::uniform32(31, 6 * 4, -0.6, 0.6));
    p.extend(common::uniform32(32, 4, -0.3, 0.3));
    let r64 = GaussBernoulliRbm::<f64>::new(4, 6, p.clone()).unwrap();
    let r32 = GaussBernoulliRbm::<f32>::new(4, 6, common::to32(&p)).unwrap();
    check(&dev, "rbm", r32, &r64, 5, 10);
}

#[test]
fn grad_params_energy_with_chunked_batches_on_default_adapter() {
    // A loop budget that forces several reduction chunks.
    let dev = common::device("grad_params_energy_with_chunked_batches_on_default_adapter");
    let m = Mlp::<f32>::init(3, &[6], Activation::Silu, 4).unwrap();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap().with_loop_budget(Some(1000));
    let b = 4099;
    let x = common::to32(&common::normal32(1, b * 3));
    let w = vec![1.0f32 / b as f32; b];
    let mut got = vec![0f32; m.num_params()];
    gpu.grad_params_energy(&x, &w, &mut got).unwrap();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let m64 = m.cast::<f64>();
    let want =
        common::sum_of_rows(3, m.num_params(), &x64, &[], &w64, |x, _, w, g| m64.grad_params_energy(x, w, g).unwrap());
    common::assert_sum(&format!("chunked grad on {}", dev.info().label()), &got, &want, 1e-6, 6 + 16);
}
