//! The second-order and sampling ops of `ebm_kernels::mlp2` — the
//! score-matching gradient, vᵀ∇ₓ²E v and its gradient, ULA and MALA on
//! the device — against the CPU twins in `ebm_core` (f64 for the
//! derivatives, the f32 twin for the chains, same θ).
//!
//! Tolerances are per entry and none grows with B: values relative plus
//! an absolute floor on the output's scale (as `tests/mlp2.rs`),
//! gradients against T_p = Σ_b |w_b ∂_p f(x_b)| plus 1% of the largest
//! T_q, chains against the reference's own sensitivity to a one-ulp change
//! of the start. Outputs start as NaN, which never passes.

// `common` has an import only some test binaries use.
#[allow(unused_imports)]
mod common;

use common::mlp2::{check_grad, models, on_bench_shapes, over_shapes, reduce_len, reference_sum, RTOL, U};
use ebm_core::langevin;
use ebm_core::langevin::NoiseAt;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::Tolerance;
use ebm_kernels::mlp2::plan::{self, Limits, Op, Shape, Tiles};
use ebm_kernels::mlp2::{LangevinPath, Mlp2, PersistPlan};
use ebm_kernels::GpuDevice;
use std::sync::OnceLock;

fn dev() -> &'static GpuDevice {
    static DEV: OnceLock<GpuDevice> = OnceLock::new();
    DEV.get_or_init(|| common::device("mlp2_more"))
}

/// The batch sums' bound relative to T_p: the slabbed pairwise sum of
/// `mlp2::grad` ((S + 28)u), and the column sums of the Jacobian weight
/// gradient, whose S·d terms per slab are added in blocks of 256
/// (`mlp2::jsum`).
fn sum_bound(d: usize) -> f64 {
    let s = Tiles::default().slab as f64;
    (s + 28.0 + 256.0 + s * d as f64 / 256.0) * U
}

/// Relative tolerance of a second-order gradient: the forward, backward,
/// tangent and Jacobian passes each contribute RTOL per unit of reduction
/// length (`passes` of them feed every term), plus the sums' bound.
fn grad_rel(d: usize, hidden: &[usize], passes: f64) -> f64 {
    passes * RTOL * reduce_len(d, hidden) as f64 + sum_bound(d)
}

/// ∇θ and the loss of exact score matching on B samples against the f64
/// twin; returns the worst error / tolerance.
fn check_sm(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, b: usize, seed: u64) -> f64 {
    let d = m64.dim();
    let x = common::uniform32(seed, b * d, -2.0, 2.0);
    let w = common::uniform32(seed + 1, b, -1.0, 1.5);
    let mut losses = vec![0.0; b];
    let (want, terms) = reference_sum(m64, &w, |m, j, row| {
        let r = j * d..(j + 1) * d;
        losses[j] = m.sm_loss_grad_params(&x[r], &[1.0], row).unwrap();
    });
    let loss_want: f64 = losses.iter().zip(&w).map(|(l, w)| l * w).sum();
    let loss_terms: f64 = losses.iter().zip(&w).map(|(l, w)| (l * w).abs()).sum();
    let mut g = vec![f32::NAN; m64.params().len()];
    let t0 = std::time::Instant::now();
    let loss = gpu.grad_sm(&common::to32(&x), &common::to32(&w), &mut g).unwrap();
    let el = t0.elapsed();
    let rel = grad_rel(d, m64.hidden(), 3.0);
    let r = check_grad(&format!("{label} B={b}: ∇θ SM"), &g, &want, &terms, rel);
    let rl = (loss - loss_want).abs() / (rel * loss_terms);
    assert!(rl <= 1.0, "{label} B={b}: SM loss {loss:e} want {loss_want:e} (Σ|terms| {loss_terms:e})");
    eprintln!("{label} B={b}: ∇θ SM worst {r:.3}, loss {rl:.3} ({el:?})");
    r.max(rl)
}

