//! `ebm_kernels::mlp2` (tiled-product MLP kernels) against the f64 CPU twin
//! `ebm_core::mlp::Mlp` with the same θ.
//!
//! Tolerances are per entry, relative plus an absolute floor scaled to the
//! output's magnitude; none grows with the batch size, and NaN never passes
//! (outputs start as NaN). Gradients are judged against T_p = Σ_b |w_b ∂_p f(x_b)|,
//! the sum of the absolute terms of each parameter's batch sum.

// `common` has an import only some test binaries use.
#[allow(unused_imports)]
mod common;

use common::mlp2::{check_grad, models, on_bench_shapes, over_shapes, reduce_len, reference_sum, Check, RTOL, U};
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::Tolerance;
use ebm_kernels::mlp2::plan::{self, Limits, Op, Shape, Tiles};
use ebm_kernels::mlp2::Mlp2;
use ebm_kernels::GpuDevice;
use std::sync::OnceLock;

/// The rounding-error bound of the batch sums relative to T_p (module docs
/// of `mlp2::grad`): (slab + 28)·u.
fn sum_bound() -> f64 {
    (Tiles::default().slab as f64 + 28.0) * U
}

fn dev() -> &'static GpuDevice {
    static DEV: OnceLock<GpuDevice> = OnceLock::new();
    DEV.get_or_init(|| common::device("mlp2"))
}

/// Largest |got − want| in units of `tol` (NaN is infinite).
fn worst(got: &[f32], want: &[f64], tol: &Tolerance) -> f64 {
    common::worst(got, want, tol)
}

/// Checks energy, energy + score and energy + score + Hessian of `gpu`
/// against `m64` at B samples; returns the worst error / tolerance.
fn check_eval(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, b: usize, seed: u64, with_hess: bool) -> f64 {
    let d = m64.dim();
    let x = common::uniform32(seed, b * d, -2.0, 2.0);
    let x32 = common::to32(&x);
    let (mut e6, mut s6, mut h6) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    if with_hess {
        m64.energy_score_hess_diag(&x, &mut e6, &mut s6, &mut h6).unwrap();
    } else {
        m64.energy_score(&x, &mut e6, &mut s6).unwrap();
    }
    let red = reduce_len(d, m64.hidden());
    let (te, ts, th) =
        (common::tol_for(RTOL, red, &e6), common::tol_for(RTOL, red, &s6), common::tol_for(RTOL, red, &h6));
    let label = format!("{label} B={b}");
    let t0 = std::time::Instant::now();

    let mut e = vec![f32::NAN; b];
    gpu.eval(&x32, &mut e, None, None).unwrap();
    te.assert_all_close(&format!("{label}: energy (energy only)"), &e, &e6);
    let mut w = worst(&e, &e6, &te);

    let (mut e, mut s) = (vec![f32::NAN; b], vec![f32::NAN; b * d]);
    gpu.eval(&x32, &mut e, Some(&mut s), None).unwrap();
    te.assert_all_close(&format!("{label}: energy (+score)"), &e, &e6);
    ts.assert_all_close(&format!("{label}: score"), &s, &s6);
    w = w.max(worst(&e, &e6, &te)).max(worst(&s, &s6, &ts));
    let mut report = format!("{label}: energy/score {w:.3}");

    if with_hess {
        let (mut e, mut s, mut h) = (vec![f32::NAN; b], vec![f32::NAN; b * d], vec![f32::NAN; b * d]);
        gpu.eval(&x32, &mut e, Some(&mut s), Some(&mut h)).unwrap();
        te.assert_all_close(&format!("{label}: energy (+hess)"), &e, &e6);
        ts.assert_all_close(&format!("{label}: score (+hess)"), &s, &s6);
        th.assert_all_close(&format!("{label}: hess_diag"), &h, &h6);
        let wh = worst(&h, &h6, &th);
        report += &format!(" hess {wh:.3}");
        w = w.max(wh);
        // The Hessian alone (no score product) gives the same values.
        let mut h2 = vec![f32::NAN; b * d];
        let mut e2 = vec![f32::NAN; b];
        gpu.eval(&x32, &mut e2, None, Some(&mut h2)).unwrap();
        th.assert_all_close(&format!("{label}: hess_diag without score"), &h2, &h6);
    }
    eprintln!("{report} (worst error / tolerance) {:?}", t0.elapsed());
    w
}

