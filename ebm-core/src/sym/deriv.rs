//! Symbolic differentiation on the DAG.
//!
//! - [`gradient`]: reverse mode. One backward sweep over the nodes reachable
//!   from f, in decreasing id order, accumulates the adjoint
//!   f̄ₙ = ∂f/∂n = Σ_{parents p} f̄ₚ ∂p/∂n as new nodes; the adjoints of the
//!   leaves are ∇f. The result has O(|f|) new nodes.
//! - [`derivative`]: forward mode with respect to one leaf u: the tangent
//!   ṅ = Σ_{children c} (∂n/∂c) ċ, in increasing id order, skipping
//!   nodes that do not depend on u.
//! - [`derive()`]: everything a symbolic [`crate::Energy`] needs: ∂E/∂xᵢ
//!   (reverse), the score −∂E/∂xᵢ, the Hessian diagonal ∂²E/∂xᵢ² (forward
//!   mode of ∂E/∂xᵢ in xᵢ through scalar bottlenecks, [`super::hess`]), and the parameter gradients (reverse mode) of E,
//!   of vᵀ∇ₓE = Σᵢ vᵢ ∂E/∂xᵢ (v the auxiliary inputs) and of the exact
//!   score-matching integrand J = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12), and the
//!   Hessian quadratic form q = vᵀ∇ₓ²E v (forward mode of vᵀ∇ₓE along v,
//!   [`directional_derivative`]) with its parameter gradient (reverse mode).
//!
//! The local rules are those of the table in [`super::ops`], plus
//! ∂(a/b) = (ȧ − (a/b)·ḃ)/b, ∂aⁿ = n·aⁿ⁻¹·ȧ, and
//! ∂ lse(a) = Σᵢ e^{aᵢ − lse(a)} ȧᵢ.

use super::expr::{Graph, Node, NodeId};
use super::ops::Fn1;
use std::collections::HashMap;

/// `t · f′(x)` where `n = f(x)` is the node itself (so exp, tanh, sigmoid
/// and sqrt reuse their value): neg, log, log1p, sqrt and cos in their own
/// form, the rest as `t · d` with d the node f′(x).
fn times_partial(g: &mut Graph, f: Fn1, x: NodeId, n: NodeId, t: NodeId) -> NodeId {
    let d = match f {
        Fn1::Neg => return g.neg(t),
        Fn1::Log => return g.div(t, x),
        Fn1::Log1p => {
            let one = g.constant(1.0);
            let d = g.add(one, x);
            return g.div(t, d);
        }
        Fn1::Sqrt => {
            let half = g.constant(0.5);
            let ht = g.mul(half, t);
            return g.div(ht, n);
        }
        Fn1::Cos => {
            let s = g.sin(x);
            let m = g.mul(t, s);
            return g.neg(m);
        }
        Fn1::Exp => n,
        Fn1::Tanh => {
            let one = g.constant(1.0);
            let sq = g.square(n);
            g.sub(one, sq)
        }
        Fn1::Sigmoid => {
            let one = g.constant(1.0);
            let c = g.sub(one, n);
            g.mul(n, c)
        }
        Fn1::Softplus => g.sigmoid(x),
        Fn1::LogCosh => g.tanh(x),
        Fn1::Sin => g.cos(x),
        Fn1::Square => {
            let two = g.constant(2.0);
            g.mul(two, x)
        }
    };
    g.mul(t, d)
}

/// `t · n·xⁿ⁻¹`.
fn times_powi(g: &mut Graph, x: NodeId, k: i32, t: NodeId) -> NodeId {
    let c = g.constant(k as f64);
    let p = g.powi(x, k.saturating_sub(1));
    let d = g.mul(c, p);
    g.mul(t, d)
}

/// `t · p·xᵖ⁻¹`.
fn times_powf(g: &mut Graph, x: NodeId, p: f64, t: NodeId) -> NodeId {
    let c = g.constant(p);
    let q = g.powf(x, p - 1.0);
    let d = g.mul(c, q);
    g.mul(t, d)
}

/// `t · e^{x − n}` (the softmax weight of x in n = lse(…)).
fn times_softmax(g: &mut Graph, x: NodeId, n: NodeId, t: NodeId) -> NodeId {
    let s = g.sub(x, n);
    let e = g.exp(s);
    g.mul(t, e)
}

fn accumulate(g: &mut Graph, adj: &mut HashMap<NodeId, NodeId>, at: NodeId, c: NodeId) {
    let new = match adj.get(&at) {
        Some(&old) => g.add(old, c),
        None => c,
    };
    adj.insert(at, new);
}