fn check_vhv(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, b: usize, seed: u64) -> f64 {
    let d = m64.dim();
    let x = common::uniform32(seed, b * d, -2.0, 2.0);
    let v = common::normal32(seed + 2, b * d);
    let w = common::uniform32(seed + 1, b, -1.0, 1.5);
    let mut q6 = vec![0.0; b];
    m64.v_hess_v(&x, &v, &mut q6).unwrap();
    let tq = common::tol_for(RTOL, 2 * reduce_len(d, m64.hidden()), &q6);
    let mut q = vec![f32::NAN; b];
    gpu.v_hess_v(&common::to32(&x), &common::to32(&v), &mut q).unwrap();
    tq.assert_all_close(&format!("{label} B={b}: vᵀ∇²E v"), &q, &q6);
    let rq = common::worst(&q, &q6, &tq);
    let (want, terms) = reference_sum(m64, &w, |m, j, row| {
        let r = j * d..(j + 1) * d;
        m.grad_params_v_hess_v(&x[r.clone()], &v[r], &[1.0], row).unwrap();
    });
    let mut g = vec![f32::NAN; m64.params().len()];
    gpu.grad_v_hess_v(&common::to32(&x), &common::to32(&v), &common::to32(&w), &mut g).unwrap();
    let rel = grad_rel(d, m64.hidden(), 3.0);
    let r = check_grad(&format!("{label} B={b}: ∇θ vᵀ∇²E v"), &g, &want, &terms, rel);
    eprintln!("{label} B={b}: vᵀ∇²E v worst {rq:.3}, its ∇θ {r:.3}");
    r.max(rq)
}

const BATCHES: [usize; 4] = [1, 7, 65, 129];

/// Small odd shapes with 1 and 3 hidden layers, every smooth activation,
/// batches that are not multiples of the tiles or slabs.
const SMALL: [(usize, &[usize], Activation); 5] = [
    (3, &[5], Activation::Softplus),
    (3, &[5, 7, 6], Activation::Tanh),
    (5, &[7], Activation::Silu),
    (4, &[6, 7, 5], Activation::GeluTanh),
    (6, &[33, 18, 20], Activation::Softplus),
];

#[test]
fn grad_sm_small_shapes_every_smooth_activation() {
    let worst = over_shapes(dev(), &SMALL, &BATCHES, 110, 1000, check_sm);
    eprintln!("∇θ SM small shapes: worst error / tolerance {worst:.3}");
}

#[test]
fn v_hess_v_and_grad_small_shapes_every_smooth_activation() {
    let worst = over_shapes(dev(), &SMALL, &BATCHES, 120, 2000, check_vhv);
    eprintln!("vᵀ∇²E v small shapes: worst error / tolerance {worst:.3}");
}

/// The bench shapes at small batches (lavapipe is slow).
#[test]
fn second_order_bench_shapes() {
    on_bench_shapes(dev(), 130, 3000, [check_sm, check_vhv], [[7, 65], [65, 7]]);
}

/// The score-matching gradient and vᵀ∇ₓ²E v with its gradient at
/// `batches`, with data seeds `seed` and `seed + 1`.
fn check_second_order(label: &str, gpu: &Mlp2, m64: &Mlp<f64>, batches: [usize; 2], seed: u64) {
    check_sm(label, gpu, m64, batches[0], seed);
    check_vhv(label, gpu, m64, batches[1], seed + 1);
}

/// Tiny buffer limits force several chunks (and the pairwise sum over
/// chunks) and several Jacobian sub-chunks that do not align with slabs;
/// another tile shape runs the same kernels.
#[test]
fn second_order_chunked_paths_and_other_tiles() {
    let (m32, m64) = models(5, &[7, 6, 5], Activation::Tanh, 140);
    let lim = Limits { max_buffer_bytes: 2048 };
    let gpu = Mlp2::with_config(dev(), &m32, Tiles::default(), lim).unwrap();
    let s = gpu.shape().clone();
    let sub = plan::sm_sub_chunk(&s, gpu.tiles(), &lim);
    assert!(sub < 64 && 64 % sub != 0, "sub-chunks of {sub} samples straddle slabs");
    assert!(plan::sm_chunk(&s, gpu.tiles(), &lim) < 200);
    check_second_order("chunked d=5 hidden=[7, 6, 5] tanh", &gpu, &m64, [200, 150], 4000);
    let tiles = Tiles { tm: 8, tn: 8, reg: 4, bk: 8, slab: 32 };
    let (m32, m64) = models(5, &[40, 9, 12], Activation::Silu, 141);
    let gpu = Mlp2::with_config(dev(), &m32, tiles, Limits::default()).unwrap();
    check_second_order("tiles 8x8 d=5 hidden=[40, 9, 12] silu", &gpu, &m64, [71, 71], 4002);
}

/// An MLP with PyTorch-style initial weights scaled by 4 (as
/// `tests/langevin.rs`), so that MALA rejects.
fn rough_model(d: usize, hidden: &[usize], seed: u64) -> Mlp<f32> {
    let mut m = Mlp::<f32>::init(d, hidden, Activation::Softplus, seed).unwrap();
    m.params_mut().iter_mut().for_each(|p| *p *= 4.0);
    m
}

/// Steps per check; the first step sits just below 2³² so the 64-bit
/// stream counter carries during the run.
const K: usize = 20;
const FIRST_STEP: u64 = (1 << 32) - 7;
const SEED: u64 = 0x0123_4567_89ab_cdef;

