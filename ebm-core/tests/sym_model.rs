//! `SymEnergy` end to end: every derivative of parsed formulas (indexed sums,
//! nested sums, `lower` parameters, a log-sum-exp mixture) against finite
//! differences, f32 against f64, batching, node-count growth,
//! simplification and the program format.

use ebm_core::prelude::*;
use ebm_core::sym::{compile, derive, eval_batch, parse, parse_with, Graph, Op, SymBuilder, SymEnergy, SymError};
use ebm_core::testing::formulas::{GAUSS, ICA, STUDENT};
use ebm_core::testing::log_log_slope;
use ebm_core::testing::{check_all_derivatives, normal_vec, uniform_vec, F32Check, SumRef, Tolerance, FD_TOL};
use ebm_core::EbmError;

const MIXTURE: &str = "
# a K-component Gaussian mixture with diagonal precisions exp(2 log_l)
let K = 3
energy(x[d]; logits[K], mu[K,d], log_l[K,d]) =
  -logsumexp(k, 0..K,
      logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)
      + sum(i, 0..d, log_l[k,i])
      - 0.5 * sum(i, 0..d, square(exp(log_l[k,i]) * (x[i] - mu[k,i]))))";

fn gaussian_theta(d: usize, seed: u64) -> Vec<f64> {
    let mut t = normal_vec(seed, d);
    for i in 0..d {
        for j in 0..=i {
            t.push(if i == j {
                uniform_vec(seed + (i * d + j) as u64, 1, 0.7, 1.5)[0]
            } else {
                0.3 * normal_vec(seed + 100 + (i * d + j) as u64, 1)[0]
            });
        }
    }
    t
}

fn check(model: &SymEnergy<f64>, seed: u64, b: usize, scale: f64) {
    let d = model.dim();
    let x: Vec<f64> = normal_vec(seed, b * d).iter().map(|v| v * scale).collect();
    let v = normal_vec(seed + 1, b * d);
    let w = uniform_vec(seed + 2, b, 0.1, 1.0);
    check_all_derivatives(model, &x, &v, &w, FD_TOL);
}

#[test]
fn issue_example_all_derivatives() {
    let m = SymEnergy::<f64>::parse(
        "energy(x[2]; mu[2], log_s) = 0.5 * ((x0-mu0)^2 + (x1-mu1)^2) * exp(-2*log_s)",
        &[0.3, -0.5, 0.2],
    )
    .unwrap();
    assert_eq!(m.num_params(), 3);
    check(&m, 1, 6, 1.0);
    // Closed form: score = −(x − μ) e^{−2 log_s}, Hessian diagonal = e^{−2 log_s}.
    let (mut e, mut s, mut h) = ([0.0], [0.0; 2], [0.0; 2]);
    m.energy_score_hess_diag(&[1.0, 2.0], &mut e, &mut s, &mut h).unwrap();
    let k = (-0.4f64).exp();
    assert!((e[0] - 0.5 * (0.7f64.powi(2) + 2.5f64.powi(2)) * k).abs() < 1e-12);
    assert!((s[0] + 0.7 * k).abs() < 1e-12 && (s[1] + 2.5 * k).abs() < 1e-12);
    assert!((h[0] - k).abs() < 1e-12 && (h[1] - k).abs() < 1e-12);
}

#[test]
fn gaussian_with_lower_triangle_all_derivatives() {
    let f = parse_with(GAUSS, &[("d", 3)]).unwrap();
    let m = SymEnergy::new(f, &gaussian_theta(3, 5)).unwrap();
    assert_eq!(m.num_params(), 3 + 6);
    check(&m, 2, 5, 1.0);
}

#[test]
fn ica_and_student_t_all_derivatives() {
    let w = normal_vec(7, 4 * 3);
    let m = SymEnergy::<f64>::parse_with(ICA, &[("d", 3), ("K", 4)], &w).unwrap();
    check(&m, 3, 5, 1.0);
    let mut t = w.clone();
    t.extend(uniform_vec(8, 4, 0.5, 2.0));
    let m = SymEnergy::<f64>::parse_with(STUDENT, &[("d", 3), ("K", 4)], &t).unwrap();
    check(&m, 4, 5, 1.0);
}

