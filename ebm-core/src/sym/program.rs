//! Lowering a set of DAG outputs to one linear SSA program.
//!
//! # Format
//!
//! A [`Program`] is plain data (`Clone + Hash + Eq + Debug`): a `Vec` of
//! [`Instr`]uctions `dst ← op(srcs…)` over numbered registers, executed in
//! order, once per sample. Registers hold one scalar per sample; operands are
//! register indices; constants are stored as f64 bits so that the program is
//! hashable (a GPU backend can use it as a compile-time key and unroll it as
//! a `#[comptime]` sequence).
//!
//! - The first [`Program::num_uniform`] instructions depend only on
//!   constants and parameters (they are the same for every sample): an
//!   evaluator runs them once per batch chunk, and their registers are never
//!   overwritten afterwards.
//! - The rest depend on the inputs xᵢ (and auxiliary inputs vᵢ). Registers
//!   are reused once their value is dead (linear-scan liveness), and an
//!   instruction's destination is never one of its own operands.
//! - After the last instruction, output `j` is in register `outputs[j]`
//!   (output registers are never reused). Every requested output shares the
//!   same instructions: a program for `[E, −∂E/∂x₀ … , ∂²E/∂x₀² …]` computes
//!   each common subexpression once.
//! - The n-ary log-sum-exp is lowered to fixed-arity ops:
//!   m = max(a₁, …), s = Σ e^{aᵢ − m}, lse = m + ln s.
//! - Chains of additions and subtractions whose intermediate values are
//!   read once become one [`Op::Sum`] over an explicit list of [`Term`]s
//!   (registers and products of two registers, each added or subtracted),
//!   evaluated left to right with the same roundings as the chain of
//!   binary ops it replaces (see [`Op::Sum`]).

use super::expr::{Graph, Node, NodeId};
use super::ops::Fn1;
use std::collections::HashMap;

/// One term of an [`Op::Sum`]; `u32` operands are register indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// + a.
    Add(u32),
    /// − a.
    Sub(u32),
    /// + a·b (the product rounded, then added).
    AddMul(u32, u32),
    /// − a·b (the product rounded, then subtracted).
    SubMul(u32, u32),
}

impl Term {
    /// Calls `f` on every register operand.
    #[inline]
    pub fn for_each_src(&self, mut f: impl FnMut(u32)) {
        match *self {
            Term::Add(a) | Term::Sub(a) => f(a),
            Term::AddMul(a, b) | Term::SubMul(a, b) => {
                f(a);
                f(b)
            }
        }
    }

    fn map_srcs(self, f: &impl Fn(u32) -> u32) -> Term {
        match self {
            Term::Add(a) => Term::Add(f(a)),
            Term::Sub(a) => Term::Sub(f(a)),
            Term::AddMul(a, b) => Term::AddMul(f(a), f(b)),
            Term::SubMul(a, b) => Term::SubMul(f(a), f(b)),
        }
    }

    /// The term with its sign flipped.
    pub fn negated(self) -> Term {
        match self {
            Term::Add(a) => Term::Sub(a),
            Term::Sub(a) => Term::Add(a),
            Term::AddMul(a, b) => Term::SubMul(a, b),
            Term::SubMul(a, b) => Term::AddMul(a, b),
        }
    }

    /// Whether the term is subtracted.
    pub fn is_sub(self) -> bool {
        matches!(self, Term::Sub(_) | Term::SubMul(..))
    }
}

