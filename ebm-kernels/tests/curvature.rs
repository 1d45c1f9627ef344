//! The Hessian quadratic form vᵦᵀ∇ₓ²E(xᵦ)vᵦ of the ICA, RBM and mixture
//! families ([`ebm_kernels::vhv_families`]) and its θ-gradient
//! Σᵦ wᵦ∇θ(vᵦᵀ∇ₓ²E vᵦ) for every family ([`ebm_kernels::grad_vhv`]) on the
//! device, against the f64 CPU twins on fresh seeded inputs at the usual
//! batch sizes (none a multiple of the workgroup but 1). Each asserts that
//! the device path ran (placement, no fallback recorded).

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_kernels::{GpuDevice, GpuEnergy, GpuFamily, MlpKernels, Op, Placement};

fn gaussian(seed: u64, d: usize) -> Vec<f64> {
    let mut p = common::uniform32(seed, d, -1.0, 1.0);
    let mut l = common::uniform32(seed + 1, d * (d + 1) / 2, -0.4, 0.4);
    for i in 0..d {
        l[i * (i + 1) / 2 + i] = if i % 2 == 0 { 0.8 + 0.1 * i as f64 } else { -1.1 };
    }
    p.extend(l);
    p
}

fn ica(seed: u64, d: usize, k: usize, src: Source) -> Vec<f64> {
    let mut p = common::uniform32(seed, k * d, -1.0, 1.0);
    if src == Source::StudentT {
        p.extend(common::uniform32(seed + 1, k, 1.0, 3.0));
    }
    p
}

fn rbm(seed: u64, d: usize, h: usize) -> Vec<f64> {
    let mut p = common::uniform32(seed, d + h, -0.5, 0.5);
    p.extend(common::uniform32(seed + 1, h * d, -0.6, 0.6));
    p.extend(common::uniform32(seed + 2, d, -0.3, 0.3));
    p
}

fn mixture(seed: u64, d: usize, k: usize, cov: Covariance) -> Vec<f64> {
    // Means within the data's range so that several components share each
    // sample (γ away from 0 and 1).
    let mut p = common::uniform32(seed, k, -1.0, 1.0);
    p.extend(common::uniform32(seed + 1, k * d, -1.0, 1.0));
    for c in 0..k {
        let mut f = common::uniform32(seed + 2 + c as u64, cov.factor_len(d), -0.3, 0.3);
        if cov == Covariance::Full {
            for i in 0..d {
                f[i * (i + 1) / 2 + i] = if i % 2 == 0 { 1.0 + 0.1 * c as f64 } else { -0.8 };
            }
        }
        p.extend(f);
    }
    p
}

/// Every non-MLP family: (label, f32 model, f64 twin, reduction length).
fn with_families(mut f: impl FnMut(&str, &dyn Fn(&GpuDevice) -> Case, usize)) {
    let (d, k) = (4usize, 5usize);
    let p = gaussian(10, 5);
    f(
        "gaussian d=5",
        &move |dev| {
            Case::new(
                dev,
                Gaussian::<f32>::new(5, common::to32(&p)).unwrap(),
                Gaussian::<f64>::new(5, p.clone()).unwrap(),
            )
        },
        15,
    );
    for (i, src) in [Source::LogCosh, Source::Logistic, Source::StudentT].into_iter().enumerate() {
        let p = ica(20 + 2 * i as u64, d, k, src);
        let label = format!("ica {src:?}");
        f(
            &label,
            &move |dev| {
                Case::new(
                    dev,
                    Ica::<f32>::new(d, k, src, common::to32(&p)).unwrap(),
                    Ica::<f64>::new(d, k, src, p.clone()).unwrap(),
                )
            },
            3 * k * d,
        );
    }
    let p = rbm(30, d, 6);
    f(
        "rbm",
        &move |dev| {
            Case::new(
                dev,
                GaussBernoulliRbm::<f32>::new(d, 6, common::to32(&p)).unwrap(),
                GaussBernoulliRbm::<f64>::new(d, 6, p.clone()).unwrap(),
            )
        },
        3 * 6 * d,
    );
    for (i, cov) in [Covariance::Full, Covariance::Diagonal].into_iter().enumerate() {
        let p = mixture(40 + 10 * i as u64, d, 3, cov);
        let label = format!("mixture {cov:?}");
        f(
            &label,
            &move |dev| {
                Case::new(
                    dev,
                    GaussianMixture::<f32>::new(d, 3, cov, common::to32(&p)).unwrap(),
                    GaussianMixture::<f64>::new(d, 3, cov, p.clone()).unwrap(),
                )
            },
            4 * 3 * d * d,
        );
    }
}