#[test]
fn logsumexp_mixture_all_derivatives() {
    let f = parse_with(MIXTURE, &[("d", 2)]).unwrap();
    let p = f.signature.num_params();
    assert_eq!(p, 3 + 6 + 6);
    let mut t = normal_vec(9, p);
    for v in &mut t[9..] {
        *v *= 0.3;
    }
    let m = SymEnergy::new(f, &t).unwrap();
    check(&m, 5, 6, 1.5);
}

#[test]
fn nested_sums_and_2d_indexing_all_derivatives() {
    // A quadratic form with a full symmetric matrix, a cubic term, and a
    // sum whose range depends on the outer index.
    let src = "energy(x[3]; A[3,3], c[3]) = 0.5 * sum(i, 0..d, sum(j, 0..d, x[i] * A[i,j] * x[j])) \
               + sum(i, 0..d, sum(j, i+1..d, c[i] * tanh(x[i] - x[j]))) + 0.1 * sum(i, 0..3, x[i]^4)";
    let t = normal_vec(11, 12);
    let m = SymEnergy::<f64>::parse(src, &t).unwrap();
    check(&m, 6, 4, 1.0);
}

#[test]
fn builder_matches_parser() {
    let src = "energy(x[2]; mu[2], log_s) = 0.5 * ((x0-mu0)^2 + (x1-mu1)^2) * exp(-2*log_s)";
    let parsed = parse(src).unwrap();
    let mut b = SymBuilder::new("x", 2);
    b.declare("mu", &[2]).unwrap();
    b.declare("log_s", &[]).unwrap();
    let mut sq = Vec::new();
    for i in 0..2 {
        let (x, mu) = (b.x(i).unwrap(), b.p("mu", &[i]).unwrap());
        let r = b.sub(x, mu);
        sq.push(b.powi(r, 2));
    }
    let s = b.sum(&sq);
    let half = b.constant(0.5);
    let hs = b.mul(half, s);
    let (m2, ls) = (b.constant(-2.0), b.p("log_s", &[]).unwrap());
    let t = b.mul(m2, ls);
    let k = b.exp(t);
    let e = b.mul(hs, k);
    let built = b.finish(e);
    assert_eq!(built.to_source(), parsed.to_source());
    assert_eq!(built.signature, parsed.signature);
    // builder errors are typed
    let mut b = SymBuilder::new("x", 2);
    b.declare("mu", &[2]).unwrap();
    assert!(matches!(b.declare("mu", &[1]), Err(SymError::Build(_))));
    assert!(matches!(b.x(2), Err(SymError::Build(_))));
    assert!(matches!(b.p("mu", &[2]), Err(SymError::Build(_))));
    assert!(matches!(b.declare_lower("L", &[2, 3]), Err(SymError::Build(_))));
    // a DAG built by hand through the graph is checked against the signature
    let bad = b.input(5);
    assert!(
        matches!(SymEnergy::<f64>::new(b.clone().finish(bad), &[0.0; 2]), Err(SymError::Build(m)) if m.contains("input 5"))
    );
    let bad = b.param(7);
    assert!(
        matches!(SymEnergy::<f64>::new(b.clone().finish(bad), &[0.0; 2]), Err(SymError::Build(m)) if m.contains("parameter 7"))
    );
    let bad = b.aux(0);
    assert!(matches!(SymEnergy::<f64>::new(b.clone().finish(bad), &[0.0; 2]), Err(SymError::Build(_))));
    let ok = b.p("mu", &[1]).unwrap();
    assert!(
        matches!(SymEnergy::<f64>::new(b.clone().finish(ok), &[0.0, f64::NAN]), Err(SymError::Build(m)) if m.contains("parameter 1"))
    );
    assert!(SymEnergy::<f64>::new(b.finish(ok), &[0.0, 1.0]).is_ok());
    let mut b = SymBuilder::new("x", 0);
    let c = b.constant(1.0);
    assert!(matches!(SymEnergy::<f64>::new(b.finish(c), &[]), Err(SymError::Build(m)) if m.contains("dimension")));
    let mut b = SymBuilder::new("x", 1);
    assert!(matches!(b.declare_lower("L", &[usize::MAX, usize::MAX]), Err(SymError::Build(_))));
}

