//! [`SymEnergy`]: a symbolic energy as an [`Energy`](crate::Energy) model.
//!
//! Construction derives every quantity of [`Derivatives`] and lowers eight
//! fused programs (E; E and score; E, score and Hessian diagonal; the three
//! per-sample parameter gradients; the Hessian quadratic form vᵀ∇ₓ²E v and
//! its parameter gradient), twice: with fixed-arity ops only
//! ([`SymEnergy::programs`], for GPU backends) and with sums fused into
//! n-ary [`super::Op::Sum`]s ([`SymEnergy::fused_programs`], bit-identical
//! values), which the CPU evaluator runs. The programs are shared (`Arc`) between
//! clones and casts; only the flat parameter buffer θ is per model, in the
//! layout of [`super::signature`] (declaration order, row-major, `lower`
//! arrays as packed lower triangles).
//!
//! Parameter gradients evaluate the per-sample gradient program and sum its
//! outputs with the weights, each thread over its own chunk, then reduce
//! (see [`super::eval::eval_weighted_sum`]).
//!
//! # Hessian quadratic form (sliced score matching)
//!
//! [`crate::Curvature::eval_v_hess_v`] and [`crate::Curvature::grad_v_hess_v`] are exact, by
//! forward over reverse mode on the graph, with the direction v read as the
//! auxiliary inputs (like [`crate::Target::VDotGradX`]):
//!
//! - u = vᵀ∇ₓE = Σᵢ vᵢ ∂E/∂xᵢ, the ∂E/∂xᵢ from the reverse sweep that
//!   gives the score ([`Derivatives::v_dot_grad`]);
//! - q = Σⱼ vⱼ ∂u/∂xⱼ = Σᵢⱼ vᵢ (∂²E/∂xᵢ∂xⱼ) vⱼ = vᵀ∇ₓ²E v: one forward-mode
//!   sweep of u with tangents ẋⱼ = vⱼ and v̇ = θ̇ = 0
//!   ([`super::deriv::directional_derivative`]), since v does not depend
//!   on x ([`Derivatives::v_hess_v`]);
//! - ∇_θ q by reverse mode over q, v held fixed
//!   ([`Derivatives::grad_v_hess_v`]); the gradient program is summed with
//!   the weights like the other parameter gradients, giving
//!   Σᵦ wᵦ ∇_θ (vᵦᵀ∇ₓ²E(xᵦ)vᵦ).
//!
//! **Cost.** Each step adds O(size of its input) nodes (a constant number
//! per node: the forward rule of each op, or the adjoint contributions), so
//! q and ∇_θ q are within a constant factor of the size of u, i.e. of E and
//! its gradient, whatever d: unlike the Hessian diagonal (d forward passes,
//! [`super::hess`]) they need no per-coordinate pass, and their programs
//! grow in d like E itself (d² for d×d parameters). On the Gaussian, ICA
//! and Student-t formulas of the tests, both programs are 0.7–1.4× the size
//! of the `[E, score, Hessian diagonal]` program ([`SymEnergy::node_counts`];
//! `tests/sym_v_hess_v.rs` checks the growth). They are built eagerly with
//! the others (one forward sweep, one reverse sweep, two more programs each
//! lowered twice), which makes construction about 10–60 % slower and the
//! graph 12–38 % larger: measured at d = 64 and 128, e.g. the lower-Cholesky
//! Gaussian at d = 128 (8 384 parameters) 0.34 s → 0.54 s, the Student-t
//! ICA at d = K = 128 1.16 s → 1.26 s, the diagonal mixture at d = K = 128
//! 2.1 s → 2.9 s.

use super::deriv::{derive, Derivatives};
use super::error::SymError;
use super::eval::{eval_batch, eval_weighted_sum};
use super::expand::{parse_with, Formula};
use super::program::{compile, compile_fused, Program};
use super::signature::Signature;
use crate::blocked::Out;
use crate::energy::{Langevin, Objectives, Target};
use crate::real::Real;
use std::sync::Arc;

/// The eight programs of a symbolic model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Programs {
    /// `[E]`.
    pub energy: Program,
    /// `[E, s₀ … s_{d−1}]` with s = −∇ₓE.
    pub energy_score: Program,
    /// `[E, s₀ … s_{d−1}, h₀ … h_{d−1}]` with hᵢ = ∂²E/∂xᵢ².
    pub energy_score_hess: Program,
    /// `[∂E/∂θ₀ …]`.
    pub grad_energy: Program,
    /// `[∂(vᵀ∇ₓE)/∂θ₀ …]`, reading the auxiliary inputs v.
    pub grad_v_dot_grad: Program,
    /// `[∂J/∂θ₀ …]` with J = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12).
    pub grad_sm: Program,
    /// `[vᵀ∇ₓ²E v]`, reading the auxiliary inputs v.
    pub v_hess_v: Program,
    /// `[∂(vᵀ∇ₓ²E v)/∂θ₀ …]`, reading the auxiliary inputs v.
    pub grad_v_hess_v: Program,
}