/// vᵀ∇ₓ²E v of a batch (x, v, out).
type VhvFn<T> = Box<dyn Fn(&[T], &[T], &mut [T]) -> ebm_core::Result<()>>;
/// Σ w∇θ vᵀ∇ₓ²E v of a batch (x, v, w, grad).
type GradFn<T> = Box<dyn Fn(&[T], &[T], &[T], &mut [T]) -> ebm_core::Result<()>>;

/// A model on the device and its f64 twin, behind closures (the families
/// differ in type).
struct Case {
    dim: usize,
    p: usize,
    gpu_vhv: VhvFn<f32>,
    gpu_grad: GradFn<f32>,
    cpu_vhv: VhvFn<f64>,
    cpu_grad: GradFn<f64>,
    placements: (Placement, Placement),
    fallbacks: Box<dyn Fn() -> usize>,
}

impl Case {
    fn new<M: GpuFamily + 'static, C: Model<f64> + 'static>(dev: &GpuDevice, m32: M, m64: C) -> Self {
        Self::with(dev, m32, m64, MlpKernels::Tiled)
    }

    fn with<M: GpuFamily + 'static, C: Model<f64> + 'static>(
        dev: &GpuDevice,
        m32: M,
        m64: C,
        kernels: MlpKernels,
    ) -> Self {
        let gpu = std::rc::Rc::new(GpuEnergy::with_mlp_kernels(dev, m32, kernels).unwrap());
        let m64 = std::rc::Rc::new(m64);
        let (g1, g2, g3, c1, c2) = (gpu.clone(), gpu.clone(), gpu.clone(), m64.clone(), m64.clone());
        Case {
            dim: m64.dim(),
            p: m64.num_params(),
            placements: (gpu.placement(Op::VHessV), gpu.placement(Op::GradVHessV)),
            gpu_vhv: Box::new(move |x, v, o| g1.v_hess_v(x, v, o)),
            gpu_grad: Box::new(move |x, v, w, g| g2.grad_params_v_hess_v(x, v, w, g)),
            cpu_vhv: Box::new(move |x, v, o| c1.v_hess_v(x, v, o)),
            cpu_grad: Box::new(move |x, v, w, g| c2.grad_params_v_hess_v(x, v, w, g)),
            fallbacks: Box::new(move || g3.fallbacks().len()),
        }
    }
}

fn check_vhv(dev: &GpuDevice, label: &str, c: &Case, reduce: usize, seed: u64) {
    assert_eq!(c.placements.0, Placement::Device, "{label}: v_hess_v placement");
    let d = c.dim;
    for (b, s) in common::seeded_batches(seed) {
        let (want, got) = common::vhv_outputs(b, d, s, &c.cpu_vhv, &c.gpu_vhv);
        assert!(common::max_abs(&want) > 0.0, "{label}: the reference q is zero");
        let tol = common::tol_for(1e-6, reduce, &want);
        eprintln!("v_hess_v {label} B={b}: worst/tol {:.3}", common::worst(&got, &want, &tol));
        tol.assert_all_close(&format!("v_hess_v {label} B={b} on {}", dev.info().label()), &got, &want);
    }
    assert_eq!((c.fallbacks)(), 0, "{label}: nothing may run on the CPU twin");
}