/// Reverse mode: ∂f/∂ℓ for every leaf ℓ (input, auxiliary input, parameter)
/// that f reaches. Leaves f does not reach are absent (their derivative is 0).
pub fn gradient(g: &mut Graph, f: NodeId) -> HashMap<NodeId, NodeId> {
    let reach = g.reachable(&[f]);
    let mut adj: HashMap<NodeId, NodeId> = HashMap::new();
    let one = g.constant(1.0);
    adj.insert(f, one);
    let mut leaves = HashMap::new();
    for &n in reach.iter().rev() {
        let Some(&a) = adj.get(&n) else { continue };
        let node = g.node(n).clone();
        match node {
            Node::Const(_) => {}
            Node::Input(_) | Node::Aux(_) | Node::Param(_) => {
                leaves.insert(n, a);
            }
            Node::Unary(f1, x) => {
                let c = times_partial(g, f1, x, n, a);
                accumulate(g, &mut adj, x, c);
            }
            Node::Add(x, y) => {
                accumulate(g, &mut adj, x, a);
                accumulate(g, &mut adj, y, a);
            }
            Node::Sub(x, y) => {
                accumulate(g, &mut adj, x, a);
                let na = g.neg(a);
                accumulate(g, &mut adj, y, na);
            }
            Node::Mul(x, y) => {
                let cx = g.mul(a, y);
                accumulate(g, &mut adj, x, cx);
                let cy = g.mul(a, x);
                accumulate(g, &mut adj, y, cy);
            }
            Node::Div(x, y) => {
                let cx = g.div(a, y);
                accumulate(g, &mut adj, x, cx);
                // ∂(x/y)/∂y = −(x/y)/y
                let an = g.mul(a, n);
                let q = g.div(an, y);
                let cy = g.neg(q);
                accumulate(g, &mut adj, y, cy);
            }
            Node::Powi(x, k) => {
                let c = times_powi(g, x, k, a);
                accumulate(g, &mut adj, x, c);
            }
            Node::Powf(x, p) => {
                let c = times_powf(g, x, f64::from_bits(p), a);
                accumulate(g, &mut adj, x, c);
            }
            Node::LogSumExp(args) => {
                for &x in args.iter() {
                    let c = times_softmax(g, x, n, a);
                    accumulate(g, &mut adj, x, c);
                }
            }
        }
    }
    leaves
}

/// ∂f/∂u for each u in `wrt` (leaves), by one reverse sweep; 0 where f does
/// not depend on u.
pub fn gradient_wrt(g: &mut Graph, f: NodeId, wrt: &[NodeId]) -> Vec<NodeId> {
    let adj = gradient(g, f);
    let zero = g.constant(0.0);
    wrt.iter().map(|u| adj.get(u).copied().unwrap_or(zero)).collect()
}

