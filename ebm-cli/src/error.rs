//! Typed errors of the command line: everything a user can get wrong (a bad
//! data file, a corrupted checkpoint, an unknown model string) is a
//! [`CliError`] whose message names the file and, for data, the row and
//! column.
//!
//! Exit codes ([`CliError::exit_code`]):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a runtime error: a bad file, value or model string, an output that cannot be written, a size beyond the memory, a GPU failure |
//! | 2 | a training run that diverged (non-finite, or beyond the bounds of [`crate::bounds`]); the last good checkpoint is kept |
//! | 64 | the command line does not parse (unknown flag, missing or conflicting arguments; BSD `EX_USAGE`) |
//! | 130 | interrupted by Ctrl-C (SIGINT) after writing a final checkpoint (128 + SIGINT) |

use std::path::PathBuf;
use thiserror::Error;

/// Exit code of a diverged training run.
pub const EXIT_DIVERGED: i32 = 2;
/// Exit code of any other error.
pub const EXIT_ERROR: i32 = 1;
/// Exit code of a command-line usage error (BSD `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;
/// Exit code of a run stopped by Ctrl-C (128 + SIGINT).
pub const EXIT_INTERRUPTED: i32 = 130;

/// A data file or data-set name that cannot be used.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file holds no data row.
    #[error("{}: empty file: no data row", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A CSV row with a different number of cells than the first data row.
    #[error("{}: ragged row at line {line}: {got} columns, expected {expected} (as in the first data row)", path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Cells in the first data row.
        expected: usize,
        /// Cells in this row.
        got: usize,
    },
    /// A CSV cell that is not a number.
    #[error("{}: non-numeric cell {cell:?} at line {line}, column {column}", path.display())]
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The cell's text.
        cell: String,
    },
    /// A NaN or an infinity in a CSV file.
    #[error("{}: non-finite value {value} at line {line}, column {column}", path.display())]
    NonFiniteCsv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The value.
        value: f64,
    },
    /// A NaN or an infinity in a `.npy` array.
    #[error("{}: non-finite value {value} at row {row}, column {column} (0-based, as numpy indexes)", path.display())]
    NonFiniteNpy {
        /// The file.
        path: PathBuf,
        /// 0-based row.
        row: usize,
        /// 0-based column.
        column: usize,
        /// The value.
        value: f64,
    },
    /// A malformed or unsupported `.npy` file.
    #[error("{}: not a usable .npy file: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The data's dimension differs from the model's.
    #[error("{what}: data has {got} columns but the model has dimension {expected}")]
    DimMismatch {
        /// The file or data-set name.
        what: String,
        /// The model's dimension.
        expected: usize,
        /// The data's dimension.
        got: usize,
    },
    /// A data argument that is neither a built-in data set nor a `.npy` /
    /// `.csv` file.
    #[error("unknown data set `{name}`: expected a file ending in .npy or .csv, or one of {known}")]
    Unknown {
        /// What was given.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// A data set option out of range (for example zero samples).
    #[error("invalid data option: {0}")]
    Option(String),
}

/// A checkpoint that cannot be read or written.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a valid safetensors file (truncated, bad header, bad offsets).
    #[error("{}: not a valid safetensors file: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The file is valid safetensors but not a model ebm can read.
    #[error("{}: {reason}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is missing or inconsistent.
        reason: String,
    },
}

