//! The recursive-descent parser of the formula syntax.
//!
//! ```text
//! file    := { "let" NAME "=" iexpr [";"] } "energy" "(" NAME "[" iexpr "]"
//!            [ ";" decl { "," decl } ] ")" "=" expr [";"] EOF
//! decl    := NAME [ "[" iexpr { "," iexpr } "]" [ "lower" ] ]
//! expr    := term { ("+" | "-") term }
//! term    := unary { ("*" | "/") unary }
//! unary   := ("-" | "+") unary | power
//! power   := primary [ "^" unary ]                  (right-associative)
//! primary := NUMBER | "(" expr ")" | NAME | NAME "[" iexpr { "," iexpr } "]"
//!          | FN "(" expr ")"                          (exp, log, log1p, sqrt, tanh, sigmoid,
//!                                                      softplus, logcosh, sin, cos, square)
//!          | ("sum" | "logsumexp") "(" NAME "," iexpr ".." iexpr "," expr ")"
//!          | ("sum" | "logsumexp") "(" expr { "," expr } ")"
//! iexpr   := iterm { ("+" | "-") iterm };  iterm := ifactor { "*" ifactor }
//! ifactor := INTEGER | NAME | "(" iexpr ")" | "-" ifactor
//! ```
//!
//! The parser never panics: every malformed input is a [`SymError`] with
//! the line and column of the offending token, what was expected there and
//! what was found; nesting deeper than [`MAX_DEPTH`] is an error rather
//! than a stack overflow.

use super::ast::{Decl, Expr, File, IExpr};
use super::error::SymError;
use super::lex::{tokenize, Pos, Tok};
use super::ops::Fn1;

/// The deepest nesting of brackets and prefix operators accepted.
pub const MAX_DEPTH: usize = 100;

/// The additive operators, lowest precedence in both real and index expressions.
const ADDITIVE: [(Tok, char); 2] = [(Tok::Plus, '+'), (Tok::Minus, '-')];

struct Parser {
    toks: Vec<(Tok, Pos)>,
    at: usize,
    depth: usize,
}

type R<T> = Result<T, SymError>;

