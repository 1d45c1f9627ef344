//! Typed errors for everything a user of ebm-core can get wrong.
//!
//! Every message names the offending value, so that a failing training run
//! points at the bad input instead of at a panic deep inside a kernel.

use thiserror::Error;

/// What a user of ebm can get wrong.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EbmError {
    /// A buffer's length does not match the model or the batch.
    #[error("dimension mismatch for `{what}`: expected {expected}, got {got}")]
    DimMismatch {
        /// Which argument was wrong (for example `x`, `score`, `v`).
        what: &'static str,
        /// The length the model needs.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// A batch buffer is not a whole number of rows of `dim` values.
    #[error("`{what}` has {len} values, which is not a multiple of the dimension {dim}")]
    RaggedBatch {
        /// Which argument was wrong.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The model's dimension d.
        dim: usize,
    },
    /// The flat parameter buffer has the wrong length for the model's layout.
    #[error("wrong parameter length for {model}: expected {expected}, got {got}")]
    ParamLen {
        /// The model family.
        model: &'static str,
        /// The length of the documented layout.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// A batch with no sample.
    #[error("empty batch: `{what}` has no sample")]
    EmptyBatch {
        /// Which argument was empty.
        what: &'static str,
    },
    /// A NaN or an infinity in an input.
    #[error("non-finite value {value} in `{what}` at sample {row}, coordinate {col}")]
    NonFinite {
        /// Which argument held it.
        what: &'static str,
        /// The sample (row) index.
        row: usize,
        /// The coordinate (column) index.
        col: usize,
        /// The value itself (NaN or ±inf), as f64.
        value: f64,
    },
    /// An activation without the derivatives an objective needs (ReLU has no
    /// useful second derivative, so exact score matching cannot use it).
    #[error("activation {activation} cannot be used for {objective}: it needs a smooth activation (softplus, tanh, silu, gelu-tanh)")]
    Activation {
        /// The activation's name.
        activation: &'static str,
        /// What needed the derivative (for example `hess_diag`).
        objective: &'static str,
    },
    /// A method the model does not implement. Every built-in family
    /// implements every [`crate::Energy`] method exactly; user-defined
    /// energies and backends that do not override an optional method (such
    /// as [`crate::Energy::v_hess_v`]) return this.
    #[error("{model} does not implement `{method}`")]
    Unsupported {
        /// The model's name ([`crate::Energy::name`]).
        model: &'static str,
        /// The method that was called.
        method: &'static str,
    },
    /// A model configuration that cannot describe an energy (zero width,
    /// zero components, a non-positive scale...).
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
}

/// Result alias used throughout ebm-core.
pub type Result<T> = std::result::Result<T, EbmError>;
