//! Langevin chains that never leave the device (seed eq 14): every step is
//! the tiled forward and backward passes of [`super`] on the chains, then
//! one elementwise update kernel that draws its noise in-kernel from
//! Philox ([`crate::philox`]) with the CPU reference's addressing
//! (`ebm_core::langevin`): step k draws normal(seed, stream =
//! first_step + k, index = b·d + i), MALA's accept test uniform(seed,
//! stream = (first_step + k) | 2⁶³, index = b), b the global chain
//! (`NoiseAt::first_chain` plus the row: a data-parallel share draws what
//! the whole population would). The arithmetic of the
//! updates is the reference's, in its order, so the chains equal
//! `ebm_core::langevin::{ula, mala}` on the f32 twin up to the f32
//! rounding of the score (and, for MALA, of log α near the threshold).
//!
//! - [`step_kernel()`]: x′ = x + (ε²/2)·s + ε·z — in place for ULA
//!   (x + ((ε²/2)s + εz), the reference's association), into the proposal
//!   buffer for MALA ((x + (ε²/2)s) + εz). One thread per Philox block of
//!   4 consecutive positions, no loop.
//! - [`accept_kernel()`]: MALA's Metropolis–Hastings test per chain:
//!   16 chains × 16 lanes per workgroup, the two squared norms summed
//!   over lanes by a pairwise tree, then the accepted chains copy the
//!   proposal's x, score and energy and count the acceptance.
//!
//! # Launches, bytes, FLOPs and loops
//!
//! Per step and chunk of chains (L hidden layers): ULA 2L + 1 launches
//! (L forward, L − 1 backward, the score product, the update); MALA
//! 2L + 3 (the proposal, L forward, the output dot product, L − 1
//! backward, the score product, the accept test) plus 2L + 1 once per
//! call for E and the score at the start. FLOPs and bytes per chain and
//! step: [`super::plan::Op::Ula`] and [`super::plan::Op::Mala`] (the
//! score's passes plus ≈ 40 integer operations and one Box–Muller pair
//! per 4 coordinates, and 4d (ULA) or 12d (MALA) floats of chain
//! traffic). Largest loop count per invocation: that of the score passes
//! (⌈max width/bk⌉ + 1), the accept test's 2⌈d/16⌉ + 3, the update's 0.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::layer::tree_step;
use super::passes::Keep;
use super::persist::lane_of;
use super::run::buf;
use super::Mlp2;
use crate::error::{KernelError, Result};
use crate::launch::{read_f32, read_u32, upload_f32, upload_u32};
use crate::philox::{block, normals_from_block, uniform_at};
use cubecl::prelude::*;
use cubecl::server::Handle;
use ebm_core::langevin::NoiseAt;
use ebm_core::{check_batch, check_len, EbmError};

/// Runtime arguments of [`step_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct StepArgs {
    /// First global position b₀·d of the chunk in x.
    pub lo: u32,
    /// Noise offset: position p of x draws the normal of index p + off
    /// (off = first_chain·d, `ebm_core::langevin::NoiseAt`).
    pub off: u32,
    /// Positions of the chunk (n·d).
    pub len: u32,
    /// ε²/2.
    pub h: f32,
    /// ε.
    pub eps: f32,
    /// seed mod 2³².
    pub seed_lo: u32,
    /// seed ≫ 32.
    pub seed_hi: u32,
    /// stream mod 2³².
    pub st_lo: u32,
    /// stream ≫ 32.
    pub st_hi: u32,
}

/// Thread j updates the positions of noise block ⌊(lo + off)/4⌋ + j that
/// fall in the chunk (noise position q is x's position q − off): p ↦ `x[p] + (h·s[p − lo] + ε·z_p)` into x (`in_place`, ULA)
/// or `(x[p] + h·s[p − lo]) + ε·z_p` into `out[p − lo]` (MALA's proposal).
#[cube(launch)]
pub fn step_kernel(x: &mut [f32], s: &[f32], out: &mut [f32], args: StepArgs, #[comptime] in_place: bool) {
    // Noise positions q = p + off; the thread owns Philox block ⌊q/4⌋.
    let lo = args.lo + args.off;
    let end = lo + args.len;
    let blk = lo / 4u32 + ABSOLUTE_POS as u32;
    let p0 = blk * 4u32;
    if p0 < end {
        let q = normals_from_block(block(args.seed_lo, args.seed_hi, args.st_lo, args.st_hi, blk, 0u32));
        let (z0, z1, z2, z3) = (q.v0, q.v1, q.v2, q.v3);
        #[unroll]
        for lane in 0..4u32 {
            let p = p0 + lane;
            if p >= lo && p < end {
                let z = lane_of(z0, z1, z2, z3, lane);
                let local = (p - lo) as usize;
                let at = (p - args.off) as usize;
                let xp = x[at];
                if comptime!(in_place) {
                    x[at] = xp + (args.h * s[local] + args.eps * z);
                } else {
                    out[local] = xp + args.h * s[local] + args.eps * z;
                }
            }
        }
    }
}