fn grad_rel(d: usize, hidden: &[usize]) -> f64 {
    RTOL * reduce_len(d, hidden) as f64 + sum_bound()
}

fn check_grad_energy(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, b: usize, seed: u64) -> f64 {
    let d = m64.dim();
    let x = common::uniform32(seed, b * d, -2.0, 2.0);
    let w = common::uniform32(seed + 1, b, -1.0, 1.5);
    let (want, terms) = reference_sum(m64, &w, |m, j, row| {
        m.grad_params_energy(&x[j * d..(j + 1) * d], &[1.0], row).unwrap();
    });
    let mut g = vec![f32::NAN; m64.params().len()];
    gpu.grad_energy(&common::to32(&x), &common::to32(&w), &mut g).unwrap();
    let r = check_grad(&format!("{label} B={b}: grad E"), &g, &want, &terms, grad_rel(d, m64.hidden()));
    eprintln!("{label} B={b}: ∇θE worst {r:.3}");
    r
}

fn check_grad_vdx(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, b: usize, seed: u64) -> f64 {
    let d = m64.dim();
    let x = common::uniform32(seed, b * d, -2.0, 2.0);
    let v = common::normal32(seed + 2, b * d);
    let w = common::uniform32(seed + 1, b, -1.0, 1.5);
    let (want, terms) = reference_sum(m64, &w, |m, j, row| {
        let r = j * d..(j + 1) * d;
        m.grad_params_v_dot_grad_x(&x[r.clone()], &v[r], &[1.0], row).unwrap();
    });
    let mut g = vec![f32::NAN; m64.params().len()];
    gpu.grad_v_dot_grad_x(&common::to32(&x), &common::to32(&v), &common::to32(&w), &mut g).unwrap();
    let r = check_grad(&format!("{label} B={b}: grad vᵀ∇E"), &g, &want, &terms, 2.0 * grad_rel(d, m64.hidden()));
    eprintln!("{label} B={b}: ∇θ vᵀ∇ₓE worst {r:.3}");
    r
}

const SMALL_BATCHES: [usize; 4] = [1, 7, 65, 129];

/// Small odd shapes, every activation, batches that are not multiples of
/// any tile.
#[test]
fn eval_small_shapes_every_activation() {
    let cases: [(usize, &[usize], Activation); 6] = [
        (3, &[5], Activation::Softplus),
        (3, &[5, 7, 6], Activation::Tanh),
        (5, &[7, 6], Activation::Silu),
        (4, &[6, 7, 5], Activation::GeluTanh),
        (3, &[7], Activation::Relu),
        (6, &[33, 18, 20], Activation::Softplus),
    ];
    let mut worst = 0.0f64;
    for (i, (d, hidden, act)) in cases.into_iter().enumerate() {
        let (m32, m64) = models(d, hidden, act, 10 + i as u64);
        let gpu = Mlp2::new(dev(), &m32).unwrap();
        let label = format!("d={d} hidden={hidden:?} {act}");
        for (k, &b) in SMALL_BATCHES.iter().enumerate() {
            worst = worst.max(check_eval(&label, &gpu, &m64, b, 100 * i as u64 + k as u64, act.is_smooth()));
        }
    }
    eprintln!("eval small shapes: worst error / tolerance {worst:.3}");
}