/// The largest change a one-ulp perturbation of the start makes to the
/// reference chains after `run` (the chains' own amplification of
/// rounding over the K steps).
fn sensitivity(x0: &[f32], xc: &[f32], run: impl Fn(&mut [f32])) -> f64 {
    let mut xp: Vec<f32> = x0.iter().map(|&v| f32::from_bits(v.to_bits() + 1)).collect();
    run(&mut xp);
    xp.iter().zip(xc).map(|(a, c)| (a - c).abs() as f64).fold(0.0, f64::max)
}

/// The f32 chains of `run` (K ULA steps from `x0`) against
/// `langevin::ula` on `m`: per step, the score's rounding (RTOL per unit
/// of reduction length) times ε²/2 and two roundings of x, or 10× the
/// chains' sensitivity to a one-ulp change of the start.
fn check_ula(label: &str, m: &Mlp<f32>, eps: f32, x0: &[f32], run: impl Fn(&mut [f32])) {
    let (d, hidden) = (m.dim(), m.hidden().to_vec());
    let b = x0.len() / d;
    let (mut xc, mut xg) = (x0.to_vec(), x0.to_vec());
    langevin::ula(m, &mut xc, eps, K, SEED, FIRST_STEP).unwrap();
    run(&mut xg);
    assert!(xc != x0, "the reference moved");
    let sens = sensitivity(x0, &xc, |x| langevin::ula(m, x, eps, K, SEED, FIRST_STEP).unwrap());
    let red = reduce_len(d, &hidden) as f64;
    let smax = 1.0 + common::max_abs(&xc);
    let atol = (K as f64 * (0.5 * (eps * eps) as f64 * RTOL * red + 4.0 * U) * smax).max(10.0 * sens);
    let tol = Tolerance::new(K as f64 * 4.0 * U, atol);
    let xc64: Vec<f64> = xc.iter().map(|&v| v as f64).collect();
    let w = common::worst(&xg, &xc64, &tol);
    eprintln!("{label} d={d} hidden={hidden:?} B={b}: worst / tol {w:.3} (atol {atol:.2e}, sensitivity {sens:.2e})");
    tol.assert_all_close(&format!("{label} d={d} B={b}"), &xg, &xc);
}

#[test]
fn ula_chains_match_the_cpu_reference() {
    let cases: [(usize, Vec<usize>, f32, &[usize]); 2] =
        [(5, vec![12, 9], 0.1, &[1, 7, 1000]), (64, vec![256, 256], 0.05, &[3, 65])];
    for (i, (d, hidden, eps, batches)) in cases.into_iter().enumerate() {
        let m = rough_model(d, &hidden, 150 + i as u64);
        let gpu = Mlp2::new(dev(), &m).unwrap();
        for (j, &b) in batches.iter().enumerate() {
            let x0 = common::to32(&common::normal32(5000 + 10 * i as u64 + j as u64, b * d));
            check_ula("ULA", &m, eps, &x0, |x| gpu.ula(x, eps, K, NoiseAt::new(SEED, FIRST_STEP)).unwrap());
        }
    }
}

/// One reference MALA step in the reference's arithmetic, returning for
/// every chain log α − ln u (the margin of its decision).
fn mala_margins(m: &Mlp<f32>, x: &mut [f32], eps: f32, seed: u64, stream: u64, acc: &mut [u32]) -> Vec<f32> {
    let d = m.dim();
    let b = x.len() / d;
    let h = eps * eps * 0.5;
    let inv = 1.0 / (2.0 * eps * eps);
    let (mut e, mut s) = (vec![0.0f32; b], vec![0.0f32; b * d]);
    m.energy_score(x, &mut e, &mut s).unwrap();
    let mut xp = vec![0.0f32; b * d];
    for c in 0..b {
        ebm_core::rng::fill_normal(seed, stream, (c * d) as u64, &mut xp[c * d..(c + 1) * d]);
        for i in c * d..(c + 1) * d {
            xp[i] = x[i] + h * s[i] + eps * xp[i];
        }
    }
    let (mut ep, mut sp) = (vec![0.0f32; b], vec![0.0f32; b * d]);
    m.energy_score(&xp, &mut ep, &mut sp).unwrap();
    let mut margins = vec![0.0f32; b];
    for c in 0..b {
        let (mut f, mut g) = (0.0f32, 0.0f32);
        for i in c * d..(c + 1) * d {
            let a = xp[i] - x[i] - h * s[i];
            let r = x[i] - xp[i] - h * sp[i];
            f += a * a;
            g += r * r;
        }
        let log_alpha = e[c] - ep[c] + (f - g) * inv;
        let u = ebm_core::rng::uniform(seed, langevin::accept_stream(stream), c as u64);
        margins[c] = log_alpha - u.ln();
        if u.ln() < log_alpha {
            acc[c] += 1;
            x[c * d..(c + 1) * d].copy_from_slice(&xp[c * d..(c + 1) * d]);
        }
    }
    margins
}

