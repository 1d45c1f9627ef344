//! ebm's typed errors as Python exceptions.
//!
//! Everything a caller can get wrong (shapes, NaN, dtypes, a bad file, an
//! unsupported configuration) is a `ValueError` whose message names the
//! argument and, for a batch, the row and column; a missing file is an
//! `OSError`.

use ebm_cli::error::{CheckpointError, DataError};
use ebm_cli::CliError;
use ebm_core::EbmError;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(
    ebm,
    TrainingDiverged,
    PyRuntimeError,
    "A training run whose loss, gradient or parameters became non-finite or exploded; \
     the last good checkpoint stays in the run directory."
);

/// An ebm-core error as a Python exception (`ValueError`, except a
/// backend's internal failure, which is a `RuntimeError`).
pub fn core(e: EbmError) -> PyErr {
    match e {
        EbmError::Backend(_) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A checkpoint error: `OSError` when the file cannot be read, otherwise
/// `ValueError` (not a safetensors file, or not an ebm model).
pub fn checkpoint(e: CheckpointError) -> PyErr {
    match e {
        CheckpointError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// An error of `ebm train` as a Python exception: `TrainingDiverged` for
/// a run that diverged, `OSError` for a file that cannot be read or
/// written, `RuntimeError` for a GPU or drawing failure, `KeyboardInterrupt`
/// for Ctrl-C, otherwise `ValueError` (a setting, the data, the model
/// string, a run directory already in use).
pub fn cli(e: CliError) -> PyErr {
    let msg = e.to_string();
    match e {
        CliError::Diverged { .. } => TrainingDiverged::new_err(msg),
        CliError::Interrupted { .. } => PyKeyboardInterrupt::new_err(msg),
        CliError::Data(DataError::Io { .. }) | CliError::Output { .. } => PyOSError::new_err(msg),
        CliError::Checkpoint(c) => checkpoint(c),
        CliError::Gpu(_) | CliError::Plot { .. } => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// A `ValueError` with this message.
pub fn value(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A GPU that cannot be opened or cannot hold the model: a `RuntimeError`
/// saying why (no adapter, an operation beyond the kernels).
pub fn gpu_error(e: ebm_cli::CliError) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}