/// The bench shapes at small batches (lavapipe is slow).
#[test]
fn eval_bench_shapes() {
    let cases: [(usize, &[usize], Activation, usize); 4] = [
        (64, &[256, 256], Activation::Softplus, 65),
        (256, &[256, 256], Activation::Tanh, 7),
        (16, &[1024], Activation::Silu, 65),
        (16, &[1024], Activation::GeluTanh, 7),
    ];
    for (i, (d, hidden, act, b)) in cases.into_iter().enumerate() {
        let (m32, m64) = models(d, hidden, act, 20 + i as u64);
        let gpu = Mlp2::new(dev(), &m32).unwrap();
        check_eval(&format!("d={d} hidden={hidden:?} {act}"), &gpu, &m64, b, 200 + i as u64, true);
        // Every width here is a multiple of 4: the check above ran the
        // 128-bit loads of A.
        assert!(gpu.vector_load_launches() > 0, "d={d} {hidden:?}: no layer product used vector loads");
    }
}

/// Every output of one model with 128-bit loads of A and with scalar
/// loads: the staged tiles are the same values, so the results must be the
/// same bits. Shapes: all widths multiples of 4 (every layer product can
/// vectorise), mixed (d = 5, so the first layer cannot), and none; B not a
/// multiple of the 64-row tile.
#[test]
fn vector_loads_match_scalar_loads_bit_for_bit() {
    type Outputs = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, f64, Vec<f32>, Vec<f32>);
    fn run(gpu: &Mlp2, x: &[f32], v: &[f32], w: &[f32]) -> Outputs {
        let (b, d) = (w.len(), x.len() / w.len());
        let p = gpu.n_params();
        let (mut e, mut s, mut h) = (vec![f32::NAN; b], vec![f32::NAN; b * d], vec![f32::NAN; b * d]);
        gpu.eval(x, &mut e, Some(&mut s), Some(&mut h)).unwrap();
        let mut g_sm = vec![f32::NAN; p];
        let loss = gpu.grad_sm(x, w, &mut g_sm).unwrap();
        let mut g_vdx = vec![f32::NAN; p];
        gpu.grad_v_dot_grad_x(x, v, w, &mut g_vdx).unwrap();
        let mut q = vec![f32::NAN; b];
        gpu.v_hess_v(x, v, &mut q).unwrap();
        (e, s, h, g_sm, loss, g_vdx, q)
    }
    let cases: [(usize, &[usize], usize, bool); 3] =
        [(16, &[64, 32], 70, true), (5, &[8, 12], 37, true), (5, &[7, 6], 37, false)];
    for (i, (d, hidden, b, vectorises)) in cases.into_iter().enumerate() {
        let (m32, _) = models(d, hidden, Activation::Softplus, 60 + i as u64);
        let x = common::to32(&common::uniform32(600 + i as u64, b * d, -2.0, 2.0));
        let v = common::to32(&common::uniform32(700 + i as u64, b * d, -1.0, 1.0));
        let w = common::to32(&common::uniform32(800 + i as u64, b, 0.5, 1.5));
        let mut gpu = Mlp2::new(dev(), &m32).unwrap();
        let vec_out = run(&gpu, &x, &v, &w);
        let used = gpu.vector_load_launches();
        assert_eq!(used > 0, vectorises, "d={d} {hidden:?}: {used} layer products used vector loads");
        gpu.set_vector_loads(false);
        let scalar_out = run(&gpu, &x, &v, &w);
        assert_eq!(gpu.vector_load_launches(), used, "vector loads switched off, yet used");
        let bits = |o: &Outputs| {
            let (e, s, h, g, l, gv, q) = o;
            let all: Vec<u32> = [e, s, h, g, gv, q].iter().flat_map(|v| v.iter().map(|f| f.to_bits())).collect();
            (all, l.to_bits())
        };
        assert!(vec_out.0.iter().all(|e| e.is_finite()), "d={d} {hidden:?}: non-finite energy");
        assert!(bits(&vec_out) == bits(&scalar_out), "d={d} {hidden:?}: vector and scalar loads differ");
    }
}