/// One operation; `u32` operands are register indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A constant (f64 bits).
    Const(u64),
    /// The input coordinate xᵢ of the sample.
    Input(u32),
    /// The auxiliary input vᵢ of the sample.
    Aux(u32),
    /// The parameter θₖ.
    Param(u32),
    /// f(a).
    Unary(Fn1, u32),
    /// a + b.
    Add(u32, u32),
    /// a − b.
    Sub(u32, u32),
    /// a · b.
    Mul(u32, u32),
    /// a / b.
    Div(u32, u32),
    /// max(a, b) (from log-sum-exp lowering).
    Max(u32, u32),
    /// aⁿ.
    Powi(u32, i32),
    /// aᵖ, p as f64 bits.
    Powf(u32, u64),
    /// A sum over a non-empty list of terms t₀, t₁, …, evaluated left to
    /// right: acc = ±t₀ (for `AddMul`/`SubMul`, the rounded product,
    /// negated for `Sub…`), then acc = acc ± tᵢ for each following term
    /// (each product rounded before it is added or subtracted). No fused
    /// multiply-add: the roundings are those of the binary ops it replaces.
    Sum(Box<[Term]>),
}

impl Op {
    /// Calls `f` on every register operand.
    #[inline]
    pub fn for_each_src(&self, mut f: impl FnMut(u32)) {
        match self {
            Op::Const(_) | Op::Input(_) | Op::Aux(_) | Op::Param(_) => {}
            Op::Unary(_, a) | Op::Powi(a, _) | Op::Powf(a, _) => f(*a),
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Max(a, b) => {
                f(*a);
                f(*b)
            }
            Op::Sum(terms) => terms.iter().for_each(|t| t.for_each_src(&mut f)),
        }
    }

    fn map_srcs(&self, f: impl Fn(u32) -> u32) -> Op {
        match self {
            Op::Const(_) | Op::Input(_) | Op::Aux(_) | Op::Param(_) => self.clone(),
            Op::Unary(g, a) => Op::Unary(*g, f(*a)),
            Op::Powi(a, n) => Op::Powi(f(*a), *n),
            Op::Powf(a, p) => Op::Powf(f(*a), *p),
            Op::Add(a, b) => Op::Add(f(*a), f(*b)),
            Op::Sub(a, b) => Op::Sub(f(*a), f(*b)),
            Op::Mul(a, b) => Op::Mul(f(*a), f(*b)),
            Op::Div(a, b) => Op::Div(f(*a), f(*b)),
            Op::Max(a, b) => Op::Max(f(*a), f(*b)),
            Op::Sum(terms) => Op::Sum(terms.iter().map(|t| t.map_srcs(&f)).collect()),
        }
    }
}

/// `dst ← op`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The destination register.
    pub dst: u32,
    /// The operation.
    pub op: Op,
}

/// A linear SSA program computing several outputs per sample. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    /// The instructions, in execution order.
    pub instrs: Vec<Instr>,
    /// How many leading instructions are sample-independent.
    pub num_uniform: usize,
    /// The number of registers.
    pub num_regs: u32,
    /// The register of each output after the last instruction.
    pub outputs: Vec<u32>,
    /// The number of inputs xᵢ per sample (d).
    pub num_inputs: u32,
    /// The number of auxiliary inputs vᵢ per sample (0 or d).
    pub num_aux: u32,
    /// The number of parameters.
    pub num_params: u32,
}

impl Program {
    /// The number of instructions.
    pub fn len(&self) -> usize {
        self.instrs.len()
    }

    /// Whether the program has no instruction.
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }

    /// Whether the program reads the auxiliary inputs.
    pub fn uses_aux(&self) -> bool {
        self.instrs.iter().any(|i| matches!(i.op, Op::Aux(_)))
    }

    /// Checks the internal invariants (operands defined before use,
    /// destinations distinct from operands, uniform registers and outputs
    /// never overwritten, leaves in range); panics with the first violation.
    pub fn validate(&self) {
        let n = self.num_regs as usize;
        let mut defined = vec![false; n];
        let mut pinned = vec![false; n];
        for (i, ins) in self.instrs.iter().enumerate() {
            let d = ins.dst as usize;
            assert!(d < n, "instr {i}: dst out of range");
            ins.op.for_each_src(|s| {
                assert!(defined[s as usize], "instr {i}: r{s} read before written");
                assert!(s != ins.dst, "instr {i}: dst is an operand");
            });
            match &ins.op {
                Op::Input(k) => assert!(*k < self.num_inputs, "instr {i}: input out of range"),
                Op::Aux(k) => assert!(*k < self.num_aux, "instr {i}: aux out of range"),
                Op::Param(k) => assert!(*k < self.num_params, "instr {i}: param out of range"),
                Op::Sum(terms) => assert!(!terms.is_empty(), "instr {i}: empty sum"),
                _ => {}
            }
            assert!(!pinned[d], "instr {i}: overwrites a uniform register");
            defined[d] = true;
            if i < self.num_uniform {
                pinned[d] = true;
            }
        }
        for &o in &self.outputs {
            assert!(defined[o as usize], "output r{o} never written");
        }
    }
}

