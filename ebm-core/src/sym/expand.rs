//! From syntax tree to DAG: resolves names, expands `sum` and `logsumexp`
//! over their index ranges, and builds the energy in a [`Graph`].
//!
//! # Names
//!
//! Sizes come from the `sizes` argument of [`parse_with`] (which wins) and
//! from `let` lines; `d` is bound to the input dimension. In a real
//! expression a name is, in this order: a summation index or a size (its
//! integer value), a scalar parameter, `pi`, or an element written without
//! brackets (`x0` = `x[0]`, `mu1` = `mu[1]` for a vector `mu`).
//!
//! Expansion is bounded: at most [`MAX_TERMS`] expression visits, so that a
//! formula like `sum(i, 0..1000000000, …)` is an error, not an endless loop.

use super::ast::{Decl, Expr, File, IExpr};
use super::error::SymError;
use super::expr::{Graph, Node, NodeId};
use super::lex::Pos;
use super::parse::parse_file;
use super::signature::{Signature, MAX_EXTENT};
use super::simplify::POWI_MAX;
use std::collections::HashMap;

/// The most expression visits one formula may expand to.
pub const MAX_TERMS: u64 = 4_000_000;

/// An energy written symbolically: its DAG, its signature and its root.
#[derive(Clone, Debug)]
pub struct Formula {
    /// The arena holding the energy (and, once derived, its derivatives).
    pub graph: Graph,
    /// The input and parameter declarations.
    pub signature: Signature,
    /// The energy E.
    pub energy: NodeId,
}

/// Parses `src` (see [`super::parse`](mod@super::parse) for the grammar) with no size given
/// from outside.
pub fn parse(src: &str) -> Result<Formula, SymError> {
    parse_with(src, &[])
}

/// Parses `src` with the sizes `sizes` (`[("K", 3)]`), which take
/// precedence over `let` lines.
pub fn parse_with(src: &str, sizes: &[(&str, usize)]) -> Result<Formula, SymError> {
    let mut graph = Graph::new();
    let (signature, energy) = parse_into(&mut graph, src, sizes)?;
    Ok(Formula { graph, signature, energy })
}

/// Parses `src` into an existing graph (so that equal expressions become the
/// same node as ones already there).
pub fn parse_into(g: &mut Graph, src: &str, sizes: &[(&str, usize)]) -> Result<(Signature, NodeId), SymError> {
    let file = parse_file(src)?;
    let mut cx = Ctx { g, sig: Signature::new("", 0), sizes: HashMap::new(), loops: Vec::new(), budget: MAX_TERMS };
    cx.header(&file, sizes)?;
    let e = cx.expr(&file.body)?;
    Ok((cx.sig, e))
}

fn sem(pos: Pos, message: String) -> SymError {
    SymError::Semantic { line: pos.line, col: pos.col, message }
}

struct Ctx<'g> {
    g: &'g mut Graph,
    sig: Signature,
    sizes: HashMap<String, i64>,
    loops: Vec<(String, i64)>,
    budget: u64,
}