/// `check` on small odd shapes of every activation, at the small batches
/// and 200: model seeds from `model_seed`, data seeds from `seed`.
fn grad_small_shapes(model_seed: u64, seed: u64, check: Check) {
    let cases: [(usize, &[usize], Activation); 5] = [
        (3, &[5], Activation::Softplus),
        (3, &[5, 7, 6], Activation::Tanh),
        (5, &[7, 6], Activation::Silu),
        (4, &[6, 7, 5], Activation::GeluTanh),
        (3, &[7, 5], Activation::Relu),
    ];
    let batches: Vec<usize> = SMALL_BATCHES.iter().copied().chain([200]).collect();
    over_shapes(dev(), &cases, &batches, model_seed, seed, check);
}

/// The value and the two gradients of `gpu` against `m64`: check_eval (with
/// the Hessian), check_grad_energy and check_grad_vdx at `batches`, with
/// data seeds `seed`, `seed + 1`, `seed + 2`.
fn check_first_order(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, batches: [usize; 3], seed: u64) {
    check_eval(label, gpu, m64, batches[0], seed, true);
    check_grad_energy(label, gpu, m64, batches[1], seed + 1);
    check_grad_vdx(label, gpu, m64, batches[2], seed + 2);
}

#[test]
fn grad_energy_small_shapes_every_activation() {
    grad_small_shapes(30, 300, check_grad_energy);
}

#[test]
fn grad_v_dot_grad_x_small_shapes_every_activation() {
    grad_small_shapes(40, 400, check_grad_vdx);
}

#[test]
fn grads_bench_shape() {
    on_bench_shapes(dev(), 50, 500, [check_grad_energy, check_grad_vdx], [[65, 7], [65, 7]]);
}

/// Another valid tile shape (8 × 8 threads, bk = 8, slabs of 32): the
/// kernels are generic over it, including the Hessian's 3-level tree.
#[test]
fn other_tiles_match() {
    let tiles = Tiles { tm: 8, tn: 8, reg: 4, bk: 8, slab: 32 };
    assert!(tiles.valid());
    assert!(!Tiles { tm: 16, tn: 16, reg: 4, bk: 16, slab: 40 }.valid());
    let (m32, m64) = models(5, &[40, 9, 12], Activation::Silu, 65);
    let gpu = Mlp2::with_config(dev(), &m32, tiles, Limits::default()).unwrap();
    check_first_order("tiles 8x8 d=5 hidden=[40, 9, 12] silu", &gpu, &m64, [71, 100, 100], 650);
}

/// Tiny buffer limits force many forward, Hessian and gradient chunks
/// (and the two-level pairwise sum over chunks).
#[test]
fn chunked_paths_match() {
    let (m32, m64) = models(5, &[7, 6, 5], Activation::Tanh, 60);
    let gpu = Mlp2::with_config(dev(), &m32, Tiles::default(), Limits { max_buffer_bytes: 512 }).unwrap();
    let s = gpu.shape().clone();
    let lim = Limits { max_buffer_bytes: 512 };
    assert!(plan::eval_chunk(&s, gpu.tiles(), &lim) < 20);
    assert!(plan::hess_chunk(&s, gpu.tiles(), &lim) < 5);
    assert_eq!(plan::grad_chunk(&s, gpu.tiles(), &lim, 1), 64);
    check_first_order("chunked d=5 hidden=[7, 6, 5] tanh", &gpu, &m64, [129, 300, 200], 600);
}

