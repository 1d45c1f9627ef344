//! In-kernel Gaussian, ICA, Gaussian-mixture and Gaussian–Bernoulli RBM
//! energies, one thread per sample, the twins of `ebm_core::gaussian`,
//! `ebm_core::ica`, `ebm_core::mixture` and `ebm_core::rbm` (same θ layouts).
//!
//! **Gaussian** E = ½‖u‖², u = Lᵀ(x − μ); ∇ₓE = L u; ∂²E/∂xᵢ² = Σ_{j≤i} Lᵢⱼ².
//! θ = [μ (d), L lower triangle row by row, Lᵢⱼ at d + i(i+1)/2 + j].
//!
//! **ICA** E = Σₖ g(sₖ), s = Wx; ∇ₓE = Wᵀg′(s); ∂²E/∂xᵢ² = Σₖ g″(sₖ)Wₖᵢ²;
//! g = log cosh (`Source::LogCosh`), 2 log cosh(s/2) (`Logistic`),
//! αₖ log(1 + ½s²) (`StudentT`).
//! θ = [W (K×d), α (K, Student-t only)].
//!
//! **Mixture** E = −log Σₖ exp(−eₖ),
//! eₖ = lse(a) − aₖ + (d/2) log 2π − Σᵢ log|Lₖ,ᵢᵢ| + ½‖Lₖᵀ(x − μₖ)‖²;
//! with gₖ = Pₖ(x − μₖ) and responsibilities γₖ = e^{E − eₖ}:
//! ∇ₓE = ḡ = Σₖ γₖ gₖ, ∂²E/∂xᵢ² = Σₖ γₖ(Pₖ,ᵢᵢ − gₖᵢ²) + ḡᵢ². The sums over k
//! run as one streaming log-sum-exp (rescaled when a smaller eₖ appears),
//! so per-thread state is O(d). θ = [a (K), μ (K×d), per component the
//! packed Lₖ (`Covariance::Full`) or log lₖ with Lₖ = diag(e^{log lₖ})
//! (`Covariance::Diagonal`)].
//!
//! **RBM** F = Σᵢ ρᵢ(xᵢ − bᵢ)²/2 − Σⱼ softplus(aⱼ), ρ = e^{−2 log σ},
//! aⱼ = cⱼ + Σᵢ Wⱼᵢρᵢxᵢ; with hⱼ = sigmoid(aⱼ), hⱼ′ = hⱼ(1 − hⱼ), m = Wᵀh:
//! ∇ₓF = ρ∘(x − b − m), ∂²F/∂xᵢ² = ρᵢ − ρᵢ² Σⱼ hⱼ′Wⱼᵢ².
//! θ = [b (d), c (H), W (H×d), log σ (d)].
//!
//! The functions live in the family modules [`crate::gaussian`], [`crate::ica`],
//! [`crate::mixture`] and [`crate::rbm`] and are re-exported here.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

pub use crate::gaussian::gaussian_eval;
pub use crate::ica::{ica_eval, ica_source, Src3};
pub use crate::mixture::mixture_eval;
pub use crate::rbm::rbm_eval;
use cubecl::prelude::*;

/// Where an energy function writes its x-derivatives, and which it
/// computes: ∇ₓE into `grad` when `want_grad`, the Hessian diagonal into
/// `hess` when `want_hess` (which implies the gradient pass). Each array
/// holds d values (an unwanted one may be a 1-value dummy).
#[derive(CubeType)]
pub struct XDerivs<'a> {
    pub grad: &'a mut Array<f32>,
    pub hess: &'a mut Array<f32>,
    #[cube(comptime)]
    pub want_grad: bool,
    #[cube(comptime)]
    pub want_hess: bool,
}
