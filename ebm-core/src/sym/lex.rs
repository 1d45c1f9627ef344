//! The tokenizer of the formula syntax. Positions are 1-based (line,
//! column in characters). `#` starts a comment that runs to the end of the line.

use super::error::SymError;

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name: a letter or `_`, then letters, digits and `_`.
    Ident(String),
    /// A number literal; `int` is its value when written without `.` or
    /// exponent and it fits an i64.
    Num {
        /// The value.
        value: f64,
        /// The integer value of an integer literal.
        int: Option<i64>,
    },
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `=`
    Eq,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `^`
    Caret,
    /// `..`
    DotDot,
    /// The end of the text.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Num { value, int: Some(i) } if *value == *i as f64 => format!("number `{i}`"),
            Tok::Num { value, .. } => format!("number `{value}`"),
            Tok::Eof => "end of input".to_string(),
            t => format!("`{}`", t.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrack => "[",
            Tok::RBrack => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Eq => "=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Caret => "^",
            Tok::DotDot => "..",
            _ => "",
        }
    }
}

/// A position in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

/// Splits `src` into tokens with their positions; the last is [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<(Tok, Pos)>, SymError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
                col += 1;
            }
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let mut integral = true;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // a decimal point, unless it starts `..`
            if i < chars.len() && chars[i] == '.' && chars.get(i + 1) != Some(&'.') {
                integral = false;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    integral = false;
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value: f64 = text.parse().map_err(|_| SymError::Semantic {
                line,
                col,
                message: format!("malformed number `{text}`"),
            })?;
            if !value.is_finite() {
                return Err(SymError::Semantic { line, col, message: format!("number `{text}` is out of range") });
            }
            let int = if integral { text.parse::<i64>().ok() } else { None };
            Tok::Num { value, int }
        } else {
            i += 1;
            match c {
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBrack,
                ']' => Tok::RBrack,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                '=' => Tok::Eq,
                '+' => Tok::Plus,
                '-' => Tok::Minus,
                '*' => Tok::Star,
                '/' => Tok::Slash,
                '^' => Tok::Caret,
                '.' if chars.get(i) == Some(&'.') => {
                    i += 1;
                    Tok::DotDot
                }
                _ => {
                    return Err(SymError::Parse {
                        line,
                        col,
                        expected: "a name, a number, an operator or a bracket".to_string(),
                        found: format!("character {c:?}"),
                    })
                }
            }
        };
        col += i - start;
        out.push((tok, pos));
    }
    out.push((Tok::Eof, Pos { line, col }));
    Ok(out)
}