/// MALA on `run` (K steps from `x0`, accepts starting at b mod 3) against
/// `langevin::mala` on `m`: the acceptance counts agree for ≥ 99% of
/// chains, and every chain whose decisions may differ had a step with
/// |log α − ln u| below `MARGIN` in the reference (rounding can flip only
/// such a decision); the other chains match to the chains' rounding
/// tolerance.
fn check_mala(label: &str, m: &Mlp<f32>, eps: f32, x0: &[f32], run: impl Fn(&mut [f32], &mut [u32]) -> f64) {
    const MARGIN: f32 = 1e-3;
    let (d, hidden) = (m.dim(), m.hidden().to_vec());
    let b = x0.len() / d;
    let acc0: Vec<u32> = (0..b as u32).map(|c| c % 3).collect();
    let (mut xc, mut ac) = (x0.to_vec(), acc0.clone());
    let rate = langevin::mala(m, &mut xc, eps, K, SEED, FIRST_STEP, &mut ac).unwrap();
    // The margins of the reference's decisions, step by step (the
    // replica must reproduce the reference exactly).
    let (mut xr, mut ar) = (x0.to_vec(), acc0.clone());
    let mut near = vec![false; b];
    for k in 0..K as u64 {
        let mg = mala_margins(m, &mut xr, eps, SEED, FIRST_STEP + k, &mut ar);
        for (n, g) in near.iter_mut().zip(&mg) {
            *n |= g.abs() < MARGIN;
        }
    }
    assert_eq!((&xr, &ar), (&xc, &ac), "the replica is the reference");
    let (mut xg, mut ag) = (x0.to_vec(), acc0.clone());
    let rate_g = run(&mut xg, &mut ag);
    let differ: Vec<usize> = (0..b).filter(|&c| ag[c] != ac[c]).collect();
    let unexplained: Vec<usize> = differ.iter().copied().filter(|&c| !near[c]).collect();
    let n_near = near.iter().filter(|&&n| n).count();
    eprintln!(
        "{label} d={d} hidden={hidden:?} B={b} ε={eps}: rate cpu {rate:.4} gpu {rate_g:.4}; {} of {b} counts differ, {n_near} chains had a step within {MARGIN} of the threshold",
        differ.len()
    );
    // Both outcomes occur: ≥ 2% of the B·K decisions go each way.
    assert!(rate > 0.02 && rate < 0.98, "the step size exercises both outcomes (rate {rate})");
    assert!(differ.len() * 100 <= b, "{} of {b} acceptance counts differ", differ.len());
    assert!(unexplained.is_empty(), "chains {unexplained:?} differ without a decision near the threshold");
    // Chains never near the threshold made the same decisions: compare them.
    let sens = sensitivity(x0, &xc, |x| {
        langevin::mala(m, x, eps, K, SEED, FIRST_STEP, &mut acc0.clone()).unwrap();
    });
    let red = reduce_len(d, &hidden) as f64;
    let smax = 1.0 + common::max_abs(&xc);
    let atol = (K as f64 * (0.5 * (eps * eps) as f64 * RTOL * red + 4.0 * U) * smax).max(10.0 * sens);
    let tol = Tolerance::new(K as f64 * 4.0 * U, atol);
    let mut worst = 0.0f64;
    for c in (0..b).filter(|&c| !near[c]) {
        let r = c * d..(c + 1) * d;
        let want: Vec<f64> = xc[r.clone()].iter().map(|&v| v as f64).collect();
        tol.assert_all_close(&format!("{label} chain {c}"), &xg[r.clone()], &want);
        worst = worst.max(common::worst(&xg[r], &want, &tol));
    }
    eprintln!("{label} d={d} B={b}: chains worst / tol {worst:.3} (atol {atol:.2e})");
}

#[test]
fn mala_chains_and_acceptances_match_the_cpu_reference() {
    let cases: [(usize, Vec<usize>, f32, usize); 2] = [(5, vec![12, 9], 0.5, 1000), (64, vec![256, 256], 0.8, 65)];
    for (i, (d, hidden, eps, b)) in cases.into_iter().enumerate() {
        let m = rough_model(d, &hidden, 160 + i as u64);
        let gpu = Mlp2::new(dev(), &m).unwrap();
        let x0 = common::to32(&common::normal32(6000 + i as u64, b * d));
        check_mala("MALA", &m, eps, &x0, |x, a| gpu.mala(x, eps, K, NoiseAt::new(SEED, FIRST_STEP), a).unwrap());
    }
}