fn check_grad(dev: &GpuDevice, label: &str, c: &Case, reduce: usize, seed: u64) {
    assert_eq!(c.placements.1, Placement::Device, "{label}: grad_params_v_hess_v placement");
    let d = c.dim;
    for (b, s) in common::seeded_batches(seed) {
        let (x, v) = (common::normal32(s, b * d), common::normal32(s + 1, b * d));
        // Signed weights, as SSM uses them.
        let w = common::uniform32(s + 2, b, -1.0, 1.0);
        let mut want = vec![0.0f64; c.p];
        (c.cpu_grad)(&x, &v, &w, &mut want).unwrap();
        let mut got = vec![f32::NAN; c.p];
        (c.gpu_grad)(&common::to32(&x), &common::to32(&v), &common::to32(&w), &mut got).unwrap();
        assert!(common::max_abs(&want) > 0.0, "{label}: the reference gradient is zero");
        // Per entry, Σᵦ|wᵦ∇θqᵦ| (the size of the terms summed into it,
        // from the f64 twin one sample at a time) sets the scale: the bound
        // does not grow with B.
        let (mut scale, mut row) = (vec![0.0f64; c.p], vec![0.0f64; c.p]);
        for j in 0..b {
            let r = j * d..(j + 1) * d;
            (c.cpu_grad)(&x[r.clone()], &v[r], &w[j..j + 1], &mut row).unwrap();
            scale.iter_mut().zip(&row).for_each(|(s, g)| *s += g.abs());
        }
        let floor = 1e-2 * scale.iter().copied().fold(0.0, f64::max);
        let rtol = 1e-6 * reduce as f64;
        let mut worst = 0.0f64;
        for (i, ((&g, &want_i), &s)) in got.iter().zip(&want).zip(&scale).enumerate() {
            let r = (g as f64 - want_i).abs() / (rtol * (s + floor));
            assert!(
                r <= 1.0 && r.is_finite(),
                "grad_v_hess_v {label} B={b} on {}: entry {i}: got {g}, want {want_i} (scale {s}, ratio {r:.3})",
                dev.info().label()
            );
            worst = worst.max(r);
        }
        eprintln!("grad_v_hess_v {label} B={b}: worst/tol {worst:.3}");
    }
    assert_eq!((c.fallbacks)(), 0, "{label}: nothing may run on the CPU twin");
}

#[test]
fn v_hess_v_matches_cpu_for_ica_rbm_mixture_on_default_adapter() {
    let dev = common::device("v_hess_v_matches_cpu_for_ica_rbm_mixture_on_default_adapter");
    let mut seed = 1;
    with_families(|label, make, reduce| {
        if !label.starts_with("gaussian") {
            check_vhv(&dev, label, &make(&dev), reduce, seed);
        }
        seed += 1;
    });
}

#[test]
fn grad_v_hess_v_matches_cpu_for_gaussian_ica_rbm_mixture_on_default_adapter() {
    let dev = common::device("grad_v_hess_v_matches_cpu_for_gaussian_ica_rbm_mixture_on_default_adapter");
    let mut seed = 11;
    with_families(|label, make, reduce| {
        check_grad(&dev, label, &make(&dev), reduce, seed);
        seed += 1;
    });
}

#[test]
fn grad_v_hess_v_matches_cpu_for_mlp_on_default_adapter() {
    let dev = common::device("grad_v_hess_v_matches_cpu_for_mlp_on_default_adapter");
    for (i, (d, h, a)) in common::SMOOTH_MLPS.into_iter().enumerate() {
        let m = Mlp::<f32>::init(d, h, a, 51 + i as u64).unwrap();
        let dims = m.dims();
        let reduce = dims.iter().copied().max().unwrap() * (dims.len() + 1) * 4;
        for kernels in [MlpKernels::Tiled, MlpKernels::PerSample] {
            let c = Case::with(&dev, m.clone(), m.cast::<f64>(), kernels);
            check_grad(&dev, &format!("mlp d={d} {h:?} {a} ({kernels:?})"), &c, reduce, 21 + i as u64);
        }
    }
}

/// A width users train, on the tiled kernels: vᵀ∇ₓ²E v and its θ-gradient.
#[test]
fn curvature_of_a_wide_mlp_matches_cpu_on_default_adapter() {
    let dev = common::device("curvature_of_a_wide_mlp_matches_cpu_on_default_adapter");
    let m = Mlp::<f32>::init(48, &[192, 160], Activation::Tanh, 57).unwrap();
    let reduce = 4 * 192 * 4;
    let c = Case::new(&dev, m.clone(), m.cast::<f64>());
    check_vhv(&dev, "mlp d=48 [192, 160]", &c, reduce, 31);
    check_grad(&dev, "mlp d=48 [192, 160]", &c, reduce, 32);
}

#[test]
fn curvature_of_relu_mlps_is_the_cpu_twins_error_on_default_adapter() {
    let dev = common::device("curvature_of_relu_mlps_is_the_cpu_twins_error_on_default_adapter");
    let relu = Mlp::<f32>::init(3, &[4], Activation::Relu, 2).unwrap();
    let gpu = GpuEnergy::new(&dev, relu.clone()).unwrap();
    let (x, v, w) = ([0.5f32; 6], [0.25f32; 6], [1.0f32; 2]);
    let p = relu.num_params();
    let (mut g, mut c) = (vec![0f32; p], vec![0f32; p]);
    assert_eq!(
        gpu.grad_params_v_hess_v(&x, &v, &w, &mut g).unwrap_err(),
        relu.grad_params_v_hess_v(&x, &v, &w, &mut c).unwrap_err()
    );
}
