//! Langevin chains of a symbolic model on the device: K ULA or MALA steps
//! in one launch of [`crate::fused::langevin_kernel()`] compiled for
//! [`crate::fused::ChainModel::Sym`], one thread per chain, the model's
//! `[E, score]` program ([`crate::sym`]) unrolled inside the step loop by
//! [`energy_score()`] and the noise drawn in-kernel from Philox as for the
//! families (and so as `ebm_core::langevin`): stream first_step + k, index
//! b·d + i for the normals, stream (first_step + k) | 2⁶³, index b for
//! MALA's accept uniform, b the global chain
//! ([`crate::fused::RngArgs::chain`] plus the row).
//!
//! Loop iterations per step (for [`crate::plan`]'s budget): the noise and
//! the update, 2d for ULA, 4d for MALA (the program itself has no loop);
//! the caller splits the steps into launches that fit.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::sym::{run_program, SymSpec};
use cubecl::prelude::*;

/// E at `xs` and the score into `sc`: the `[E, score]` program `spec`.
#[cube]
pub fn energy_score(
    xs: &Array<f32>,
    aux: &[f32],
    theta: &[f32],
    sc: &mut Array<f32>,
    #[comptime] spec: SymSpec,
) -> f32 {
    let mut e1 = Array::<f32>::new(1usize);
    let mut h1 = Array::<f32>::new(1usize);
    run_program(xs.as_slice(), aux, theta, e1.as_mut_slice(), sc.as_mut_slice(), h1.as_mut_slice(), 0usize, spec);
    e1[0]
}