/// Runtime arguments of [`accept_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct AcceptArgs {
    /// Chains of the chunk.
    pub n: u32,
    /// d.
    pub d: u32,
    /// First chain b₀ of the chunk.
    pub b0: u32,
    /// The global index of the batch's first chain (its accept uniform is
    /// at index c0 + b₀ + b).
    pub c0: u32,
    /// ε²/2.
    pub h: f32,
    /// 1/(2ε²).
    pub inv_2eps2: f32,
    /// seed mod 2³².
    pub seed_lo: u32,
    /// seed ≫ 32.
    pub seed_hi: u32,
    /// stream of the step mod 2³².
    pub st_lo: u32,
    /// stream of the step ≫ 32 (the accept stream sets bit 63).
    pub st_hi: u32,
}

/// MALA's test for chain b₀ + b (b < n): log α = E(x) − E(x′) +
/// (‖x′ − x − h s(x)‖² − ‖x − x′ − h s(x′)‖²)/(2ε²); accept when
/// ln u < log α, copying x′, s(x′), E(x′) and counting. `x` and `acc` are
/// the whole batch; `s`, `e` (state) and `xp`, `sp`, `ep` (proposal) the
/// chunk's. Grid ⌈n/16⌉ workgroups of 16 × 16.
#[cube(launch)]
pub fn accept_kernel(
    x: &mut [f32],
    s: &mut [f32],
    e: &mut [f32],
    xp: &[f32],
    sp: &[f32],
    ep: &[f32],
    acc: &mut [u32],
    args: AcceptArgs,
) {
    let mut rf = Shared::<[f32]>::new_slice(256usize);
    let mut rb = Shared::<[f32]>::new_slice(256usize);
    let mut flag = Shared::<[u32]>::new_slice(16usize);
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let b = CUBE_POS_X as usize * 16usize + ty;
    let ok = b < args.n as usize;
    let d = args.d as usize;
    let xo = (args.b0 as usize + b) * d;
    let so = b * d;
    let mut f = 0.0f32;
    let mut g = 0.0f32;
    if ok {
        for i in range_stepped(tx, d, 16usize) {
            let xi = x[xo + i];
            let pi = xp[so + i];
            let a = pi - xi - args.h * s[so + i];
            let c = xi - pi - args.h * sp[so + i];
            f += a * a;
            g += c * c;
        }
    }
    rf[ty * 16 + tx] = f;
    rb[ty * 16 + tx] = g;
    sync_cube();
    let base = ty * 16;
    tree_step(&mut rf, base, tx, 8usize);
    tree_step(&mut rb, base, tx, 8usize);
    tree_step(&mut rf, base, tx, 4usize);
    tree_step(&mut rb, base, tx, 4usize);
    tree_step(&mut rf, base, tx, 2usize);
    tree_step(&mut rb, base, tx, 2usize);
    tree_step(&mut rf, base, tx, 1usize);
    tree_step(&mut rb, base, tx, 1usize);
    if tx == 0 {
        let mut yes = 0u32;
        if ok {
            let log_alpha = e[b] - ep[b] + (rf[base] - rb[base]) * args.inv_2eps2;
            let chain = args.b0 + b as u32;
            let u =
                uniform_at(args.seed_lo, args.seed_hi, args.st_lo, args.st_hi | 0x8000_0000u32, args.c0 + chain, 0u32);
            if f32::ln(u) < log_alpha {
                yes = 1u32;
                e[b] = ep[b];
                acc[chain as usize] += 1u32;
            }
        }
        flag[ty] = yes;
    }
    sync_cube();
    if ok && flag[ty] == 1u32 {
        for i in range_stepped(tx, d, 16usize) {
            x[xo + i] = xp[so + i];
            s[so + i] = sp[so + i];
        }
    }
}

/// The CPU reference's step-size check (same error).
pub(super) fn check_step(eps: f32) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(KernelError::Model(EbmError::InvalidConfig(format!(
            "Langevin step size must be positive and finite, got {eps}"
        ))));
    }
    Ok(())
}

