//! The compile-time description of a model that specialises the fused
//! kernels: one kernel is compiled per (family, shape, flags).

/// Family code: MLP.
pub const FAM_MLP: u32 = 0;
/// Family code: Gaussian.
pub const FAM_GAUSSIAN: u32 = 1;
/// Family code: ICA / product of experts.
pub const FAM_ICA: u32 = 2;
/// Family code: Gaussian mixture.
pub const FAM_MIXTURE: u32 = 3;
/// Family code: Gaussian–Bernoulli RBM.
pub const FAM_RBM: u32 = 4;

/// What the kernels are specialised on (all sizes are compile-time
/// constants of the generated shader, which sizes its per-thread arrays
/// and its shared memory from them).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Spec {
    /// One of the `FAM_*` codes.
    pub family: u32,
    /// Data dimension d.
    pub d: usize,
    /// Family size: MLP depth L, ICA/mixture components K, RBM hidden units H.
    pub a: usize,
    /// MLP: the widest of d and the hidden widths (per-thread vectors).
    pub wmax: usize,
    /// MLP: the sum of hidden widths (per-thread σ′ and c storage).
    pub wsum: usize,
    /// MLP activation code, ICA contrast code, mixture 0 = full / 1 = diagonal.
    pub variant: u32,
    /// Length of θ.
    pub n_params: usize,
    /// Whether θ is staged in workgroup shared memory (when it fits).
    pub shared: bool,
}
