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

use super::expr::{Graph, Node, NodeId};
use super::ops::Fn1;
use std::collections::HashMap;

/// One operation; `u32` operands are register indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

impl Op {
    /// Calls `f` on every register operand.
    #[inline]
    pub fn for_each_src(&self, mut f: impl FnMut(u32)) {
        match *self {
            Op::Const(_) | Op::Input(_) | Op::Aux(_) | Op::Param(_) => {}
            Op::Unary(_, a) | Op::Powi(a, _) | Op::Powf(a, _) => f(a),
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Max(a, b) => {
                f(a);
                f(b)
            }
        }
    }

    fn map_srcs(self, f: impl Fn(u32) -> u32) -> Op {
        match self {
            Op::Const(_) | Op::Input(_) | Op::Aux(_) | Op::Param(_) => self,
            Op::Unary(g, a) => Op::Unary(g, f(a)),
            Op::Powi(a, n) => Op::Powi(f(a), n),
            Op::Powf(a, p) => Op::Powf(f(a), p),
            Op::Add(a, b) => Op::Add(f(a), f(b)),
            Op::Sub(a, b) => Op::Sub(f(a), f(b)),
            Op::Mul(a, b) => Op::Mul(f(a), f(b)),
            Op::Div(a, b) => Op::Div(f(a), f(b)),
            Op::Max(a, b) => Op::Max(f(a), f(b)),
        }
    }
}

/// `dst ← op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
            match ins.op {
                Op::Input(k) => assert!(k < self.num_inputs, "instr {i}: input out of range"),
                Op::Aux(k) => assert!(k < self.num_aux, "instr {i}: aux out of range"),
                Op::Param(k) => assert!(k < self.num_params, "instr {i}: param out of range"),
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

/// Lowers `outputs` of `g` to a [`Program`] for `num_inputs` inputs,
/// `num_aux` auxiliary inputs and `num_params` parameters.
///
/// # Panics
/// If a leaf of the DAG is out of those ranges (an internal invariant: the
/// model builds its DAG from the same signature).
pub fn compile(
    g: &Graph,
    outputs: &[NodeId],
    num_inputs: usize,
    num_aux: usize,
    num_params: usize,
) -> Program {
    let reach = g.reachable(outputs);
    // Virtual SSA values: uniform nodes first, then varying ones, each in id order.
    let mut code: Vec<Op> = Vec::with_capacity(reach.len());
    let mut uniform = Vec::with_capacity(reach.len());
    let mut value: HashMap<NodeId, u32> = HashMap::with_capacity(reach.len());
    for pass_uniform in [true, false] {
        for &id in &reach {
            if g.is_varying(id) == pass_uniform {
                continue;
            }
            let v = lower_node(g, id, &value, &mut code);
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
