//! Typed errors for everything a user of the kernels can cause: no adapter,
//! a bad adapter selector, a model the kernels cannot hold, an operation
//! refused by the fallback policy, bad shapes.

use crate::fallback::NotOnDevice;
use ebm_core::EbmError;
use thiserror::Error;

/// The install hint printed whenever no adapter is found.
pub const INSTALL_HINT: &str = "on a machine without a GPU, install a Vulkan driver that runs \
     on the CPU (lavapipe): `apt-get install mesa-vulkan-drivers`";

/// What can go wrong on the GPU side of ebm.
#[derive(Debug, Error)]
pub enum KernelError {
    /// wgpu found no adapter at all, or none matching the selector.
    #[error(
        "no wgpu adapter {wanted}; adapters seen: [{}]; {hint}",
        seen.join(", "),
        hint = INSTALL_HINT
    )]
    NoAdapter {
        /// What was asked for (`"at all"`, `"matching EBM_ADAPTER=..."`).
        wanted: String,
        /// The names of the adapters that do exist (possibly none).
        seen: Vec<String>,
    },
    /// The `EBM_ADAPTER` value or selector string could not be understood.
    #[error("invalid adapter selector {0:?}: expected `default`, `cpu`, `discrete`, `integrated`, `virtual`, `other`, `#<index>` or a substring of an adapter name")]
    BadSelector(String),
    /// The adapter exists but wgpu or CubeCL refused to bring it up.
    #[error("could not initialise adapter {adapter:?}: {message}")]
    DeviceInit {
        /// The adapter's name.
        adapter: String,
        /// The message from wgpu / CubeCL.
        message: String,
    },
    /// A launch or a read-back failed on the device.
    #[error("GPU execution failed on {adapter:?}: {message}")]
    Execution {
        /// The adapter's name.
        adapter: String,
        /// The message from the runtime.
        message: String,
    },
    /// The model is too large for the kernel's per-thread state or the
    /// device's limits (message says which limit).
    #[error("model does not fit the kernel: {0}")]
    Unsupported(String),
    /// An operation that the kernels cannot run for this model on this
    /// adapter, refused under the default [`crate::Fallback::Refuse`]: says
    /// which operation, why, and what to change ([`crate::fallback`]).
    #[error("{0}")]
    NotOnDevice(NotOnDevice),
    /// An error of the model or of the inputs (shapes, NaN, configuration).
    #[error(transparent)]
    Model(#[from] EbmError),
}

impl From<KernelError> for EbmError {
    /// The `Energy` traits return [`EbmError`]: model errors pass through,
    /// GPU errors become [`EbmError::Backend`] whose `source()` is the
    /// [`KernelError`] itself.
    fn from(e: KernelError) -> Self {
        match e {
            KernelError::Model(m) => m,
            other => EbmError::Backend(ebm_core::BackendError::new("GPU", other)),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, KernelError>;
