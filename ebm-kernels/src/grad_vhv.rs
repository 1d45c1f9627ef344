//! Σᵦ wᵦ ∇θ(vᵦᵀ∇ₓ²E(xᵦ)vᵦ) on the device (the Hessian term of sliced score
//! matching), in the two-kernel shape of [`crate::grad`]:
//! [`crate::param_rows::param_rows_kernel()`] with `RowTarget::VHessV` writes one
//! weighted per-sample gradient row per thread ([`vhv_row()`]) and `crate::grad::reduce_rows_kernel` sums the rows.
//!
//! Per family, with q = vᵀ∇ₓ²E v (v held fixed; notation of
//! [`crate::vhv_families`]):
//!
//! - **MLP**: the twin of `ebm_core::mlp`'s `grad_v_hess_v`; its reverse
//!   sweeps are those of the score-matching row of [`crate::grad_sm`] for
//!   one Jacobian column, with the column J v instead of J eᵢ and the
//!   weight −wᵦ (𝒥's Hessian part is −Σᵢ eᵢᵀ∇ₓ²E eᵢ), so
//!   [`crate::grad_sm::mlp_sm()`] runs with its direction switch on;
//! - **Gaussian** (q = ‖Lᵀv‖², a = Lᵀv): ∂q/∂Lᵢⱼ = 2vᵢaⱼ, ∂q/∂μ = 0;
//! - **ICA** (q = Σₖαₖĝ″(sₖ)tₖ², t = Wv): ∂q/∂Wₖⱼ = αₖ(ĝ‴tₖ²xⱼ + 2ĝ″tₖvⱼ),
//!   ∂q/∂αₖ = ĝ″tₖ² (Student-t);
//! - **RBM** (ṽ = ρ∘v, x̃ = ρ∘x, t = Wṽ, Cⱼ = h″ⱼtⱼ², Dⱼ = h′ⱼtⱼ):
//!   ∂q/∂b = 0, ∂q/∂cⱼ = −Cⱼ, ∂q/∂Wⱼᵢ = −Cⱼx̃ᵢ − 2Dⱼṽᵢ,
//!   ∂q/∂log σᵢ = −2ρᵢvᵢ² + 2x̃ᵢ(WᵀC)ᵢ + 4ṽᵢ(WᵀD)ᵢ;
//! - **mixture**: [`crate::grad_mixture::mixture_row()`] with its `vhv`
//!   switch (module docs there).
//!
//! Loop iterations per sample: [`vhv_row_cost`]; a sample beyond a
//! software adapter's loop budget is refused (`GpuEnergy`'s placement).
//!
//! The non-MLP rows live in the family modules [`crate::gaussian`],
//! [`crate::ica`], [`crate::rbm`] ([`crate::grad_mixture`] for the mixture);
//! [`vhv_row()`] dispatches to them.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::gaussian::gaussian_vhv_row;
use crate::grad_families::{family_row_cost, family_row_floats};
use crate::grad_mixture::mixture_row;
use crate::grad_sm::{mlp_sm, sm_loop_cost, SmRange};
use crate::grad_vdx::sweep_cost;
use crate::ica::ica_vhv_row;
use crate::rbm::rbm_vhv_row;
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// The row wᵦ∇θ(vᵀ∇ₓ²E(x)v) of `spec`'s family (module docs) at
/// `out[row ..]`.
#[cube]
pub fn vhv_row<'a>(w: &[f32], meta: &[u32], io: RowIo<'a>, #[comptime] spec: Spec) {
    match spec.family {
        Family::Mlp => {
            let one_dir = SmRange { lo: 0usize, hi: 1usize, seed_g: false };
            mlp_sm(w, meta, RowIo::<'a> { x: io.x, v: io.v, out: io.out, row: io.row, wb: -io.wb }, one_dir, spec, true)
        }
        Family::Gaussian => gaussian_vhv_row(w, io.v, io.out, io.row, io.wb, spec),
        Family::Ica => ica_vhv_row(w, io, spec),
        Family::Rbm => rbm_vhv_row(w, io, spec),
        Family::Mixture => mixture_row(w, io, spec, false, true),
    }
}

/// An upper bound on the loop iterations of one invocation of
/// [`crate::param_rows::param_rows_kernel()`] with `RowTarget::VHessV` (`meta` holds the MLP widths): for the MLP one coordinate of
/// the score-matching row plus the two extra sweeps of the direction, for
/// the other families twice their score-matching row.
pub fn vhv_row_cost(spec: &Spec, meta: &[u32]) -> u64 {
    if spec.family == Family::Mlp {
        let (base, per) = sm_loop_cost(meta, spec.n_params);
        base + per + 2 * sweep_cost(meta) + 2 * spec.d as u64
    } else {
        2 * family_row_cost(spec) + 2 * spec.d as u64
    }
}

/// Per-thread state of [`vhv_row()`] in f32 values.
pub fn vhv_row_floats(spec: &Spec) -> usize {
    if spec.family == Family::Mlp {
        4 * spec.d + 9 * spec.wsum + 3 * spec.wmax
    } else {
        family_row_floats(spec) + 4 * spec.d
    }
}
