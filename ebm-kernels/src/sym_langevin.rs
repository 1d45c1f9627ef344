//! Langevin chains of a symbolic model on the device: K ULA or MALA steps
//! in one launch, one thread per chain, the model's `[E, score]` program
//! ([`crate::sym`]) unrolled inside the step loop and the noise drawn
//! in-kernel from Philox exactly as [`crate::fused`]'s `ula_kernel` and
//! `mala_kernel` (and so as `ebm_core::langevin`): stream first_step + k,
//! index b·d + i for the normals, stream (first_step + k) | 2⁶³, index b
//! for MALA's accept uniform, b the global chain
//! ([`crate::fused::RngArgs::chain`] plus the row).
//!
//! Loop iterations per step (for [`crate::plan`]'s budget): the noise and
//! the update, 2d for ULA, 4d for MALA (the program itself has no loop);
//! the caller splits the steps into launches that fit.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::fused::{
    accept_uniform, mala_accept, mala_log_alpha, mala_propose, step_normals, store_row, ula_update, RngArgs,
};
use crate::sym::{run_program, SymSpec};
use cubecl::prelude::*;

/// `steps` ULA steps x ← x + (ε²/2)·score(x) + εz on every chain of `x`
/// (B×d, in place); `spec` is the `[E, score]` program (widths `[1, d, 0]`).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn sym_ula_kernel(
    x: &mut [f32],
    aux: &[f32],
    theta: &[f32],
    batch: u32,
    steps: u32,
    eps: f32,
    half_eps2: f32,
    rng: RngArgs,
    #[comptime] spec: SymSpec,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        let d = comptime!(spec.program.num_inputs as usize);
        let mut xs = Array::<f32>::new(d);
        let mut sc = Array::<f32>::new(d);
        let mut z = Array::<f32>::new(d);
        let mut e1 = Array::<f32>::new(1usize);
        let mut h1 = Array::<f32>::new(1usize);
        for i in 0..d {
            xs[i] = x[b * d + i];
        }
        for k in 0..steps {
            run_program(
                xs.as_slice(),
                aux,
                theta,
                e1.as_mut_slice(),
                sc.as_mut_slice(),
                h1.as_mut_slice(),
                0usize,
                comptime!(spec.clone()),
            );
            step_normals(&mut z, b, k, &rng, d);
            ula_update(&mut xs, &sc, &z, half_eps2, eps, d, false);
        }
        store_row(&xs, b, x, d);
    }
}

/// `steps` MALA steps on every chain of `x` (in place); `accepts[b]` is
/// incremented per accepted move. `spec` as for [`sym_ula_kernel()`].
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn sym_mala_kernel(
    x: &mut [f32],
    accepts: &mut [u32],
    aux: &[f32],
    theta: &[f32],
    batch: u32,
    steps: u32,
    eps: f32,
    half_eps2: f32,
    inv_2eps2: f32,
    rng: RngArgs,
    #[comptime] spec: SymSpec,
) {
    let b = ABSOLUTE_POS;
    if b < batch as usize {
        let d = comptime!(spec.program.num_inputs as usize);
        let mut xs = Array::<f32>::new(d);
        let mut sc = Array::<f32>::new(d);
        let mut xp = Array::<f32>::new(d);
        let mut scp = Array::<f32>::new(d);
        let mut e1 = Array::<f32>::new(1usize);
        let mut h1 = Array::<f32>::new(1usize);
        for i in 0..d {
            xs[i] = x[b * d + i];
        }
        run_program(
            xs.as_slice(),
            aux,
            theta,
            e1.as_mut_slice(),
            sc.as_mut_slice(),
            h1.as_mut_slice(),
            0usize,
            comptime!(spec.clone()),
        );
        let mut e = e1[0];
        let mut acc = accepts[b];
        for k in 0..steps {
            step_normals(&mut xp, b, k, &rng, d);
            mala_propose(&xs, &sc, &mut xp, half_eps2, eps, d, false);
            run_program(
                xp.as_slice(),
                aux,
                theta,
                e1.as_mut_slice(),
                scp.as_mut_slice(),
                h1.as_mut_slice(),
                0usize,
                comptime!(spec.clone()),
            );
            let ep = e1[0];
            let log_alpha = mala_log_alpha(&xs, &sc, &xp, &scp, e, ep, half_eps2, inv_2eps2, d, false);
            if f32::ln(accept_uniform(b, k, &rng)) < log_alpha {
                acc += 1u32;
                e = ep;
                mala_accept(&mut xs, &mut sc, &xp, &scp, d);
            }
        }
        accepts[b] = acc;
        store_row(&xs, b, x, d);
    }
}
