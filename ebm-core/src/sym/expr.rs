//! The hash-consed expression DAG.
//!
//! A [`Graph`] is an arena of [`Node`]s. Every node is interned: building a
//! node equal to one that exists returns the existing [`NodeId`], so equal
//! subexpressions are one node (common-subexpression elimination for free)
//! and `a == b` on ids is structural equality.
//!
//! Children are always created before their parents, so **ids are a
//! topological order**: every pass in `sym` (derivation, simplification,
//! lowering, printing of sums) walks ids in increasing or decreasing order
//! instead of recursing, and so never overflows the stack on long sums.
//!
//! Leaves are constants (stored as f64 bits so that `Hash`/`Eq` work),
//! inputs xᵢ, auxiliary per-sample inputs vᵢ (the direction of
//! `grad_params_v_dot_grad_x`) and parameters θₖ (an index into the model's
//! flat parameter buffer).

use super::ops::Fn1;
use std::collections::HashMap;

/// The index of a node in its [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The id as an index into the arena.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One node of the expression DAG.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// A constant, as the bits of an f64 (−0 is stored as +0, every NaN as one NaN).
    Const(u64),
    /// The input coordinate xᵢ.
    Input(u32),
    /// The auxiliary per-sample input vᵢ.
    Aux(u32),
    /// The parameter θₖ (index into the flat parameter buffer).
    Param(u32),
    /// f(a) for a unary function f.
    Unary(Fn1, NodeId),
    /// a + b.
    Add(NodeId, NodeId),
    /// a − b.
    Sub(NodeId, NodeId),
    /// a · b.
    Mul(NodeId, NodeId),
    /// a / b.
    Div(NodeId, NodeId),
    /// aⁿ for an integer n.
    Powi(NodeId, i32),
    /// aᵖ for a real constant p (f64 bits).
    Powf(NodeId, u64),
    /// ln Σᵢ e^{aᵢ}, evaluated stably.
    LogSumExp(Box<[NodeId]>),
}

impl Node {
    /// Calls `f` on every child, in order (repeats included).
    #[inline]
    pub fn for_each_child(&self, mut f: impl FnMut(NodeId)) {
        match self {
            Node::Const(_) | Node::Input(_) | Node::Aux(_) | Node::Param(_) => {}
            Node::Unary(_, a) | Node::Powi(a, _) | Node::Powf(a, _) => f(*a),
            Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                f(*a);
                f(*b)
            }
            Node::LogSumExp(args) => args.iter().for_each(|&a| f(a)),
        }
    }

    /// Whether the node is a leaf (constant, input, auxiliary input or parameter).
    pub fn is_leaf(&self) -> bool {
        matches!(self, Node::Const(_) | Node::Input(_) | Node::Aux(_) | Node::Param(_))
    }
}

/// Canonical bits of a constant: −0 → +0, every NaN → one NaN.
pub(crate) fn const_bits(c: f64) -> u64 {
    if c == 0.0 {
        0
    } else if c.is_nan() {
        f64::NAN.to_bits()
    } else {
        c.to_bits()
    }
}