#[test]
fn f32_matches_f64() {
    let mut t = normal_vec(12, 4 * 3);
    t.extend(uniform_vec(13, 4, 0.5, 2.0));
    let m64 = SymEnergy::<f64>::parse_with(STUDENT, &[("d", 3), ("K", 4)], &t).unwrap();
    let m32: SymEnergy<f32> = m64.cast();
    let m64r: SymEnergy<f64> = m32.cast();
    let b = 70;
    let x = normal_vec(14, b * 3);
    let v = normal_vec(15, b * 3);
    let w = uniform_vec(16, b, 0.1, 1.0);
    F32Check::new(&x, &v, &w, Tolerance::new(2e-5, 2e-5)).outputs(&m32, &m64r);
}

#[test]
fn batches_of_every_size_match_the_reference() {
    let f = parse_with(GAUSS, &[("d", 3)]).unwrap();
    let theta = gaussian_theta(3, 21);
    let m = SymEnergy::new(f, &theta).unwrap();
    let dv = m.derivatives().clone();
    let g = &m.formula().graph;
    let roots: Vec<_> = [vec![dv.energy], dv.score.clone(), dv.hess_diag.clone()].concat();
    for &b in &[1usize, 2, 31, 32, 33, 65, 257, 1000] {
        let x = normal_vec(b as u64, b * 3);
        let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * 3], vec![0.0; b * 3]);
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
        for r in 0..b {
            let want = g.eval_f64(&roots, &x[r * 3..r * 3 + 3], &[], &theta);
            let got: Vec<f64> = [vec![e[r]], s[r * 3..r * 3 + 3].to_vec(), h[r * 3..r * 3 + 3].to_vec()].concat();
            Tolerance::new(1e-13, 1e-13).assert_all_close(&format!("B={b} row {r}"), &got, &want);
        }
        // grad = Σ_b w_b ∂E/∂θ (b) against per-sample reference sums
        let w = uniform_vec(b as u64 + 7, b, -1.0, 1.0);
        let mut grad = vec![f64::NAN; m.num_params()];
        m.grad_params_energy(&x, &w, &mut grad).unwrap();
        let want = SumRef::over_rows(b, m.num_params(), |r, t| {
            let gr = g.eval_f64(&dv.grad_energy, &x[r * 3..r * 3 + 3], &[], &theta);
            t.iter_mut().zip(gr).for_each(|(t, v)| *t = w[r] * v);
        });
        Tolerance::new(1e-13, 0.0).assert_sum_close(&format!("grad B={b}"), &grad, &want);
    }
}

/// The fused [E, score, Hessian diagonal] program of three d-dimensional
/// families grows at most like d² (the size of E itself for d×d parameters).
#[test]
fn hessian_program_grows_at_most_quadratically() {
    let dims = [2usize, 4, 8, 16];
    for (name, src, student) in [("gaussian", GAUSS, false), ("ica", ICA, false), ("student-t", STUDENT, true)] {
        let mut nodes = Vec::new();
        let mut instrs = Vec::new();
        for &d in &dims {
            let f = parse_with(src, &[("d", d), ("K", d)]).unwrap();
            let p = f.signature.num_params();
            let m = SymEnergy::<f64>::new(f, &vec![0.5; p]).unwrap();
            let c = m.node_counts();
            println!(
                "{name:10} d={d:2}: E {:5} nodes | [E,score,hess] {:6} nodes {:6} instrs {:5} regs | grad_sm {:6} nodes",
                c.energy.nodes, c.energy_score_hess.nodes, c.energy_score_hess.instrs, c.energy_score_hess.regs, c.grad_sm.nodes
            );
            nodes.push(c.energy_score_hess.nodes);
            instrs.push(c.energy_score_hess.instrs);
            let _ = student;
        }
        let (sn, si) = (log_log_slope(&dims, &nodes), log_log_slope(&dims, &instrs));
        let ratio = nodes[3] as f64 / nodes[2] as f64;
        println!("{name:10}: log-log slope nodes {sn:.3}, instrs {si:.3}; nodes(16)/nodes(8) = {ratio:.3}");
        assert!(sn <= 2.1 && si <= 2.1, "{name}: slope {sn:.3} / {si:.3} above 2");
        assert!(ratio <= 4.4, "{name}: nodes(16)/nodes(8) = {ratio:.3} > 4.4");
    }
}

