//! The exact Hessian quadratic form of symbolic energies,
//! `SymEnergy::v_hess_v` (vᵀ∇ₓ²E v, forward over reverse mode) and its
//! parameter gradient `grad_params_v_hess_v`:
//!
//! - f64 central finite differences (`testing::check_v_hess_v`) on formulas
//!   with cross terms, log cosh, log-sum-exp mixtures, exp / tanh / powers
//!   and every other unary function;
//! - the symbolic twins of the Gaussian, ICA (every source) and mixture
//!   (both covariances) give the hand-written families' values, f64 and f32;
//! - batches over several parallel chunks give the row-by-row values;
//! - degenerate formulas (linear in x, no parameters), typed errors for
//!   bad inputs, and program sizes linear in the size of E.
//!
//! Run with `cargo test -p ebm-core --release --test sym_v_hess_v`.

mod common;

use common::{batch, check_batched_rows, ica_src, Twins, GAUSSIAN, MIXTURE_DIAG, MIXTURE_FULL};
use ebm_core::ica::Source;
use ebm_core::prelude::*;
use ebm_core::sym::{parse_with, SymEnergy};
use ebm_core::testing::log_log_slope;
use ebm_core::testing::{check_v_hess_v, normal_vec, F32Check, SumRef, Tolerance, FD_TOL};
use ebm_core::{EbmError, Energy, Real};

/// A quadratic form with explicit cross terms and a parameter-dependent
/// scale: the Hessian is constant in x but not diagonal.
const QUADRATIC_CROSS: &str = "
energy(x[3]; a, b, c, m[3]) =
    0.5 * exp(a) * square(x0 - m0) + b * (x0 - m0) * (x1 - m1)
  + c * x1 * x2 + 0.5 * (1 + square(b)) * square(x1 - m1) + 0.5 * exp(-a) * square(x2 - m2)";

/// A small mixture written directly with a two-argument logsumexp and
/// non-diagonal components.
const LSE_PAIR: &str = "
energy(x[2]; m[2,2], s[2], r) =
  -logsumexp(-0.5 * exp(s0) * (square(x0 - m[0,0]) + square(x1 - m[0,1]) + r * (x0 - m[0,0]) * (x1 - m[0,1])),
             -0.5 * exp(s1) * (square(x0 - m[1,0]) + square(x1 - m[1,1])) - r * x0)";

/// exp, tanh, integer and real powers, products of coordinates.
const EXP_TANH_POW: &str = "
energy(x[3]; a[3], b, c, e) =
    0.1 * exp(b * x0 * x1 - 0.2 * square(x2)) + tanh(a0 * x0 + a1 * x1 + a2 * x2)^3
  + 0.05 * exp(c) * (x0^4 + x1^4 + x2^4) + x0^3 * x1 * e - x2^2 / (2 + square(x0))
  + (1.5 + square(x1 - e))^(-2) + (2 + square(x0 * x2))^0.7";

/// Every remaining unary function.
const UNARIES: &str = "
energy(x[2]; a[2], b) =
    sigmoid(a0 * x0 - x1) + softplus(b * x1 + x0) + sin(a1 * x0) * cos(x1 - b)
  + sqrt(1 + square(x0 + a0 * x1)) + log1p(square(x0 - x1)) + log(2 + square(b * x0)) + logcosh(x0 * x1)";

fn sym(src: &str, sizes: &[(&str, usize)], seed: u64, scale: f64) -> SymEnergy<f64> {
    let f = parse_with(src, sizes).unwrap();
    let p = f.signature.num_params();
    let theta: Vec<f64> = normal_vec(seed, p).iter().map(|t| scale * t).collect();
    SymEnergy::new(f, &theta).unwrap()
}

