//! The symbolic-program kernel: an [`ebm_core::sym::Program`] unrolled into
//! one fused CubeCL kernel, one thread per sample.
//!
//! # How the unrolling works
//!
//! [`sym_kernel()`] takes the program, inside a [`SymSpec`], as a
//! `#[comptime]` argument (a `Program` is plain data: `Clone + Eq + Hash +
//! Debug`, which is all CubeCL asks of a compile-time value). Its body
//! calls `run_program`, whose body is an `intrinsic!` block: plain Rust
//! that runs while CubeCL *expands* the kernel, not on the device. It walks
//! the instructions in order ([`expand_program`]) and keeps the SSA
//! registers as a `Vec` of runtime values (`NativeExpand<f32>`, one IR
//! value each) indexed by register number at compile time; each instruction
//! calls the generated `expand` function of one small `#[cube]` function of
//! [`crate::sym_ops`] on the values of its operands and stores the result
//! in its destination slot. `Input`, `Aux` and `Param` become loads from x,
//! the auxiliary inputs and θ; `Powi` is unrolled into its binary-powering
//! multiplications and `Sum` into its chain of additions. After the last
//! instruction the output registers are stored into up to three output
//! buffers ([`SymSpec::widths`]). This is CubeCL's `examples/fusing` idea
//! (a comptime op list unrolled into one kernel) with the register file
//! held by the expander instead of in device memory.
//!
//! The generated shader is therefore straight-line code with no loop and
//! no register array: what is left of the program's structure is only data
//! flow, which CubeCL's optimiser (common subexpressions across the inlined
//! elementary functions, constant folding) and then the shader compiler
//! schedule freely. The uniform prefix
//! ([`ebm_core::sym::Program::num_uniform`]) is recomputed by every thread
//! (it reads each parameter once). To see the WGSL of each program, run
//! with `CUBECL_DEBUG_LOG=stderr` (or a file path).
//!
//! # Compilation and caching
//!
//! The program is part of the kernel's identity: a new program (another
//! formula, or another of a model's programs) is a new kernel,
//! expanded, compiled to WGSL and then by the driver on its first launch,
//! and cached by CubeCL under the hash of the [`SymSpec`] afterwards.
//! Changing θ or the batch does not recompile. Expansion and compilation
//! cost grows with the number of instructions: on lavapipe, the first call
//! of a 600-instruction program (mixture d = 8, K = 6, E + score + Hessian
//! diagonal) takes about 0.4–0.8 s, later calls about 1 ms for 1000
//! samples.
//!
//! # Limits
//!
//! - No loops, so Mesa llvmpipe's loop budget ([`crate::plan`]) does not
//!   apply; instead a very long program makes a very long shader (compile
//!   time, instruction-cache pressure). Registers are SSA values, so
//!   `num_regs` does not bound anything on the device.
//! - Constants must be finite in f32 (WGSL has no literal for ±∞ or NaN):
//!   [`SymSpec::new`] refuses others (only an empty log-sum-exp produces
//!   one).
//! - f32 only; the elementary functions are those of [`crate::sym_ops`],
//!   within a few ulp of the CPU evaluator's, and CubeCL's optimiser
//!   contracts a·b ± c into `fma` where the CPU evaluator rounds twice (so
//!   results agree to rounding, not bit for bit). Subnormal results may be
//!   flushed to zero.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::error::{KernelError, Result};
use crate::sym_ops as k;
use cubecl::intrinsic;
use cubecl::prelude::*;
use ebm_core::sym::{Fn1, Op, Program, Term};

/// What [`sym_kernel()`] is compiled for: a program and how its outputs
/// are split into up to three row-major output buffers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SymSpec {
    /// The program, run once per sample.
    pub program: Program,
    /// Output widths per buffer: outputs `0..w₀` go to `out0` (w₀ per
    /// sample), the next w₁ to `out1`, the next w₂ to `out2`; they sum to
    /// the number of outputs.
    pub widths: [usize; 3],
}