#[test]
fn simplification_shrinks_and_preserves_values() {
    let src =
        "energy(x[3]; W[2,3], alpha[2]) = sum(k, 0..2, alpha[k] * log1p(0.5 * square(sum(i, 0..d, W[k,i] * x[i])))) \
               + 0 * x0 + 1 * x1 - x1 + x2 / x2 + (x0 - x0) * exp(x2)";
    let theta = normal_vec(31, 8);
    let x = normal_vec(32, 3);
    let v = normal_vec(33, 3);
    let counts = |simplify: bool| {
        let mut g = Graph::new();
        g.set_simplify(simplify);
        let (sig, e) = ebm_core::sym::parse_into(&mut g, src, &[]).unwrap();
        let dv = derive(&mut g, e, 3, sig.num_params());
        let roots: Vec<_> =
            [vec![dv.energy], dv.score.clone(), dv.hess_diag.clone(), dv.grad_sm.clone(), dv.grad_v_dot_grad.clone()]
                .concat();
        let before = g.count_nodes(&roots);
        let vals = g.eval_f64(&roots, &x, &v, &theta);
        let simp = g.simplify(&roots);
        let after = g.count_nodes(&simp);
        let vals2 = g.eval_f64(&simp, &x, &v, &theta);
        Tolerance::new(1e-12, 1e-12).assert_all_close("simplify keeps values", &vals2, &vals);
        (before, after, vals)
    };
    let (raw, raw_simplified, v_raw) = counts(false);
    let (built, built_again, v_built) = counts(true);
    println!("raw {raw} nodes -> simplified {raw_simplified}; built simplified {built} -> {built_again}");
    Tolerance::new(1e-12, 1e-12).assert_all_close("values", &v_built, &v_raw);
    assert!(
        raw_simplified * 5 < raw * 4,
        "simplification should remove at least a fifth of {raw} nodes (got {raw_simplified})"
    );
    assert!(built <= raw_simplified);
    assert_eq!(built, built_again, "simplifying a simplified DAG changes nothing");
}

#[test]
fn simplification_rules() {
    let mut g = Graph::new();
    let (x, y) = (g.input(0), g.input(1));
    let zero = g.constant(0.0);
    let one = g.constant(1.0);
    assert_eq!(g.sub(x, x), zero);
    assert_eq!(g.div(x, x), one);
    let s = g.add(x, zero);
    assert_eq!(s, x);
    let m = g.mul(y, zero);
    assert_eq!(m, zero);
    let (c2, c3) = (g.constant(2.0), g.constant(3.0));
    let c6 = g.constant(6.0);
    assert_eq!(g.mul(c2, c3), c6, "constant folding");
    let a = g.add(x, y);
    let b = g.add(y, x);
    assert_eq!(a, b, "commutative operands are one node");
    let e1 = g.exp(x);
    let e2 = g.exp(x);
    assert_eq!(e1, e2, "hash-consing");
    let x3 = g.powi(x, 3);
    let x2 = g.square(x);
    let x5 = g.powi(x, 5);
    assert_eq!(g.mul(x3, x2), x5, "powers merge");
    let q = g.div(x5, x2);
    assert_eq!(q, x3);
    let nx = g.neg(x);
    assert_eq!(g.neg(nx), x);
    let sq = g.mul(x, x);
    assert_eq!(sq, x2);
    let ab = g.add(x, y);
    assert_eq!(g.sub(ab, x), y);
    let lx = g.exp(y);
    let ll = g.log(lx);
    assert_eq!(ll, y);
    let t = g.mul(c2, x);
    let t2 = g.mul(c3, t);
    let t6 = g.mul(c6, x);
    assert_eq!(t2, t6, "constants gather");
    // every stored node is a fixed point of the constructors
    for i in 0..g.len() {
        assert!(g.is_fixed_point(ebm_core::sym::NodeId(i as u32)), "node {i} is not a fixed point");
    }
}