/// Finite differences (check_v_hess_v: against the score along v, the
/// second difference of E, the Hessian diagonal for v = eⱼ, and the θ
/// gradient) on every formula, at several seeds and batch sizes.
#[test]
fn finite_differences_on_formulas() {
    let cases: Vec<(&str, SymEnergy<f64>)> = vec![
        ("quadratic with cross terms", sym(QUADRATIC_CROSS, &[], 1, 0.5)),
        ("gaussian (lower L)", sym(GAUSSIAN, &[("d", 4)], 2, 1.0)),
        ("ica logcosh", sym(ica_src(Source::LogCosh), &[("d", 3), ("K", 4)], 3, 0.7)),
        ("ica student-t", sym(ica_src(Source::StudentT), &[("d", 3), ("K", 2)], 4, 0.7)),
        ("mixture full", sym(MIXTURE_FULL, &[("d", 2), ("K", 3)], 5, 0.8)),
        ("mixture diag", sym(MIXTURE_DIAG, &[("d", 3), ("K", 2)], 6, 0.5)),
        ("lse pair", sym(LSE_PAIR, &[], 7, 0.6)),
        ("exp tanh powers", sym(EXP_TANH_POW, &[], 8, 0.5)),
        ("unaries", sym(UNARIES, &[], 9, 0.6)),
    ];
    for (name, m) in &cases {
        let d = m.dim();
        for (b, seed) in [(1usize, 10u64), (5, 20), (9, 30)] {
            let (x, v, w) = batch(seed, b, d, 1.0);
            println!("{name}: B={b}");
            check_v_hess_v(m, &x, &v, &w, FD_TOL);
        }
    }
}

/// The quadratic has a constant Hessian: q = vᵀHv in closed form, and its
/// θ-gradient in closed form too.
#[test]
fn quadratic_closed_form() {
    let theta = [0.3, -0.4, 0.7, 0.1, 0.2, -0.5];
    let m = SymEnergy::<f64>::parse(QUADRATIC_CROSS, &theta).unwrap();
    let (a, b, c) = (theta[0], theta[1], theta[2]);
    let (x, v, w) = batch(40, 13, 3, 2.0);
    let mut q = vec![f64::NAN; 13];
    m.v_hess_v(&x, &v, &mut q).unwrap();
    let want: Vec<f64> = v
        .chunks(3)
        .map(|v| {
            a.exp() * v[0] * v[0]
                + 2.0 * b * v[0] * v[1]
                + 2.0 * c * v[1] * v[2]
                + (1.0 + b * b) * v[1] * v[1]
                + (-a).exp() * v[2] * v[2]
        })
        .collect();
    Tolerance::new(1e-13, 1e-13).assert_all_close("vᵀHv", &q, &want);
    let mut g = vec![f64::NAN; 6];
    m.grad_params_v_hess_v(&x, &v, &w, &mut g).unwrap();
    let mut gw = [0.0; 6];
    for (v, &w) in v.chunks(3).zip(&w) {
        gw[0] += w * (a.exp() * v[0] * v[0] - (-a).exp() * v[2] * v[2]);
        gw[1] += w * (2.0 * v[0] * v[1] + 2.0 * b * v[1] * v[1]);
        gw[2] += w * 2.0 * v[1] * v[2];
    }
    Tolerance::new(1e-12, 1e-13).assert_all_close("∇θ vᵀHv", &g, &gw);
}

/// Compares `v_hess_v` and `grad_params_v_hess_v` of `a` and `b`.
fn agree<T: Real>(what: &str, a: &dyn Model<T>, b: &dyn Model<T>, x: &[f64], v: &[f64], w: &[f64], tol: Tolerance) {
    assert_eq!(a.num_params(), b.num_params(), "{what}: parameter count");
    let (n, p) = (w.len(), a.num_params());
    let c = |s: &[f64]| s.iter().map(|&t| T::from_f64(t)).collect::<Vec<T>>();
    let (x, v, w) = (c(x), c(v), c(w));
    let (mut qa, mut qb) = (vec![T::zero(); n], vec![T::zero(); n]);
    a.v_hess_v(&x, &v, &mut qa).unwrap();
    b.v_hess_v(&x, &v, &mut qb).unwrap();
    tol.assert_all_close(&format!("{what}: v_hess_v"), &qa, &qb);
    // A batch sum: a's against the sum of b's per-row terms.
    let mut ga = vec![T::zero(); p];
    a.grad_params_v_hess_v(&x, &v, &w, &mut ga).unwrap();
    let row = |r: usize| r * a.dim()..(r + 1) * a.dim();
    let want = SumRef::over_rows(n, p, |r, gb: &mut [T]| {
        b.grad_params_v_hess_v(&x[row(r)], &v[row(r)], &w[r..r + 1], gb).unwrap()
    });
    tol.assert_sum_close(&format!("{what}: grad_params_v_hess_v"), &ga, &want);
}