/// Every launch of the new ops at the bench shapes stays far under the
/// 65 536-iteration budget of lavapipe; prints the cost model.
#[test]
fn second_order_loop_counts_and_costs_at_bench_shapes() {
    let tiles = Tiles::default();
    for (d, hidden) in [(64, vec![256, 256]), (256, vec![256, 256]), (16, vec![1024])] {
        let s = Shape::new(d, &hidden);
        for op in [Op::GradSm, Op::VHessV, Op::GradVHessV, Op::Ula, Op::Mala] {
            let l = plan::launches(&s, &tiles, op);
            let max = l.iter().map(|c| c.loops).max().unwrap();
            let worst = l.iter().max_by_key(|c| c.loops).unwrap();
            eprintln!(
                "d={d} hidden={hidden:?} {op:?}: {} launches, {:.3} MFLOP/sample, {:.1} KiB/sample, max loops {max} ({})",
                l.len(),
                plan::flops_per_sample(&s, &tiles, op) / 1e6,
                plan::bytes_per_sample(&s, &tiles, op) / 1024.0,
                worst.name,
            );
            assert!(max < 5_000, "d={d} hidden={hidden:?} {op:?}: {max}");
        }
        assert!(plan::max_loop_count(&s, &tiles) < 5_000);
    }
}

/// The launches a single-chunk call makes are those `plan::launches`
/// lists (one Hessian sub-chunk, ≤ 64 samples so one pairwise pass).
#[test]
fn second_order_launch_counts_match_the_plan() {
    for hidden in [&[6usize][..], &[6, 7, 5]] {
        let m32 = rough_model(4, hidden, 170);
        let gpu = Mlp2::new(dev(), &m32).unwrap();
        let s = gpu.shape().clone();
        let t = *gpu.tiles();
        let b = 50;
        let x = common::to32(&common::uniform32(1700, b * 4, -1.0, 1.0));
        let w = vec![1.0f32; b];
        let mut g = vec![0.0; gpu.n_params()];
        let mut q = vec![0.0; b];
        let count = |n_plan: usize, what: &str, f: &mut dyn FnMut()| {
            let before = gpu.launch_count();
            f();
            assert_eq!((gpu.launch_count() - before) as usize, n_plan, "{what} hidden={hidden:?}");
        };
        let n = |op| plan::launches(&s, &t, op).len();
        count(n(Op::GradSm), "grad_sm", &mut || {
            gpu.grad_sm(&x, &w, &mut g).unwrap();
        });
        count(n(Op::VHessV), "v_hess_v", &mut || gpu.v_hess_v(&x, &x, &mut q).unwrap());
        count(n(Op::GradVHessV), "grad_v_hess_v", &mut || gpu.grad_v_hess_v(&x, &x, &w, &mut g).unwrap());
        let mut xc = x.clone();
        count(3 * n(Op::Ula), "ula", &mut || gpu.ula(&mut xc, 0.1, 3, NoiseAt::new(1, 0)).unwrap());
        let mut acc = vec![0u32; b];
        count(n(Op::EnergyScore) + 3 * n(Op::Mala), "mala", &mut || {
            gpu.mala(&mut xc, 0.1, 3, NoiseAt::new(1, 0), &mut acc).unwrap();
        });
    }
}

