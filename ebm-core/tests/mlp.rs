//! The MLP energy family: every derivative against f64 finite differences on
//! random shapes, f32 against f64, the parameter layout against a naive
//! PyTorch-order forward pass, chunking independence, and the typed errors.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::{check_all_derivatives, check_v_hess_v, normal_vec, uniform_vec, F32Check, Tolerance, FD_TOL};
use ebm_core::EbmError;
use proptest::prelude::*;

/// Random parameters in the documented layout: weights N(0, (scale/√fan_in)²),
/// biases N(0, 0.5²).
fn random_mlp(d: usize, hidden: &[usize], act: Activation, scale: f64, seed: u64) -> Mlp<f64> {
    let shape = Mlp::<f64>::init(d, hidden, act, 0).unwrap();
    let mut p = normal_vec(seed, shape.num_params());
    for o in shape.layer_offsets() {
        let s = scale / (o.inp as f64).sqrt();
        p[o.w..o.b].iter_mut().for_each(|v| *v *= s);
        p[o.b..o.b + o.out].iter_mut().for_each(|v| *v *= 0.5);
    }
    Mlp::new(d, hidden, act, p).unwrap()
}

struct Batch {
    x: Vec<f64>,
    v: Vec<f64>,
    w: Vec<f64>,
}

fn batch(d: usize, b: usize, seed: u64) -> Batch {
    Batch {
        x: normal_vec(seed ^ 0x1111, b * d),
        v: normal_vec(seed ^ 0x2222, b * d),
        w: uniform_vec(seed ^ 0x3333, b, -1.0, 2.0),
    }
}

fn check_derivatives(act: Activation, d: usize, hidden: &[usize], b: usize, seed: u64) {
    let m = random_mlp(d, hidden, act, 1.5, seed);
    let t = batch(d, b, seed);
    check_all_derivatives(&m, &t.x, &t.v, &t.w, FD_TOL);
    check_v_hess_v(&m, &t.x, &t.v, &t.w, FD_TOL);
}

fn shapes() -> impl Strategy<Value = (usize, Vec<usize>, usize, u64)> {
    (1usize..=32, prop::collection::vec(1usize..=64, 1..=3), 1usize..=17, any::<u64>())
}

// Each case runs ~6·P + 6·B·d model evaluations, so the case count is kept
// moderate to finish well under a minute in release mode.
proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Every smooth activation ([`Activation::SMOOTH`]) at the same shapes.
    #[test]
    fn smooth_derivatives_match_finite_differences((d, hidden, b, seed) in shapes()) {
        for act in Activation::SMOOTH {
            check_derivatives(act, d, &hidden, b, seed);
        }
    }
}

#[test]
fn derivatives_on_edge_shapes() {
    // Width 1 everywhere, d = 1, a single sample, and a deep narrow stack.
    for act in Activation::SMOOTH {
        check_derivatives(act, 1, &[1], 1, 1);
        check_derivatives(act, 1, &[1, 1, 1], 3, 2);
        check_derivatives(act, 3, &[2, 1, 4], 2, 3);
        check_derivatives(act, 2, &[5, 3, 4, 2], 4, 4);
    }
}

#[test]
fn f32_matches_f64() {
    for (i, (d, hidden)) in
        [(1usize, vec![3usize]), (5, vec![16, 7]), (16, vec![64, 64]), (8, vec![9, 33, 17])].into_iter().enumerate()
    {
        for act in Activation::SMOOTH {
            let m64 = random_mlp(d, &hidden, act, 1.0, 10 + i as u64);
            let m32 = m64.cast::<f32>();
            // Same parameters up to rounding: compare against the f64 model
            // built from the rounded f32 parameters, so only arithmetic differs.
            let m64 = m32.cast::<f64>();
            let t = batch(d, 37, 20 + i as u64);
            let check = F32Check::new(&t.x, &t.v, &t.w, Tolerance::new(1e-3, 1e-3));
            check.outputs(&m32, &m64);
            check.v_hess_v(&m32, &m64);
        }
    }
}