/// Lowers `outputs` of `g` to a [`Program`] of fixed-arity ops (no
/// [`Op::Sum`]) for `num_inputs` inputs, `num_aux` auxiliary inputs and
/// `num_params` parameters.
///
/// # Panics
/// If a leaf of the DAG is out of those ranges (an internal invariant: the
/// model builds its DAG from the same signature).
pub fn compile(g: &Graph, outputs: &[NodeId], num_inputs: usize, num_aux: usize, num_params: usize) -> Program {
    lower(g, outputs, num_inputs, num_aux, num_params, false)
}

/// Like [`compile`], with chains of additions and subtractions fused into
/// [`Op::Sum`]s (see [`Op::Sum`] for the exact semantics): far fewer
/// instructions for an interpreter, and the same value as the
/// [`compile`]d program bit for bit (up to the sign of a zero sum).
///
/// # Panics
/// As [`compile`].
pub fn compile_fused(g: &Graph, outputs: &[NodeId], num_inputs: usize, num_aux: usize, num_params: usize) -> Program {
    lower(g, outputs, num_inputs, num_aux, num_params, true)
}

fn lower(g: &Graph, outputs: &[NodeId], num_inputs: usize, num_aux: usize, num_params: usize, fuse: bool) -> Program {
    let reach = g.reachable(outputs);
    let sums = if fuse {
        plan_sums(g, &reach, outputs)
    } else {
        SumPlan { absorbed: vec![false; reach.last().map_or(0, |r| r.index() + 1)], terms: HashMap::new() }
    };
    // Virtual SSA values: uniform nodes first, then varying ones, each in id order.
    let mut code: Vec<Op> = Vec::with_capacity(reach.len());
    let mut uniform = Vec::with_capacity(reach.len());
    let mut value: HashMap<NodeId, u32> = HashMap::with_capacity(reach.len());
    for pass_uniform in [true, false] {
        for &id in &reach {
            if g.is_varying(id) == pass_uniform || sums.absorbed[id.index()] {
                continue;
            }
            let v = match sums.terms.get(&id) {
                Some(terms) => {
                    let v = |c: NodeId| value[&c];
                    let terms = terms
                        .iter()
                        .map(|t| match *t {
                            PlanTerm::One(a, false) => Term::Add(v(a)),
                            PlanTerm::One(a, true) => Term::Sub(v(a)),
                            PlanTerm::Mul(a, b, false) => Term::AddMul(v(a), v(b)),
                            PlanTerm::Mul(a, b, true) => Term::SubMul(v(a), v(b)),
                        })
                        .collect();
                    push(&mut code, Op::Sum(terms))
                }
                None => lower_node(g, id, &value, &mut code),
            };
            value.insert(id, v);
            uniform.resize(code.len(), pass_uniform);
        }
    }
    let num_uniform = uniform.iter().take_while(|&&u| u).count();
    debug_assert!(uniform[num_uniform..].iter().all(|&u| !u));
    let out_vals: Vec<u32> = outputs.iter().map(|o| value[o]).collect();

    // Liveness: the last instruction reading each value; uniform values and
    // outputs live forever.
    let n = code.len();
    const FOREVER: usize = usize::MAX;
    let mut last = vec![0usize; n];
    for (i, op) in code.iter().enumerate() {
        last[i] = i; // a value nobody reads dies at once
        op.for_each_src(|s| last[s as usize] = i);
    }
    for (i, l) in last.iter_mut().enumerate().take(num_uniform) {
        let _ = i;
        *l = FOREVER;
    }
    for &o in &out_vals {
        last[o as usize] = FOREVER;
    }
    // Linear scan: allocate the destination, then free operands that die here.
    let mut reg = vec![u32::MAX; n];
    let mut free: Vec<u32> = Vec::new();
    let mut num_regs = 0u32;
    let mut instrs = Vec::with_capacity(n);
    for (i, op) in code.iter().enumerate() {
        let dst = free.pop().unwrap_or_else(|| {
            num_regs += 1;
            num_regs - 1
        });
        reg[i] = dst;
        instrs.push(Instr { dst, op: op.map_srcs(|s| reg[s as usize]) });
        let mut dying: Vec<u32> = Vec::new();
        op.for_each_src(|s| {
            if last[s as usize] == i && !dying.contains(&s) {
                dying.push(s);
            }
        });
        for s in dying {
            free.push(reg[s as usize]);
        }
        if last[i] == i {
            free.push(dst);
        }
    }
    let p = Program {
        instrs,
        num_uniform,
        num_regs,
        outputs: out_vals.iter().map(|&v| reg[v as usize]).collect(),
        num_inputs: num_inputs as u32,
        num_aux: num_aux as u32,
        num_params: num_params as u32,
    };
    p.validate();
    p
}

