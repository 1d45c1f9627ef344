//! How each `ebm-core` family maps onto the fused kernels: its [`Spec`] and
//! the small `meta` buffer of runtime sizes.

use crate::error::{KernelError, Result};
use crate::spec::*;
use ebm_core::gaussian::Gaussian;
use ebm_core::ica::Ica;
use ebm_core::mixture::GaussianMixture;
use ebm_core::mlp::Mlp;
use ebm_core::prelude::*;
use ebm_core::rbm::GaussBernoulliRbm;
use ebm_core::{EbmError, Energy};

/// Largest per-thread state, in f32 values, the kernels accept (it lives in
/// private memory; far beyond this, shader compilers refuse or spill badly).
pub const MAX_THREAD_FLOATS: usize = 16 * 1024;

/// A CPU model (`Model<f32>`) that the fused kernels can evaluate.
pub trait GpuFamily: Model<f32> + Clone {
    /// The kernel specialisation (with `shared = false`; the caller decides
    /// shared staging from the device's limits) and the `meta` words.
    fn spec(&self) -> Result<(Spec, Vec<u32>)>;

    /// The error the CPU twin returns for a second-order `objective` (the
    /// Hessian diagonal, the score-matching gradient, the Hessian quadratic
    /// form and their fused forms), if any (ReLU MLPs), so the GPU path
    /// fails the same way.
    fn smooth_error(&self, objective: &'static str) -> Option<EbmError> {
        let _ = objective;
        None
    }

    /// [`GpuFamily::smooth_error`] of the Hessian diagonal.
    fn hess_error(&self) -> Option<EbmError> {
        self.smooth_error("hess_diag")
    }

    /// The MLP itself, for the tiled MLP kernels ([`crate::mlp2`]); `None`
    /// for the other families.
    fn as_mlp(&self) -> Option<&Mlp<f32>> {
        None
    }
}

fn check_thread_floats(name: &str, n: usize) -> Result<()> {
    if n > MAX_THREAD_FLOATS {
        return Err(KernelError::Unsupported(format!(
            "{name}: {n} f32 values of per-thread state, more than the {MAX_THREAD_FLOATS} the \
             one-thread-per-sample kernels hold"
        )));
    }
    Ok(())
}

impl GpuFamily for Mlp<f32> {
    fn as_mlp(&self) -> Option<&Mlp<f32>> {
        Some(self)
    }

    fn spec(&self) -> Result<(Spec, Vec<u32>)> {
        let dims = self.dims();
        let d = dims[0];
        let hidden = self.hidden();
        let wmax = dims[..dims.len() - 1].iter().copied().max().unwrap_or(1);
        let wsum: usize = hidden.iter().sum();
        check_thread_floats("mlp", 2 * wsum + 2 * wmax + 5 * d)?;
        let meta = dims
            .iter()
            .map(|&v| u32::try_from(v).map_err(|_| KernelError::Unsupported(format!("mlp width {v}"))))
            .collect::<Result<Vec<u32>>>()?;
        Ok((
            Spec {
                family: Family::Mlp,
                d,
                a: self.depth(),
                wmax,
                wsum,
                variant: Variant::Act(self.activation()),
                n_params: self.num_params(),
                shared: false,
            },
            meta,
        ))
    }

    fn smooth_error(&self, objective: &'static str) -> Option<EbmError> {
        let act = self.activation();
        (!act.is_smooth()).then(|| EbmError::Activation { activation: act.name(), objective })
    }
}

/// The [`GpuFamily`] impl of a family whose spec is its dimension, one size
/// `a`, a variant and no `meta` words, with `floats`·d values of thread state.
macro_rules! simple_family {
    ($($ty:ty => $name:literal, $floats:literal, $family:ident, $a:expr, $variant:expr;)*) => {$(
        impl GpuFamily for $ty {
            fn spec(&self) -> Result<(Spec, Vec<u32>)> {
                let d = self.dim();
                check_thread_floats($name, $floats * d)?;
                let a: fn(&Self) -> usize = $a;
                let variant: fn(&Self) -> Variant = $variant;
                let spec = Spec {
                    family: Family::$family,
                    d,
                    a: a(self),
                    wmax: 0,
                    wsum: 0,
                    variant: variant(self),
                    n_params: self.num_params(),
                    shared: false,
                };
                Ok((spec, vec![]))
            }
        }
    )*};
}

simple_family! {
    Gaussian<f32> => "gaussian", 6, Gaussian, |_| 0, |_| Variant::None;
    Ica<f32> => "ica", 6, Ica, |m| m.num_experts(), |m| Variant::Source(m.source());
    GaussianMixture<f32> => "gaussian mixture", 8, Mixture, |m| m.num_components(), |m| Variant::Cov(m.covariance());
    GaussBernoulliRbm<f32> => "rbm", 7, Rbm, |m| m.num_hidden(), |_| Variant::None;
}
