//! Node constructors that simplify as they build, and a pass that rewrites a
//! DAG built without simplification.
//!
//! Rules (each applied when a node is built from already-simplified
//! children, so every stored node is a fixed point and rebuilding it returns
//! the same id):
//!
//! - constant folding of every operation, kept only when the result is finite
//!   (`log(-1)` stays a node);
//! - neutral and absorbing elements: a + 0, a − 0, 0 − a = −a, a·1, a·(−1),
//!   a·0 = 0, 0/a = 0, a/1, a⁰ = 1, a¹ = a;
//! - cancellation: a − a = 0, a + (−a) = 0, a/a = 1, (a + b) − a = b,
//!   (a·b)/a = b, (a/b)·b = a, −(−a) = a, −(a − b) = b − a, ln eᵃ = a;
//! - signs move outwards: (−a)·b = −(a·b), (−a)/b = −(a/b), (−a)² = a²,
//!   a + (−b) = a − b, a − (−b) = a + b;
//! - powers of one base merge: a·a = a², aᵐ·aⁿ = aᵐ⁺ⁿ, aᵐ/aⁿ = aᵐ⁻ⁿ,
//!   (aᵐ)ⁿ = aᵐⁿ, (aᵖ)^q = a^{pq} for real p, a^{1/2} = √a, and an integral
//!   real power becomes an integer power;
//! - constants gather and float to the front of products: c₁·(c₂·a) =
//!   (c₁c₂)·a, a·(c·b) = c·(a·b), (c·a)/b = c·(a/b), a/(c·b) = (1/c)·(a/b),
//!   a/c = (1/c)·a, c₁ + (c₂ + a) = (c₁ + c₂) + a;
//! - commutative operands are ordered (constant first, then by id) so that
//!   a + b and b + a are one node.
//!
//! Like every computer-algebra system this assumes finite values: a·0 = 0 and
//! a/a = 1 even where a would be infinite or zero.

use super::expr::{Graph, Node, NodeId};
use super::ops::Fn1;

/// Integer exponents beyond ±`POWI_MAX` stay real powers.
pub const POWI_MAX: i64 = 1 << 16;

fn is(c: Option<f64>, v: f64) -> bool {
    c == Some(v)
}

/// `unary_constructors! { /// doc  name => Fn1Variant; … }` writes the
/// constructor `pub fn name(&mut self, a) -> NodeId` of each unary function,
/// each [`Graph::unary`] of its [`Fn1`].
macro_rules! unary_constructors {
    ($($(#[$doc:meta])* $name:ident => $f:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, a: NodeId) -> NodeId {
                self.unary(Fn1::$f, a)
            }
        )*
    };
}

impl Graph {
    fn folded(&mut self, v: f64) -> Option<NodeId> {
        v.is_finite().then(|| self.constant(v))
    }

    /// `(base, k)` with `id = baseᵏ` for a square or an integer power, else `(id, 1)`.
    fn pow_view(&self, id: NodeId) -> (NodeId, i64) {
        match *self.node(id) {
            Node::Unary(Fn1::Square, a) => (a, 2),
            Node::Powi(a, n) => (a, n as i64),
            _ => (id, 1),
        }
    }

    fn neg_of(&self, id: NodeId) -> Option<NodeId> {
        match *self.node(id) {
            Node::Unary(Fn1::Neg, a) => Some(a),
            _ => None,
        }
    }

    /// `(c, y)` if `id` is the product c·y of a constant and a non-constant.
    fn const_factor(&self, id: NodeId) -> Option<(f64, NodeId)> {
        match *self.node(id) {
            Node::Mul(p, q) => self.as_const(p).map(|c| (c, q)),
            _ => None,
        }
    }

    fn ordered(&self, a: NodeId, b: NodeId) -> (NodeId, NodeId) {
        let (ca, cb) = (self.as_const(a).is_some(), self.as_const(b).is_some());
        if cb && !ca || (ca == cb && b < a) {
            (b, a)
        } else {
            (a, b)
        }
    }

    /// What every binary constructor does first: the node `node(a, b)` as
    /// is when simplification is off, or `fold(a, b)` of two constants (kept
    /// when finite); `None` to go on to the operation's own rules.
    fn built_or_folded(
        &mut self,
        a: NodeId,
        b: NodeId,
        node: fn(NodeId, NodeId) -> Node,
        fold: fn(f64, f64) -> f64,
    ) -> Option<NodeId> {
        if !self.simplify {
            return Some(self.intern(node(a, b)));
        }
        let (x, y) = (self.as_const(a)?, self.as_const(b)?);
        self.folded(fold(x, y))
    }