/// A hash-consed arena of expression nodes. See the module docs.
///
/// The node constructors (`add`, `mul`, `exp`, … in [`super::simplify`])
/// simplify as they build unless [`Graph::set_simplify`] turned that off.
#[derive(Clone, Debug)]
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    index: HashMap<Node, NodeId>,
    /// Per node: depends on an input xᵢ or an auxiliary input vᵢ.
    varying: Vec<bool>,
    pub(crate) simplify: bool,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    /// An empty graph whose constructors simplify.
    pub fn new() -> Self {
        Self { nodes: Vec::new(), index: HashMap::new(), varying: Vec::new(), simplify: true }
    }

    /// Turns construction-time simplification on or off (hash-consing
    /// always stays on). [`Graph::simplify`] rewrites a DAG built without it.
    pub fn set_simplify(&mut self, on: bool) {
        self.simplify = on;
    }

    /// Whether constructors simplify.
    pub fn simplifies(&self) -> bool {
        self.simplify
    }

    /// The number of nodes in the arena (reachable or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node `id`.
    #[inline]
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Whether `id` depends on an input xᵢ or an auxiliary input vᵢ (as
    /// opposed to constants and parameters only).
    #[inline]
    pub fn is_varying(&self, id: NodeId) -> bool {
        self.varying[id.index()]
    }

    /// Interns `node` (no simplification): returns the existing id of an
    /// equal node, or appends it.
    pub fn intern(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = NodeId(u32::try_from(self.nodes.len()).expect("sym: more than 2³² nodes"));
        let mut varying = matches!(node, Node::Input(_) | Node::Aux(_));
        node.for_each_child(|c| {
            assert!(c < id, "sym: child {c:?} created after its parent");
            varying |= self.varying[c.index()];
        });
        self.varying.push(varying);
        self.nodes.push(node.clone());
        self.index.insert(node, id);
        id
    }

    /// The constant c.
    pub fn constant(&mut self, c: f64) -> NodeId {
        self.intern(Node::Const(const_bits(c)))
    }

    /// The input coordinate xᵢ.
    pub fn input(&mut self, i: u32) -> NodeId {
        self.intern(Node::Input(i))
    }

    /// The auxiliary per-sample input vᵢ.
    pub fn aux(&mut self, i: u32) -> NodeId {
        self.intern(Node::Aux(i))
    }

    /// The parameter θₖ.
    pub fn param(&mut self, k: u32) -> NodeId {
        self.intern(Node::Param(k))
    }

    /// The value of `id` if it is a constant.
    #[inline]
    pub fn as_const(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Const(b) => Some(f64::from_bits(*b)),
            _ => None,
        }
    }

    /// Marks every node reachable from `roots` (roots included).
    pub fn reachable_mask(&self, roots: &[NodeId]) -> Vec<bool> {
        let top = roots.iter().map(|r| r.index() + 1).max().unwrap_or(0);
        let mut mark = vec![false; top];
        for r in roots {
            mark[r.index()] = true;
        }
        for i in (0..top).rev() {
            if mark[i] {
                self.nodes[i].for_each_child(|c| mark[c.index()] = true);
            }
        }
        mark
    }

    /// The nodes reachable from `roots`, in increasing id (topological) order.
    pub fn reachable(&self, roots: &[NodeId]) -> Vec<NodeId> {
        self.reachable_mask(roots).iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| NodeId(i as u32)).collect()
    }

    /// The number of distinct nodes reachable from `roots`: the size of the
    /// DAG that computes all of them together (shared subexpressions count once).
    pub fn count_nodes(&self, roots: &[NodeId]) -> usize {
        self.reachable_mask(roots).iter().filter(|&&m| m).count()
    }

    /// Evaluates `roots` in f64 at the given inputs, auxiliary inputs and
    /// parameters (a slow reference used by tests; panics on an index out of
    /// range of the slices).
    pub fn eval_f64(&self, roots: &[NodeId], x: &[f64], v: &[f64], theta: &[f64]) -> Vec<f64> {
        let reach = self.reachable(roots);
        let mut val: HashMap<NodeId, f64> = HashMap::with_capacity(reach.len());
        for &id in &reach {
            let get = |n: NodeId| val[&n];
            let r = match self.node(id) {
                Node::Const(b) => f64::from_bits(*b),
                Node::Input(i) => x[*i as usize],
                Node::Aux(i) => v[*i as usize],
                Node::Param(k) => theta[*k as usize],
                Node::Unary(f, a) => f.eval(get(*a)),
                Node::Add(a, b) => get(*a) + get(*b),
                Node::Sub(a, b) => get(*a) - get(*b),
                Node::Mul(a, b) => get(*a) * get(*b),
                Node::Div(a, b) => get(*a) / get(*b),
                Node::Powi(a, n) => get(*a).powi(*n),
                Node::Powf(a, p) => get(*a).powf(f64::from_bits(*p)),
                Node::LogSumExp(args) => {
                    let v: Vec<f64> = args.iter().map(|&a| get(a)).collect();
                    super::ops::logsumexp(&v)
                }
            };
            val.insert(id, r);
        }
        roots.iter().map(|r| val[r]).collect()
    }
}
