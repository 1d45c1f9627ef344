//! The fused NCE logits, logistic loss and gradient against an f64
//! reference built from the CPU twin.

mod common;

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::testing::Tolerance;
use ebm_kernels::{GpuDevice, GpuEnergy, GpuFamily};

fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn check<M: GpuFamily, C: Model<f64>>(dev: &GpuDevice, label: &str, m32: M, m64: &C, b: usize, nu: usize) {
    let d = m64.dim();
    let n = b * (1 + nu);
    let x = common::uniform32(3 + b as u64, n * d, -2.0, 2.0);
    let lpn = common::uniform32(4 + b as u64, n, -4.0, -1.0);
    let c = 0.3;
    // f64 reference.
    let mut e = vec![0.0; n];
    m64.energy(&x, &mut e).unwrap();
    let log_nu = (nu as f64).ln();
    let g: Vec<f64> = (0..n).map(|j| -e[j] - c - lpn[j] - log_nu).collect();
    let loss = (0..n).map(|j| if j < b { softplus(-g[j]) } else { softplus(g[j]) }).sum::<f64>() / n as f64;
    let w: Vec<f64> = (0..n).map(|j| if j < b { sigmoid(-g[j]) } else { -sigmoid(g[j]) } / n as f64).collect();
    let grad =
        common::sum_of_rows(d, m64.num_params(), &x, &[], &w, |x, _, w, g| m64.grad_params_energy(x, w, g).unwrap());

    let gpu = GpuEnergy::new(dev, m32).unwrap();
    let mut got = vec![f32::NAN; m64.num_params()];
    let out = gpu.nce_loss_grad(&common::to32(&x), &common::to32(&lpn), b, c, nu, &mut got).unwrap();
    let at = format!("{label} B={b} ν={nu} on {}", dev.info().label());
    let t = Tolerance::new(1e-5, 1e-6);
    t.assert_all_close(&format!("{at}: logits"), &out.logits, &g);
    t.assert_all_close(&format!("{at}: weights"), &out.weights, &w);
    assert!(t.close(out.loss, loss), "{at}: loss {} vs {loss}", out.loss);
    assert!(t.close(out.dloss_dc, w.iter().sum()), "{at}: dL/dc");
    common::assert_sum(&format!("{at}: grad"), &got, &grad, 1e-6, 64 + 16);
}

#[test]
fn nce_loss_and_gradient_match_reference_on_default_adapter() {
    let dev = common::device("nce_loss_and_gradient_match_reference_on_default_adapter");
    let m = Mlp::<f32>::init(3, &[8, 5], Activation::Softplus, 2).unwrap();
    let r = GaussBernoulliRbm::<f32>::init(4, 6, 3).unwrap();
    for (b, nu) in [(1usize, 1usize), (7, 3), (1000, 1), (1367, 2)] {
        check(&dev, "mlp", m.clone(), &m.cast::<f64>(), b, nu);
        check(&dev, "rbm", r.clone(), &r.cast::<f64>(), b, nu);
    }
}

#[test]
fn nce_rejects_bad_shapes_on_default_adapter() {
    let dev = common::device("nce_rejects_bad_shapes_on_default_adapter");
    let m = Mlp::<f32>::init(2, &[3], Activation::Tanh, 1).unwrap();
    let gpu = GpuEnergy::new(&dev, m).unwrap();
    let mut g = vec![0f32; 13];
    assert!(gpu.nce_loss_grad(&[0.0; 8], &[0.0; 4], 1, 0.0, 2, &mut g).is_err(), "4 points are not 1 + 2·1");
    assert!(gpu.nce_loss_grad(&[0.0; 8], &[0.0; 4], 2, 0.0, 0, &mut g).is_err(), "ν = 0");
    assert!(gpu.nce_loss_grad(&[0.0; 8], &[0.0; 3], 2, 0.0, 1, &mut g).is_err(), "log_pn length");
    assert!(gpu.nce_loss_grad(&[0.0; 8], &[0.0; 4], 2, 0.0, 1, &mut g[..5]).is_err(), "grad length");
}