impl Programs {
    /// The eight programs in field order.
    fn from_vec(progs: Vec<Program>) -> Self {
        let mut it = progs.into_iter();
        let mut next = || it.next().expect("eight programs");
        Programs {
            energy: next(),
            energy_score: next(),
            energy_score_hess: next(),
            grad_energy: next(),
            grad_v_dot_grad: next(),
            grad_sm: next(),
            v_hess_v: next(),
            grad_v_hess_v: next(),
        }
    }
}

/// Sizes of one program: distinct DAG nodes of its outputs, instructions
/// after lowering, registers after reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramSize {
    /// Distinct DAG nodes reachable from the outputs.
    pub nodes: usize,
    /// Instructions.
    pub instrs: usize,
    /// Registers.
    pub regs: usize,
}

/// Node counts of every program of a model (see [`SymEnergy::node_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeCounts {
    /// `[E]`.
    pub energy: ProgramSize,
    /// `[E, score]`.
    pub energy_score: ProgramSize,
    /// `[E, score, Hessian diagonal]`.
    pub energy_score_hess: ProgramSize,
    /// ∇_θ E.
    pub grad_energy: ProgramSize,
    /// ∇_θ vᵀ∇ₓE.
    pub grad_v_dot_grad: ProgramSize,
    /// ∇_θ J.
    pub grad_sm: ProgramSize,
    /// vᵀ∇ₓ²E v.
    pub v_hess_v: ProgramSize,
    /// ∇_θ vᵀ∇ₓ²E v.
    pub grad_v_hess_v: ProgramSize,
}

/// Everything shared by the clones and casts of one symbolic model.
#[derive(Debug)]
pub struct Compiled {
    /// The formula; its graph also holds the derived nodes.
    pub formula: Formula,
    /// The derived nodes.
    pub derivatives: Derivatives,
    /// The lowered programs, fixed-arity ops only ([`compile`]).
    pub programs: Programs,
    /// The same programs with sums fused ([`compile_fused`]), which the CPU
    /// evaluator runs.
    pub fused: Programs,
    /// Their sizes.
    pub counts: NodeCounts,
}

impl Compiled {
    /// Derives and lowers everything for `formula`.
    pub fn new(mut formula: Formula) -> Self {
        let sig = &formula.signature;
        let (d, p) = (sig.dim, sig.num_params());
        let g = &mut formula.graph;
        let dv = derive(g, formula.energy, d, p);
        let cat = |parts: &[&[super::expr::NodeId]]| parts.concat();
        let outs = [
            vec![dv.energy],
            cat(&[&[dv.energy], &dv.score]),
            cat(&[&[dv.energy], &dv.score, &dv.hess_diag]),
            dv.grad_energy.clone(),
            dv.grad_v_dot_grad.clone(),
            dv.grad_sm.clone(),
            vec![dv.v_hess_v],
            dv.grad_v_hess_v.clone(),
        ];
        let aux = [0, 0, 0, 0, d, 0, d, d];
        let progs: Vec<Program> = outs.iter().zip(aux).map(|(o, a)| compile(g, o, d, a, p)).collect();
        let fused: Vec<Program> = outs.iter().zip(aux).map(|(o, a)| compile_fused(g, o, d, a, p)).collect();
        let size = |k: usize| ProgramSize {
            nodes: g.count_nodes(&outs[k]),
            instrs: progs[k].len(),
            regs: progs[k].num_regs as usize,
        };
        let counts = NodeCounts {
            energy: size(0),
            energy_score: size(1),
            energy_score_hess: size(2),
            grad_energy: size(3),
            grad_v_dot_grad: size(4),
            grad_sm: size(5),
            v_hess_v: size(6),
            grad_v_hess_v: size(7),
        };
        Self { formula, derivatives: dv, programs: Programs::from_vec(progs), fused: Programs::from_vec(fused), counts }
    }
}

/// A symbolic energy with exact derivatives, implementing [`Energy`](crate::Energy).
///
/// θ follows the layout of [`super::signature`]: parameters in declaration
/// order, arrays row-major, `lower` arrays as packed lower triangles.
#[derive(Clone, Debug)]
pub struct SymEnergy<T: Real> {
    compiled: Arc<Compiled>,
    params: Vec<T>,
}