/// (lo, hi) words of a 64-bit value.
fn words(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

/// What the score passes keep: σ′ and δ_L (as [`Mlp2::eval_device`] with
/// the score).
const SCORE_KEEP: Keep = Keep { s1: true, s2: false, delta_last: true, c_last: false, s1_last: false };

impl Mlp2 {
    /// `steps` ULA steps of size `eps` on every chain of `x` (row-major
    /// B × d, in place): the host-slice form of [`Mlp2::ula_device`].
    ///
    /// Errors: as `ebm_core::langevin::ula` (batch, then step size), and
    /// device failures.
    pub fn ula(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        self.ula_host(x, eps, |hx, b| self.ula_device(hx, b, eps, steps, at))
    }

    /// The host-slice form of a ULA call: checks, uploads `x`, runs
    /// `run(x, batch)` on the device and reads the chains back.
    pub(super) fn ula_host(
        &self,
        x: &mut [f32],
        eps: f32,
        run: impl FnOnce(&Handle, usize) -> Result<()>,
    ) -> Result<()> {
        let b = check_batch("x", x, self.shape.d)?;
        check_step(eps)?;
        let hx = upload_f32(&self.dev, x);
        run(&hx, b)?;
        x.copy_from_slice(&read_f32(&self.dev, hx, x.len())?);
        Ok(())
    }

    /// `steps` ULA steps on the `batch` chains of the device buffer `x`
    /// (row-major, in place): per step, the forward and backward passes to
    /// the score and one update kernel x ← x + (ε²/2)·score + ε·z with z
    /// drawn in-kernel as the CPU reference draws it (module docs of
    /// [`self`](super::langevin); launches, bytes, FLOPs and loops there and
    /// in [`super::plan::Op::Ula`]).
    pub fn ula_device(&self, x: &Handle, batch: usize, eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        let d = self.shape.d;
        self.check_chains(x, batch)?;
        crate::chains::check_noise(at, batch, d)?;
        let (seed, first_step, c0) = (at.seed, at.first_step, at.first_chain);
        check_step(eps)?;
        let h = eps * eps * 0.5;
        let chunk = self.eval_chunk().min(batch);
        let acts = self.acts(chunk, SCORE_KEEP, true, false, false);
        let score = self.alloc(chunk * d);
        let dm = self.dummy.clone();
        let mut b0 = 0;
        while b0 < batch {
            let n = chunk.min(batch - b0);
            for k in 0..steps as u64 {
                self.forward(x, b0, n, &acts, SCORE_KEEP)?;
                self.backward(n, &acts, false, Some((&score, 0)))?;
                self.step(x, &score, &dm, b0, n, h, eps, (seed, c0), first_step.wrapping_add(k), true)?;
            }
            b0 += n;
        }
        Ok(())
    }

    /// `steps` MALA steps on every chain of `x` (row-major B × d, in
    /// place); `accepts[b]` is incremented for every accepted move of chain
    /// b. Returns the acceptance rate of these steps, as
    /// `ebm_core::langevin::mala`. The host-slice form of
    /// [`Mlp2::mala_device`].
    pub fn mala(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64> {
        self.mala_host(x, eps, steps, accepts, |hx, ha, b| self.mala_device(hx, ha, b, eps, steps, at))
    }

    /// The host-slice form of a MALA call: checks, uploads `x` and
    /// `accepts`, runs `run(x, accepts, batch)` on the device, reads both
    /// back and returns the acceptance rate of the `steps` steps.
    pub(super) fn mala_host(
        &self,
        x: &mut [f32],
        eps: f32,
        steps: usize,
        accepts: &mut [u32],
        run: impl FnOnce(&Handle, &Handle, usize) -> Result<()>,
    ) -> Result<f64> {
        let b = check_batch("x", x, self.shape.d)?;
        check_len("accepts", accepts, b)?;
        check_step(eps)?;
        let hx = upload_f32(&self.dev, x);
        let ha = upload_u32(&self.dev, accepts);
        run(&hx, &ha, b)?;
        x.copy_from_slice(&read_f32(&self.dev, hx, x.len())?);
        Ok(crate::chains::acceptance(&read_u32(&self.dev, ha, b)?, accepts, steps))
    }

    /// `steps` MALA steps on the `batch` chains of the device buffer `x`
    /// (in place), adding each chain's accepted moves to the u32 buffer
    /// `accepts` (≥ batch values). E and the score of the current state are
    /// computed once, then per step: the proposal kernel, the passes for
    /// E(x′) and s(x′), and the accept kernel (module docs of
    /// [`self`](super::langevin); [`super::plan::Op::Mala`]).
    #[allow(clippy::too_many_arguments)]
    pub fn mala_device(
        &self,
        x: &Handle,
        accepts: &Handle,
        batch: usize,
        eps: f32,
        steps: usize,
        at: NoiseAt,
    ) -> Result<()> {
        let d = self.shape.d;
        self.check_chains(x, batch)?;
        crate::chains::check_noise(at, batch, d)?;
        let (seed, first_step, c0) = (at.seed, at.first_step, at.first_chain);
        if (accepts.size_in_used() as usize / 4) < batch {
            let got = accepts.size_in_used() as usize / 4;
            return Err(KernelError::Model(EbmError::DimMismatch { what: "accepts", expected: batch, got }));
        }
        check_step(eps)?;
        let h = eps * eps * 0.5;
        let inv_2eps2 = 1.0 / (2.0 * eps * eps);
        let chunk = self.eval_chunk().min(batch);
        let acts = self.acts(chunk, SCORE_KEEP, true, false, false);
        let l_max = self.shape.depth();
        let (s, e) = (self.alloc(chunk * d), self.alloc(chunk));
        let (xp, sp, ep) = (self.alloc(chunk * d), self.alloc(chunk * d), self.alloc(chunk));
        let mut b0 = 0;
        while b0 < batch {
            let n = chunk.min(batch - b0);
            self.forward(x, b0, n, &acts, SCORE_KEEP)?;
            self.out_dot(&acts.z[l_max], n, &e, 0)?;
            self.backward(n, &acts, false, Some((&s, 0)))?;
            for k in 0..steps as u64 {
                let stream = first_step.wrapping_add(k);
                self.step(x, &s, &xp, b0, n, h, eps, (seed, c0), stream, false)?;
                self.forward(&xp, 0, n, &acts, SCORE_KEEP)?;
                self.out_dot(&acts.z[l_max], n, &ep, 0)?;
                self.backward(n, &acts, false, Some((&sp, 0)))?;
                self.accept(x, [&s, &e, &xp, &sp, &ep], accepts, b0, n, h, inv_2eps2, (seed, c0), stream)?;
            }
            b0 += n;
        }
        Ok(())
    }

    pub(super) fn check_chains(&self, x: &Handle, batch: usize) -> Result<()> {
        if batch == 0 {
            return Err(KernelError::Model(EbmError::EmptyBatch { what: "x" }));
        }
        Self::need(x, "x", batch * self.shape.d)?;
        super::run::check_index_range(batch * self.shape.max_width(), "Langevin")
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        x: &Handle,
        s: &Handle,
        out: &Handle,
        b0: usize,
        n: usize,
        h: f32,
        eps: f32,
        (seed, c0): (u64, u64),
        stream: u64,
        in_place: bool,
    ) -> Result<()> {
        let d = self.shape.d;
        let (lo, len) = (b0 * d, n * d);
        // check_noise: (c0 + batch)·d < 2³².
        let off = c0 as usize * d;
        let blocks = (off + lo + len - 1) / 4 - (off + lo) / 4 + 1;
        let (count, dim) = crate::launch::grid(&self.dev, blocks)?;
        let (seed_lo, seed_hi) = words(seed);
        let (st_lo, st_hi) = words(stream);
        let args = StepArgsLaunch::new(lo as u32, off as u32, len as u32, h, eps, seed_lo, seed_hi, st_lo, st_hi);
        step_kernel::launch(self.dev.client(), count, dim, buf(x, 1), buf(s, 1), buf(out, 1), args, in_place);
        self.counted();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        x: &Handle,
        state: [&Handle; 5],
        accepts: &Handle,
        b0: usize,
        n: usize,
        h: f32,
        inv_2eps2: f32,
        (seed, c0): (u64, u64),
        stream: u64,
    ) -> Result<()> {
        let d = self.shape.d;
        self.check_loops(super::plan::accept_loops(d), "MALA accept")?;
        let count = self.groups(n.div_ceil(16), 1, 1, "MALA accept")?;
        let (seed_lo, seed_hi) = words(seed);
        let (st_lo, st_hi) = words(stream);
        let args = AcceptArgsLaunch::new(
            n as u32, d as u32, b0 as u32, c0 as u32, h, inv_2eps2, seed_lo, seed_hi, st_lo, st_hi,
        );
        let [s, e, xp, sp, ep] = state;
        accept_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(x, 1),
            buf(s, 1),
            buf(e, 1),
            buf(xp, 1),
            buf(sp, 1),
            buf(ep, 1),
            buf(accepts, 1),
            args,
        );
        self.counted();
        Ok(())
    }
}
