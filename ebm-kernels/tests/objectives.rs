//! The fused training objectives of `GpuEnergy` (`ebm_core::Objectives`:
//! `weighted_energy_grad`, `score_regression_grad`, `sm_loss_grad`,
//! `nce_loss_grad`), each computed wholly on the device, against the f64
//! CPU twins on fresh seeded inputs at the usual batch sizes, for the MLP
//! and the other families. Each asserts that the device path ran (the
//! placements of its kernels, and no fallback recorded).
//!
//! Tolerances are per entry: a relative part times Σᵦ|termᵦ| (the
//! magnitude of the per-sample terms summed into the entry, from the f64
//! twin one sample at a time) plus a floor of the same scale, so they do
//! not grow with the batch size.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_kernels::{GpuDevice, GpuEnergy, GpuFamily, MlpKernels, Op, Placement};

const RTOL: f64 = 2e-4;

/// Entrywise Σᵦ|rowᵦ| and Σᵦ|lossᵦ| of the `b` per-sample results of `one`.
fn magnitudes(b: usize, p: usize, one: impl Fn(usize, &mut [f64]) -> f64) -> (Vec<f64>, f64) {
    let (mut acc, mut loss, mut g) = (vec![0.0; p], 0.0, vec![0.0; p]);
    for j in 0..b {
        loss += one(j, &mut g).abs();
        acc.iter_mut().zip(&g).for_each(|(a, v)| *a += v.abs());
    }
    (acc, loss)
}

/// |got − want| ≤ RTOL·(scaleᵢ + 10⁻²·max scale) for every entry.
fn assert_close(what: &str, got: &[f32], want: &[f64], scale: &[f64]) {
    let floor = 1e-2 * scale.iter().copied().fold(0.0, f64::max);
    let mut worst = 0.0f64;
    for (i, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let r = (g as f64 - w).abs() / (RTOL * (s + floor));
        assert!(r <= 1.0 && r.is_finite(), "{what}: entry {i}: got {g}, want {w} (scale {s}, ratio {r:.3})");
        worst = worst.max(r);
    }
    eprintln!("{what}: worst/tol {worst:.4}");
}

fn rows(x: &[f64], d: usize, j: usize) -> &[f64] {
    &x[j * d..(j + 1) * d]
}

fn check<M: GpuFamily, C: Model<f64>>(dev: &GpuDevice, label: &str, m32: M, m64: &C, seed: u64) {
    check_with(dev, label, m32, m64, seed, MlpKernels::Tiled, &common::BATCHES)
}