impl<T: Real> SymEnergy<T> {
    /// A model of `formula` with parameters `theta` (length
    /// `formula.signature.num_params()`, finite). Errors: a wrong length, a
    /// non-finite value, or a formula that fails [`Formula::validate`].
    pub fn new(formula: Formula, theta: &[T]) -> std::result::Result<Self, SymError> {
        let p = formula.signature.num_params();
        if theta.len() != p {
            return Err(SymError::Build(format!("expected {p} parameter values, got {}", theta.len())));
        }
        if let Some(k) = theta.iter().position(|v| !v.is_finite()) {
            return Err(SymError::Build(format!("parameter {k} is {}", theta[k])));
        }
        formula.validate()?;
        Ok(Self { compiled: Arc::new(Compiled::new(formula)), params: theta.to_vec() })
    }

    /// Parses `src` (see [`super::parse`](mod@super::parse)) and builds the model with `theta`.
    pub fn parse(src: &str, theta: &[T]) -> std::result::Result<Self, SymError> {
        Self::new(parse_with(src, &[])?, theta)
    }

    /// Parses `src` with sizes given from outside and builds the model.
    pub fn parse_with(src: &str, sizes: &[(&str, usize)], theta: &[T]) -> std::result::Result<Self, SymError> {
        Self::new(parse_with(src, sizes)?, theta)
    }

    /// The same model in another precision (programs shared, θ converted).
    pub fn cast<U: Real>(&self) -> SymEnergy<U> {
        SymEnergy {
            compiled: Arc::clone(&self.compiled),
            params: self.params.iter().map(|&v| U::from_f64(v.to_f64())).collect(),
        }
    }

    /// The formula (its graph also holds the derivatives).
    pub fn formula(&self) -> &Formula {
        &self.compiled.formula
    }

    /// The input and parameter declarations.
    pub fn signature(&self) -> &Signature {
        &self.compiled.formula.signature
    }

    /// The derived nodes.
    pub fn derivatives(&self) -> &Derivatives {
        &self.compiled.derivatives
    }

    /// The lowered programs, fixed-arity ops only (for GPU backends).
    pub fn programs(&self) -> &Programs {
        &self.compiled.programs
    }

    /// The programs with fused sums ([`compile_fused`]) that the CPU
    /// evaluator runs; same values as [`SymEnergy::programs`].
    pub fn fused_programs(&self) -> &Programs {
        &self.compiled.fused
    }

    /// DAG nodes, instructions and registers of every program.
    pub fn node_counts(&self) -> NodeCounts {
        self.compiled.counts
    }

    /// The energy in the text syntax.
    pub fn to_source(&self) -> String {
        self.compiled.formula.to_source()
    }
}

/// The passes behind [`crate::Energy`], [`crate::Trainable`] and [`crate::Curvature`] (see
/// [`crate::family`]): the fused programs on checked slices.
impl<T: Real> SymEnergy<T> {
    fn family_name(&self) -> &'static str {
        "sym"
    }

    /// E, and the score and Hessian diagonal when `out` asks for them.
    fn forward(&self, x: &[T], out: Out<'_, T>) {
        let p = &self.compiled.fused;
        match out {
            Out { e, s: None, .. } => eval_batch(&p.energy, &self.params, x, &[], &mut [e]),
            Out { e, s: Some(s), h: None } => eval_batch(&p.energy_score, &self.params, x, &[], &mut [e, s]),
            Out { e, s: Some(s), h: Some(h) } => eval_batch(&p.energy_score_hess, &self.params, x, &[], &mut [e, s, h]),
        }
    }

    /// `grad ← Σᵦ wᵦ ∇θ target(xᵦ)`.
    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) {
        let p = &self.compiled.fused;
        let (program, v): (_, &[T]) = match target {
            Target::Energy => (&p.grad_energy, &[]),
            Target::VDotGradX(v) => (&p.grad_v_dot_grad, v.as_slice()),
            Target::ScoreMatching => (&p.grad_sm, &[]),
        };
        eval_weighted_sum(program, &self.params, x, v, w, grad);
    }

    /// `out[b] = vᵦᵀ∇ₓ²E(xᵦ)vᵦ`, exactly, by the forward-over-reverse
    /// program of the module docs (one pass per sample, v as the auxiliary
    /// inputs).
    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) {
        eval_batch(&self.compiled.fused.v_hess_v, &self.params, x, v, &mut [out]);
    }

    /// `grad ← Σᵦ wᵦ ∇_θ(vᵦᵀ∇ₓ²E(xᵦ)vᵦ)`, v held fixed, exactly (module docs).
    fn grad_v_hess_v_impl(&self, x: &[T], v: &[T], w: &[T], grad: &mut [T]) {
        eval_weighted_sum(&self.compiled.fused.grad_v_hess_v, &self.params, x, v, w, grad);
    }
}

crate::family::family_traits!(SymEnergy, compiled.formula.signature.dim);

impl<T: Real> Objectives<T> for SymEnergy<T> {}
impl<T: Real> Langevin<T> for SymEnergy<T> {}
