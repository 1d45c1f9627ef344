//! The compile-time description of a model that specialises the fused
//! kernels: one kernel is compiled per (family, shape, flags).

/// The model family a kernel is specialised on: a compile-time value of
/// [`Spec`], so each `#[cube]` function picks its family's code when the
/// kernel is expanded (no family test runs on the device).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Family {
    /// MLP energy (`ebm_core::mlp`).
    Mlp,
    /// Gaussian (`ebm_core::gaussian`).
    Gaussian,
    /// ICA / product of experts (`ebm_core::ica`).
    Ica,
    /// Gaussian mixture (`ebm_core::mixture`).
    Mixture,
    /// Gaussian–Bernoulli RBM (`ebm_core::rbm`).
    Rbm,
}

/// What the kernels are specialised on (all sizes are compile-time
/// constants of the generated shader, which sizes its per-thread arrays
/// and its shared memory from them).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Spec {
    /// The model family.
    pub family: Family,
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