#[test]
fn program_is_plain_hashable_data_and_shares_work() {
    use std::collections::HashSet;
    let f = parse_with(STUDENT, &[("d", 4), ("K", 4)]).unwrap();
    let p = f.signature.num_params();
    let m = SymEnergy::<f64>::new(f.clone(), &vec![0.5; p]).unwrap();
    let progs = m.programs();
    let mut set = HashSet::new();
    set.insert(progs.energy_score_hess.clone());
    set.insert(progs.energy_score_hess.clone());
    assert_eq!(set.len(), 1);
    let again = SymEnergy::<f64>::new(f, &vec![0.5; p]).unwrap();
    assert_eq!(again.programs(), progs, "lowering is deterministic");
    for prog in [
        &progs.energy,
        &progs.energy_score,
        &progs.energy_score_hess,
        &progs.grad_energy,
        &progs.grad_v_dot_grad,
        &progs.grad_sm,
        &progs.v_hess_v,
        &progs.grad_v_hess_v,
    ] {
        prog.validate();
        assert!(prog.instrs[..prog.num_uniform].iter().all(|i| !matches!(i.op, Op::Input(_) | Op::Aux(_))));
    }
    assert!(progs.grad_v_dot_grad.uses_aux() && !progs.grad_sm.uses_aux());
    assert!(progs.v_hess_v.uses_aux() && progs.grad_v_hess_v.uses_aux());
    let fused = &progs.energy_score_hess;
    assert_eq!(fused.outputs.len(), 1 + 4 + 4);
    assert!(
        (fused.num_regs as usize) < fused.len() / 2,
        "registers are reused: {} regs for {} instrs",
        fused.num_regs,
        fused.len()
    );
    // One program for all outputs is shorter than one program per output.
    let dv = m.derivatives();
    let g = &m.formula().graph;
    let outs: Vec<_> = [vec![dv.energy], dv.score.clone(), dv.hess_diag.clone()].concat();
    let separate: usize = outs.iter().map(|&o| compile(g, &[o], 4, 0, p).len()).sum();
    println!("fused {} instrs vs {separate} for separate programs", fused.len());
    assert!(fused.len() * 3 < separate);
    // the evaluator is usable directly
    let x = normal_vec(40, 4 * 3);
    let mut out = vec![0.0; 3 * 9];
    let theta = vec![0.5; p];
    let (mut e, mut s, mut h) = (vec![0.0; 3], vec![0.0; 12], vec![0.0; 12]);
    eval_batch(fused, &theta, &x, &[], &mut [&mut out]);
    m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).unwrap();
    for r in 0..3 {
        assert_eq!(out[r * 9], e[r]);
        assert_eq!(&out[r * 9 + 1..r * 9 + 5], &s[r * 4..r * 4 + 4]);
        assert_eq!(&out[r * 9 + 5..r * 9 + 9], &h[r * 4..r * 4 + 4]);
    }
}

#[test]
fn user_errors_are_typed() {
    let m = SymEnergy::<f64>::parse_with(ICA, &[("d", 2), ("K", 2)], &[1.0, 0.0, 0.0, 1.0]).unwrap();
    let mut e = vec![0.0; 2];
    assert!(matches!(m.energy(&[1.0, 2.0, 3.0], &mut e), Err(EbmError::RaggedBatch { .. })));
    assert!(matches!(m.energy(&[1.0, f64::NAN, 3.0, 4.0], &mut e), Err(EbmError::NonFinite { row: 0, col: 1, .. })));
    assert!(matches!(m.energy(&[1.0, 2.0], &mut e), Err(EbmError::DimMismatch { what: "energy", .. })));
    let mut g = vec![0.0; 3];
    assert!(matches!(
        m.grad_params_energy(&[1.0, 2.0], &[1.0], &mut g),
        Err(EbmError::DimMismatch { what: "grad", .. })
    ));
    let mut g = vec![0.0; 4];
    assert!(matches!(
        m.grad_params_energy(&[1.0, 2.0], &[1.0, 1.0], &mut g),
        Err(EbmError::DimMismatch { what: "weights", .. })
    ));
    assert!(matches!(
        m.grad_params_v_dot_grad_x(&[1.0, 2.0], &[1.0], &[1.0], &mut g),
        Err(EbmError::DimMismatch { what: "v", .. })
    ));
    assert!(matches!(m.grad_params_sm(&[1.0, 2.0], &[f64::INFINITY], &mut g), Err(EbmError::NonFinite { .. })));
    assert!(matches!(SymEnergy::<f64>::parse_with(ICA, &[("d", 2), ("K", 2)], &[1.0]), Err(SymError::Build(_))));
    let err: EbmError = SymEnergy::<f64>::parse("energy(x[2]) = y", &[]).unwrap_err().into();
    assert!(
        matches!(err, EbmError::InvalidConfig(ref s) if s.contains("line 1, column 16") && s.contains("unknown name `y`")),
        "{err}"
    );
    let mut m = m;
    assert!(matches!(m.set_params(&[1.0]), Err(EbmError::ParamLen { .. })));
    m.set_params(&[2.0, 0.0, 0.0, 2.0]).unwrap();
    m.energy(&[0.0, 0.0], &mut e[..1]).unwrap();
    assert_eq!(e[0], 0.0);
}