/// Any error of the `ebm` command line.
#[derive(Debug, Error)]
pub enum CliError {
    /// A data problem.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint problem.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A model error of ebm-core (shapes, NaN input, invalid configuration).
    /// A device failure ([`ebm_core::EbmError::Backend`]) becomes
    /// [`CliError::Gpu`] instead.
    #[error("model: {0}")]
    Model(ebm_core::EbmError),
    /// An estimator, sampler or metric error.
    #[error("{0}")]
    Estimator(ebm_estimators::EstError),
    /// Training diverged; the last good checkpoint is kept.
    #[error("training diverged at step {step}: {cause}.\nThe last good checkpoint (step {checkpoint_step}) is intact in {}.\nTry a smaller --lr, gradient clipping (clip_grad_norm in the config) or another estimator.", out.display())]
    Diverged {
        /// The step at which a non-finite value appeared.
        step: usize,
        /// What was non-finite.
        cause: String,
        /// The step of the checkpoint left on disk.
        checkpoint_step: usize,
        /// The output directory.
        out: PathBuf,
    },
    /// `--resume` without a usable training state file (missing, corrupted,
    /// of another estimator or optimizer, or of another step than the
    /// checkpoint), so the run cannot continue bit for bit.
    #[error("{}: cannot resume exactly: {reason}.\nPass --inexact-resume to continue anyway with fresh optimizer and estimator state (a statistically equivalent, not bit-for-bit, continuation).", path.display())]
    ResumeState {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A symbolic formula that does not parse or build.
    #[error("formula {}: {message}", path.display())]
    Formula {
        /// The formula file.
        path: PathBuf,
        /// The parser's message (line, column, expected).
        message: String,
    },
    /// A bad model string, estimator name, option value or configuration.
    #[error("{0}")]
    Usage(String),
    /// `--distributed` in an `ebm` built without MPI.
    #[error("--distributed needs an ebm built with MPI: rebuild with `cargo install --path ebm-cli --features mpi` (Open MPI: apt-get install libopenmpi-dev openmpi-bin libclang-dev) and start it with `mpirun -np N ebm train … --distributed`")]
    NoMpi,
    /// MPI could not be started, or a collective operation failed.
    #[error("distributed: {0}")]
    Distributed(String),
    /// A configuration file that does not parse.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// No GPU adapter, or a device failure (at start-up or during a run).
    #[error("gpu: {0}")]
    Gpu(String),
    /// An output file that cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `ebm train --out` names a directory that holds a run, without
    /// `--force` or `--resume`; or `ebm eval --out` names one.
    #[error("{} already holds a training run ({files}); {remedy}", out.display())]
    RunExists {
        /// The directory.
        out: PathBuf,
        /// The run files found there.
        files: String,
        /// What to do instead.
        remedy: &'static str,
    },
    /// A size that needs more memory than there is.
    #[error("{what} needs about {needed} of memory ({how}), more than the {available} available")]
    TooLarge {
        /// The request (`--n-data 1000000000000`).
        what: String,
        /// The estimated need.
        needed: String,
        /// How the need was estimated.
        how: String,
        /// The memory available.
        available: String,
    },
    /// Ctrl-C: training stopped after writing a checkpoint.
    #[error("interrupted: checkpoint of step {step} written to {}; continue with `ebm train --resume {}`", out.display(), out.display())]
    Interrupted {
        /// Updates done and saved.
        step: usize,
        /// The output directory.
        out: PathBuf,
    },
    /// A plot that could not be drawn.
    #[error("{}: cannot draw: {message}", path.display())]
    Plot {
        /// The file.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },
}

impl From<ebm_core::EbmError> for CliError {
    /// A device failure is [`CliError::Gpu`] with the backend's own message
    /// (the kernel error, as when opening the device); any other model error
    /// is [`CliError::Model`].
    fn from(e: ebm_core::EbmError) -> Self {
        match e {
            ebm_core::EbmError::Backend(b) => CliError::Gpu(b.inner().to_string()),
            other => CliError::Model(other),
        }
    }
}

impl From<ebm_estimators::EstError> for CliError {
    fn from(e: ebm_estimators::EstError) -> Self {
        match e {
            ebm_estimators::EstError::Model(m) => CliError::from(m),
            other => CliError::Estimator(other),
        }
    }
}

impl CliError {
    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Diverged { .. } => EXIT_DIVERGED,
            CliError::Interrupted { .. } => EXIT_INTERRUPTED,
            _ => EXIT_ERROR,
        }
    }
}

/// Result alias of the command line.
pub type Result<T> = std::result::Result<T, CliError>;

/// Shorthand for a [`CliError::Usage`].
pub fn usage<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError::Usage(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device failure during a run reads like one at start-up ("gpu: " and
    /// the kernel error), not like a model error.
    #[test]
    fn backend_errors_are_gpu_errors() {
        let kernel = ebm_kernels::KernelError::Execution { adapter: "lavapipe".into(), message: "lost".into() };
        let want = format!("gpu: {kernel}");
        let e = ebm_core::EbmError::from(kernel);
        assert!(matches!(e, ebm_core::EbmError::Backend(_)), "{e:?}");
        let cli = CliError::from(ebm_estimators::EstError::Model(e));
        assert!(matches!(cli, CliError::Gpu(_)), "{cli:?}");
        assert_eq!(cli.to_string(), want);
        let other = CliError::from(ebm_core::EbmError::InvalidConfig("bad".into()));
        assert_eq!(other.to_string(), "model: invalid model configuration: bad");
    }
}
