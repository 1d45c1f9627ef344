//! Typed errors for everything a user of ebm-core can get wrong.
//!
//! Every message names the offending value, so that a failing training run
//! points at the bad input instead of at a panic deep inside a kernel.

use std::fmt;
use std::sync::Arc;
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
    /// An operation a model or backend cannot perform (for example an
    /// operation a device backend has no kernel for, when the caller did not
    /// opt into running it elsewhere).
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
    /// A device backend failed (no adapter, a launch or read-back failure, a
    /// model the kernels cannot hold). Its [`std::error::Error::source`] is
    /// the backend's own error (for the GPU, `ebm_kernels::KernelError`).
    #[error(transparent)]
    Backend(BackendError),
}

/// A backend's error inside [`EbmError::Backend`]: which backend, and its
/// own error, shared so that [`EbmError`] stays cheap to clone. Two
/// `BackendError`s are equal when they share the same underlying error.
#[derive(Clone)]
pub struct BackendError {
    backend: &'static str,
    error: Arc<dyn std::error::Error + Send + Sync>,
}

impl BackendError {
    /// Wraps `error` of the backend named `backend` (`"GPU"`).
    pub fn new(backend: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { backend, error: Arc::new(error) }
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The backend's own error (downcast it to the backend's type).
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendError").field("backend", &self.backend).field("error", &self.error).finish()
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} backend: {}", self.backend, self.error)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

impl PartialEq for BackendError {
    fn eq(&self, other: &Self) -> bool {
        self.backend == other.backend && Arc::ptr_eq(&self.error, &other.error)
    }
}

/// Result alias used throughout ebm-core.
pub type Result<T> = std::result::Result<T, EbmError>;