/// E(x) by the definition, reading θ in PyTorch `state_dict` order.
fn naive_energy(m: &Mlp<f64>, x: &[f64]) -> f64 {
    let p = m.params();
    let dims = m.dims();
    let mut z = x.to_vec();
    let mut at = 0;
    for win in dims.windows(2) {
        let (inp, out) = (win[0], win[1]);
        let w = &p[at..at + out * inp];
        let b = &p[at + out * inp..at + out * inp + out];
        at += out * inp + out;
        let a: Vec<f64> = (0..out).map(|u| b[u] + (0..inp).map(|i| w[u * inp + i] * z[i]).sum::<f64>()).collect();
        z = if out == 1 && at == p.len() {
            a
        } else {
            a.iter()
                .map(|&a| match m.activation() {
                    Activation::Softplus => (1.0 + a.exp()).ln(),
                    Activation::Tanh => a.tanh(),
                    Activation::Silu => a / (1.0 + (-a).exp()),
                    Activation::GeluTanh => {
                        0.5 * a * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (a + 0.044715 * a * a * a)).tanh())
                    }
                    Activation::Relu => a.max(0.0),
                })
                .collect()
        };
    }
    assert_eq!(at, p.len());
    z[0]
}

#[test]
fn energy_follows_the_documented_layout() {
    for act in Activation::ALL {
        let m = random_mlp(3, &[4, 5], act, 1.5, 7);
        let t = batch(3, 9, 7);
        let mut e = vec![0.0; 9];
        m.energy(&t.x, &mut e).unwrap();
        let want: Vec<f64> = t.x.chunks(3).map(|r| naive_energy(&m, r)).collect();
        Tolerance::new(1e-12, 1e-12).assert_all_close(&format!("{act}: energy"), &e, &want);
    }
    // The offsets of the layout, for d = 3, hidden [4, 5].
    let m = Mlp::<f32>::init(3, &[4, 5], Activation::Tanh, 0).unwrap();
    let o: Vec<(usize, usize)> = m.layer_offsets().iter().map(|o| (o.w, o.b)).collect();
    assert_eq!(o, vec![(0, 12), (16, 36), (41, 46)]);
    assert_eq!(m.num_params(), 47);
}

/// Results on a batch spanning many chunks (and, for d = 40, many inner
/// Jacobian chunks per outer chunk) equal per-sample results.
#[test]
fn batched_results_do_not_depend_on_chunking() {
    check_chunking(3, 301, &[7, 6, 5]);
    check_chunking(40, 150, &[9, 6, 5]);
}

fn check_chunking(d: usize, b: usize, hidden: &[usize]) {
    let m = random_mlp(d, hidden, Activation::Softplus, 1.5, 9);
    let t = batch(d, b, 9);
    let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    m.energy_score_hess_diag(&t.x, &mut e, &mut s, &mut h).unwrap();
    let p = m.num_params();
    let mut q = vec![0.0; b];
    m.v_hess_v(&t.x, &t.v, &mut q).unwrap();
    let grads = |x: &[f64], v: &[f64], w: &[f64]| {
        let (mut g1, mut g2, mut g3, mut g4) = (vec![0.0; p], vec![0.0; p], vec![0.0; p], vec![0.0; p]);
        m.grad_params_energy(x, w, &mut g1).unwrap();
        m.grad_params_v_dot_grad_x(x, v, w, &mut g2).unwrap();
        m.grad_params_sm(x, w, &mut g3).unwrap();
        m.grad_params_v_hess_v(x, v, w, &mut g4).unwrap();
        [g1, g2, g3, g4]
    };
    let batched = grads(&t.x, &t.v, &t.w);
    let mut summed = [vec![0.0; p], vec![0.0; p], vec![0.0; p], vec![0.0; p]];
    let exact = Tolerance::new(1e-12, 1e-12);
    for i in 0..b {
        let r = i * d..(i + 1) * d;
        let (mut e1, mut s1, mut h1) = ([0.0], vec![0.0; d], vec![0.0; d]);
        m.energy_score_hess_diag(&t.x[r.clone()], &mut e1, &mut s1, &mut h1).unwrap();
        exact.assert_all_close("energy", &e1, &e[i..i + 1]);
        exact.assert_all_close("score", &s1, &s[r.clone()]);
        exact.assert_all_close("hess_diag", &h1, &h[r.clone()]);
        let mut q1 = [0.0];
        m.v_hess_v(&t.x[r.clone()], &t.v[r.clone()], &mut q1).unwrap();
        exact.assert_all_close("v_hess_v", &q1, &q[i..i + 1]);
        let g = grads(&t.x[r.clone()], &t.v[r], &t.w[i..i + 1]);
        for k in 0..4 {
            summed[k].iter_mut().zip(&g[k]).for_each(|(a, b)| *a += b);
        }
    }
    for k in 0..4 {
        Tolerance::new(1e-10, 1e-10).assert_all_close(&format!("gradient {k}"), &batched[k], &summed[k]);
    }
}