    /// Signs move outwards through a product or a quotient `op`:
    /// (−p) ∘ b = −(p ∘ b), else a ∘ (−q) = −(a ∘ q).
    fn sign_out(&mut self, a: NodeId, b: NodeId, op: fn(&mut Self, NodeId, NodeId) -> NodeId) -> Option<NodeId> {
        let inner = match (self.neg_of(a), self.neg_of(b)) {
            (Some(p), _) => op(self, p, b),
            (None, Some(q)) => op(self, a, q),
            (None, None) => return None,
        };
        Some(self.neg(inner))
    }

    /// Constants gather in an associative operation (`node` is `Node::Add`
    /// or `Node::Mul`, `fold` its arithmetic, `op` its constructor):
    /// c₁ ∘ (c₂ ∘ y) = (c₁ ∘ c₂) ∘ y, the constant on either side (`ca`, `cb`
    /// the constants of a and b).
    fn gathered(
        &mut self,
        (a, b): (NodeId, NodeId),
        (ca, cb): (Option<f64>, Option<f64>),
        node: fn(NodeId, NodeId) -> Node,
        fold: fn(f64, f64) -> f64,
        op: fn(&mut Self, NodeId, NodeId) -> NodeId,
    ) -> Option<NodeId> {
        let kind = std::mem::discriminant(&node(a, b));
        for (c, other) in [(ca, b), (cb, a)] {
            let inner = match *self.node(other) {
                Node::Add(p, q) | Node::Mul(p, q) if std::mem::discriminant(self.node(other)) == kind => Some((p, q)),
                _ => None,
            };
            if let (Some(c1), Some((p, q))) = (c, inner) {
                if let Some(c2) = self.as_const(p) {
                    if let Some(k) = self.folded(fold(c1, c2)) {
                        return Some(op(self, k, q));
                    }
                }
            }
        }
        None
    }