/// Device-resident calls give the host calls' values (the chains stay on
/// the device across calls, and K steps in one call are K calls of one
/// step); bad inputs are typed errors like the CPU's.
#[test]
fn second_order_device_handles_and_errors() {
    use ebm_kernels::launch::{read_f32, read_u32, upload_f32, upload_u32};
    let m = rough_model(3, &[5, 4], 180);
    let gpu = Mlp2::new(dev(), &m).unwrap();
    let b = 9;
    let x = common::to32(&common::normal32(1800, b * 3));
    let w: Vec<f32> = (0..b).map(|i| 0.5 + i as f32 / 10.0).collect();
    let (hx, hw) = (upload_f32(dev(), &x), upload_f32(dev(), &w));
    let p = gpu.n_params();
    let mut g = vec![0.0; p];
    let loss = gpu.grad_sm(&x, &w, &mut g).unwrap();
    let gd = read_f32(dev(), gpu.grad_sm_device(&hx, &hw, b).unwrap(), p + 1).unwrap();
    assert_eq!((&gd[..p], gd[p] as f64), (&g[..], loss));
    let mut gv = vec![0.0; p];
    gpu.grad_v_hess_v(&x, &x, &w, &mut gv).unwrap();
    assert_eq!(read_f32(dev(), gpu.grad_v_hess_v_device(&hx, &hx, &hw, b).unwrap(), p).unwrap(), gv);
    let mut q = vec![0.0; b];
    gpu.v_hess_v(&x, &x, &mut q).unwrap();
    assert_eq!(read_f32(dev(), gpu.v_hess_v_device(&hx, &hx, b).unwrap(), b).unwrap(), q);

    // Chains on the device: 4 steps in one call = 4 calls of one step.
    let hc = upload_f32(dev(), &x);
    gpu.ula_device(&hc, b, 0.2, 4, NoiseAt::new(SEED, FIRST_STEP)).unwrap();
    let hc1 = upload_f32(dev(), &x);
    for k in 0..4 {
        gpu.ula_device(&hc1, b, 0.2, 1, NoiseAt::new(SEED, FIRST_STEP + k)).unwrap();
    }
    let (a, a1) = (read_f32(dev(), hc, b * 3).unwrap(), read_f32(dev(), hc1, b * 3).unwrap());
    assert_eq!(a, a1);
    let mut xh = x.clone();
    gpu.ula(&mut xh, 0.2, 4, NoiseAt::new(SEED, FIRST_STEP)).unwrap();
    assert_eq!(xh, a);
    let (hm, ha) = (upload_f32(dev(), &x), upload_u32(dev(), &vec![0; b]));
    gpu.mala_device(&hm, &ha, b, 0.5, 4, NoiseAt::new(SEED, FIRST_STEP)).unwrap();
    let (mut xm, mut am) = (x.clone(), vec![0u32; b]);
    gpu.mala(&mut xm, 0.5, 4, NoiseAt::new(SEED, FIRST_STEP), &mut am).unwrap();
    assert_eq!((read_f32(dev(), hm, b * 3).unwrap(), read_u32(dev(), ha, b).unwrap()), (xm, am));

    // Errors as the CPU's.
    let relu = Mlp::<f32>::init(3, &[4], Activation::Relu, 1).unwrap();
    let r = Mlp2::new(dev(), &relu).unwrap();
    let x1 = [0.1f32, 0.2, 0.3];
    let mut g1 = vec![0.0; r.n_params()];
    let cpu = relu.sm_loss_grad_params(&x1, &[1.0], &mut g1).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(r.grad_sm(&x1, &[1.0], &mut g1).unwrap_err()), cpu);
    let cpu = relu.v_hess_v(&x1, &x1, &mut [0.0]).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(r.v_hess_v(&x1, &x1, &mut [0.0]).unwrap_err()), cpu);
    let cpu = relu.grad_params_v_hess_v(&x1, &x1, &[1.0], &mut g1).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(r.grad_v_hess_v(&x1, &x1, &[1.0], &mut g1).unwrap_err()), cpu);
    let mut xe = x.clone();
    for eps in [0.0f32, -1.0, f32::NAN] {
        let cpu = langevin::ula(&m, &mut xe, eps, 1, 0, 0).unwrap_err();
        assert_eq!(ebm_core::EbmError::from(gpu.ula(&mut xe, eps, 1, NoiseAt::new(0, 0)).unwrap_err()), cpu);
    }
    let mut ragged = vec![0.0f32; 7];
    let cpu = langevin::ula(&m, &mut ragged, 0.1, 1, 0, 0).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(gpu.ula(&mut ragged, 0.1, 1, NoiseAt::new(0, 0)).unwrap_err()), cpu);
    let mut acc = vec![0u32; 3];
    let cpu = langevin::mala(&m, &mut xe, 0.1, 1, 0, 0, &mut acc).unwrap_err();
    assert_eq!(ebm_core::EbmError::from(gpu.mala(&mut xe, 0.1, 1, NoiseAt::new(0, 0), &mut acc).unwrap_err()), cpu);
    assert!(gpu.grad_sm(&x, &w[..3], &mut g).is_err());
    assert!(gpu.grad_sm_device(&hx, &hw, b + 1).is_err());
}