impl SymSpec {
    /// Checks `program`: finite f32 constants and output widths that cover
    /// its outputs (errors otherwise).
    ///
    /// # Panics
    /// If the program breaks its own invariants ([`Program::validate`]: a
    /// hand-built or corrupted program; compiled ones never do).
    pub fn new(program: Program, widths: [usize; 3]) -> Result<Self> {
        program.validate();
        let n: usize = widths.iter().sum();
        if n != program.outputs.len() {
            return Err(KernelError::Unsupported(format!(
                "output widths {widths:?} do not cover the program's {} outputs",
                program.outputs.len()
            )));
        }
        for ins in &program.instrs {
            if let Op::Const(bits) | Op::Powf(_, bits) = ins.op {
                let v = f64::from_bits(bits) as f32;
                if !v.is_finite() {
                    return Err(KernelError::Unsupported(format!(
                        "the constant {} is not a finite f32 (WGSL has no literal for it)",
                        f64::from_bits(bits)
                    )));
                }
            }
        }
        Ok(Self { program, widths })
    }
}

type F = NativeExpand<f32>;

fn unary(scope: &Scope, f: Fn1, a: F) -> F {
    match f {
        Fn1::Neg => k::neg::expand(scope, a),
        Fn1::Exp => k::exp::expand(scope, a),
        Fn1::Log => k::ln::expand(scope, a),
        Fn1::Log1p => k::log1p::expand(scope, a),
        Fn1::Sqrt => k::sqrt::expand(scope, a),
        Fn1::Tanh => k::tanh::expand(scope, a),
        Fn1::Sigmoid => k::sigmoid::expand(scope, a),
        Fn1::Softplus => k::softplus::expand(scope, a),
        Fn1::LogCosh => k::logcosh::expand(scope, a),
        Fn1::Sin => k::sin::expand(scope, a),
        Fn1::Cos => k::cos::expand(scope, a),
        Fn1::Square => k::mul::expand(scope, a, a),
    }
}

/// aⁿ by the binary powering of `powi` (the CPU evaluator's order).
fn powi(scope: &Scope, a: F, n: i32) -> F {
    let mut base = a;
    let mut acc: Option<F> = None;
    let mut e = n.unsigned_abs();
    loop {
        if e & 1 != 0 {
            acc = Some(match acc {
                None => base, // 1 · base, exactly
                Some(p) => k::mul::expand(scope, p, base),
            });
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        base = k::mul::expand(scope, base, base);
    }
    let acc = acc.unwrap_or_else(|| k::constant::expand(scope, 1.0));
    if n < 0 {
        k::recip::expand(scope, acc)
    } else {
        acc
    }
}

/// Σ terms left to right, with the roundings of [`Op::Sum`].
fn sum(scope: &Scope, terms: &[Term], r: impl Fn(u32) -> F) -> F {
    let term = |t: &Term| match *t {
        Term::Add(a) | Term::Sub(a) => r(a),
        Term::AddMul(a, b) | Term::SubMul(a, b) => k::mul::expand(scope, r(a), r(b)),
    };
    let (first, rest) = terms.split_first().expect("validated: non-empty sum");
    let mut acc = term(first);
    if first.is_sub() {
        acc = k::neg::expand(scope, acc);
    }
    for t in rest {
        let v = term(t);
        acc = if t.is_sub() { k::sub::expand(scope, acc, v) } else { k::add::expand(scope, acc, v) };
    }
    acc
}

/// What a program reads when it is expanded: the samples `x` (B ×
/// `num_inputs`) and `aux` (B × `num_aux`), and θ.
#[derive(Clone, Copy)]
pub struct ProgramReads<'a> {
    pub x: &'a SliceExpand<f32>,
    pub aux: &'a SliceExpand<f32>,
    pub theta: &'a SliceExpand<f32>,
}