    /// a + b.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if let Some(r) = self.built_or_folded(a, b, Node::Add, |x, y| x + y) {
            return r;
        }
        let (ca, cb) = (self.as_const(a), self.as_const(b));
        if is(ca, 0.0) {
            return b;
        }
        if is(cb, 0.0) {
            return a;
        }
        if a == b {
            let two = self.constant(2.0);
            return self.mul(two, a);
        }
        if let Some(c) = self.neg_of(b) {
            return self.sub(a, c);
        }
        if let Some(c) = self.neg_of(a) {
            return self.sub(b, c);
        }
        // c₁ + (c₂ + y) = (c₁ + c₂) + y
        if let Some(r) = self.gathered((a, b), (ca, cb), Node::Add, |x, y| x + y, Self::add) {
            return r;
        }
        let (a, b) = self.ordered(a, b);
        self.intern(Node::Add(a, b))
    }

    /// a − b.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if let Some(r) = self.built_or_folded(a, b, Node::Sub, |x, y| x - y) {
            return r;
        }
        let (ca, cb) = (self.as_const(a), self.as_const(b));
        if is(cb, 0.0) {
            return a;
        }
        if is(ca, 0.0) {
            return self.neg(b);
        }
        if a == b {
            return self.constant(0.0);
        }
        if let Some(c) = self.neg_of(b) {
            return self.add(a, c);
        }
        match *self.node(a) {
            // (p + q) − p = q, (p + q) − q = p
            Node::Add(p, q) if p == b => return q,
            Node::Add(p, q) if q == b => return p,
            // (b − q) − b = −q
            Node::Sub(p, q) if p == b => return self.neg(q),
            _ => {}
        }
        match *self.node(b) {
            // a − (a + q) = −q
            Node::Add(p, q) if p == a => return self.neg(q),
            Node::Add(p, q) if q == a => return self.neg(p),
            // a − (a − q) = q
            Node::Sub(p, q) if p == a => return q,
            _ => {}
        }
        self.intern(Node::Sub(a, b))
    }

    /// a · b.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if let Some(r) = self.built_or_folded(a, b, Node::Mul, |x, y| x * y) {
            return r;
        }
        let (ca, cb) = (self.as_const(a), self.as_const(b));
        if is(ca, 0.0) || is(cb, 0.0) {
            return self.constant(0.0);
        }
        if is(ca, 1.0) {
            return b;
        }
        if is(cb, 1.0) {
            return a;
        }
        if is(ca, -1.0) {
            return self.neg(b);
        }
        if is(cb, -1.0) {
            return self.neg(a);
        }
        if let Some(r) = self.sign_out(a, b, Self::mul) {
            return r;
        }
        // (p / q) · q = p
        for (x, y) in [(a, b), (b, a)] {
            if let Node::Div(p, q) = *self.node(x) {
                if q == y {
                    return p;
                }
            }
        }
        let ((ba, ka), (bb, kb)) = (self.pow_view(a), self.pow_view(b));
        if ba == bb && (ka != 1 || kb != 1 || a == b) {
            return self.powi_i64(ba, ka + kb);
        }
        // c₁ · (c₂ · y) = (c₁c₂) · y
        if let Some(r) = self.gathered((a, b), (ca, cb), Node::Mul, |x, y| x * y, Self::mul) {
            return r;
        }
        // constants float to the front: a · (c·y) = c · (a·y)
        if ca.is_none() && cb.is_none() {
            for (x, other) in [(a, b), (b, a)] {
                if let Some((c, y)) = self.const_factor(x) {
                    let k = self.constant(c);
                    let m = self.mul(other, y);
                    return self.mul(k, m);
                }
            }
        }
        let (a, b) = self.ordered(a, b);
        self.intern(Node::Mul(a, b))
    }

    /// a / b.
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        if let Some(r) = self.built_or_folded(a, b, Node::Div, |x, y| x / y) {
            return r;
        }
        let (ca, cb) = (self.as_const(a), self.as_const(b));
        if is(cb, 1.0) {
            return a;
        }
        if is(cb, -1.0) {
            return self.neg(a);
        }
        if is(ca, 0.0) {
            return self.constant(0.0);
        }
        if a == b {
            return self.constant(1.0);
        }
        if let Some(r) = self.sign_out(a, b, Self::div) {
            return r;
        }
        if let Node::Mul(p, q) = *self.node(a) {
            if p == b {
                return q;
            }
            if q == b {
                return p;
            }
        }
        let ((ba, ka), (bb, kb)) = (self.pow_view(a), self.pow_view(b));
        if ba == bb {
            return self.powi_i64(ba, ka - kb);
        }
        if let Some(y) = cb {
            if let Some(k) = self.folded(1.0 / y) {
                return self.mul(k, a);
            }
        }
        // constants float to the front: (c·y)/b = c·(y/b), a/(c·y) = (1/c)·(a/y)
        if let Some((c, y)) = self.const_factor(a) {
            let k = self.constant(c);
            let q = self.div(y, b);
            return self.mul(k, q);
        }
        if let Some((c, y)) = self.const_factor(b) {
            if let Some(k) = self.folded(1.0 / c) {
                let q = self.div(a, y);
                return self.mul(k, q);
            }
        }
        self.intern(Node::Div(a, b))
    }

    /// −a.
    pub fn neg(&mut self, a: NodeId) -> NodeId {
        if !self.simplify {
            return self.intern(Node::Unary(Fn1::Neg, a));
        }
        if let Some(x) = self.as_const(a) {
            return self.constant(-x);
        }
        match self.node(a).clone() {
            Node::Unary(Fn1::Neg, p) => p,
            Node::Sub(p, q) => self.sub(q, p),
            Node::Mul(p, q) if self.as_const(p).is_some() => {
                let c = self.constant(-self.as_const(p).unwrap_or(0.0));
                self.mul(c, q)
            }
            _ => self.intern(Node::Unary(Fn1::Neg, a)),
        }
    }

    fn powi_i64(&mut self, a: NodeId, n: i64) -> NodeId {
        if n.abs() <= POWI_MAX {
            self.powi(a, n as i32)
        } else {
            self.powf(a, n as f64)
        }
    }

    /// aⁿ for an integer n (exponents beyond ±[`POWI_MAX`] become real powers).
    pub fn powi(&mut self, a: NodeId, n: i32) -> NodeId {
        if (n as i64).abs() > POWI_MAX {
            return self.powf(a, n as f64);
        }
        if !self.simplify {
            return self.intern(Node::Powi(a, n));
        }
        if n == 0 {
            return self.constant(1.0);
        }
        if n == 1 {
            return a;
        }
        if let Some(x) = self.as_const(a) {
            if let Some(r) = self.folded(x.powi(n)) {
                return r;
            }
        }
        if let Some(p) = self.neg_of(a) {
            let r = self.powi(p, n);
            return if n % 2 == 0 { r } else { self.neg(r) };
        }
        let (base, k) = self.pow_view(a);
        if k != 1 {
            return self.powi_i64(base, k * n as i64);
        }
        if n == 2 {
            return self.intern(Node::Unary(Fn1::Square, a));
        }
        self.intern(Node::Powi(a, n))
    }

    /// aᵖ for a real constant p (an integral p gives [`Graph::powi`], p = ½ gives √a).
    pub fn powf(&mut self, a: NodeId, p: f64) -> NodeId {
        if !self.simplify {
            return self.intern(Node::Powf(a, super::expr::const_bits(p)));
        }
        if p.fract() == 0.0 && p.abs() <= POWI_MAX as f64 {
            return self.powi(a, p as i32);
        }
        if p == 0.5 {
            return self.unary(Fn1::Sqrt, a);
        }
        if let Some(x) = self.as_const(a) {
            if let Some(r) = self.folded(x.powf(p)) {
                return r;
            }
        }
        if let Node::Powf(b, q) = *self.node(a) {
            let pq = f64::from_bits(q) * p;
            if pq.is_finite() {
                return self.powf(b, pq);
            }
        }
        self.intern(Node::Powf(a, super::expr::const_bits(p)))
    }

    /// f(a) for a unary function f.
    pub fn unary(&mut self, f: Fn1, a: NodeId) -> NodeId {
        if !self.simplify {
            return self.intern(Node::Unary(f, a));
        }
        match f {
            Fn1::Neg => return self.neg(a),
            Fn1::Square => return self.powi(a, 2),
            _ => {}
        }
        if let Some(x) = self.as_const(a) {
            if let Some(r) = self.folded(f.eval(x)) {
                return r;
            }
        }
        if f == Fn1::Log {
            if let Node::Unary(Fn1::Exp, p) = *self.node(a) {
                return p;
            }
        }
        if f == Fn1::LogCosh || f == Fn1::Cos {
            // even functions
            if let Some(p) = self.neg_of(a) {
                return self.unary(f, p);
            }
        }
        self.intern(Node::Unary(f, a))
    }

    /// ln Σᵢ e^{aᵢ} (one term gives a₀; no term gives the constant −∞).
    pub fn logsumexp(&mut self, args: &[NodeId]) -> NodeId {
        if !self.simplify {
            return self.intern(Node::LogSumExp(args.into()));
        }
        match args {
            [] => return self.constant(f64::NEG_INFINITY),
            [a] => return *a,
            _ => {}
        }
        let consts: Option<Vec<f64>> = args.iter().map(|&a| self.as_const(a)).collect();
        if let Some(c) = consts {
            if let Some(r) = self.folded(super::ops::logsumexp(&c)) {
                return r;
            }
        }
        self.intern(Node::LogSumExp(args.into()))
    }

    unary_constructors! {
        /// eᵃ.
        exp => Exp;
        /// ln a.
        log => Log;
        /// ln(1 + a).
        log1p => Log1p;
        /// √a.
        sqrt => Sqrt;
        /// tanh a.
        tanh => Tanh;
        /// σ(a).
        sigmoid => Sigmoid;
        /// ln(1 + eᵃ).
        softplus => Softplus;
        /// ln cosh a.
        logcosh => LogCosh;
        /// sin a.
        sin => Sin;
        /// cos a.
        cos => Cos;
        /// a².
        square => Square;
    }

    /// Σᵢ aᵢ as a left-leaning chain of additions (0 for no term).
    pub fn sum(&mut self, terms: &[NodeId]) -> NodeId {
        let mut acc = match terms.first() {
            Some(&t) => t,
            None => return self.constant(0.0),
        };
        for &t in &terms[1..] {
            acc = self.add(acc, t);
        }
        acc
    }

    /// Rebuilds `node` with its children mapped by `map`, through the constructors.
    fn rebuild(&mut self, node: &Node, map: &dyn Fn(NodeId) -> NodeId) -> NodeId {
        match node {
            Node::Const(_) | Node::Input(_) | Node::Aux(_) | Node::Param(_) => self.intern(node.clone()),
            Node::Unary(f, a) => self.unary(*f, map(*a)),
            Node::Add(a, b) => self.add(map(*a), map(*b)),
            Node::Sub(a, b) => self.sub(map(*a), map(*b)),
            Node::Mul(a, b) => self.mul(map(*a), map(*b)),
            Node::Div(a, b) => self.div(map(*a), map(*b)),
            Node::Powi(a, n) => self.powi(map(*a), *n),
            Node::Powf(a, p) => self.powf(map(*a), f64::from_bits(*p)),
            Node::LogSumExp(args) => {
                let v: Vec<NodeId> = args.iter().map(|&a| map(a)).collect();
                self.logsumexp(&v)
            }
        }
    }

    /// Rewrites `roots` (built with or without construction-time
    /// simplification) through the simplifying constructors, bottom-up, and
    /// returns the simplified roots. Simplification stays on afterwards.
    pub fn simplify(&mut self, roots: &[NodeId]) -> Vec<NodeId> {
        self.simplify = true;
        let reach = self.reachable(roots);
        let mut map: std::collections::HashMap<NodeId, NodeId> = Default::default();
        for id in reach {
            let node = self.node(id).clone();
            let m = &map;
            let new = self.rebuild(&node, &|c| m[&c]);
            map.insert(id, new);
        }
        roots.iter().map(|r| map[r]).collect()
    }

    /// Whether rebuilding `id` from its own children through the
    /// simplifying constructors returns `id` itself (every node a simplifying
    /// graph stores is such a fixed point; used by tests).
    pub fn is_fixed_point(&mut self, id: NodeId) -> bool {
        let saved = self.simplify;
        self.simplify = true;
        let node = self.node(id).clone();
        let r = self.rebuild(&node, &|c| c);
        self.simplify = saved;
        r == id
    }
}