fn check_with<M: GpuFamily, C: Model<f64>>(
    dev: &GpuDevice,
    label: &str,
    m32: M,
    m64: &C,
    seed: u64,
    kernels: MlpKernels,
    batches: &[usize],
) {
    let gpu = GpuEnergy::with_mlp_kernels(dev, m32, kernels).unwrap();
    for op in [Op::Energy, Op::EnergyScore, Op::HessDiag, Op::GradEnergy, Op::GradVDotGradX, Op::GradSm] {
        assert_eq!(gpu.placement(op), Placement::Device, "{label}: {op}");
    }
    let (d, p) = (m64.dim(), m64.num_params());
    for (k, &b) in batches.iter().enumerate() {
        let s = seed * 100 + 10 * k as u64;
        let at = format!("{label} ({kernels:?}) B={b} on {}", dev.info().label());
        let x = common::normal32(s, b * d);
        let w = common::uniform32(s + 1, b, 0.1, 1.0);
        let (x32, w32) = (common::to32(&x), common::to32(&w));
        let mut g = vec![f32::NAN; p];
        let mut want = vec![0.0; p];

        // weighted_energy_grad: E and Σ w∇θE (CD's ±1/B weights, signed).
        let ws: Vec<f64> = w.iter().enumerate().map(|(j, &v)| if j % 2 == 0 { v } else { -v }).collect();
        let mut e = vec![f32::NAN; b];
        let mut e_want = vec![0.0; b];
        gpu.grad_params_energy_weighted(&x32, &common::to32(&ws), &mut e, &mut g).unwrap();
        m64.grad_params_energy_weighted(&x, &ws, &mut e_want, &mut want).unwrap();
        let (scale, _) = magnitudes(b, p, |j, r| {
            m64.grad_params_energy(rows(&x, d, j), &ws[j..j + 1], r).unwrap();
            0.0
        });
        let e_scale: Vec<f64> = e_want.iter().map(|v| v.abs() + 1.0).collect();
        assert_close(&format!("weighted_energy_grad energy {at}"), &e, &e_want, &e_scale);
        assert_close(&format!("weighted_energy_grad grad {at}"), &g, &want, &scale);

        // score_regression_grad (DSM) at a noisy batch and target.
        let t = common::normal32(s + 2, b * d);
        let loss = gpu.grad_params_score_regression(&x32, &common::to32(&t), &w32, &mut g).unwrap();
        let loss_want = m64.grad_params_score_regression(&x, &t, &w, &mut want).unwrap();
        let (scale, lscale) = magnitudes(b, p, |j, r| {
            m64.grad_params_score_regression(rows(&x, d, j), rows(&t, d, j), &w[j..j + 1], r).unwrap()
        });
        assert_close(&format!("score_regression_grad loss {at}"), &[loss as f32], &[loss_want], &[lscale]);
        assert_close(&format!("score_regression_grad grad {at}"), &g, &want, &scale);

        // sm_loss_grad (exact SM).
        let loss = gpu.sm_loss_grad_params(&x32, &w32, &mut g).unwrap();
        let loss_want = m64.sm_loss_grad_params(&x, &w, &mut want).unwrap();
        let (scale, lscale) =
            magnitudes(b, p, |j, r| m64.sm_loss_grad_params(rows(&x, d, j), &w[j..j + 1], r).unwrap());
        assert_close(&format!("sm_loss_grad loss {at}"), &[loss as f32], &[loss_want], &[lscale]);
        assert_close(&format!("sm_loss_grad grad {at}"), &g, &want, &scale);

        // nce_loss_grad: B data points, 2B noise points.
        let nu = 2;
        let mut pts = x.clone();
        pts.extend(common::normal32(s + 3, nu * b * d).iter().map(|v| 1.5 * v));
        let lpn: Vec<f64> = common::uniform32(s + 4, (1 + nu) * b, -4.0, -1.0);
        let c = 0.3;
        let out = gpu.nce_loss_grad_params(&common::to32(&pts), b, &lpn, c, nu, &mut g).unwrap();
        let out_want = m64.nce_loss_grad_params(&pts, b, &lpn, c, nu, &mut want).unwrap();
        let n = pts.len() / d;
        let mut en = vec![0.0; n];
        m64.energy(&pts, &mut en).unwrap();
        let batch = ebm_core::NceBatch::new(ebm_core::Batch::new(&pts, d).unwrap(), b, &lpn, c, nu).unwrap();
        let wn: Vec<f64> = (0..n).map(|j| batch.dloss(j, batch.logit(j, en[j])) / n as f64).collect();
        let (scale, _) = magnitudes(n, p, |j, r| {
            m64.grad_params_energy(rows(&pts, d, j), &wn[j..j + 1], r).unwrap();
            0.0
        });
        let dc_scale: f64 = wn.iter().map(|v| v.abs()).sum();
        assert_close(&format!("nce_loss_grad loss {at}"), &[out.loss as f32], &[out_want.loss], &[out_want.loss]);
        assert_close(&format!("nce_loss_grad dL/dc {at}"), &[out.dloss_dc as f32], &[out_want.dloss_dc], &[dc_scale]);
        assert_close(&format!("nce_loss_grad grad {at}"), &g, &want, &scale);
    }
    assert!(gpu.fallbacks().is_empty(), "{label}: {:?}", gpu.fallbacks());
}

#[test]
fn fused_objectives_match_cpu_for_mlp_on_default_adapter() {
    let dev = common::device("fused_objectives_match_cpu_for_mlp_on_default_adapter");
    for (i, (d, h, a)) in
        [(3usize, vec![8usize, 6], Activation::Softplus), (5, vec![12, 9], Activation::Tanh)].into_iter().enumerate()
    {
        let m = Mlp::<f32>::init(d, &h, a, 61 + i as u64).unwrap();
        for kernels in [MlpKernels::Tiled, MlpKernels::PerSample] {
            let label = format!("mlp d={d} {h:?} {a}");
            check_with(&dev, &label, m.clone(), &m.cast::<f64>(), 1 + i as u64, kernels, &common::BATCHES);
        }
    }
}

/// A width users train (one sample exceeds a software adapter's loop
/// budget in the per-sample kernels): the tiled kernels run every
/// objective on the device.
#[test]
fn fused_objectives_match_cpu_for_a_wide_mlp_on_default_adapter() {
    let dev = common::device("fused_objectives_match_cpu_for_a_wide_mlp_on_default_adapter");
    let m = Mlp::<f32>::init(48, &[192, 160], Activation::Softplus, 67).unwrap();
    check_with(&dev, "mlp d=48 [192, 160]", m.clone(), &m.cast::<f64>(), 9, MlpKernels::Tiled, &[1, 37, 300]);
}

#[test]
fn fused_objectives_match_cpu_for_other_families_on_default_adapter() {
    let dev = common::device("fused_objectives_match_cpu_for_other_families_on_default_adapter");
    let g = Gaussian::<f32>::init(4, 3).unwrap();
    check(&dev, "gaussian", g.clone(), &g.cast::<f64>(), 11);
    let i = Ica::<f32>::init(3, 4, Source::StudentT, 4).unwrap();
    check(&dev, "ica", i.clone(), &i.cast::<f64>(), 12);
    let r = GaussBernoulliRbm::<f32>::init(4, 5, 5).unwrap();
    check(&dev, "rbm", r.clone(), &r.cast::<f64>(), 13);
    let m = GaussianMixture::<f32>::init(3, 3, Covariance::Full, 6).unwrap();
    check(&dev, "mixture", m.clone(), &m.cast::<f64>(), 14);
}