/// A planned term of a sum: ±a or ±a·b (`true`: subtracted).
#[derive(Clone, Copy, Debug)]
enum PlanTerm {
    One(NodeId, bool),
    Mul(NodeId, NodeId, bool),
}

/// Which nodes [`compile`] lowers as one [`Op::Sum`] (`terms`, by root) and
/// which nodes disappear into the sum of their only reader (`absorbed`).
struct SumPlan {
    absorbed: Vec<bool>,
    terms: HashMap<NodeId, Vec<PlanTerm>>,
}

/// Plans the sums: walking down from each root (an addition, subtraction
/// or negation nobody absorbs, highest id first), an operand that is an
/// addition or subtraction read only by this chain continues the chain
/// (its "spine"), and a term that is a negation, product or square read
/// only by the chain is absorbed into the term. Only nodes of the root's
/// kind (uniform or varying) are absorbed, so uniform values stay hoisted.
///
/// Every rewrite keeps the roundings of the binary ops: the chain is
/// evaluated in its own order (x + y = y + x and x − y = x + (−y) exactly),
/// a negated chain as the chain of negated terms (round-to-nearest is
/// symmetric; only the sign of a zero sum may differ), and products are
/// rounded before they are added.
fn plan_sums(g: &Graph, reach: &[NodeId], outputs: &[NodeId]) -> SumPlan {
    let top = reach.last().map_or(0, |r| r.index() + 1);
    let mut uses = vec![0u32; top];
    for &id in reach {
        g.node(id).for_each_child(|c| uses[c.index()] = uses[c.index()].saturating_add(1));
    }
    for o in outputs {
        uses[o.index()] = u32::MAX; // outputs keep their own value
    }
    let mut absorbed = vec![false; top];
    let mut terms = HashMap::new();
    // A node read once, by a node of the same kind.
    let single = |c: NodeId, varying: bool| uses[c.index()] == 1 && g.is_varying(c) == varying;
    let is_chain = |c: NodeId| matches!(g.node(c), Node::Add(..) | Node::Sub(..));
    for &root in reach.iter().rev() {
        if absorbed[root.index()] {
            continue;
        }
        let varying = g.is_varying(root);
        let spine = |c: NodeId| single(c, varying) && is_chain(c);
        let (mut node, mut neg) = match g.node(root) {
            Node::Add(..) | Node::Sub(..) => (root, false),
            Node::Unary(Fn1::Neg, a) if spine(*a) || (single(*a, varying) && matches!(g.node(*a), Node::Mul(..))) => {
                (*a, true)
            }
            _ => continue,
        };
        let mut fused = Vec::new(); // nodes this sum absorbs
        if node != root && spine(node) {
            fused.push(node);
        }
        // (operand, subtracted) from the last term to the first
        let mut rev: Vec<(NodeId, bool)> = Vec::new();
        loop {
            let next = match *g.node(node) {
                Node::Add(a, b) => {
                    if spine(a) {
                        rev.push((b, neg));
                        a
                    } else if spine(b) {
                        rev.push((a, neg));
                        b
                    } else {
                        rev.push((b, neg));
                        rev.push((a, neg));
                        break;
                    }
                }
                Node::Sub(a, b) => {
                    if spine(a) {
                        rev.push((b, !neg));
                        a
                    } else if spine(b) {
                        rev.push((a, neg));
                        neg = !neg;
                        b
                    } else {
                        rev.push((b, !neg));
                        rev.push((a, neg));
                        break;
                    }
                }
                _ => {
                    // under a negation: the single term −a·b
                    rev.push((node, neg));
                    break;
                }
            };
            fused.push(next);
            node = next;
        }
        let mut plan = Vec::with_capacity(rev.len());
        for &(mut t, mut sub) in rev.iter().rev() {
            while let Node::Unary(Fn1::Neg, a) = *g.node(t) {
                if !single(t, varying) {
                    break;
                }
                fused.push(t);
                t = a;
                sub = !sub;
            }
            plan.push(match *g.node(t) {
                Node::Mul(a, b) if single(t, varying) => {
                    fused.push(t);
                    PlanTerm::Mul(a, b, sub)
                }
                Node::Unary(Fn1::Square, a) if single(t, varying) => {
                    fused.push(t);
                    PlanTerm::Mul(a, a, sub)
                }
                _ => PlanTerm::One(t, sub),
            });
        }
        if fused.is_empty() {
            continue; // a lone binary op: nothing to gain
        }
        for f in fused {
            absorbed[f.index()] = true;
        }
        terms.insert(root, plan);
    }
    SumPlan { absorbed, terms }
}