fn add_opt(g: &mut Graph, a: Option<NodeId>, b: Option<NodeId>) -> Option<NodeId> {
    match (a, b) {
        (Some(a), Some(b)) => Some(g.add(a, b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The tangent of node `n` (whose content is `node`) from the tangents of
/// its children (`t(c)`, `None` for zero): the forward-mode rule of each op.
pub(crate) fn tangent_of(
    g: &mut Graph,
    n: NodeId,
    node: &Node,
    t: impl Fn(NodeId) -> Option<NodeId>,
) -> Option<NodeId> {
    match *node {
        Node::Const(_) | Node::Input(_) | Node::Aux(_) | Node::Param(_) => None,
        Node::Unary(f1, x) => t(x).map(|tx| times_partial(g, f1, x, n, tx)),
        Node::Add(x, y) => {
            let (tx, ty) = (t(x), t(y));
            add_opt(g, tx, ty)
        }
        Node::Sub(x, y) => match (t(x), t(y)) {
            (Some(a), Some(b)) => Some(g.sub(a, b)),
            (Some(a), None) => Some(a),
            (None, Some(b)) => Some(g.neg(b)),
            (None, None) => None,
        },
        Node::Mul(x, y) => {
            let (tx, ty) = (t(x), t(y));
            let a = tx.map(|tx| g.mul(tx, y));
            let b = ty.map(|ty| g.mul(x, ty));
            add_opt(g, a, b)
        }
        // (ẋ − (x/y)·ẏ) / y
        Node::Div(x, y) => {
            let num = match (t(x), t(y)) {
                (None, None) => return None,
                (Some(a), Some(b)) => {
                    let nb = g.mul(n, b);
                    g.sub(a, nb)
                }
                (Some(a), None) => a,
                (None, Some(b)) => {
                    let nb = g.mul(n, b);
                    g.neg(nb)
                }
            };
            Some(g.div(num, y))
        }
        Node::Powi(x, k) => t(x).map(|tx| times_powi(g, x, k, tx)),
        Node::Powf(x, p) => t(x).map(|tx| times_powf(g, x, f64::from_bits(p), tx)),
        Node::LogSumExp(ref args) => {
            let mut acc = None;
            for &x in args.iter() {
                if let Some(tx) = t(x) {
                    let c = times_softmax(g, x, n, tx);
                    acc = add_opt(g, acc, Some(c));
                }
            }
            acc
        }
    }
}

/// Forward mode: ∂f/∂u for one leaf u.
pub fn derivative(g: &mut Graph, f: NodeId, u: NodeId) -> NodeId {
    let one = g.constant(1.0);
    directional_derivative(g, f, &[(u, one)])
}

/// Forward mode along a direction: ḟ = Σₗ (∂f/∂ℓ)·ℓ̇ for the leaves ℓ of
/// `seeds` = `[(ℓ, ℓ̇)]`, the tangents ℓ̇ being any nodes (constants,
/// auxiliary inputs, expressions); every other leaf is held fixed (tangent 0).
/// One sweep over the nodes reachable from f, in increasing id order, adds
/// at most a few nodes per node that depends on a seeded leaf: O(|f|) new
/// nodes. With ℓ = xᵢ, ℓ̇ = vᵢ it is the directional derivative Dᵥf.
pub fn directional_derivative(g: &mut Graph, f: NodeId, seeds: &[(NodeId, NodeId)]) -> NodeId {
    let reach = g.reachable(&[f]);
    let seeds: HashMap<NodeId, NodeId> = seeds.iter().copied().collect();
    let mut tan: HashMap<NodeId, NodeId> = HashMap::new();
    for &n in &reach {
        if let Some(&t) = seeds.get(&n) {
            tan.insert(n, t);
            continue;
        }
        let node = g.node(n).clone();
        if let Some(r) = tangent_of(g, n, &node, |c| tan.get(&c).copied()) {
            tan.insert(n, r);
        }
    }
    match tan.get(&f) {
        Some(&r) => r,
        None => g.constant(0.0),
    }
}

/// Every derivative of an energy E that [`crate::Energy`] exposes, as nodes
/// of one graph. Vectors over x have length d, over θ length P.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derivatives {
    /// E.
    pub energy: NodeId,
    /// ∂E/∂xᵢ.
    pub grad_x: Vec<NodeId>,
    /// The score −∂E/∂xᵢ.
    pub score: Vec<NodeId>,
    /// ∂²E/∂xᵢ².
    pub hess_diag: Vec<NodeId>,
    /// ∂E/∂θₖ.
    pub grad_energy: Vec<NodeId>,
    /// vᵀ∇ₓE = Σᵢ vᵢ ∂E/∂xᵢ (vᵢ the auxiliary inputs).
    pub v_dot_grad: NodeId,
    /// ∂(vᵀ∇ₓE)/∂θₖ.
    pub grad_v_dot_grad: Vec<NodeId>,
    /// J = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12).
    pub sm_integrand: NodeId,
    /// ∂J/∂θₖ.
    pub grad_sm: Vec<NodeId>,
    /// q = vᵀ∇ₓ²E v = Σⱼ vⱼ ∂(vᵀ∇ₓE)/∂xⱼ (vᵢ the auxiliary inputs, held
    /// fixed): forward mode of [`Derivatives::v_dot_grad`] along v.
    pub v_hess_v: NodeId,
    /// ∂q/∂θₖ.
    pub grad_v_hess_v: Vec<NodeId>,
}

/// Derives every quantity of [`Derivatives`] for an energy over `dim`
/// inputs and `num_params` parameters.
pub fn derive(g: &mut Graph, energy: NodeId, dim: usize, num_params: usize) -> Derivatives {
    let xs: Vec<NodeId> = (0..dim).map(|i| g.input(i as u32)).collect();
    let ps: Vec<NodeId> = (0..num_params).map(|k| g.param(k as u32)).collect();
    let adj = gradient(g, energy);
    let zero = g.constant(0.0);
    let grad_x: Vec<NodeId> = xs.iter().map(|u| adj.get(u).copied().unwrap_or(zero)).collect();
    let grad_energy: Vec<NodeId> = ps.iter().map(|u| adj.get(u).copied().unwrap_or(zero)).collect();
    let score: Vec<NodeId> = grad_x.iter().map(|&d| g.neg(d)).collect();
    let hess_diag = super::hess::hessian_diagonal(g, &grad_x);

    let vg: Vec<NodeId> = grad_x
        .iter()
        .enumerate()
        .map(|(i, &gi)| {
            let v = g.aux(i as u32);
            g.mul(v, gi)
        })
        .collect();
    let v_dot_grad = g.sum(&vg);
    let grad_v_dot_grad = gradient_wrt(g, v_dot_grad, &ps);

    let half = g.constant(0.5);
    let terms: Vec<NodeId> = grad_x
        .iter()
        .zip(&hess_diag)
        .map(|(&gi, &hi)| {
            let sq = g.square(gi);
            let hs = g.mul(half, sq);
            g.sub(hs, hi)
        })
        .collect();
    let sm_integrand = g.sum(&terms);
    let grad_sm = gradient_wrt(g, sm_integrand, &ps);

    // Forward over reverse: q = D_v(vᵀ∇ₓE) with ẋᵢ = vᵢ and v̇ = 0.
    let seeds: Vec<(NodeId, NodeId)> = xs.iter().enumerate().map(|(i, &x)| (x, g.aux(i as u32))).collect();
    let v_hess_v = directional_derivative(g, v_dot_grad, &seeds);
    let grad_v_hess_v = gradient_wrt(g, v_hess_v, &ps);

    Derivatives {
        energy,
        grad_x,
        score,
        hess_diag,
        grad_energy,
        v_dot_grad,
        grad_v_dot_grad,
        sm_integrand,
        grad_sm,
        v_hess_v,
        grad_v_hess_v,
    }
}