impl Ctx<'_> {
    fn header(&mut self, file: &File, given: &[(&str, usize)]) -> Result<(), SymError> {
        for (name, v, pos) in &file.sizes {
            if given.iter().any(|(n, _)| n == name) {
                continue;
            }
            if self.sizes.contains_key(name) {
                return Err(sem(*pos, format!("size `{name}` is defined twice")));
            }
            let v = self.ival(v)?;
            if v < 0 || v as u64 > MAX_EXTENT as u64 {
                return Err(sem(*pos, format!("size `{name}` = {v} is out of range 0..={MAX_EXTENT}")));
            }
            self.sizes.insert(name.clone(), v);
        }
        for &(name, v) in given {
            if v > MAX_EXTENT {
                return Err(SymError::Build(format!("size `{name}` = {v} is larger than {MAX_EXTENT}")));
            }
            self.sizes.insert(name.to_string(), v as i64);
        }
        let input = &file.input;
        let dim = self.ival(&input.dims[0])?;
        if dim < 1 || dim as u64 > MAX_EXTENT as u64 {
            return Err(sem(input.pos, format!("input dimension {dim} is out of range 1..={MAX_EXTENT}")));
        }
        match self.sizes.get("d") {
            Some(&d) if d != dim => {
                return Err(sem(input.pos, format!("`d` is the input dimension {dim} but is set to {d}")))
            }
            _ => {
                self.sizes.insert("d".to_string(), dim);
            }
        }
        if self.sizes.contains_key(&input.name) {
            return Err(sem(input.pos, format!("`{}` is a size and cannot name the input", input.name)));
        }
        self.sig = Signature::new(&input.name, dim as usize);
        for Decl { name, dims, lower, pos } in &file.params {
            if self.sizes.contains_key(name) {
                return Err(sem(*pos, format!("`{name}` is a size and cannot name a parameter")));
            }
            let mut shape = Vec::with_capacity(dims.len());
            for e in dims {
                let n = self.ival(e)?;
                if n < 0 || n as u64 > MAX_EXTENT as u64 {
                    return Err(sem(*pos, format!("extent {n} of `{name}` is out of range 0..={MAX_EXTENT}")));
                }
                shape.push(n as usize);
            }
            self.sig.declare(name, &shape, *lower).map_err(|m| sem(*pos, m))?;
        }
        Ok(())
    }

    fn ival(&self, e: &IExpr) -> Result<i64, SymError> {
        match e {
            IExpr::Int(v, _) => Ok(*v),
            IExpr::Name(n, pos) => {
                if let Some((_, v)) = self.loops.iter().rev().find(|(m, _)| m == n) {
                    return Ok(*v);
                }
                if let Some(&v) = self.sizes.get(n) {
                    return Ok(v);
                }
                if self.sig.param(n).is_some() || *n == self.sig.input {
                    return Err(sem(*pos, format!("`{n}` is not an integer (sizes and indices are)")));
                }
                Err(sem(*pos, format!("unknown size or index `{n}`")))
            }
            IExpr::Neg(a, pos) => self.ival(a)?.checked_neg().ok_or_else(|| sem(*pos, "integer overflow".into())),
            IExpr::Bin(op, a, b, pos) => {
                let (a, b) = (self.ival(a)?, self.ival(b)?);
                let r = match op {
                    '+' => a.checked_add(b),
                    '-' => a.checked_sub(b),
                    _ => a.checked_mul(b),
                };
                r.ok_or_else(|| sem(*pos, "integer overflow".into()))
            }
        }
    }

    fn element(&mut self, name: &str, idx: &[IExpr], pos: Pos) -> Result<NodeId, SymError> {
        let mut v = Vec::with_capacity(idx.len());
        for e in idx {
            let i = self.ival(e)?;
            if i < 0 {
                return Err(sem(pos, format!("negative index {i} into `{name}`")));
            }
            v.push(i as usize);
        }
        self.element_at(name, &v, pos)
    }

    fn element_at(&mut self, name: &str, idx: &[usize], pos: Pos) -> Result<NodeId, SymError> {
        if name == self.sig.input {
            if idx.len() != 1 {
                return Err(sem(pos, format!("the input `{name}` takes one index, got {}", idx.len())));
            }
            if idx[0] >= self.sig.dim {
                return Err(sem(
                    pos,
                    format!("index {} out of range 0..{} of the input `{name}`", idx[0], self.sig.dim),
                ));
            }
            return Ok(self.g.input(idx[0] as u32));
        }
        if let Some(p) = self.sig.param(name) {
            let k = p.slot(idx).map_err(|m| sem(pos, m))? + p.offset;
            return Ok(self.g.param(k as u32));
        }
        if self.loops.iter().any(|(m, _)| m == name) || self.sizes.contains_key(name) {
            return Err(sem(pos, format!("`{name}` is an integer, not an array")));
        }
        Err(sem(pos, format!("unknown array `{name}`")))
    }

    fn name(&mut self, name: &str, pos: Pos) -> Result<NodeId, SymError> {
        if let Some((_, v)) = self.loops.iter().rev().find(|(m, _)| m == name) {
            let v = *v as f64;
            return Ok(self.g.constant(v));
        }
        if let Some(&v) = self.sizes.get(name) {
            return Ok(self.g.constant(v as f64));
        }
        if let Some(p) = self.sig.param(name) {
            if !p.shape.is_empty() {
                return Err(sem(pos, format!("`{name}` is an array: write `{name}[…]`")));
            }
            let k = p.offset as u32;
            return Ok(self.g.param(k));
        }
        if name == self.sig.input {
            return Err(sem(pos, format!("the input `{name}` is a vector: write `{name}[i]`")));
        }
        if name == "pi" {
            return Ok(self.g.constant(std::f64::consts::PI));
        }
        // `x0`, `mu12`: a vector's name followed by a decimal index.
        let split = name.find(|c: char| c.is_ascii_digit()).filter(|&k| k > 0);
        if let Some(k) = split {
            let (base, digits) = name.split_at(k);
            let is_vector = base == self.sig.input || self.sig.param(base).is_some_and(|p| p.shape.len() == 1);
            if is_vector && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0')) {
                let i: usize = digits.parse().map_err(|_| sem(pos, format!("index `{digits}` is too large")))?;
                return self.element_at(base, &[i], pos);
            }
        }
        Err(sem(pos, format!("unknown name `{name}`")))
    }

    fn constant_value(&self, e: NodeId) -> Option<f64> {
        let leaves_const = self
            .g
            .reachable(&[e])
            .iter()
            .all(|&n| !matches!(self.g.node(n), Node::Input(_) | Node::Aux(_) | Node::Param(_)));
        leaves_const.then(|| self.g.eval_f64(&[e], &[], &[], &[])[0])
    }

    fn expr(&mut self, e: &Expr) -> Result<NodeId, SymError> {
        if self.budget == 0 {
            return Err(sem(e.pos(), format!("the formula expands to more than {MAX_TERMS} terms")));
        }
        self.budget -= 1;
        Ok(match e {
            Expr::Num(v, _) => self.g.constant(*v),
            Expr::Name(n, pos) => self.name(n, *pos)?,
            Expr::Index(n, idx, pos) => self.element(n, idx, *pos)?,
            Expr::Call(f, a, _) => {
                let a = self.expr(a)?;
                self.g.unary(*f, a)
            }
            Expr::Neg(a, _) => {
                let a = self.expr(a)?;
                self.g.neg(a)
            }
            Expr::Bin(op, a, b, _) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                match op {
                    '+' => self.g.add(a, b),
                    '-' => self.g.sub(a, b),
                    '*' => self.g.mul(a, b),
                    _ => self.g.div(a, b),
                }
            }
            Expr::Pow(a, b, pos) => {
                let e = self.expr(b)?;
                let p =
                    self.constant_value(e).ok_or_else(|| sem(*pos, "the exponent of `^` must be a constant".into()))?;
                if !p.is_finite() {
                    return Err(sem(*pos, format!("the exponent evaluates to {p}")));
                }
                let a = self.expr(a)?;
                if p.fract() == 0.0 && p.abs() <= POWI_MAX as f64 {
                    self.g.powi(a, p as i32)
                } else {
                    self.g.powf(a, p)
                }
            }
            Expr::List { lse, args, .. } => {
                let mut v = Vec::with_capacity(args.len());
                for a in args {
                    v.push(self.expr(a)?);
                }
                if *lse {
                    self.g.logsumexp(&v)
                } else {
                    self.g.sum(&v)
                }
            }
            Expr::Reduce { lse, var, var_pos, lo, hi, body, pos } => {
                if self.loops.iter().any(|(m, _)| m == var)
                    || self.sizes.contains_key(var)
                    || self.sig.param(var).is_some()
                    || *var == self.sig.input
                {
                    return Err(sem(*var_pos, format!("index name `{var}` is already in use")));
                }
                let (lo, hi) = (self.ival(lo)?, self.ival(hi)?);
                let span = hi.saturating_sub(lo).max(0) as u64;
                if span > self.budget {
                    return Err(sem(*pos, format!("the formula expands to more than {MAX_TERMS} terms")));
                }
                if *lse && span == 0 {
                    return Err(sem(*pos, format!("logsumexp over the empty range {lo}..{hi}")));
                }
                let mut terms = Vec::with_capacity(span as usize);
                for i in lo..hi {
                    self.loops.push((var.clone(), i));
                    let t = self.expr(body);
                    self.loops.pop();
                    terms.push(t?);
                }
                if *lse {
                    self.g.logsumexp(&terms)
                } else {
                    self.g.sum(&terms)
                }
            }
        })
    }
}
