//! The fused program form (`Op::Sum`, `compile_fused`) and the evaluator's
//! own elementary functions: fused programs give the values of the plain
//! fixed-arity programs bit for bit, every derivative of formulas built to
//! exercise each fusion (chains, subtracted chains, negated chains and
//! products, squares) passes the finite-difference checks, and the
//! evaluator agrees with the f64 reference `Graph::eval_f64` (std `libm`)
//! to a few ulp in f64 and to f32 rounding in f32.

use ebm_core::prelude::*;
use ebm_core::sym::{
    compile, compile_fused, eval_batch, eval_weighted_sum, parse_with, Instr, Op, Program, SymEnergy, Term,
};
use ebm_core::testing::formulas::{CHAINS, GAUSS, ICA, MIXTURE, STUDENT};
use ebm_core::testing::{check_all_derivatives, check_v_hess_v, normal_vec, uniform_vec, Tolerance, FD_TOL};

fn models() -> Vec<(&'static str, SymEnergy<f64>)> {
    let sized = |src: &str, sizes: &[(&str, usize)], seed: u64| {
        let f = parse_with(src, sizes).unwrap();
        let p = f.signature.num_params();
        let mut theta: Vec<f64> = normal_vec(seed, p).iter().map(|v| 0.5 * v).collect();
        if src == GAUSS {
            // keep the diagonal of L away from 0 (it is logged nowhere, but realistic)
            theta = normal_vec(seed, p);
        }
        SymEnergy::new(f, &theta).unwrap()
    };
    vec![
        ("gauss", sized(GAUSS, &[("d", 5)], 1)),
        ("ica", sized(ICA, &[("d", 4), ("K", 3)], 2)),
        ("student", sized(STUDENT, &[("d", 3), ("K", 4)], 3)),
        ("mixture", sized(MIXTURE, &[("d", 3), ("K", 3)], 4)),
        ("chains", sized(CHAINS, &[("d", 3)], 5)),
    ]
}