#[test]
fn relu_is_refused_for_hessian_objectives() {
    let m = Mlp::<f64>::init(2, &[3], Activation::Relu, 0).unwrap();
    let x = [0.3, -0.2];
    let (mut e, mut s, mut h, mut g) = ([0.0], [0.0; 2], [0.0; 2], vec![0.0; m.num_params()]);
    assert_eq!(
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h),
        Err(EbmError::Activation { activation: "relu", objective: "hess_diag" })
    );
    assert_eq!(
        m.grad_params_sm(&x, &[1.0], &mut g),
        Err(EbmError::Activation { activation: "relu", objective: "grad_params_sm" })
    );
    let mut q = [0.0];
    assert_eq!(
        m.v_hess_v(&x, &[1.0, 0.0], &mut q),
        Err(EbmError::Activation { activation: "relu", objective: "v_hess_v" })
    );
    assert_eq!(
        m.grad_params_v_hess_v(&x, &[1.0, 0.0], &[1.0], &mut g),
        Err(EbmError::Activation { activation: "relu", objective: "grad_params_v_hess_v" })
    );
}

/// ReLU's first-order quantities against finite differences (σ″ = 0 a.e.).
#[test]
fn relu_first_order_derivatives_match_finite_differences() {
    let (d, b) = (4, 5);
    let m = random_mlp(d, &[8, 6], Activation::Relu, 1.5, 11);
    let t = batch(d, b, 11);
    let (mut e, mut s) = (vec![0.0; b], vec![0.0; b * d]);
    m.energy_score(&t.x, &mut e, &mut s).unwrap();
    let total = |m: &Mlp<f64>, x: &[f64]| {
        let mut e = vec![0.0; b];
        m.energy(x, &mut e).unwrap();
        e.iter().zip(&t.w).map(|(a, w)| a * w).sum::<f64>()
    };
    let vgrad = |m: &Mlp<f64>| {
        let (mut e, mut s) = (vec![0.0; b], vec![0.0; b * d]);
        m.energy_score(&t.x, &mut e, &mut s).unwrap();
        (0..b).map(|i| -t.w[i] * (0..d).map(|j| t.v[i * d + j] * s[i * d + j]).sum::<f64>()).sum::<f64>()
    };
    let h = 1e-6;
    let mut fd_score = vec![0.0; b * d];
    for k in 0..b * d {
        let (mut xp, mut xm) = (t.x.clone(), t.x.clone());
        xp[k] += h;
        xm[k] -= h;
        let (mut ep, mut em) = (vec![0.0; b], vec![0.0; b]);
        m.energy(&xp, &mut ep).unwrap();
        m.energy(&xm, &mut em).unwrap();
        fd_score[k] = -(ep[k / d] - em[k / d]) / (2.0 * h);
    }
    FD_TOL.assert_all_close("relu score", &s, &fd_score);
    let p = m.num_params();
    let (mut g1, mut g2) = (vec![0.0; p], vec![0.0; p]);
    m.grad_params_energy(&t.x, &t.w, &mut g1).unwrap();
    m.grad_params_v_dot_grad_x(&t.x, &t.v, &t.w, &mut g2).unwrap();
    let (mut fd1, mut fd2) = (vec![0.0; p], vec![0.0; p]);
    let mut probe = m.clone();
    for k in 0..p {
        let mut th = m.params().to_vec();
        th[k] += h;
        probe.set_params(&th).unwrap();
        let (a1, a2) = (total(&probe, &t.x), vgrad(&probe));
        th[k] -= 2.0 * h;
        probe.set_params(&th).unwrap();
        let (b1, b2) = (total(&probe, &t.x), vgrad(&probe));
        fd1[k] = (a1 - b1) / (2.0 * h);
        fd2[k] = (a2 - b2) / (2.0 * h);
    }
    FD_TOL.assert_all_close("relu grad_params_energy", &g1, &fd1);
    FD_TOL.assert_all_close("relu grad_params_v_dot_grad_x", &g2, &fd2);
}