/// Parses a formula into its syntax tree.
pub fn parse_file(src: &str) -> R<File> {
    let mut p = Parser { toks: tokenize(src)?, at: 0, depth: 0 };
    p.file()
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.at + k).min(self.toks.len() - 1)].0
    }

    fn here(&self) -> Pos {
        self.toks[self.at].1
    }

    fn bump(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn expected(&self, what: &str) -> SymError {
        let (tok, pos) = &self.toks[self.at];
        SymError::Parse { line: pos.line, col: pos.col, expected: what.to_string(), found: tok.describe() }
    }

    fn expect(&mut self, tok: Tok, what: &str) -> R<Pos> {
        if *self.peek() == tok {
            Ok(self.bump().1)
        } else {
            Err(self.expected(what))
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }

    fn ident(&mut self, what: &str) -> R<(String, Pos)> {
        match self.peek().clone() {
            Tok::Ident(s) => Ok((s, self.bump().1)),
            _ => Err(self.expected(what)),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.here();
            return Err(SymError::Semantic {
                line: pos.line,
                col: pos.col,
                message: format!("expression nested deeper than {MAX_DEPTH} levels"),
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `body` one nesting level deeper ([`MAX_DEPTH`] bounds the recursion).
    fn nested<E>(&mut self, body: impl FnOnce(&mut Self) -> R<E>) -> R<E> {
        self.enter()?;
        let r = body(self)?;
        self.leave();
        Ok(r)
    }

    fn file(&mut self) -> R<File> {
        let mut sizes = Vec::new();
        while self.is_kw("let") {
            self.bump();
            let (name, pos) = self.ident("a size name after `let`")?;
            self.expect(Tok::Eq, "`=`")?;
            let v = self.iexpr()?;
            if *self.peek() == Tok::Semi {
                self.bump();
            }
            sizes.push((name, v, pos));
        }
        if !self.is_kw("energy") {
            return Err(self.expected(if sizes.is_empty() { "`energy` or `let`" } else { "`energy`" }));
        }
        self.bump();
        self.expect(Tok::LParen, "`(`")?;
        let (name, pos) = self.ident("the name of the input vector")?;
        self.expect(Tok::LBrack, "`[` and the input dimension")?;
        let dim = self.iexpr()?;
        self.expect(Tok::RBrack, "`]`")?;
        let input = Decl { name, dims: vec![dim], lower: false, pos };
        let mut params = Vec::new();
        if *self.peek() == Tok::Semi {
            self.bump();
            loop {
                params.push(self.decl()?);
                if *self.peek() == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
            self.expect(Tok::RParen, "`,` or `)`")?;
        } else {
            self.expect(Tok::RParen, "`;` or `)`")?;
        }
        self.expect(Tok::Eq, "`=`")?;
        let body = self.expr()?;
        if *self.peek() == Tok::Semi {
            self.bump();
        }
        if *self.peek() != Tok::Eof {
            return Err(self.expected("an operator or the end of the formula"));
        }
        Ok(File { sizes, input, params, body })
    }

    fn decl(&mut self) -> R<Decl> {
        let (name, pos) = self.ident("a parameter name")?;
        let mut dims = Vec::new();
        let mut lower = false;
        if *self.peek() == Tok::LBrack {
            self.bump();
            dims = self.index_list()?;
            if self.is_kw("lower") {
                self.bump();
                lower = true;
            }
        }
        Ok(Decl { name, dims, lower, pos })
    }

    /// A left-associative chain `operand (op operand)*`, the operators
    /// given as (token, symbol) pairs; `bin` makes the node of one operator.
    fn chain<E>(
        &mut self,
        ops: &[(Tok, char)],
        operand: fn(&mut Self) -> R<E>,
        bin: fn(char, Box<E>, Box<E>, Pos) -> E,
    ) -> R<E> {
        let mut t = operand(self)?;
        while let Some(&(_, op)) = ops.iter().find(|(k, _)| k == self.peek()) {
            let pos = self.bump().1;
            let r = operand(self)?;
            t = bin(op, Box::new(t), Box::new(r), pos);
        }
        Ok(t)
    }

    fn expr(&mut self) -> R<Expr> {
        self.nested(|p| p.chain(&ADDITIVE, Self::term, Expr::Bin))
    }

    fn term(&mut self) -> R<Expr> {
        self.chain(&[(Tok::Star, '*'), (Tok::Slash, '/')], Self::unary, Expr::Bin)
    }

    fn unary(&mut self) -> R<Expr> {
        self.enter()?;
        let r = match self.peek() {
            Tok::Minus => {
                let pos = self.bump().1;
                Expr::Neg(Box::new(self.unary()?), pos)
            }
            Tok::Plus => {
                self.bump();
                self.unary()?
            }
            _ => {
                let base = self.primary()?;
                if *self.peek() == Tok::Caret {
                    let pos = self.bump().1;
                    let e = self.unary()?;
                    Expr::Pow(Box::new(base), Box::new(e), pos)
                } else {
                    base
                }
            }
        };
        self.leave();
        Ok(r)
    }

    fn primary(&mut self) -> R<Expr> {
        match self.peek().clone() {
            Tok::Num { value, .. } => Ok(Expr::Num(value, self.bump().1)),
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                let pos = self.bump().1;
                match self.peek() {
                    Tok::LParen => self.call(name, pos),
                    Tok::LBrack => {
                        self.bump();
                        let idx = self.index_list()?;
                        Ok(Expr::Index(name, idx, pos))
                    }
                    _ => Ok(Expr::Name(name, pos)),
                }
            }
            _ => Err(self.expected("an expression")),
        }
    }

    /// `i, j, …]` after the `[`.
    fn index_list(&mut self) -> R<Vec<IExpr>> {
        let mut idx = Vec::new();
        loop {
            idx.push(self.iexpr()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrack => {
                    self.bump();
                    return Ok(idx);
                }
                _ => return Err(self.expected("`,` or `]`")),
            }
        }
    }

    /// Whether the call arguments ahead read `NAME , … .. …` (an indexed reduction).
    fn indexed_form(&self) -> bool {
        if !matches!(self.peek(), Tok::Ident(_)) || *self.peek_at(1) != Tok::Comma {
            return false;
        }
        let mut depth = 0i64;
        let mut k = self.at + 2;
        while k < self.toks.len() {
            match self.toks[k].0 {
                Tok::LParen | Tok::LBrack => depth += 1,
                Tok::RParen | Tok::RBrack => {
                    depth -= 1;
                    if depth < 0 {
                        return false;
                    }
                }
                Tok::Comma if depth == 0 => return false,
                Tok::DotDot if depth == 0 => return true,
                Tok::Eof => return false,
                _ => {}
            }
            k += 1;
        }
        false
    }

    fn call(&mut self, name: String, pos: Pos) -> R<Expr> {
        self.enter()?;
        self.bump(); // (
        let r = if name == "sum" || name == "logsumexp" {
            let lse = name == "logsumexp";
            if self.indexed_form() {
                let (var, var_pos) = self.ident("an index name")?;
                self.expect(Tok::Comma, "`,`")?;
                let lo = self.iexpr()?;
                self.expect(Tok::DotDot, "`..`")?;
                let hi = self.iexpr()?;
                self.expect(Tok::Comma, "`,` and the term")?;
                let body = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Expr::Reduce { lse, var, var_pos, lo, hi, body: Box::new(body), pos }
            } else {
                let mut args = vec![self.expr()?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    args.push(self.expr()?);
                }
                self.expect(Tok::RParen, "`,` or `)`")?;
                Expr::List { lse, args, pos }
            }
        } else if let Some(f) = Fn1::from_name(&name) {
            let a = self.expr()?;
            self.expect(Tok::RParen, "`)`")?;
            Expr::Call(f, Box::new(a), pos)
        } else {
            return Err(SymError::Semantic {
                line: pos.line,
                col: pos.col,
                message: format!(
                    "unknown function `{name}` (known: sum, logsumexp, {})",
                    Fn1::ALL[1..].iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
                ),
            });
        };
        self.leave();
        Ok(r)
    }

    fn iexpr(&mut self) -> R<IExpr> {
        self.nested(|p| p.chain(&ADDITIVE, Self::iterm, IExpr::Bin))
    }

    fn iterm(&mut self) -> R<IExpr> {
        self.chain(&[(Tok::Star, '*')], Self::ifactor, IExpr::Bin)
    }

    fn ifactor(&mut self) -> R<IExpr> {
        self.enter()?;
        let r = match self.peek().clone() {
            Tok::Num { int: Some(i), .. } => IExpr::Int(i, self.bump().1),
            Tok::Ident(s) => IExpr::Name(s, self.bump().1),
            Tok::LParen => {
                self.bump();
                let e = self.iexpr()?;
                self.expect(Tok::RParen, "`)`")?;
                e
            }
            Tok::Minus => {
                let pos = self.bump().1;
                IExpr::Neg(Box::new(self.ifactor()?), pos)
            }
            _ => return Err(self.expected("an integer, a size or an index name")),
        };
        self.leave();
        Ok(r)
    }
}
