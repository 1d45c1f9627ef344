//! The fused Gaussian, ICA, mixture and RBM kernels against their f64 CPU
//! twins, on fresh seeded random parameters and inputs.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_kernels::{GpuDevice, GpuEnergy, GpuFamily};

/// f32 rounding per operation, grown with the reduction length.
const RTOL: f64 = 1e-6;

/// A packed lower triangle (d×d) with diagonal entries ±[0.5, 1.5] and
/// off-diagonal entries in [−0.4, 0.4].
fn tri_factor(seed: u64, d: usize) -> Vec<f64> {
    let vals = common::uniform32(seed, d * (d + 1) / 2, -0.4, 0.4);
    let diag = common::uniform32(seed + 1, d, 0.5, 1.5);
    let mut out = Vec::with_capacity(vals.len());
    let mut t = 0;
    for i in 0..d {
        for j in 0..=i {
            out.push(if j == i {
                if i % 2 == 0 {
                    diag[i]
                } else {
                    -diag[i]
                }
            } else {
                vals[t]
            });
            t += 1;
        }
    }
    out
}

fn check_family<M: GpuFamily, C: Model<f64>>(
    dev: &GpuDevice,
    label: &str,
    m32: M,
    m64: &C,
    seed: u64,
    reduce: usize,
    x_scale: f64,
) {
    let d = m64.dim();
    for global in [false, true] {
        let gpu = if global {
            GpuEnergy::new_global_params(dev, m32.clone()).unwrap()
        } else {
            GpuEnergy::new(dev, m32.clone()).unwrap()
        };
        let label = format!("{label} shared={} on {}", gpu.spec().shared, dev.info().label());
        for (k, &b) in common::BATCHES.iter().enumerate() {
            if global && b > 7 {
                continue; // the global-θ path only needs a few sizes
            }
            let x = common::uniform32(seed * 1000 + k as u64, b * d, -x_scale, x_scale);
            common::check_outputs(&label, &gpu, m64, &x, RTOL, reduce, true);
        }
    }
}

#[test]
fn gaussian_fused_kernels_match_cpu_on_default_adapter() {
    let dev = common::device("gaussian_fused_kernels_match_cpu_on_default_adapter");
    for (d, seed) in [(1usize, 1u64), (5, 2), (13, 3)] {
        let mut p = common::uniform32(seed, d, -1.0, 1.0);
        p.extend(tri_factor(seed + 10, d));
        let m64 = Gaussian::<f64>::new(d, p.clone()).unwrap();
        let m32 = Gaussian::<f32>::new(d, common::to32(&p)).unwrap();
        check_family(&dev, &format!("gaussian d={d}"), m32, &m64, seed, 2 * d, 2.0);
    }
}

#[test]
fn ica_fused_kernels_match_cpu_on_default_adapter() {
    let dev = common::device("ica_fused_kernels_match_cpu_on_default_adapter");
    for (d, k, src, seed) in
        [(4usize, 4usize, Source::LogCosh, 1u64), (6, 9, Source::Logistic, 2), (5, 3, Source::StudentT, 3)]
    {
        let mut p: Vec<f64> =
            common::normal32(seed, k * d).iter().map(|v| (v / (d as f64).sqrt()) as f32 as f64).collect();
        if src == Source::StudentT {
            p.extend(common::uniform32(seed + 5, k, 0.5, 2.0));
        }
        let m64 = Ica::<f64>::new(d, k, src, p.clone()).unwrap();
        let m32 = Ica::<f32>::new(d, k, src, common::to32(&p)).unwrap();
        check_family(&dev, &format!("ica d={d} K={k} {src:?}"), m32, &m64, seed, d + k, 3.0);
    }
}

#[test]
fn mixture_fused_kernels_match_cpu_on_default_adapter() {
    let dev = common::device("mixture_fused_kernels_match_cpu_on_default_adapter");
    for (d, k, cov, seed) in [
        (3usize, 4usize, Covariance::Full, 1u64),
        (6, 2, Covariance::Full, 2),
        (5, 7, Covariance::Diagonal, 3),
        (1, 1, Covariance::Diagonal, 4),
    ] {
        let mut p = common::uniform32(seed, k, -1.0, 1.0);
        p.extend(common::uniform32(seed + 1, k * d, -1.5, 1.5));
        for c in 0..k {
            match cov {
                Covariance::Full => p.extend(tri_factor(seed * 100 + c as u64, d)),
                Covariance::Diagonal => p.extend(common::uniform32(seed * 100 + c as u64, d, -0.5, 0.5)),
            }
        }
        let m64 = GaussianMixture::<f64>::new(d, k, cov, p.clone()).unwrap();
        let m32 = GaussianMixture::<f32>::new(d, k, cov, common::to32(&p)).unwrap();
        check_family(&dev, &format!("mixture d={d} K={k} {cov:?}"), m32, &m64, seed, 2 * d + k, 2.0);
    }
}

#[test]
fn rbm_fused_kernels_match_cpu_on_default_adapter() {
    let dev = common::device("rbm_fused_kernels_match_cpu_on_default_adapter");
    for (d, h, seed) in [(4usize, 6usize, 1u64), (9, 3, 2), (2, 17, 3)] {
        let mut p = common::uniform32(seed, d, -0.5, 0.5);
        p.extend(common::uniform32(seed + 1, h, -0.5, 0.5));
        p.extend(common::uniform32(seed + 2, h * d, -0.6, 0.6));
        p.extend(common::uniform32(seed + 3, d, -0.3, 0.3));
        let m64 = GaussBernoulliRbm::<f64>::new(d, h, p.clone()).unwrap();
        let m32 = GaussBernoulliRbm::<f32>::new(d, h, common::to32(&p)).unwrap();
        check_family(&dev, &format!("rbm d={d} H={h}"), m32, &m64, seed, d + h, 2.0);
    }
}