/// Every hand-written family against its `sym` twin, in f64 (tight) and f32.
#[test]
fn twins_match_the_families() {
    let (tol64, tol32) = (Tolerance::new(1e-10, 1e-10), Tolerance::new(2e-4, 2e-4));
    Twins { agree64: agree::<f64>, agree32: agree::<f32>, tol64, tol32 }.all();
}

/// f32 against f64 on formulas without a hand-written twin.
#[test]
fn f32_matches_f64() {
    for (src, seed) in [(EXP_TANH_POW, 1u64), (UNARIES, 2), (LSE_PAIR, 3)] {
        let m = sym(src, &[], seed, 0.5);
        let (x, v, w) = batch(seed + 50, 40, m.dim(), 1.0);
        F32Check::new(&x, &v, &w, Tolerance::new(1e-3, 1e-3)).v_hess_v(&m.cast::<f32>(), &m);
    }
}

/// Large batches (several evaluator chunks) give the row-by-row values
/// and the sum of the per-row gradients; `grad` is overwritten.
#[test]
fn batched_rows() {
    let (d, b) = (3, 1500);
    let (x, v, w) = batch(60, b, d, 1.0);
    for m in [sym(EXP_TANH_POW, &[], 61, 0.5), sym(MIXTURE_DIAG, &[("d", 3), ("K", 3)], 62, 0.5)] {
        check_batched_rows(&m, "sym", d, &x, &v, &w, f64::NAN, |n, row, batched| assert_eq!(row, batched, "row {n}"));
    }
}

/// Linear in x: q = 0 and ∇θ q = 0; a formula without parameters works
/// (empty gradient); v = 0 gives 0.
#[test]
fn degenerate_formulas() {
    let m = SymEnergy::<f64>::parse("energy(x[2]; a[2]) = a0 * x0 + exp(a1) * x1 + square(a0)", &[0.3, -0.2]).unwrap();
    let (x, v, w) = batch(70, 4, 2, 1.0);
    let mut q = vec![f64::NAN; 4];
    m.v_hess_v(&x, &v, &mut q).unwrap();
    assert_eq!(q, vec![0.0; 4]);
    let mut g = vec![f64::NAN; 2];
    m.grad_params_v_hess_v(&x, &v, &w, &mut g).unwrap();
    assert_eq!(g, vec![0.0; 2]);

    let m = SymEnergy::<f64>::parse("energy(x[2]) = logcosh(x0 - 2 * x1) + 0.25 * x0^4", &[]).unwrap();
    m.v_hess_v(&x, &v, &mut q).unwrap();
    let want: Vec<f64> = x
        .chunks(2)
        .zip(v.chunks(2))
        .map(|(x, v)| {
            let s = (x[0] - 2.0 * x[1]).cosh().powi(-2);
            s * (v[0] - 2.0 * v[1]).powi(2) + 3.0 * x[0] * x[0] * v[0] * v[0]
        })
        .collect();
    Tolerance::new(1e-13, 1e-13).assert_all_close("no parameters", &q, &want);
    m.grad_params_v_hess_v(&x, &v, &w, &mut []).unwrap();
    check_v_hess_v(&m, &x, &v, &w, FD_TOL);

    m.v_hess_v(&x, &[0.0; 8], &mut q).unwrap();
    assert_eq!(q, vec![0.0; 4]);
}

