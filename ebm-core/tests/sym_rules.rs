//! One test per derivative rule of `ebm_core::sym`: a formula built around
//! the op is checked with `testing::check_all_derivatives` (score, Hessian
//! diagonal and the three parameter gradients against f64 central finite
//! differences) at random points, and forward-mode derivatives are checked
//! against reverse mode on the same graph.

use ebm_core::sym::{derivative, gradient, SymEnergy};
use ebm_core::testing::{check_all_derivatives, normal_vec, uniform_vec, FD_TOL};
use ebm_core::Energy;

const B: usize = 5;

fn check_op(seed: u64, body: &str, lo: f64, hi: f64) {
    let src = format!("energy(x[2]; a[2], b) = {body}");
    let mut theta = uniform_vec(seed, 3, 0.5, 1.5);
    theta[2] = uniform_vec(seed + 1, 1, -1.0, 1.0)[0];
    let m = SymEnergy::<f64>::parse(&src, &theta).unwrap_or_else(|e| panic!("{src}: {e}"));
    let x = uniform_vec(seed + 2, 2 * B, lo, hi);
    let v = normal_vec(seed + 3, 2 * B);
    let w = uniform_vec(seed + 4, B, 0.2, 1.0);
    check_all_derivatives(&m, &x, &v, &w, FD_TOL);

    // Forward mode agrees with reverse mode on the same graph.
    let f = m.formula();
    let mut g = f.graph.clone();
    let adj = gradient(&mut g, f.energy);
    let x0 = &x[..2];
    // Every input has an adjoint; a parameter E does not reach has none (0).
    let mut leaves: Vec<_> = (0..2).map(|i| (g.input(i), format!("x{i}"), true)).collect();
    leaves.extend((0..3).map(|k| (g.param(k), format!("θ{k}"), false)));
    for (leaf, name, required) in leaves {
        let fwd = derivative(&mut g, f.energy, leaf);
        let rev = match adj.get(&leaf) {
            Some(&rev) => rev,
            None => {
                assert!(!required, "{src}: {name} has no adjoint");
                g.constant(0.0)
            }
        };
        let vals = g.eval_f64(&[fwd, rev], x0, &[], &theta);
        assert!(
            (vals[0] - vals[1]).abs() <= 1e-12 * (1.0 + vals[1].abs()),
            "{src}: {name}: forward {} vs reverse {}",
            vals[0],
            vals[1]
        );
    }
    // The bottleneck Hessian diagonal equals plain forward mode of ∂E/∂xᵢ in xᵢ.
    let dv = m.derivatives();
    for i in 0..2 {
        let xi = g.input(i as u32);
        let plain = derivative(&mut g, dv.grad_x[i], xi);
        let vals = g.eval_f64(&[plain, dv.hess_diag[i]], x0, &[], &theta);
        assert!(
            (vals[0] - vals[1]).abs() <= 1e-12 * (1.0 + vals[1].abs()),
            "{src}: hess {i}: {} vs {}",
            vals[0],
            vals[1]
        );
    }
    assert_eq!(m.dim(), 2);
}

macro_rules! op_test {
    ($name:ident, $seed:expr, $body:expr) => {
        op_test!($name, $seed, $body, -1.5, 1.5);
    };
    ($name:ident, $seed:expr, $body:expr, $lo:expr, $hi:expr) => {
        #[test]
        fn $name() {
            check_op($seed, $body, $lo, $hi);
        }
    };
}

op_test!(rule_add, 10, "square(a0*x0 + b) + square(a1*x1 - b*x0) + a0*x1*x0");
op_test!(rule_sub, 20, "square(a0*x0 - b*x1) - a1*x0*x1 - square(x1 - a1)");
op_test!(rule_mul, 30, "(a0*x0 + b) * (a1*x1 - x0) * x1");
op_test!(rule_div, 40, "(a0*x0 + b*x1) / (2 + square(a1*x1 + x0)) + x0 / (a1 + square(b))");
op_test!(rule_neg, 50, "-(a0*x0*x1) + -square(b*x0 - x1)");
op_test!(rule_powi, 60, "(a0*x0 + b)^3 + (1.5 + square(a1*x1))^(-2) + x0^4*a1");
op_test!(rule_powf, 70, "(1 + square(a0*x0 + b*x1))^1.5 + (2 + a1*x1^2)^(-0.7)");
op_test!(rule_exp, 80, "exp(a0*x0 - b*x1) + exp(-square(a1*x1))");
op_test!(rule_log, 90, "log(1 + square(a0*x0 + b*x1)) - log(2 + a1*x0*x0)");
op_test!(rule_log1p, 100, "log1p(square(a0*x0 - b*x1)) + log1p(a1*x1*x1)");
op_test!(rule_sqrt, 110, "sqrt(1 + square(a0*x0 + b*x1)) + sqrt(0.5 + a1*square(x1))");
op_test!(rule_tanh, 120, "tanh(a0*x0 + b*x1) * tanh(a1*x1) + tanh(x0)");
op_test!(rule_sigmoid, 130, "sigmoid(a0*x0 - b*x1) + sigmoid(a1*x1*x0)");
op_test!(rule_softplus, 140, "softplus(a0*x0 + b*x1) + softplus(-a1*x1*x0)");
op_test!(rule_logcosh, 150, "logcosh(a0*x0 + b*x1) + logcosh(a1*x1 - x0)");
op_test!(rule_sin, 160, "sin(a0*x0 + b*x1) + sin(a1*x1)*x0");
op_test!(rule_cos, 170, "cos(a0*x0 - b*x1) * cos(a1*x1)");
op_test!(rule_square, 180, "square(a0*x0 + b*x1 + a1) + square(x1*x0)");
op_test!(rule_logsumexp, 190, "logsumexp(a0*x0, b*x1, a1*x0*x1, 0)");
op_test!(rule_indexed_logsumexp, 200, "logsumexp(k, 0..2, a[k]*square(x[k] - b)) + sum(i, 0..2, x[i]^2)");
// Far from the origin the stable forms must keep exact derivatives.
op_test!(rule_stable_tails, 210, "softplus(a0*x0) + logcosh(a1*x1) + sigmoid(b*x0)", 20.0, 40.0);