#[test]
fn bad_shapes_and_lengths_are_typed_errors() {
    assert_eq!(
        Mlp::<f64>::new(2, &[3], Activation::Tanh, vec![0.0; 12]).unwrap_err(),
        EbmError::ParamLen { model: "mlp", expected: 13, got: 12 }
    );
    assert!(matches!(Mlp::<f64>::new(0, &[3], Activation::Tanh, vec![]), Err(EbmError::InvalidConfig(_))));
    assert!(matches!(Mlp::<f64>::init(2, &[], Activation::Tanh, 0), Err(EbmError::InvalidConfig(_))));
    assert!(matches!(Mlp::<f64>::init(2, &[3, 0], Activation::Tanh, 0), Err(EbmError::InvalidConfig(_))));

    let mut m = Mlp::<f64>::init(2, &[3], Activation::Tanh, 0).unwrap();
    assert_eq!(m.set_params(&[0.0; 3]).unwrap_err(), EbmError::ParamLen { model: "mlp", expected: 13, got: 3 });
    let x = [0.1, 0.2, 0.3, 0.4];
    let (mut e, mut s, mut h) = (vec![0.0; 2], vec![0.0; 4], vec![0.0; 4]);
    assert!(matches!(m.energy(&x[..3], &mut e), Err(EbmError::RaggedBatch { len: 3, dim: 2, .. })));
    assert!(matches!(m.energy(&[], &mut e), Err(EbmError::EmptyBatch { .. })));
    assert!(matches!(m.energy(&[0.0, f64::NAN], &mut e[..1]), Err(EbmError::NonFinite { row: 0, col: 1, .. })));
    assert_eq!(m.energy(&x, &mut e[..1]).unwrap_err(), EbmError::DimMismatch { what: "energy", expected: 2, got: 1 });
    assert_eq!(
        m.energy_score(&x, &mut e, &mut s[..3]).unwrap_err(),
        EbmError::DimMismatch { what: "score", expected: 4, got: 3 }
    );
    assert_eq!(
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h[..1]).unwrap_err(),
        EbmError::DimMismatch { what: "hess_diag", expected: 4, got: 1 }
    );
    let mut g = vec![0.0; 13];
    assert_eq!(
        m.grad_params_energy(&x, &[1.0], &mut g).unwrap_err(),
        EbmError::DimMismatch { what: "weights", expected: 2, got: 1 }
    );
    assert_eq!(
        m.grad_params_sm(&x, &[1.0, 1.0], &mut g[..12]).unwrap_err(),
        EbmError::DimMismatch { what: "grad", expected: 13, got: 12 }
    );
    assert_eq!(
        m.grad_params_v_dot_grad_x(&x, &x[..2], &[1.0, 1.0], &mut g).unwrap_err(),
        EbmError::DimMismatch { what: "v", expected: 4, got: 2 }
    );
    assert!(matches!(
        m.grad_params_v_dot_grad_x(&x, &[0.0, 0.0, f64::INFINITY, 0.0], &[1.0, 1.0], &mut g),
        Err(EbmError::NonFinite { what: "v", row: 1, col: 0, .. })
    ));
    assert!(matches!(
        m.grad_params_energy(&x, &[1.0, f64::NAN], &mut g),
        Err(EbmError::NonFinite { what: "weights", .. })
    ));
}

