//! Errors of the symbolic engine: a malformed formula, an unknown name, an
//! index out of range, a model too large.

use crate::error::EbmError;
use thiserror::Error;

/// What can go wrong when parsing or building a symbolic energy. Positions
/// are 1-based; columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SymError {
    /// The text does not follow the grammar.
    #[error("line {line}, column {col}: expected {expected}, found {found}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        col: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found.
        found: String,
    },
    /// The text is well formed but means nothing: an unknown name, an index
    /// out of range, a non-constant exponent, a duplicate declaration.
    #[error("line {line}, column {col}: {message}")]
    Semantic {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A misuse of the builder API (an index out of range, a duplicate name).
    #[error("symbolic model: {0}")]
    Build(String),
}

impl SymError {
    /// The (line, column) of a parse or semantic error.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            SymError::Parse { line, col, .. } | SymError::Semantic { line, col, .. } => Some((*line, *col)),
            SymError::Build(_) => None,
        }
    }
}

impl From<SymError> for EbmError {
    fn from(e: SymError) -> Self {
        EbmError::InvalidConfig(e.to_string())
    }
}
