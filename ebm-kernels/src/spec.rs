//! The compile-time description of a model that specialises the fused
//! kernels: one kernel is compiled per (family, variant, shape, flags).

use ebm_core::{Activation, Covariance, Source};

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

/// The family's own choice of function, a compile-time value of [`Spec`]
/// beside [`Family`]: each `#[cube]` function matches on the typed value
/// when the kernel is expanded (the `ebm_core` enums themselves).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Variant {
    /// No choice (Gaussian, RBM).
    None,
    /// MLP: the activation σ ([`crate::act`]).
    Act(Activation),
    /// ICA: the source ĝ ([`crate::ica`]).
    Source(Source),
    /// Gaussian mixture: full or diagonal precisions ([`crate::mixture`]).
    Cov(Covariance),
}

impl Variant {
    /// The MLP activation.
    ///
    /// # Panics
    /// If this is not [`Variant::Act`] (an internal invariant: only the MLP
    /// kernels ask, and an MLP [`Spec`] carries its activation).
    pub fn act(self) -> Activation {
        match self {
            Variant::Act(a) => a,
            v => panic!("kernel spec: {v:?} is not an MLP activation"),
        }
    }

    /// The ICA source.
    ///
    /// # Panics
    /// If this is not [`Variant::Source`] (an internal invariant, as for
    /// [`Variant::act`]).
    pub fn source(self) -> Source {
        match self {
            Variant::Source(s) => s,
            v => panic!("kernel spec: {v:?} is not an ICA source"),
        }
    }

    /// The mixture's covariance structure.
    ///
    /// # Panics
    /// If this is not [`Variant::Cov`] (an internal invariant, as for
    /// [`Variant::act`]).
    pub fn covariance(self) -> Covariance {
        match self {
            Variant::Cov(c) => c,
            v => panic!("kernel spec: {v:?} is not a mixture covariance"),
        }
    }
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
    /// The family's activation, source or covariance.
    pub variant: Variant,
    /// Length of θ.
    pub n_params: usize,
    /// Whether θ is staged in workgroup shared memory (when it fits).
    pub shared: bool,
}
