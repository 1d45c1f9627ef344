//! Printing expressions and formulas back to the text syntax.
//!
//! [`to_source`] prints a whole formula so that parsing it again into the
//! same [`Graph`] gives the same node (print → parse round-trips, tested
//! by proptest). The DAG is printed as a tree: a shared node is written
//! at each use (fine for energies; derivative DAGs can print large).
//! Additive and multiplicative chains (what `sum` expands to) are printed
//! iteratively, so long sums do not recurse deeply.
//!
//! Auxiliary inputs print as `v[i]`, which the parser does not accept (they
//! only occur in derived expressions), and non-finite constants as `inf` or
//! `nan`, likewise.

use super::expr::{Graph, Node, NodeId};
use super::ops::Fn1;
use super::signature::Signature;
use std::fmt::Write;

const ADD: u8 = 1;
const MUL: u8 = 2;
const NEG: u8 = 3;
const POW: u8 = 4;
const ATOM: u8 = 5;

struct Printer<'a> {
    g: &'a Graph,
    sig: Option<&'a Signature>,
}

/// Formats a constant so that it parses back to the same f64.
pub fn format_number(c: f64) -> String {
    if !c.is_finite() {
        return if c.is_nan() {
            "nan".into()
        } else if c > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if c.fract() == 0.0 && c.abs() < 1e15 {
        format!("{}", c as i64)
    } else {
        format!("{c:?}")
    }
}

impl Printer<'_> {
    fn paren(&self, id: NodeId, min: u8) -> String {
        let (s, p) = self.expr(id);
        if p < min {
            format!("({s})")
        } else {
            s
        }
    }

    fn leaf_name(&self, node: &Node) -> String {
        match (node, self.sig) {
            (Node::Input(i), Some(s)) => format!("{}[{i}]", s.input),
            (Node::Input(i), None) => format!("x[{i}]"),
            (Node::Aux(i), _) => format!("v[{i}]"),
            (Node::Param(k), Some(s)) => match s.describe(*k as usize) {
                Some((p, idx)) if idx.is_empty() => p.name.clone(),
                Some((p, idx)) => {
                    let idx: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
                    format!("{}[{}]", p.name, idx.join(","))
                }
                None => format!("theta[{k}]"),
            },
            (Node::Param(k), None) => format!("theta[{k}]"),
            _ => unreachable!("leaf_name of a non-leaf"),
        }
    }

    /// A left-associative chain of `ops` (`+ −` or `· /`) printed iteratively.
    fn chain(&self, id: NodeId, level: u8) -> String {
        let mut spine = Vec::new();
        let mut cur = id;
        loop {
            let step = match (self.g.node(cur), level) {
                (&Node::Add(a, b), ADD) => Some((a, '+', b)),
                (&Node::Sub(a, b), ADD) => Some((a, '-', b)),
                (&Node::Mul(a, b), MUL) => Some((a, '*', b)),
                (&Node::Div(a, b), MUL) => Some((a, '/', b)),
                _ => None,
            };
            match step {
                Some((a, op, b)) => {
                    spine.push((op, b));
                    cur = a;
                }
                None => break,
            }
        }
        let mut s = self.paren(cur, level);
        for (op, b) in spine.into_iter().rev() {
            let r = self.paren(b, level + 1);
            let _ = write!(s, " {op} {r}");
        }
        s
    }

    fn expr(&self, id: NodeId) -> (String, u8) {
        let node = self.g.node(id);
        match node {
            Node::Const(b) => {
                let c = f64::from_bits(*b);
                let s = format_number(c);
                if c < 0.0 || c.is_nan() {
                    (format!("({s})"), ATOM)
                } else {
                    (s, ATOM)
                }
            }
            Node::Input(_) | Node::Aux(_) | Node::Param(_) => (self.leaf_name(node), ATOM),
            Node::Add(..) | Node::Sub(..) => (self.chain(id, ADD), ADD),
            Node::Mul(..) | Node::Div(..) => (self.chain(id, MUL), MUL),
            Node::Unary(Fn1::Neg, a) => (format!("-{}", self.paren(*a, POW)), NEG),
            Node::Unary(f, a) => (format!("{}({})", f.name(), self.expr(*a).0), ATOM),
            Node::Powi(a, n) => {
                let e = if *n < 0 { format!("({n})") } else { n.to_string() };
                (format!("{}^{e}", self.paren(*a, ATOM)), POW)
            }
            Node::Powf(a, p) => {
                let p = f64::from_bits(*p);
                let e = if p < 0.0 { format!("({})", format_number(p)) } else { format_number(p) };
                (format!("{}^{e}", self.paren(*a, ATOM)), POW)
            }
            Node::LogSumExp(args) => {
                let parts: Vec<String> = args.iter().map(|&a| self.expr(a).0).collect();
                (format!("logsumexp({})", parts.join(", ")), ATOM)
            }
        }
    }
}

/// `id` in the text syntax, with the names of `sig` (or `x[i]` and
/// `theta[k]` without one).
pub fn print_expr(g: &Graph, sig: Option<&Signature>, id: NodeId) -> String {
    Printer { g, sig }.expr(id).0
}

/// The whole formula `energy(x[d]; params…) = E` in the text syntax, with
/// every size written as a number.
pub fn to_source(g: &Graph, sig: &Signature, energy: NodeId) -> String {
    let mut s = format!("energy({}[{}]", sig.input, sig.dim);
    for (k, p) in sig.params.iter().enumerate() {
        s.push_str(if k == 0 { "; " } else { ", " });
        s.push_str(&p.name);
        if !p.shape.is_empty() {
            let dims: Vec<String> = p.shape.iter().map(|n| n.to_string()).collect();
            let _ = write!(s, "[{}]", dims.join(","));
            if p.lower {
                s.push_str(" lower");
            }
        }
    }
    let _ = write!(s, ") = {}", print_expr(g, Some(sig), energy));
    s
}
