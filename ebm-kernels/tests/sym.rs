//! The symbolic-program kernel (`GpuSym`, `sym_kernel`) against the CPU
//! `SymEnergy<f64>` on formulas that together use every `Op` and every
//! `Fn1`, fused (`Op::Sum`) and fixed-arity programs, seeded random θ and
//! inputs, batches of 1, 7, 1000 and 4099 samples.
//!
//! Tolerance: `common::tol_for(1e-6, 10, want)`, i.e. relative 1e-5
//! elementwise plus an absolute 1e-5·max|want| per output vector. f32
//! rounding alone is 6e-8 per operation; the GPU also differs from the CPU
//! by the shaders' `exp`/`log`/`sin`/`cos`/`pow` (a few ulp; Vulkan allows
//! 3 ulp, and an absolute 2⁻²¹ for `log` near 1) and by fused multiply-adds
//! the shader compiler may form, and sums of up to ~40 terms accumulate
//! those. The absolute part covers entries that cancel to near zero (a
//! score or Hessian entry summing terms of both signs), whose relative
//! error is unbounded in any f32 evaluation, CPU or GPU. On lavapipe the
//! worst error is below 0.25 of this tolerance.

mod common;

use ebm_core::prelude::*;
use ebm_core::sym::{eval_batch, parse_with, Instr, Op, Program, SymEnergy};
use ebm_core::testing::formulas::{CHAINS_ALL, GAUSS, ICA, MIXTURE, STUDENT};
use ebm_kernels::gpu_sym::eval_program;
use ebm_kernels::sym::SymSpec;
use ebm_kernels::{GpuDevice, GpuSym};

const RTOL: f64 = 1e-6;

/// Division, real powers of non-integer exponents, `x^5`, `x^(-3)`.
const RATIONAL: &str = "
energy(x[2]; a, b[2]) = (x0 - x1) / (3 + square(b0) + square(x1 - a)) + x0^5 * 0.01
  + (2 + square(x0 + b1))^(-3) - (1 + square(x1))^1.5 / (1 + square(a)) + a / (4 + x0 * x0)";

/// The growth factor of [`RTOL`]: 1e-5 in all.
const REDUCE: usize = 10;

