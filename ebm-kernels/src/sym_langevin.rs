//! Langevin chains of a symbolic model on the device: K ULA or MALA steps
//! in one launch, one thread per chain, the model's `[E, score]` program
//! ([`crate::sym`]) unrolled inside the step loop and the noise drawn
//! in-kernel from Philox exactly as [`crate::fused`]'s `ula_kernel` and
//! `mala_kernel` (and so as `ebm_core::langevin`): stream first_step + k,
//! index b·d + i for the normals, stream (first_step + k) | 2⁶³, index b
//! for MALA's accept uniform.
//!
//! Loop iterations per step (for [`crate::plan`]'s budget): the noise and
//! the update, 2d for ULA, 4d for MALA (the program itself has no loop);
//! the caller splits the steps into launches that fit.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::fused::{fill_normals, stream_hi, stream_lo, RngArgs};
use crate::philox::uniform_at;
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
            let slo = stream_lo(rng.step_lo, k);
            let shi = stream_hi(rng.step_lo, rng.step_hi, k);
            fill_normals(&mut z, b, slo, shi, rng.seed_lo, rng.seed_hi, d);
            for i in 0..d {
                xs[i] += half_eps2 * sc[i] + eps * z[i];
            }
        }
        for i in 0..d {
            x[b * d + i] = xs[i];
        }
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
            let slo = stream_lo(rng.step_lo, k);
            let shi = stream_hi(rng.step_lo, rng.step_hi, k);
            fill_normals(&mut xp, b, slo, shi, rng.seed_lo, rng.seed_hi, d);
            for i in 0..d {
                xp[i] = xs[i] + half_eps2 * sc[i] + eps * xp[i];
            }
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
            let mut fwd = 0.0f32;
            let mut bwd = 0.0f32;
            for i in 0..d {
                let a = xp[i] - xs[i] - half_eps2 * sc[i];
                let c = xs[i] - xp[i] - half_eps2 * scp[i];
                fwd += a * a;
                bwd += c * c;
            }
            let log_alpha = e - ep + (fwd - bwd) * inv_2eps2;
            let u = uniform_at(rng.seed_lo, rng.seed_hi, slo, shi | 0x8000_0000u32, b as u32, 0u32);
            if f32::ln(u) < log_alpha {
                acc += 1u32;
                e = ep;
                for i in 0..d {
                    xs[i] = xp[i];
                    sc[i] = scp[i];
                }
            }
        }
        accepts[b] = acc;
        for i in 0..d {
            x[b * d + i] = xs[i];
        }
    }
}