/// Every output of every program of `m`, plain and fused, on a batch.
fn run_all(p: &Program, theta: &[f64], x: &[f64], v: &[f64]) -> Vec<f64> {
    let b = x.len() / p.num_inputs as usize;
    let mut out = vec![0.0; b * p.outputs.len()];
    let aux = if p.num_aux > 0 { v } else { &[][..] };
    eval_batch(p, theta, x, aux, &mut [&mut out]);
    out
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[test]
fn fused_programs_equal_plain_ones_bit_for_bit() {
    for (name, m) in models() {
        let d = m.dim();
        let b = 77;
        let x: Vec<f64> = normal_vec(10, b * d).iter().map(|v| 1.5 * v).collect();
        let v = normal_vec(11, b * d);
        let (plain, fused) = (m.programs(), m.fused_programs());
        let pairs = [
            (&plain.energy, &fused.energy),
            (&plain.energy_score, &fused.energy_score),
            (&plain.energy_score_hess, &fused.energy_score_hess),
            (&plain.grad_energy, &fused.grad_energy),
            (&plain.grad_v_dot_grad, &fused.grad_v_dot_grad),
            (&plain.grad_sm, &fused.grad_sm),
            (&plain.v_hess_v, &fused.v_hess_v),
            (&plain.grad_v_hess_v, &fused.grad_v_hess_v),
        ];
        for (k, (p, f)) in pairs.into_iter().enumerate() {
            f.validate();
            assert!(!p.instrs.iter().any(|i| matches!(i.op, Op::Sum(_))), "{name}: plain program {k} has a Sum");
            assert!(f.len() <= p.len(), "{name}: program {k}: fused {} > plain {}", f.len(), p.len());
            assert_eq!(
                (f.outputs.len(), f.num_inputs, f.num_aux, f.num_params),
                (p.outputs.len(), p.num_inputs, p.num_aux, p.num_params)
            );
            let (a, c) = (run_all(p, m.params(), &x, &v), run_all(f, m.params(), &x, &v));
            for (i, (&s, &t)) in a.iter().zip(&c).enumerate() {
                assert!(same(s, t), "{name}: program {k} value {i}: plain {s:e} fused {t:e}");
            }
            // f32 too
            let c32 = |s: &[f64]| s.iter().map(|&t| t as f32).collect::<Vec<f32>>();
            let (t32, x32, v32) = (c32(m.params()), c32(&x), c32(&v));
            let run32 = |p: &Program| {
                let mut out = vec![0f32; b * p.outputs.len()];
                let aux = if p.num_aux > 0 { &v32[..] } else { &[][..] };
                eval_batch(p, &t32, &x32, aux, &mut [&mut out]);
                out
            };
            for (i, (&s, &t)) in run32(p).iter().zip(&run32(f)).enumerate() {
                assert!(
                    s == t || (s.is_nan() && t.is_nan()),
                    "{name} f32: program {k} value {i}: plain {s:e} fused {t:e}"
                );
            }
        }
        let esh = (&plain.energy_score_hess, &fused.energy_score_hess);
        println!("{name}: [E, score, hess] {} plain → {} fused instructions", esh.0.len(), esh.1.len());
        assert!(esh.1.len() < esh.0.len(), "{name}: fusion shrinks the program");
    }
}

#[test]
fn fused_sums_pass_finite_differences() {
    for (name, m) in models() {
        let d = m.dim();
        let b = 6;
        let x = normal_vec(20, b * d);
        let v = normal_vec(21, b * d);
        let w = uniform_vec(22, b, 0.2, 1.0);
        println!("{name}");
        check_all_derivatives(&m, &x, &v, &w, FD_TOL);
        check_v_hess_v(&m, &x, &v, &w, FD_TOL);
    }
}

#[test]
fn evaluator_matches_the_libm_reference() {
    for (name, m) in models() {
        let d = m.dim();
        let dv = m.derivatives().clone();
        let g = &m.formula().graph;
        let roots: Vec<_> = [vec![dv.energy], dv.score.clone(), dv.hess_diag.clone()].concat();
        let b = 45;
        let x: Vec<f64> = normal_vec(30, b * d).iter().map(|v| 2.0 * v).collect();
        let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
        let m32: SymEnergy<f32> = m.cast();
        let x32: Vec<f32> = x.iter().map(|&t| t as f32).collect();
        let (mut e32, mut s32, mut h32) = (vec![0f32; b], vec![0f32; b * d], vec![0f32; b * d]);
        m32.energy_score_hess_diag(&x32, &mut e32, &mut s32, &mut h32).unwrap();
        let theta32: Vec<f64> = m32.params().iter().map(|&t| t as f64).collect();
        for r in 0..b {
            let xr = &x[r * d..(r + 1) * d];
            let want = g.eval_f64(&roots, xr, &[], m.params());
            let got: Vec<f64> = [vec![e[r]], s[r * d..(r + 1) * d].to_vec(), h[r * d..(r + 1) * d].to_vec()].concat();
            Tolerance::new(1e-12, 1e-12).assert_all_close(&format!("{name} f64 row {r}"), &got, &want);
            let xr32: Vec<f64> = x32[r * d..(r + 1) * d].iter().map(|&t| t as f64).collect();
            let want = g.eval_f64(&roots, &xr32, &[], &theta32);
            let got: Vec<f32> =
                [vec![e32[r]], s32[r * d..(r + 1) * d].to_vec(), h32[r * d..(r + 1) * d].to_vec()].concat();
            Tolerance::new(1e-4, 1e-4).assert_all_close(&format!("{name} f32 row {r}"), &got, &want);
        }
    }
}

#[test]
fn powi_is_bit_identical_to_std() {
    let m = SymEnergy::<f64>::parse("energy(x[2]) = x0^3 + x1^(-5) + x0^8 * x1^2", &[]).unwrap();
    let f = m.formula();
    let x = normal_vec(40, 2 * 50);
    let mut e = vec![0.0; 50];
    m.energy(&x, &mut e).unwrap();
    for r in 0..50 {
        let want = f.graph.eval_f64(&[f.energy], &x[2 * r..2 * r + 2], &[], &[])[0];
        assert_eq!(e[r].to_bits(), want.to_bits(), "row {r}: {} vs {want}", e[r]);
    }
}

/// A hand-built program with every kind of term, and its plain expansion.
#[test]
fn sum_op_semantics() {
    // r0 = x0, r1 = x1, r2 = θ0; r3 = −x0·θ0 − x1 + x0·x1 + θ0 − ... (see below)
    let leaves = vec![
        Instr { dst: 0, op: Op::Input(0) },
        Instr { dst: 1, op: Op::Input(1) },
        Instr { dst: 2, op: Op::Param(0) },
    ];
    let mut fused = leaves.clone();
    fused.push(Instr {
        dst: 3,
        op: Op::Sum(
            vec![Term::SubMul(0, 2), Term::Sub(1), Term::AddMul(0, 1), Term::Add(2), Term::SubMul(1, 1)].into(),
        ),
    });
    fused.push(Instr { dst: 4, op: Op::Sum(vec![Term::Sub(0)].into()) });
    fused.push(Instr { dst: 5, op: Op::Sum(vec![Term::AddMul(0, 2), Term::Sub(1)].into()) });
    let prog = |instrs: Vec<Instr>, num_regs: u32| Program {
        instrs,
        num_uniform: 0,
        num_regs,
        outputs: vec![3, 4, 5],
        num_inputs: 2,
        num_aux: 0,
        num_params: 1,
    };
    let fused = prog(fused, 6);
    fused.validate();
    let b = 70;
    let x: Vec<f64> = normal_vec(50, 2 * b).iter().map(|v| v * 3.0).collect();
    let theta = [0.7];
    let mut out = vec![0.0; 3 * b];
    eval_batch(&fused, &theta, &x, &[], &mut [&mut out]);
    for r in 0..b {
        let (x0, x1, t) = (x[2 * r], x[2 * r + 1], theta[0]);
        let want = [(((-(x0 * t) - x1) + x0 * x1) + t) - x1 * x1, -x0, x0 * t - x1];
        for j in 0..3 {
            assert_eq!(out[3 * r + j].to_bits(), want[j].to_bits(), "row {r} output {j}");
        }
    }
    // weighted sums use the same evaluation
    let w = uniform_vec(51, b, -1.0, 1.0);
    let mut acc = vec![0.0; 3];
    eval_weighted_sum(&fused, &theta, &x, &[], &w, &mut acc);
    for j in 0..3 {
        let want: f64 = (0..b).map(|r| w[r] * out[3 * r + j]).sum();
        assert!((acc[j] - want).abs() <= 1e-12 * (1.0 + want.abs()), "weighted sum {j}: {} vs {want}", acc[j]);
    }
    // Program stays plain hashable data
    let mut set = std::collections::HashSet::new();
    set.insert(fused.clone());
    assert!(set.contains(&fused));
}

/// The program r0 = x₀, r1 = Σ `terms` (output r1), unchecked.
fn input_then_sum(terms: Vec<Term>) -> Program {
    Program {
        instrs: vec![Instr { dst: 0, op: Op::Input(0) }, Instr { dst: 1, op: Op::Sum(terms.into()) }],
        num_uniform: 0,
        num_regs: 2,
        outputs: vec![1],
        num_inputs: 1,
        num_aux: 0,
        num_params: 0,
    }
}

#[test]
#[should_panic(expected = "sym eval")]
fn evaluator_rejects_out_of_range_registers() {
    let bad = input_then_sum(vec![Term::AddMul(0, 7)]);
    let mut out = vec![0.0; 3];
    eval_batch(&bad, &[], &[1.0, 2.0, 3.0], &[], &mut [&mut out]);
}

#[test]
#[should_panic(expected = "sym eval")]
fn evaluator_rejects_a_sum_reading_its_destination() {
    let bad = input_then_sum(vec![Term::Add(0), Term::Add(1)]);
    let mut out = vec![0.0; 1];
    eval_batch(&bad, &[], &[1.0], &[], &mut [&mut out]);
}

#[test]
fn compile_and_compile_fused_agree_on_single_outputs() {
    // a lone output that is itself a chain, a negated chain, a negated product
    let f = parse_with("energy(x[3]; a[3]) = -(a[0]*x[0] + a[1]*x[1] - x[2]) - a[2]*x[0]*x[1]", &[]).unwrap();
    let g = &f.graph;
    let theta = [0.3, -1.2, 0.8];
    let x = normal_vec(60, 3 * 40);
    let (p, q) = (compile(g, &[f.energy], 3, 0, 3), compile_fused(g, &[f.energy], 3, 0, 3));
    q.validate();
    assert!(q.instrs.iter().any(|i| matches!(i.op, Op::Sum(_))));
    let (a, b) = (run_all(&p, &theta, &x, &[]), run_all(&q, &theta, &x, &[]));
    for (s, t) in a.iter().zip(&b) {
        assert!(same(*s, *t), "{s:e} vs {t:e}");
    }
}

#[test]
fn non_finite_inputs_are_found_anywhere_in_the_batch() {
    use ebm_core::EbmError;
    let m = SymEnergy::<f64>::parse("energy(x[4]; a) = a * (x0 + x1 * x2 - x3)", &[1.5]).unwrap();
    let b = 10; // 40 values: two blocks of 16 and a tail of 8
    for (at, bad) in [(5usize, f64::INFINITY), (37, f64::NAN), (39, f64::NEG_INFINITY), (16, f64::NAN)] {
        let mut x = normal_vec(70, 4 * b);
        x[at] = bad;
        let mut e = vec![0.0; b];
        let err = m.energy(&x, &mut e).unwrap_err();
        assert!(matches!(err, EbmError::NonFinite { row, col, .. } if row == at / 4 && col == at % 4), "{at}: {err:?}");
    }
    let x = normal_vec(71, 4 * b);
    let mut e = vec![0.0; b];
    m.energy(&x, &mut e).unwrap();
}