/// (label, formula, sizes).
type Case = (&'static str, &'static str, Vec<(&'static str, usize)>);

fn formulas() -> Vec<Case> {
    vec![
        ("gauss", GAUSS, vec![("d", 5)]),
        ("ica", ICA, vec![("d", 4), ("K", 3)]),
        ("student", STUDENT, vec![("d", 3), ("K", 4)]),
        ("mixture", MIXTURE, vec![("d", 3), ("K", 3)]),
        ("chains", CHAINS_ALL, vec![("d", 3)]),
        ("rational", RATIONAL, vec![]),
    ]
}

/// The f64 model with θ rounded to f32 (so both sides hold the same θ).
fn model(src: &str, sizes: &[(&str, usize)], seed: u64) -> SymEnergy<f64> {
    let f = parse_with(src, sizes).unwrap();
    let p = f.signature.num_params();
    let mut theta: Vec<f64> = common::normal32(seed, p).iter().map(|v| (0.5 * v) as f32 as f64).collect();
    if src == GAUSS {
        theta = common::normal32(seed, p);
    }
    SymEnergy::new(f, &theta).unwrap()
}

fn check_all(dev: &GpuDevice, fused: bool) {
    for (k, (label, src, sizes)) in formulas().into_iter().enumerate() {
        let m64 = model(src, &sizes, 10 + k as u64);
        let m32 = m64.cast::<f32>();
        let gpu = if fused { GpuSym::new(dev, m32) } else { GpuSym::new_unfused(dev, m32) }.unwrap();
        let d = m64.dim();
        for (j, &b) in common::BATCHES.iter().enumerate() {
            let x = common::normal32(100 * k as u64 + j as u64, b * d);
            let tag = format!("{label} ({}) on {}", if fused { "fused" } else { "unfused" }, dev.info().label());
            common::check_outputs(&tag, &gpu, &m64, &x, RTOL, REDUCE, true);
        }
    }
}

#[test]
fn fused_programs_match_cpu_on_default_adapter() {
    let dev = common::device("fused_programs_match_cpu_on_default_adapter");
    check_all(&dev, true);
}

#[test]
fn unfused_programs_match_cpu_on_default_adapter() {
    let dev = common::device("unfused_programs_match_cpu_on_default_adapter");
    check_all(&dev, false);
}

/// Every `Op` variant and every `Fn1` occurs in the programs checked above
/// (and `Aux` in the one checked below), so none is left untested.
#[test]
fn the_formulas_cover_every_op() {
    let mut seen = std::collections::BTreeSet::new();
    for (k, (_, src, sizes)) in formulas().into_iter().enumerate() {
        let m = model(src, &sizes, 10 + k as u64);
        for ps in [m.programs(), m.fused_programs()] {
            for p in [&ps.energy_score_hess, &ps.grad_v_dot_grad] {
                for ins in &p.instrs {
                    let name = match &ins.op {
                        Op::Unary(f, _) => f.name().to_string(),
                        Op::Powi(_, n) => format!("powi{}", if *n < 0 { "-" } else { "+" }),
                        op => format!("{op:?}").split('(').next().unwrap().to_string(),
                    };
                    seen.insert(name);
                }
            }
        }
    }
    let want = [
        "Const", "Input", "Aux", "Param", "Add", "Sub", "Mul", "Div", "Max", "powi+", "powi-", "Powf", "Sum", "neg",
        "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "softplus", "logcosh", "sin", "cos", "square",
    ];
    for w in want {
        assert!(seen.contains(w), "no formula produces {w}; seen {seen:?}");
    }
}

/// A program with auxiliary inputs (∇θ vᵀ∇ₓE, per sample) through
/// `eval_program`, against the CPU evaluator in f64.
#[test]
fn aux_inputs_match_cpu_on_default_adapter() {
    let dev = common::device("aux_inputs_match_cpu_on_default_adapter");
    for (k, (label, src, sizes)) in formulas().into_iter().enumerate() {
        let m = model(src, &sizes, 10 + k as u64);
        let prog = m.fused_programs().grad_v_dot_grad.clone();
        let (d, p) = (m.dim(), m.num_params());
        if p == 0 {
            continue;
        }
        let spec = SymSpec::new(prog.clone(), [p, 0, 0]).unwrap();
        for &b in &[7usize, 1000] {
            let x = common::normal32(500 + k as u64, b * d);
            let v = common::normal32(600 + k as u64, b * d);
            let mut want = vec![0.0f64; b * p];
            eval_batch(&prog, m.params(), &x, &v, &mut [&mut want]);
            let theta = common::to32(m.params());
            let got = eval_program(&dev, &spec, &common::to32(&x), &common::to32(&v), &theta, b).unwrap();
            let tol = common::tol_for(RTOL, REDUCE, &want);
            tol.assert_all_close(&format!("{label}: ∇θ vᵀ∇ₓE rows, B={b}"), &got[0], &want);
            assert!(got[1].is_empty() && got[2].is_empty());
        }
    }
}

#[test]
fn params_updates_reach_the_device_on_default_adapter() {
    let dev = common::device("params_updates_reach_the_device_on_default_adapter");
    let m = model(ICA, &[("d", 4), ("K", 3)], 3).cast::<f32>();
    let mut gpu = GpuSym::new(&dev, m).unwrap();
    let x = common::to32(&common::normal32(1, 5 * 4));
    let (mut e0, mut e1, mut want) = (vec![0f32; 5], vec![0f32; 5], vec![0f32; 5]);
    gpu.energy(&x, &mut e0).unwrap();
    gpu.params_mut().iter_mut().for_each(|p| *p *= 1.5);
    gpu.energy(&x, &mut e1).unwrap();
    gpu.cpu().energy(&x, &mut want).unwrap();
    let tol = ebm_core::testing::Tolerance::new(1e-5, 1e-6);
    tol.assert_all_close("energy after params_mut", &e1, &want);
    assert!(e0.iter().zip(&e1).any(|(a, b)| a != b));
    // input errors are the CPU twin's
    let bad = [0.0f32, f32::INFINITY, 1.0, 2.0];
    assert_eq!(gpu.energy(&bad, &mut [0.0; 1]).unwrap_err(), gpu.cpu().energy(&bad, &mut [0.0; 1]).unwrap_err());
}

#[test]
fn non_finite_constants_are_refused() {
    let p = Program {
        instrs: vec![Instr { dst: 0, op: Op::Const(f64::NEG_INFINITY.to_bits()) }],
        num_uniform: 1,
        num_regs: 1,
        outputs: vec![0],
        num_inputs: 1,
        num_aux: 0,
        num_params: 0,
    };
    assert!(SymSpec::new(p.clone(), [1, 0, 0]).is_err());
    let mut ok = p;
    ok.instrs[0].op = Op::Const(2.5f64.to_bits());
    assert!(SymSpec::new(ok.clone(), [1, 0, 0]).is_ok());
    assert!(SymSpec::new(ok, [1, 1, 0]).is_err());
}

/// Each elementary function alone, E = f(x₀), at points on both sides of
/// the series cut-offs of `sym_ops` (¼, ½), near 0 and far out: the energy
/// within 1e-5 *relative* of an accurate f64 value (no absolute part but
/// the subnormal range: the accurate forms near 0 are the point), and the
/// score and Hessian finite (the stable forms do not overflow).
#[test]
fn elementary_functions_near_zero_and_far_out_on_default_adapter() {
    let dev = common::device("elementary_functions_near_zero_and_far_out_on_default_adapter");
    let tiny = [1e-6, 1e-4, 0.01, 0.1, 0.24, 0.26, 0.49, 0.51, 1.0, 3.0];
    let sym = |far: &[f64]| -> Vec<f64> { tiny.iter().chain(far).flat_map(|&v| [v, -v]).collect() };
    let pos: Vec<f64> = tiny.iter().copied().chain([10.0, 1e4]).collect();
    type Fn1Case = (&'static str, Vec<f64>, fn(f64) -> f64);
    // f64 references accurate to ~1e-15 relative everywhere (ln cosh a =
    // ln(1 + 2 sinh²(a/2)) has no cancellation near 0, unlike the stable
    // form the CPU evaluator uses, which is accurate only absolutely there)
    let cases: Vec<Fn1Case> = vec![
        ("exp", sym(&[30.0, 80.0]), f64::exp),
        ("log", pos.clone(), f64::ln),
        ("sqrt", pos.clone(), f64::sqrt),
        ("log1p", tiny.iter().flat_map(|&v| [v, -0.9 * v.min(1.0)]).chain([10.0, 1e4]).collect(), f64::ln_1p),
        ("tanh", sym(&[10.0, 100.0]), f64::tanh),
        ("sigmoid", sym(&[10.0, 100.0]), |a| 1.0 / (1.0 + (-a).exp())),
        ("softplus", sym(&[10.0, 100.0]), |a| a.max(0.0) + (-a.abs()).exp().ln_1p()),
        ("logcosh", sym(&[10.0, 100.0]), |a| (2.0 * (0.5 * a).sinh().powi(2)).ln_1p()),
        ("sin", sym(&[]), f64::sin),
        ("cos", sym(&[]), f64::cos),
    ];
    // absolute part: shaders may flush subnormal results (sigmoid(−100) ≈ 4e−44) to 0
    let tol = ebm_core::testing::Tolerance::new(1e-5, f32::MIN_POSITIVE as f64);
    for (f, pts, reference) in cases {
        let m = SymEnergy::<f32>::parse(&format!("energy(x[1]) = {f}(x0)"), &[]).unwrap();
        let gpu = GpuSym::new(&dev, m).unwrap();
        let x = common::to32(&pts);
        let n = x.len();
        let (mut e, mut s, mut h) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        gpu.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
        let want: Vec<f64> = x.iter().map(|&v| reference(v as f64)).collect();
        tol.assert_all_close(&format!("{f}(x) at {x:?}"), &e, &want);
        assert!(s.iter().chain(&h).all(|v| v.is_finite()), "{f}: score {s:?} hess {h:?}");
    }
}

/// Larger programs (thousands of instructions in the Hessian program):
/// still one straight-line kernel each, still matching the CPU; prints the
/// program sizes and the first call's time (expansion + WGSL + driver
/// compilation + run) against a second call's (cached kernel).
#[test]
fn larger_programs_match_cpu_on_default_adapter() {
    let dev = common::device("larger_programs_match_cpu_on_default_adapter");
    for (label, src, sizes) in
        [("gauss d=16", GAUSS, vec![("d", 16)]), ("mixture d=8 K=6", MIXTURE, vec![("d", 8), ("K", 6)])]
    {
        let m64 = model(src, &sizes, 77);
        let gpu = GpuSym::new(&dev, m64.cast::<f32>()).unwrap();
        let d = m64.dim();
        let x = common::normal32(78, 1000 * d);
        let x32 = common::to32(&x);
        let (mut e, mut s, mut h) = (vec![0f32; 1000], vec![0f32; 1000 * d], vec![0f32; 1000 * d]);
        let t0 = std::time::Instant::now();
        gpu.energy_score_hess_diag(&x32, &mut e, &mut s, &mut h).unwrap();
        let first = t0.elapsed();
        let t1 = std::time::Instant::now();
        gpu.energy_score_hess_diag(&x32, &mut e, &mut s, &mut h).unwrap();
        let second = t1.elapsed();
        let p = &gpu.specs()[2].program;
        eprintln!(
            "{label}: [E, s, h] program {} instrs, {} regs; first call {first:.2?}, second {second:.2?}",
            p.len(),
            p.num_regs
        );
        common::check_outputs(label, &gpu, &m64, &x, RTOL, REDUCE, true);
    }
}

/// Degenerate programs: outputs that are constants, parameters or inputs
/// themselves (uniform output registers, zero scores and Hessians), exact.
#[test]
fn degenerate_programs_on_default_adapter() {
    let dev = common::device("degenerate_programs_on_default_adapter");
    for (src, theta) in [
        ("energy(x[2]; a) = 2 * a", vec![1.25f32]),
        ("energy(x[3]) = x0 - x2", vec![]),
        ("energy(x[1]) = 3", vec![]),
        ("energy(x[2]) = x1", vec![]),
    ] {
        let m = SymEnergy::<f32>::parse(src, &theta).unwrap();
        let gpu = GpuSym::new(&dev, m.clone()).unwrap();
        let d = m.dim();
        for &b in &common::BATCHES {
            let x = common::to32(&common::normal32(b as u64, b * d));
            let (mut e, mut s, mut h) = (vec![f32::NAN; b], vec![f32::NAN; b * d], vec![f32::NAN; b * d]);
            let (mut e1, mut s1, mut h1) = (vec![0f32; b], vec![0f32; b * d], vec![0f32; b * d]);
            gpu.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
            m.energy_score_hess_diag(&x, &mut e1, &mut s1, &mut h1).unwrap();
            assert_eq!((&e, &s, &h), (&e1, &s1, &h1), "{src}, B={b}");
        }
    }
}
