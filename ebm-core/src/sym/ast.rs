//! The syntax tree of a formula, before sums are expanded.

use super::lex::Pos;
use super::ops::Fn1;

/// An integer expression (sizes, indices, ranges).
#[derive(Clone, Debug, PartialEq)]
pub enum IExpr {
    /// An integer literal.
    Int(i64, Pos),
    /// A size or a summation index.
    Name(String, Pos),
    /// −a.
    Neg(Box<IExpr>, Pos),
    /// a + b, a − b or a · b (the char is `+`, `-` or `*`).
    Bin(char, Box<IExpr>, Box<IExpr>, Pos),
}

/// A real-valued expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number literal.
    Num(f64, Pos),
    /// A name: scalar parameter, size, summation index, `pi`, or an element
    /// written without brackets (`x0`, `mu1`).
    Name(String, Pos),
    /// An element `a[i, j, …]` of the input or of an array parameter.
    Index(String, Vec<IExpr>, Pos),
    /// f(a).
    Call(Fn1, Box<Expr>, Pos),
    /// `sum(a, b, …)` (`lse = false`) or `logsumexp(a, b, …)` (`lse = true`).
    List {
        /// Log-sum-exp instead of sum.
        lse: bool,
        /// The terms.
        args: Vec<Expr>,
        /// Where the call starts.
        pos: Pos,
    },
    /// `sum(i, lo..hi, body)` or `logsumexp(i, lo..hi, body)`: one term per
    /// i in lo, lo+1, …, hi−1.
    Reduce {
        /// Log-sum-exp instead of sum.
        lse: bool,
        /// The index name.
        var: String,
        /// Where the index name is.
        var_pos: Pos,
        /// First value.
        lo: IExpr,
        /// One past the last value.
        hi: IExpr,
        /// The term.
        body: Box<Expr>,
        /// Where the call starts.
        pos: Pos,
    },
    /// −a.
    Neg(Box<Expr>, Pos),
    /// a op b for op in `+ - * /`.
    Bin(char, Box<Expr>, Box<Expr>, Pos),
    /// a ^ b (b must be constant).
    Pow(Box<Expr>, Box<Expr>, Pos),
}

impl Expr {
    /// Where the expression starts (its operator for binary expressions).
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Num(_, p)
            | Expr::Name(_, p)
            | Expr::Index(_, _, p)
            | Expr::Call(_, _, p)
            | Expr::Neg(_, p)
            | Expr::Bin(_, _, _, p)
            | Expr::Pow(_, _, p) => *p,
            Expr::List { pos, .. } | Expr::Reduce { pos, .. } => *pos,
        }
    }
}

/// A declaration `name` or `name[n₁, …]` (optionally `lower`).
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// The name.
    pub name: String,
    /// The extents (empty for a scalar).
    pub dims: Vec<IExpr>,
    /// Whether it was declared `lower`.
    pub lower: bool,
    /// Where the name is.
    pub pos: Pos,
}

/// A whole formula: `let` sizes, then `energy(x[d]; params…) = body`.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// `let name = value` size definitions, in order.
    pub sizes: Vec<(String, IExpr, Pos)>,
    /// The input vector.
    pub input: Decl,
    /// The parameters, in order.
    pub params: Vec<Decl>,
    /// The energy.
    pub body: Expr,
}