/// The exact-SM θ-gradient at widths past one tile (17, 33) in each
/// position of the stack, layer by layer: each layer's W and b within
/// 10⁻⁵ of that layer's largest |∂| (the output bias's ∂ is exactly 0).
#[test]
fn grad_sm_per_layer_at_widths_past_one_tile() {
    for (d, hidden) in [
        (6usize, vec![33usize, 8, 9]),
        (6, vec![8, 33, 9]),
        (6, vec![8, 9, 33]),
        (6, vec![17, 8, 9]),
        (6, vec![8, 9, 10]),
    ] {
        let (m32, m64) = models(d, &hidden, Activation::Softplus, 5);
        let gpu = Mlp2::new(dev(), &m32).unwrap();
        let b = 1;
        let x = common::uniform32(7, b * d, -2.0, 2.0);
        let mut want = vec![0.0; m64.params().len()];
        m64.sm_loss_grad_params(&x, &[1.0], &mut want).unwrap();
        let mut g = vec![0.0; want.len()];
        gpu.grad_sm(&common::to32(&x), &[1.0], &mut g).unwrap();
        for (l, o) in m64.layer_offsets().iter().enumerate() {
            let ew = (o.w..o.b).map(|p| (g[p] as f64 - want[p]).abs()).fold(0.0, f64::max);
            let mw = (o.w..o.b).map(|p| want[p].abs()).fold(0.0, f64::max);
            let eb = (o.b..o.b + o.out).map(|p| (g[p] as f64 - want[p]).abs()).fold(0.0, f64::max);
            let mb = (o.b..o.b + o.out).map(|p| want[p].abs()).fold(0.0, f64::max);
            let at = format!("d={d} {hidden:?} layer {l}: W err {ew:.2e} / {mw:.2e}, b err {eb:.2e} / {mb:.2e}");
            assert!(mw > 0.0 && ew <= 1e-5 * mw && eb <= 1e-5 * mb, "{at}");
        }
    }
}

/// Runs `f` and returns the launches it made on `gpu`.
fn launches_of(gpu: &Mlp2, f: impl FnOnce()) -> u64 {
    let before = gpu.launch_count();
    f();
    gpu.launch_count() - before
}

/// The launches the persistent path makes for `steps` steps.
fn persistent_launches(gpu: &Mlp2, mala: bool, steps: u64) -> u64 {
    match gpu.langevin_path(mala) {
        LangevinPath::Persistent { steps_per_launch, .. } => {
            steps.div_ceil(steps_per_launch.unwrap_or(steps).min(steps))
        }
        LangevinPath::MultiLaunch => panic!("the persistent path applies to {:?}", gpu.shape()),
    }
}

/// The persistent kernel ([`ebm_kernels::mlp2::persist`]): ULA and MALA
/// chains against the CPU reference at several shapes (including d = 64
/// with 256-256 hidden), with B not a multiple of the chain tile, in the
/// launches the plan says (the persistent path ran).
#[test]
fn persistent_chains_match_the_cpu_reference() {
    let cases: [(usize, Vec<usize>, f32, f32, usize); 4] = [
        (5, vec![12, 9], 0.1, 0.5, 37),
        (3, vec![7, 5, 6], 0.1, 0.5, 21),
        (64, vec![256, 256], 0.05, 0.8, 5),
        (16, vec![1024], 0.05, 0.6, 3),
    ];
    let mut partial = false;
    for (i, (d, hidden, eps_u, eps_m, b)) in cases.into_iter().enumerate() {
        let m = rough_model(d, &hidden, 190 + i as u64);
        let gpu = Mlp2::new(dev(), &m).unwrap();
        for mala in [false, true] {
            let LangevinPath::Persistent { chains, .. } = gpu.langevin_path(mala) else {
                panic!("d={d} hidden={hidden:?}: the persistent path applies");
            };
            eprintln!("d={d} hidden={hidden:?} mala={mala}: {chains} chains per workgroup");
            partial |= chains > 1 && b % chains != 0;
        }
        let x0 = common::to32(&common::normal32(7000 + i as u64, b * d));
        let n = launches_of(&gpu, || {
            check_ula("persistent ULA", &m, eps_u, &x0, |x| {
                gpu.ula_auto(x, eps_u, K, NoiseAt::new(SEED, FIRST_STEP)).unwrap()
            })
        });
        assert_eq!(n, persistent_launches(&gpu, false, K as u64), "ULA launches d={d}");
        let n = launches_of(&gpu, || {
            check_mala("persistent MALA", &m, eps_m, &x0, |x, a| {
                gpu.mala_auto(x, eps_m, K, NoiseAt::new(SEED, FIRST_STEP), a).unwrap()
            })
        });
        assert_eq!(n, persistent_launches(&gpu, true, K as u64), "MALA launches d={d}");
    }
    assert!(partial, "some case has B not a multiple of the chain tile");
}