/// The batch sum is slabbed and pairwise: its error relative to T_p stays
/// under the same B-independent bound at B = 1024 and B = 65 536. Positive
/// weights make every term of ∇b_out (= Σ w_b) the same sign, where a plain
/// running f32 sum would drift by ~u·√B·Σ; that drift is printed for scale.
#[test]
fn grad_energy_sum_error_does_not_grow_with_batch() {
    let (m32, m64) = models(2, &[8, 8], Activation::Tanh, 70);
    let gpu = Mlp2::new(dev(), &m32).unwrap();
    let d = 2;
    // The sum's own bound plus 20u for the f32 error of each term's inputs.
    let bound = sum_bound() + 20.0 * U;
    for (k, b) in [1024usize, 65_536].into_iter().enumerate() {
        let x = common::uniform32(700 + k as u64, b * d, -2.0, 2.0);
        let w = common::uniform32(710 + k as u64, b, 0.5, 1.5);
        let (want, terms) = reference_sum(&m64, &w, |m, j, row| {
            m.grad_params_energy(&x[j * d..(j + 1) * d], &[1.0], row).unwrap();
        });
        let mut g = vec![f32::NAN; m64.params().len()];
        gpu.grad_energy(&common::to32(&x), &common::to32(&w), &mut g).unwrap();
        let rel = |g: f32, w: f64, t: f64| {
            let e = (g as f64 - w).abs() / t;
            if e.is_nan() {
                f64::INFINITY
            } else {
                e
            }
        };
        let worst = g.iter().zip(&want).zip(&terms).map(|((&g, &w), &t)| rel(g, w, t)).fold(0.0, f64::max);
        let p = g.len() - 1; // b_out: Σ_b w_b
        let naive = w.iter().fold(0.0f32, |a, &v| a + v as f32);
        eprintln!(
            "B={b}: max |error| / Σ|terms| = {worst:.3e} (bound {bound:.3e}); ∇b_out error {:.3e}, a running f32 sum's {:.3e}",
            rel(g[p], want[p], terms[p]),
            rel(naive, want[p], terms[p]),
        );
        assert!(worst <= bound, "B={b}: relative error {worst:e} of the batch sum exceeds {bound:e} of Σ|terms|");
    }
}

/// Every launch of every op at the bench shapes stays far under the
/// 65 536-iteration budget of lavapipe.
#[test]
fn loop_counts_of_bench_shapes_fit_lavapipe() {
    let tiles = Tiles::default();
    for (d, hidden) in
        [(2, vec![128, 128]), (16, vec![128, 128]), (64, vec![256, 256]), (256, vec![256, 256]), (16, vec![1024])]
    {
        let s = Shape::new(d, &hidden);
        let max = plan::max_loop_count(&s, &tiles);
        eprintln!(
            "d={d} hidden={hidden:?}: max loops/invocation {max}; MFLOP/sample energy {:.3} score {:.3} hess {:.3} ∇θE {:.3} ∇θvᵀ∇E {:.3}; KiB/sample {:.2} {:.2} {:.2} {:.2} {:.2}",
            plan::flops_per_sample(&s, &tiles, Op::Energy) / 1e6,
            plan::flops_per_sample(&s, &tiles, Op::EnergyScore) / 1e6,
            plan::flops_per_sample(&s, &tiles, Op::HessDiag) / 1e6,
            plan::flops_per_sample(&s, &tiles, Op::GradEnergy) / 1e6,
            plan::flops_per_sample(&s, &tiles, Op::GradVDotGradX) / 1e6,
            plan::bytes_per_sample(&s, &tiles, Op::Energy) / 1024.0,
            plan::bytes_per_sample(&s, &tiles, Op::EnergyScore) / 1024.0,
            plan::bytes_per_sample(&s, &tiles, Op::HessDiag) / 1024.0,
            plan::bytes_per_sample(&s, &tiles, Op::GradEnergy) / 1024.0,
            plan::bytes_per_sample(&s, &tiles, Op::GradVDotGradX) / 1024.0,
        );
        assert!(max < 50_000, "d={d} hidden={hidden:?}: {max}");
    }
    // A deep wide net too: the Jacobian layer's M-tile × k-tile loop.
    assert!(plan::max_loop_count(&Shape::new(16, &[1024, 1024, 1024]), &tiles) < 50_000);
}