/// Expands `program` for sample `b` into `scope` (see the module docs) and
/// returns the values of its outputs, in order.
pub fn expand_values(scope: &Scope, p: &Program, reads: ProgramReads<'_>, b: NativeExpand<usize>) -> Vec<F> {
    let ProgramReads { x, aux, theta } = reads;
    let (d, na) = (p.num_inputs as usize, p.num_aux as usize);
    let mut regs: Vec<Option<F>> = vec![None; p.num_regs as usize];
    for ins in &p.instrs {
        let r = |i: u32| regs[i as usize].expect("validated: read after write");
        let v = match &ins.op {
            Op::Const(bits) => k::constant::expand(scope, f64::from_bits(*bits) as f32),
            Op::Input(i) => k::load::expand(scope, x, b, d, *i as usize),
            Op::Aux(i) => k::load::expand(scope, aux, b, na, *i as usize),
            Op::Param(j) => k::load_at::expand(scope, theta, *j as usize),
            Op::Unary(f, a) => unary(scope, *f, r(*a)),
            Op::Add(a, c) => k::add::expand(scope, r(*a), r(*c)),
            Op::Sub(a, c) => k::sub::expand(scope, r(*a), r(*c)),
            Op::Mul(a, c) => k::mul::expand(scope, r(*a), r(*c)),
            Op::Div(a, c) => k::div::expand(scope, r(*a), r(*c)),
            Op::Max(a, c) => k::max::expand(scope, r(*a), r(*c)),
            Op::Powi(a, n) => powi(scope, r(*a), *n),
            Op::Powf(a, e) => k::powf::expand(scope, r(*a), f64::from_bits(*e) as f32),
            Op::Sum(terms) => sum(scope, terms, r),
        };
        regs[ins.dst as usize] = Some(v);
    }
    p.outputs.iter().map(|&o| regs[o as usize].expect("validated: outputs written")).collect()
}

/// Expands `spec.program` for sample `b` into `scope` (see the module docs)
/// and stores its outputs into the three buffers of [`SymSpec::widths`].
pub fn expand_program(
    scope: &Scope,
    spec: &SymSpec,
    reads: ProgramReads<'_>,
    outs: [&mut SliceExpand<f32>; 3],
    b: NativeExpand<usize>,
) {
    let values = expand_values(scope, &spec.program, reads, b);
    let mut outputs = values.into_iter();
    for (out, &w) in outs.into_iter().zip(&spec.widths) {
        for i in 0..w {
            let v = outputs.next().expect("widths cover the outputs");
            k::store::expand(scope, out, b, w, i, v);
        }
    }
}

/// Runs `spec.program` for sample `b` of `x` and `aux`, storing its outputs
/// into `out0`, `out1`, `out2` (rows of `spec.widths` values). Per-thread
/// arrays serve as buffers too (sample 0 of an array of one row).
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn run_program(
    x: &[f32],
    aux: &[f32],
    theta: &[f32],
    out0: &mut [f32],
    out1: &mut [f32],
    out2: &mut [f32],
    b: usize,
    #[comptime] spec: SymSpec,
) {
    intrinsic!(|scope| expand_program(scope, &spec, ProgramReads { x, aux, theta }, [out0, out1, out2], b))
}

/// Runs `spec.program` on every sample of `x` (B × `num_inputs`, with
/// `aux` B × `num_aux`, a 1-element dummy when unused) and writes its
/// outputs into `out0`, `out1`, `out2` (B × width each; 1-element dummies
/// for width 0). One thread per sample; threads past `batch` do nothing.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn sym_kernel(
    x: &[f32],
    aux: &[f32],
    theta: &[f32],
    out0: &mut [f32],
    out1: &mut [f32],
    out2: &mut [f32],
    batch: u32,
    #[comptime] spec: SymSpec,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        run_program(x, aux, theta, out0, out1, out2, b, spec);
    }
}