/// Bad lengths and non-finite inputs are the same typed errors as in the
/// hand-written families (`tests/v_hess_v.rs`).
#[test]
fn bad_inputs_are_typed_errors() {
    let m = sym(EXP_TANH_POW, &[], 80, 0.5);
    let np = m.num_params();
    let x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    let v = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5];
    let (mut q, mut g) = (vec![0.0; 2], vec![0.0; np]);
    let e = m.v_hess_v(&x, &v[..3], &mut q).unwrap_err();
    assert_eq!(e, EbmError::DimMismatch { what: "v", expected: 6, got: 3 });
    let e = m.v_hess_v(&x, &v, &mut q[..1]).unwrap_err();
    assert_eq!(e, EbmError::DimMismatch { what: "out", expected: 2, got: 1 });
    assert!(matches!(m.v_hess_v(&x[..5], &v[..5], &mut q), Err(EbmError::RaggedBatch { len: 5, dim: 3, .. })));
    assert!(matches!(m.v_hess_v(&[], &[], &mut q[..0]), Err(EbmError::EmptyBatch { .. })));
    let mut vn = v;
    vn[4] = f64::NAN;
    assert!(matches!(m.v_hess_v(&x, &vn, &mut q), Err(EbmError::NonFinite { what: "v", row: 1, col: 1, .. })));
    let mut xn = x;
    xn[0] = f64::INFINITY;
    assert!(matches!(m.v_hess_v(&xn, &v, &mut q), Err(EbmError::NonFinite { what: "x", row: 0, col: 0, .. })));
    let e = m.grad_params_v_hess_v(&x, &v, &[1.0], &mut g).unwrap_err();
    assert_eq!(e, EbmError::DimMismatch { what: "weights", expected: 2, got: 1 });
    let e = m.grad_params_v_hess_v(&x, &v[..3], &[1.0, 1.0], &mut g).unwrap_err();
    assert_eq!(e, EbmError::DimMismatch { what: "v", expected: 6, got: 3 });
    let e = m.grad_params_v_hess_v(&x, &v, &[1.0, 1.0], &mut g[..np - 1]).unwrap_err();
    assert_eq!(e, EbmError::DimMismatch { what: "grad", expected: np, got: np - 1 });
    assert!(matches!(m.grad_params_v_hess_v(&x, &vn, &[1.0, 1.0], &mut g), Err(EbmError::NonFinite { what: "v", .. })));
    assert!(matches!(m.grad_params_v_hess_v(&xn, &v, &[1.0, 1.0], &mut g), Err(EbmError::NonFinite { what: "x", .. })));
    assert!(matches!(
        m.grad_params_v_hess_v(&x, &v, &[1.0, f64::NAN], &mut g),
        Err(EbmError::NonFinite { what: "weights", .. })
    ));
}

/// The two new programs stay within a constant factor of the energy
/// gradient's (no per-coordinate pass): the same growth in d as E itself
/// (d² for d×d parameters), and the programs read v.
#[test]
fn program_sizes_grow_like_the_energy() {
    let dims = [2usize, 4, 8, 16];
    for (name, src) in
        [("gaussian", GAUSSIAN), ("ica", ica_src(Source::LogCosh)), ("student-t", ica_src(Source::StudentT))]
    {
        let (mut q_nodes, mut g_nodes) = (Vec::new(), Vec::new());
        for &d in &dims {
            let m = sym(src, &[("d", d), ("K", d)], 1, 0.5);
            let c = m.node_counts();
            println!(
                "{name:10} d={d:2}: E {:5} | [E,score,hess] {:6} | grad_v_dot_grad {:6} | v_hess_v {:6} nodes {:6} instrs | grad_v_hess_v {:6} nodes {:6} instrs",
                c.energy.nodes,
                c.energy_score_hess.nodes,
                c.grad_v_dot_grad.nodes,
                c.v_hess_v.nodes,
                c.v_hess_v.instrs,
                c.grad_v_hess_v.nodes,
                c.grad_v_hess_v.instrs
            );
            assert!(c.v_hess_v.nodes <= 4 * c.grad_v_dot_grad.nodes.max(c.energy_score.nodes), "{name} d={d}");
            assert!(c.grad_v_hess_v.nodes <= 8 * c.grad_v_dot_grad.nodes.max(c.energy_score.nodes), "{name} d={d}");
            let p = m.programs();
            assert!(p.v_hess_v.uses_aux() && p.grad_v_hess_v.uses_aux());
            assert_eq!((p.v_hess_v.num_aux as usize, p.v_hess_v.outputs.len()), (d, 1));
            assert_eq!(p.grad_v_hess_v.outputs.len(), m.num_params());
            q_nodes.push(c.v_hess_v.nodes);
            g_nodes.push(c.grad_v_hess_v.nodes);
        }
        let (sq, sg) = (log_log_slope(&dims, &q_nodes), log_log_slope(&dims, &g_nodes));
        println!("{name:10}: log-log slope v_hess_v {sq:.3}, grad_v_hess_v {sg:.3}");
        assert!(sq <= 2.1 && sg <= 2.1, "{name}: slopes {sq:.3} / {sg:.3} above 2");
    }
}