#[test]
fn activation_names_parse() {
    for (name, act) in [
        ("softplus", Activation::Softplus),
        ("tanh", Activation::Tanh),
        ("silu", Activation::Silu),
        ("gelu-tanh", Activation::GeluTanh),
        ("relu", Activation::Relu),
    ] {
        assert_eq!(name.parse::<Activation>().unwrap(), act);
        assert_eq!(act.to_string(), name);
    }
    let err = "sigmoid".parse::<Activation>().unwrap_err();
    assert_eq!(err.name, "sigmoid");
    assert!(matches!(EbmError::from(err), EbmError::InvalidConfig(_)));
}

#[test]
fn activation_closed_forms_match_finite_differences() {
    let h = 1e-5;
    let tol = Tolerance::new(1e-7, 1e-8);
    for act in Activation::ALL {
        for k in 0..=160 {
            let a = -8.0 + 0.1 * k as f64 + 0.013; // avoids ReLU's kink at 0
            let d = act.derivs(a);
            let (p, m) = (act.derivs(a + h), act.derivs(a - h));
            assert!(tol.close(d.value, act.value(a)), "{act}: value at {a}");
            assert!(
                tol.close(d.d1, (p.value - m.value) / (2.0 * h)),
                "{act}: σ′ at {a}: {} vs {}",
                d.d1,
                (p.value - m.value) / (2.0 * h)
            );
            assert!(
                tol.close(d.d2, (p.d1 - m.d1) / (2.0 * h)),
                "{act}: σ″ at {a}: {} vs {}",
                d.d2,
                (p.d1 - m.d1) / (2.0 * h)
            );
            assert!(
                tol.close(d.d3, (p.d2 - m.d2) / (2.0 * h)),
                "{act}: σ‴ at {a}: {} vs {}",
                d.d3,
                (p.d2 - m.d2) / (2.0 * h)
            );
            let (v, d1) = act.value_d1(a);
            assert_eq!((v, d1), (d.value, d.d1), "{act}: value_d1 at {a}");
        }
    }
    // Against the textbook definitions as well.
    for a in [-3.0f64, -0.5, 0.2, 2.5] {
        let s = 1.0 / (1.0 + (-a).exp());
        assert!((Activation::Softplus.value(a) - (1.0 + a.exp()).ln()).abs() < 1e-14);
        assert!((Activation::Silu.derivs(a).value - a * s).abs() < 1e-14);
        assert!((Activation::Tanh.derivs(a).d1 - (1.0 - a.tanh().powi(2))).abs() < 1e-14);
    }
}

#[test]
fn init_is_deterministic_and_cast_rounds() {
    let a = Mlp::<f64>::init(4, &[8, 8], Activation::Silu, 42).unwrap();
    let b = Mlp::<f64>::init(4, &[8, 8], Activation::Silu, 42).unwrap();
    let c = Mlp::<f64>::init(4, &[8, 8], Activation::Silu, 43).unwrap();
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
    let a32 = a.cast::<f32>();
    assert_eq!(a32.dims(), a.dims());
    assert_eq!(a32.activation(), Activation::Silu);
    assert!(a32.params().iter().zip(a.params()).all(|(&x, &y)| x == y as f32));
}
