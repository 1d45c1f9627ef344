//! The Hessian diagonal ∂²E/∂xᵢ² = ∂gᵢ/∂xᵢ (gᵢ = ∂E/∂xᵢ from reverse mode),
//! by forward mode through scalar bottlenecks.
//!
//! Plain forward mode in xᵢ rebuilds, for every i, the tangent of every node
//! on the way from xᵢ to gᵢ. Most of those nodes depend on x only through one
//! scalar: in E = Σₖ αₖ log(1 + ½sₖ²) with sₖ = wₖᵀx, every node built from
//! sₖ alone. For such a node n with bottleneck σ,
//! ṅ = (∂n/∂σ)·σ̇, and ∂n/∂σ does not depend on i: it is derived once and
//! shared by all d tangents, which then cost one product each.
//!
//! The bottleneck src(n) of a node that depends on x is defined bottom-up:
//! an input is its own; a node whose x-dependent children all have the same
//! bottleneck σ (or are σ) has σ; any other node (a *join*, such as a sum
//! over several inputs) is its own. Every path from n to an input then
//! passes through src(n), so ṅ = (∂n/∂src(n))·ṡrc(n) is exact. Joins use the
//! ordinary forward rules ([`super::deriv`]).
//!
//! Each pass only visits the nodes its result needs (a max-heap walk from the
//! root), so the whole diagonal costs O(d · needed) time, and for a
//! d-dimensional family with d×d parameters O(d²) nodes.

use super::deriv::tangent_of;
use super::expr::{Graph, Node, NodeId};
use std::collections::{BinaryHeap, HashMap, HashSet};

struct Bottlenecks {
    /// src(n) for every x-dependent node reachable from the gradient.
    src: HashMap<NodeId, NodeId>,
    /// ∂n/∂src(n) for non-join nodes (None = 0).
    d: HashMap<NodeId, Option<NodeId>>,
}

impl Bottlenecks {
    fn new(g: &Graph, roots: &[NodeId]) -> Self {
        let mut src = HashMap::new();
        for n in g.reachable(roots) {
            if !g.is_varying(n) {
                continue;
            }
            let node = g.node(n);
            if node.is_leaf() {
                src.insert(n, n);
                continue;
            }
            let mut common: Option<NodeId> = None;
            let mut join = false;
            node.for_each_child(|c| {
                if let Some(&s) = src.get(&c) {
                    match common {
                        None => common = Some(s),
                        Some(t) if t != s => join = true,
                        _ => {}
                    }
                }
            });
            src.insert(n, if join { n } else { common.unwrap_or(n) });
        }
        Self { src, d: HashMap::new() }
    }

    fn is_join(&self, n: NodeId) -> bool {
        self.src.get(&n) == Some(&n)
    }

    /// ∂n/∂src(n) for a non-join node, memoised.
    fn d_wrt_src(&mut self, g: &mut Graph, n: NodeId) -> Option<NodeId> {
        if let Some(&r) = self.d.get(&n) {
            return r;
        }
        let sigma = self.src[&n];
        // The non-join nodes below n with the same bottleneck, not yet known.
        let mut needed = vec![n];
        let mut seen: HashSet<NodeId> = HashSet::from([n]);
        let mut heap = BinaryHeap::from([n]);
        while let Some(m) = heap.pop() {
            g.node(m).for_each_child(|c| {
                if c != sigma && self.src.get(&c) == Some(&sigma) && !self.d.contains_key(&c) && seen.insert(c) {
                    needed.push(c);
                    heap.push(c);
                }
            });
        }
        needed.sort_unstable();
        let one = g.constant(1.0);
        for m in needed {
            let node = g.node(m).clone();
            let (src, d) = (&self.src, &self.d);
            let r = tangent_of(g, m, &node, |c| {
                if c == sigma {
                    Some(one)
                } else if src.get(&c) == Some(&sigma) {
                    d[&c]
                } else {
                    None
                }
            });
            self.d.insert(m, r);
        }
        self.d[&n]
    }
}

/// ∂gᵢ/∂xᵢ for every i, where `grad_x[i]` = gᵢ = ∂E/∂xᵢ.
pub fn hessian_diagonal(g: &mut Graph, grad_x: &[NodeId]) -> Vec<NodeId> {
    let mut b = Bottlenecks::new(g, grad_x);
    let zero = g.constant(0.0);
    let one = g.constant(1.0);
    let mut out = Vec::with_capacity(grad_x.len());
    for (i, &gi) in grad_x.iter().enumerate() {
        let xi = g.input(i as u32);
        if !g.is_varying(gi) {
            out.push(zero);
            continue;
        }
        // The nodes whose tangent gᵢ needs, found top-down.
        let mut needed = Vec::new();
        let mut seen: HashSet<NodeId> = HashSet::from([gi]);
        let mut heap = BinaryHeap::from([gi]);
        while let Some(m) = heap.pop() {
            needed.push(m);
            let mut push = |c: NodeId| {
                if b.src.contains_key(&c) && seen.insert(c) {
                    heap.push(c);
                }
            };
            if b.is_join(m) {
                g.node(m).for_each_child(&mut push);
            } else {
                push(b.src[&m]);
            }
        }
        needed.reverse(); // increasing ids: children first
        let mut tan: HashMap<NodeId, NodeId> = HashMap::new();
        for m in needed {
            let r = if matches!(g.node(m), Node::Input(_) | Node::Aux(_)) {
                (m == xi).then_some(one)
            } else if b.is_join(m) {
                let node = g.node(m).clone();
                tangent_of(g, m, &node, |c| tan.get(&c).copied())
            } else {
                match tan.get(&b.src[&m]).copied() {
                    Some(ts) => b.d_wrt_src(g, m).map(|dm| g.mul(dm, ts)),
                    None => None,
                }
            };
            if let Some(r) = r {
                tan.insert(m, r);
            }
        }
        out.push(tan.get(&gi).copied().unwrap_or(zero));
    }
    out
}