fn push(code: &mut Vec<Op>, op: Op) -> u32 {
    code.push(op);
    (code.len() - 1) as u32
}

fn lower_node(g: &Graph, id: NodeId, value: &HashMap<NodeId, u32>, code: &mut Vec<Op>) -> u32 {
    let v = |c: &NodeId| value[c];
    let op = match g.node(id) {
        Node::Const(b) => Op::Const(*b),
        Node::Input(i) => Op::Input(*i),
        Node::Aux(i) => Op::Aux(*i),
        Node::Param(k) => Op::Param(*k),
        Node::Unary(f, a) => Op::Unary(*f, v(a)),
        Node::Add(a, b) => Op::Add(v(a), v(b)),
        Node::Sub(a, b) => Op::Sub(v(a), v(b)),
        Node::Mul(a, b) => Op::Mul(v(a), v(b)),
        Node::Div(a, b) => Op::Div(v(a), v(b)),
        Node::Powi(a, n) => Op::Powi(v(a), *n),
        Node::Powf(a, p) => Op::Powf(v(a), *p),
        Node::LogSumExp(args) => {
            let a: Vec<u32> = args.iter().map(v).collect();
            if a.is_empty() {
                return push(code, Op::Const(f64::NEG_INFINITY.to_bits()));
            }
            let mut m = a[0];
            for &x in &a[1..] {
                m = push(code, Op::Max(m, x));
            }
            let mut s = None;
            for &x in &a {
                let t = push(code, Op::Sub(x, m));
                let e = push(code, Op::Unary(Fn1::Exp, t));
                s = Some(match s {
                    None => e,
                    Some(acc) => push(code, Op::Add(acc, e)),
                });
            }
            let l = push(code, Op::Unary(Fn1::Log, s.unwrap_or(m)));
            Op::Add(m, l)
        }
    };
    push(code, op)
}