/// K steps split into several launches (a small cap) give the chains and
/// acceptance counts of one launch bit for bit; the device forms give the
/// host forms' values.
#[test]
fn persistent_launch_split_is_exact() {
    use ebm_kernels::launch::{read_f32, upload_f32};
    let m = rough_model(5, &[12, 9], 200);
    let one = Mlp2::new(dev(), &m).unwrap();
    let mut split = Mlp2::new(dev(), &m).unwrap();
    split.set_max_steps_per_launch(Some(3));
    let b = 37;
    let x0 = common::to32(&common::normal32(7100, b * 5));
    let (mut x1, mut x3) = (x0.clone(), x0.clone());
    assert_eq!(launches_of(&one, || one.ula_auto(&mut x1, 0.1, K, NoiseAt::new(SEED, FIRST_STEP)).unwrap()), 1);
    let n = launches_of(&split, || split.ula_auto(&mut x3, 0.1, K, NoiseAt::new(SEED, FIRST_STEP)).unwrap());
    assert_eq!(n, K.div_ceil(3) as u64);
    assert!(x1 != x0);
    assert_eq!(x1, x3, "ULA: 1 launch = {n} launches");
    let hx = upload_f32(dev(), &x0);
    one.ula_auto_device(&hx, b, 0.1, K, NoiseAt::new(SEED, FIRST_STEP)).unwrap();
    assert_eq!(read_f32(dev(), hx, b * 5).unwrap(), x1);
    let (mut a1, mut a3) = (vec![1u32; b], vec![1u32; b]);
    let (mut x1, mut x3) = (x0.clone(), x0.clone());
    let r1 = one.mala_auto(&mut x1, 0.5, K, NoiseAt::new(SEED, FIRST_STEP), &mut a1).unwrap();
    let n = launches_of(&split, || {
        let r3 = split.mala_auto(&mut x3, 0.5, K, NoiseAt::new(SEED, FIRST_STEP), &mut a3).unwrap();
        assert_eq!(r1, r3);
    });
    assert_eq!(n, K.div_ceil(3) as u64);
    assert!(r1 > 0.0 && r1 < 1.0, "both outcomes occur (rate {r1})");
    assert_eq!((x1, a1), (x3, a3), "MALA: 1 launch = {n} launches");
}

/// A shape whose one chain does not fit the shared memory takes the
/// multi-launch path (on the device), and says so.
#[test]
fn persistent_falls_back_to_multi_launch_when_a_chain_does_not_fit() {
    let shared = dev().info().limits.max_workgroup_storage_bytes as usize;
    let h = shared / 4;
    assert!(PersistPlan::new(&Shape::new(2, &[h]), false, shared).is_none());
    let fits = PersistPlan::new(&Shape::new(2, &[8]), false, shared).unwrap();
    assert_eq!(fits.chains, 16);
    assert!(fits.shared_bytes() <= shared);
    let m = rough_model(2, &[h], 210);
    let gpu = Mlp2::new(dev(), &m).unwrap();
    assert_eq!(gpu.langevin_path(false), LangevinPath::MultiLaunch);
    assert_eq!(gpu.langevin_path(true), LangevinPath::MultiLaunch);
    let x0 = common::to32(&common::normal32(7200, 2 * 2));
    let (mut xa, mut xm) = (x0.clone(), x0.clone());
    let n = launches_of(&gpu, || gpu.ula_auto(&mut xa, 0.1, 2, NoiseAt::new(SEED, FIRST_STEP)).unwrap());
    gpu.ula(&mut xm, 0.1, 2, NoiseAt::new(SEED, FIRST_STEP)).unwrap();
    assert_eq!(n, 2 * plan::launches(gpu.shape(), gpu.tiles(), Op::Ula).len() as u64);
    assert_eq!(xa, xm);
}

/// The persistent plan at the bench shapes with 16 KiB of shared memory
/// (WebGPU's minimum): a chain tile fits, one step stays far under the
/// budget and 20 steps fit one launch on lavapipe; prints the module
/// docs' table (before: the multi-launch plan).
#[test]
fn persistent_plan_at_bench_shapes() {
    let tiles = Tiles::default();
    for (d, hidden) in [(64, vec![256, 256]), (256, vec![256, 256]), (16, vec![1024])] {
        let s = Shape::new(d, &hidden);
        for (mala, op) in [(false, Op::Ula), (true, Op::Mala)] {
            let l = plan::launches(&s, &tiles, op);
            let multi_loops = l.iter().map(|c| c.loops).max().unwrap();
            let p = PersistPlan::new(&s, mala, 16 << 10).expect("a chain tile fits 16 KiB");
            assert!(p.shared_bytes() <= 16 << 10);
            assert!(p.step_loops < 5_000, "{d} {hidden:?} {op:?}: {}", p.step_loops);
            assert_eq!(p.steps_per_launch(20, Some(65_535)).unwrap(), 20);
            eprintln!(
                "d={d} hidden={hidden:?} {op:?}: multi-launch {} launches/step, {:.1} KiB/chain/step, max loops {multi_loops}; \
                 persistent TB={} shared {:.1} KiB, {} B/chain/launch, loops fixed {} + {} per step",
                l.len(),
                plan::bytes_per_sample(&s, &tiles, op) / 1024.0,
                p.chains,
                p.shared_bytes() as f64 / 1024.0,
                8 * d + if mala { 8 } else { 0 },
                p.fixed_loops,
                p.step_loops,
            );
        }
    }
}