/// The launches a single-chunk call makes are the ones `plan::launches`
/// lists (so its cost model describes what runs).
#[test]
fn launch_counts_match_the_plan() {
    let (m32, _) = models(4, &[6, 7, 5], Activation::Softplus, 80);
    let gpu = Mlp2::new(dev(), &m32).unwrap();
    let s = gpu.shape().clone();
    let t = *gpu.tiles();
    let b = 100; // 2 slabs: one pairwise pass for both gradients
    let x = common::to32(&common::uniform32(800, b * 4, -1.0, 1.0));
    let w = vec![1.0f32; b];
    let mut e = vec![0.0; b];
    let (mut sc, mut h) = (vec![0.0; b * 4], vec![0.0; b * 4]);
    let mut g = vec![0.0; gpu.n_params()];
    let count = |op: Op, f: &mut dyn FnMut()| {
        let before = gpu.launch_count();
        f();
        let n = gpu.launch_count() - before;
        assert_eq!(n as usize, plan::launches(&s, &t, op).len(), "{op:?}");
    };
    count(Op::Energy, &mut || gpu.eval(&x, &mut e, None, None).unwrap());
    count(Op::EnergyScore, &mut || gpu.eval(&x, &mut e, Some(&mut sc), None).unwrap());
    count(Op::HessDiag, &mut || gpu.eval(&x, &mut e, Some(&mut sc), Some(&mut h)).unwrap());
    count(Op::GradEnergy, &mut || gpu.grad_energy(&x, &w, &mut g).unwrap());
    count(Op::GradVDotGradX, &mut || gpu.grad_v_dot_grad_x(&x, &x, &w, &mut g).unwrap());
}

/// Device-resident calls chain without host round trips and give the host
/// calls' values; bad inputs are typed errors like the CPU's.
#[test]
fn device_handles_and_errors() {
    let (m32, m64) = models(3, &[5, 4], Activation::Softplus, 90);
    let mut gpu = Mlp2::new(dev(), &m32).unwrap();
    let b = 9;
    let x = common::to32(&common::uniform32(900, b * 3, -1.0, 1.0));
    let hx = ebm_kernels::launch::upload_f32(dev(), &x);
    let out = gpu.eval_device(&hx, b, true, true).unwrap();
    // Chain: the score on the device is the v of the vᵀ∇ₓE gradient.
    let hw = ebm_kernels::launch::upload_f32(dev(), &vec![1.0; b]);
    let g_dev = gpu.grad_v_dot_grad_x_device(&hx, out.score.as_ref().unwrap(), &hw, b).unwrap();
    let g_dev = ebm_kernels::launch::read_f32(dev(), g_dev, gpu.n_params()).unwrap();
    let s = ebm_kernels::launch::read_f32(dev(), out.score.unwrap(), b * 3).unwrap();
    let mut g = vec![0.0; gpu.n_params()];
    gpu.grad_v_dot_grad_x(&x, &s, &vec![1.0; b], &mut g).unwrap();
    assert_eq!(g, g_dev);
    let mut e = vec![0.0; b];
    gpu.eval(&x, &mut e, None, None).unwrap();
    assert_eq!(e, ebm_kernels::launch::read_f32(dev(), out.energy, b).unwrap());

    // set_params: a new θ gives the new model's energies.
    let (m2, m2_64) = models(3, &[5, 4], Activation::Softplus, 91);
    gpu.set_params(m2.params()).unwrap();
    let mut want = vec![0.0; b];
    m2_64.energy(&x.iter().map(|&v| v as f64).collect::<Vec<_>>(), &mut want).unwrap();
    gpu.eval(&x, &mut e, None, None).unwrap();
    common::tol_for(RTOL, 10, &want).assert_all_close("after set_params", &e, &want);
    let _ = m64;

    // Errors.
    assert!(gpu.eval(&x[..5], &mut e, None, None).is_err());
    assert!(gpu.eval(&x, &mut e[..3], None, None).is_err());
    assert!(gpu.grad_energy(&x, &[1.0; 3], &mut g).is_err());
    assert!(gpu.eval_device(&hx, b + 1, false, false).is_err());
    let (relu, _) = models(3, &[4], Activation::Relu, 1);
    let r = Mlp2::new(dev(), &relu).unwrap();
    let cpu_err = relu.energy_score_hess_diag(&[0.0; 3], &mut [0.0], &mut [0.0; 3], &mut [0.0; 3]).unwrap_err();
    let gpu_err = r.eval(&[0.0; 3], &mut [0.0], Some(&mut [0.0; 3]), Some(&mut [0.0; 3])).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(gpu_err), cpu_err);
}
