//! Langevin and MALA chains in one persistent launch: a workgroup owns a
//! tile of chains and keeps their state on chip across the steps.
//!
//! # The math (eq 14 of `docs/equations.md`)
//!
//! ULA: x′ = x + ((ε²/2)·s(x) + ε·z), z ~ N(0, I), s = −∇ₓE, in the CPU
//! reference's association. MALA proposes x′ = (x + (ε²/2)·s(x)) + ε·z and
//! accepts when ln u < log α,
//! log α = E(x) − E(x′) + (‖x′ − x − (ε²/2)s(x)‖² − ‖x − x′ − (ε²/2)s(x′)‖²)/(2ε²),
//! u ~ U(0, 1); on acceptance x, s and E take the proposal's values. The
//! noise is in-kernel Philox ([`crate::philox`]) with the reference's
//! addressing (`ebm_core::langevin`): step k draws normal(seed, stream =
//! first_step + k, index = b·d + i), the accept test uniform(seed, stream =
//! (first_step + k) | 2⁶³, index = b), b the global chain
//! (`NoiseAt::first_chain` plus the row), so the chains equal
//! `ebm_core::langevin::{ula, mala}` on the f32 twin up to the f32 rounding
//! of the score (and, for MALA, of log α near the threshold) — the same
//! contract as the multi-launch kernels of [`super::langevin`].
//!
//! # The kernel
//!
//! [`persist_kernel()`] runs `steps` steps. Workgroup g owns chains
//! b₀ = g·TB … b₀ + TB − 1 (TB = [`super::PersistPlan::chains`], a power of two
//! ≤ 16 sized from the adapter's shared memory, see [`super::PersistPlan::new`]),
//! with [`THREADS`] threads. Everything a step needs lives in one
//! workgroup-shared array (row r of a width-w buffer at `off + r·w`):
//! x, s(x), E(x) (and for MALA x′, s(x′), E(x′)), σ′(a_l) of every hidden
//! layer (overwritten by δ_l = γ_l ⊙ σ′(a_l) in the backward pass) and one
//! or two ping-pong buffers of z_l. Per step:
//!
//! 1. forward, l = 1..L: a_l = W_l z_{l−1} + b_l as a product over the
//!    tile (A = z_{l−1} from shared memory, read as a broadcast; W_l staged
//!    from global memory in bk × [`THREADS`] tiles through shared memory,
//!    each thread owning one output column and TB register accumulators),
//!    the epilogue writing z_l = σ(a_l) and σ′(a_l) (layer L: δ_L =
//!    w_out ⊙ σ′(a_L)); MALA's E = w_outᵀz_L + b_out per chain;
//! 2. backward, l = L..1: γ_{l−1} = W_lᵀδ_l, the epilogue writing
//!    δ_{l−1} = γ_{l−1} ⊙ σ′(a_{l−1}) in place, or the score −γ₀;
//! 3. the update (ULA, in place) or the proposal (MALA, before 1.), one
//!    thread per Philox block of 4 consecutive positions;
//! 4. MALA: the test, one thread per chain summing the two squared norms in
//!    the reference's order, then the accepted chains copy x′, s(x′), E(x′)
//!    and count the acceptance in global memory.
//!
//! x is read from global memory once per launch and written back once;
//! MALA evaluates E and s of the state at the start of each launch (the
//! same kernel code on the same values, so K steps in one launch equal K
//! steps in several launches bit for bit).
//!
//! # Launches, bytes, loops
//!
//! Per call: ⌈K/k⌉ launches, k = [`super::PersistPlan::steps_per_launch`] (all
//! K when the adapter has no loop budget). Global memory per chain: 8d
//! bytes of x per launch (+ 8 bytes of acceptance count for MALA), no
//! activation traffic; each workgroup re-reads θ (4P bytes) once per
//! score pass, i.e. 4P/TB bytes per chain and pass (L2-resident on a GPU,
//! not counted as compulsory, as in [`super::plan`]). Largest loop count
//! per invocation: [`super::PersistPlan::fixed_loops`] + k ·
//! [`super::PersistPlan::step_loops`] — per step the forward products
//! Σ_l (⌈H_l/T⌉·(⌈H_{l−1}/bk⌉ + TB + 2) + 1) (k tiles and the epilogue's
//! rows per column tile) and the mirror-image backward ones, the
//! update's ⌈(⌈TB·d/4⌉ + 1)/T⌉ + 1, and for MALA H_L + 1 (energy),
//! d + 1 (test) and ⌈TB·d/T⌉ + 1 (copy); none depends on B.
//!
//! At the bench shapes with 16 KiB of shared memory (the WebGPU minimum;
//! [`super::PersistPlan::new`] picks TB from the adapter's actual limit — 32 KiB
//! on lavapipe gives TB = 4 at d = 64, 256-256), ULA / MALA, default
//! tiles. "Before" is the multi-launch path ([`super::plan::Op::Ula`],
//! [`super::plan::Op::Mala`]; MALA adds 2L + 1 launches once per call),
//! "after" the persistent kernel; K steps, k steps per launch:
//!
//! | shape | path | launches per call | global KiB / chain / step | on-chip KiB per workgroup | max loops per invocation |
//! | --- | --- | --- | --- | --- | --- |
//! | d = 64, 256-256 | before | 5K / 7K + 5 | 11.2 / 14.0 | 12 (GEMM tiles) | 17 / 17 |
//! | d = 64, 256-256 | after, TB = 2 | ⌈K/k⌉ | 0.5/K / 0.51/K | 13.0 / 14.0 | 7 + 219k / 481 + 544k |
//! | d = 256, 256-256 | before | 5K / 7K + 5 | 15.0 / 23.0 | 12 | 17 / 34 |
//! | d = 256, 256-256 | after, TB = 1 | ⌈K/k⌉ | 2.0/K / 2.0/K | 10.0 / 12.0 | 11 + 312k / 577 + 831k |
//! | d = 16, 1024 | before | 3K / 5K + 3 | 16.3 / 20.8 | 12 | 65 / 65 |
//! | d = 16, 1024 | after, TB = 1 | ⌈K/k⌉ | 0.13/K / 0.13/K | 12.1 / 12.3 | 5 + 136k / 1164 + 1180k |
//!
//! (The persistent rows' global bytes are the x traffic of one launch
//! spread over its K steps, θ's re-reads not counted; the loop counts are
//! [`super::PersistPlan::fixed_loops`] + k·[`super::PersistPlan::step_loops`], printed
//! and bounded by a test; with lavapipe's 65 536-iteration budget k is in
//! the tens to hundreds, on a GPU without a budget k = K.) When not even one chain's working set fits the
//! shared memory, or one step exceeds the loop budget, the chains run on
//! the multi-launch kernels of [`super::langevin`] — on the device, never
//! the CPU; [`super::Mlp2::langevin_path`] says which path a call takes.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::gemm::{stage_b, Operand, Tile};
use crate::act::act3;
use crate::fused::{accept_uniform, stream_hi, stream_lo, RngArgs};
use crate::philox::{block, normals_from_block};
use cubecl::prelude::*;
use ebm_core::Activation;

/// Threads per workgroup (one output column each per product tile).
pub const THREADS: usize = 64;
/// k values per staged weight tile.
pub const BK: usize = 16;
/// The largest chain tile.
pub const MAX_CHAINS: usize = 16;

/// The epilogue of a tile product ([`product()`]), a comptime argument.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum PersistEpi {
    /// Hidden layer: z and σ′.
    FwdHidden,
    /// Layer L: z_L and δ_L = w_out ⊙ σ′.
    FwdLast,
    /// δ_{l−1} = γ ⊙ σ′ in place.
    BwdHidden,
    /// The score −γ₀.
    BwdScore,
}

/// The comptime configuration of [`persist_kernel()`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct PersistCfg {
    /// Hidden layers L.
    pub depth: usize,
    /// Chains per workgroup TB.
    pub chains: usize,
    /// Floats of the shared state array.
    pub smem: usize,
    /// The activation σ.
    pub act: Activation,
    /// MALA (else ULA).
    pub mala: bool,
}

/// Positions in the `meta` buffer (u32) of [`persist_kernel()`], L = depth:
/// dims d, H₁..H_L at 0..=L, then per layer the θ offsets of W_l and b_l,
/// of w_out and b_out, the shared offsets of σ′_l, of the two z buffers and
/// of x, s, E, x′, s′, E′.
pub mod meta {
    /// θ offset of W_l (l = 1..L).
    pub const fn w(depth: usize, l: usize) -> usize {
        depth + l
    }
    /// θ offset of b_l.
    pub const fn b(depth: usize, l: usize) -> usize {
        2 * depth + l
    }
    /// θ offset of w_out.
    pub const fn w_out(depth: usize) -> usize {
        3 * depth + 1
    }
    /// θ offset of b_out.
    pub const fn b_out(depth: usize) -> usize {
        3 * depth + 2
    }
    /// Shared offset of σ′_l / δ_l.
    pub const fn sig(depth: usize, l: usize) -> usize {
        3 * depth + 2 + l
    }
    /// Shared offset of the z buffer holding z_l (l ≥ 1).
    pub const fn z(depth: usize, l: usize) -> usize {
        4 * depth + 3 + l % 2
    }
    /// Shared offset of x, s, E, x′, s′, E′ (`which` = 0..6).
    pub const fn state(depth: usize, which: usize) -> usize {
        4 * depth + 5 + which
    }
    /// Length of the buffer.
    pub const fn len(depth: usize) -> usize {
        4 * depth + 11
    }
}

const X: usize = 0;
const S: usize = 1;
const E: usize = 2;
const XP: usize = 3;
const SP: usize = 4;
const EP: usize = 5;

/// Runtime arguments of [`persist_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct PersistArgs {
    /// Chains B.
    pub batch: u32,
    /// Steps of this launch.
    pub steps: u32,
    /// ε²/2.
    pub h: f32,
    /// ε.
    pub eps: f32,
    /// 1/(2ε²).
    pub inv_2eps2: f32,
}

/// The workgroup's shared memory: `sm` holds the tile's states and
/// activations (offsets in `meta`), `wt` stages θ's k tiles for the
/// products.
#[derive(CubeType)]
struct Smem {
    sm: Shared<[f32]>,
    wt: Shared<[f32]>,
}

/// `C = A·B` over the tile with the epilogue `epi`: A (TB × K) at `a_off`
/// in `mem.sm` (row length K), B(k, n) = W[n·K + k] (`fwd`, W is N × K) or
/// W[k·N + n] (W is K × N) at θ offset `w_off`, staged through `mem.wt`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn product(
    mem: &mut Smem,
    theta: &[f32],
    a_off: usize,
    k_len: usize,
    n_len: usize,
    w_off: usize,
    e_off: usize,
    o_off: usize,
    o2_off: usize,
    #[comptime] cfg: PersistCfg,
    #[comptime] fwd: bool,
    #[comptime] epi: PersistEpi,
) {
    let tile = comptime!(Tile { tm: 1, tn: THREADS, rm: 1, rn: 1, bk: BK });
    let t = UNIT_POS as usize;
    let mut s_mn = 1u32;
    let mut s_k = n_len as u32;
    if comptime!(fwd) {
        s_mn = k_len as u32;
        s_k = 1u32;
    }
    let op = Operand { off: w_off as u32, s_mn, s_k };
    let n_tiles = n_len.div_ceil(THREADS);
    let k_tiles = k_len.div_ceil(BK);
    let mut acc = Array::<f32>::new(cfg.chains);
    for nt in 0..n_tiles {
        let n0 = nt * THREADS;
        #[unroll]
        for r in 0..cfg.chains {
            acc[r] = 0.0f32;
        }
        for kt in 0..k_tiles {
            let k0 = kt * BK;
            stage_b(theta, &mut mem.wt, &op, n0, n_len, k0, k_len, tile, fwd, false, false);
            sync_cube();
            #[unroll]
            for kk in 0..BK {
                let k = k0 + kk;
                if k < k_len {
                    let w = mem.wt[kk * THREADS + t];
                    #[unroll]
                    for r in 0..cfg.chains {
                        acc[r] += mem.sm[a_off + r * k_len + k] * w;
                    }
                }
            }
            sync_cube();
        }
        let n = n0 + t;
        if n < n_len {
            // A runtime loop over the rows keeps one copy of the epilogue
            // (and of σ) in the shader.
            for r in 0..cfg.chains {
                let c = acc[r];
                let o = r * n_len + n;
                match epi {
                    PersistEpi::FwdHidden | PersistEpi::FwdLast => {
                        let v = act3(c + theta[e_off + n], cfg.act);
                        mem.sm[o_off + o] = v.v;
                        if comptime!(epi == PersistEpi::FwdLast) {
                            // w_out follows b_L in θ.
                            mem.sm[o2_off + o] = theta[e_off + n_len + n] * v.d1;
                        } else {
                            mem.sm[o2_off + o] = v.d1;
                        }
                    }
                    PersistEpi::BwdHidden => {
                        mem.sm[o_off + o] *= c;
                    }
                    PersistEpi::BwdScore => {
                        mem.sm[o_off + o] = -c;
                    }
                }
            }
        }
    }
    sync_cube();
}

/// E (when `want_e`) and the score of the tile's states at `x_off` into
/// `e_off` and `s_off`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn score_pass(
    mem: &mut Smem,
    theta: &[f32],
    meta: &[u32],
    x_off: usize,
    s_off: usize,
    e_off: usize,
    #[comptime] cfg: PersistCfg,
    #[comptime] want_e: bool,
) {
    let depth = cfg.depth;
    #[unroll]
    for l in 1..depth + 1 {
        let k_len = meta[comptime!(l - 1)] as usize;
        let n_len = meta[l] as usize;
        let mut a_off = x_off;
        if comptime!(l > 1) {
            a_off = meta[comptime!(meta::z(depth, l - 1))] as usize;
        }
        let w_off = meta[comptime!(meta::w(depth, l))] as usize;
        let b_off = meta[comptime!(meta::b(depth, l))] as usize;
        let z_off = meta[comptime!(meta::z(depth, l))] as usize;
        let sig_off = meta[comptime!(meta::sig(depth, l))] as usize;
        if comptime!(l == depth) {
            product(mem, theta, a_off, k_len, n_len, w_off, b_off, z_off, sig_off, cfg, true, PersistEpi::FwdLast);
        } else {
            product(mem, theta, a_off, k_len, n_len, w_off, b_off, z_off, sig_off, cfg, true, PersistEpi::FwdHidden);
        }
    }
    if comptime!(want_e) {
        let t = UNIT_POS as usize;
        if t < cfg.chains {
            let h = meta[depth] as usize;
            let z = meta[comptime!(meta::z(depth, depth))] as usize + t * h;
            let wo = meta[comptime!(meta::w_out(depth))] as usize;
            let mut e = 0.0f32;
            for n in 0..h {
                e += theta[wo + n] * mem.sm[z + n];
            }
            mem.sm[e_off + t] = e + theta[meta[comptime!(meta::b_out(depth))] as usize];
        }
    }
    #[unroll]
    for j in 0..depth {
        let l = comptime!(depth - j);
        let k_len = meta[l] as usize;
        let n_len = meta[comptime!(l - 1)] as usize;
        let w_off = meta[comptime!(meta::w(depth, l))] as usize;
        let a_off = meta[comptime!(meta::sig(depth, l))] as usize;
        if comptime!(l > 1) {
            let o_off = meta[comptime!(meta::sig(depth, l - 1))] as usize;
            product(mem, theta, a_off, k_len, n_len, w_off, 0, o_off, 0, cfg, false, PersistEpi::BwdHidden);
        } else {
            product(mem, theta, a_off, k_len, n_len, w_off, 0, s_off, 0, cfg, false, PersistEpi::BwdScore);
        }
    }
}

/// The noise of step `k` on positions `lo .. lo + len` of the batch (the
/// tile's chains, row-major): `x ← x + (h·s + ε·z)` in place (ULA) or
/// `x′ = (x + h·s) + ε·z` (MALA), one thread per Philox block.
#[cube]
#[allow(clippy::too_many_arguments)]
fn noise(
    sm: &mut Shared<[f32]>,
    meta: &[u32],
    lo: usize,
    len: usize,
    k: u32,
    rng: &RngArgs,
    args: &PersistArgs,
    #[comptime] cfg: PersistCfg,
) {
    let depth = cfg.depth;
    let x_off = meta[comptime!(meta::state(depth, X))] as usize;
    let s_off = meta[comptime!(meta::state(depth, S))] as usize;
    let xp_off = meta[comptime!(meta::state(depth, XP))] as usize;
    let slo = stream_lo(rng.step_lo, k);
    let shi = stream_hi(rng.step_lo, rng.step_hi, k);
    // Noise positions: the batch's position p draws index p + chain·d.
    let nlo = lo + rng.chain as usize * (meta[0] as usize);
    let first = nlo / 4;
    let blocks = (nlo + len - 1) / 4 - first + 1;
    for j in range_stepped(UNIT_POS as usize, blocks, THREADS) {
        let blk = first + j;
        let q = normals_from_block(block(rng.seed_lo, rng.seed_hi, slo, shi, blk as u32, 0u32));
        let (z0, z1, z2, z3) = (q.v0, q.v1, q.v2, q.v3);
        #[unroll]
        for lane in 0..4u32 {
            let p = blk * 4 + lane as usize;
            if p >= nlo && p < nlo + len {
                let z = lane_of(z0, z1, z2, z3, lane);
                let i = p - nlo;
                let xi = sm[x_off + i];
                if comptime!(cfg.mala) {
                    sm[xp_off + i] = xi + args.h * sm[s_off + i] + args.eps * z;
                } else {
                    sm[x_off + i] = xi + (args.h * sm[s_off + i] + args.eps * z);
                }
            }
        }
    }
    sync_cube();
}

/// Lane `lane` of a Philox block's four normals.
#[cube]
pub fn lane_of(z0: f32, z1: f32, z2: f32, z3: f32, #[comptime] lane: u32) -> f32 {
    let mut z = z3;
    if comptime!(lane == 0) {
        z = z0;
    } else if comptime!(lane == 1) {
        z = z1;
    } else if comptime!(lane == 2) {
        z = z2;
    }
    z
}

/// MALA's test of step `k` for the `nb` chains of the tile from b₀ (module
/// docs), then the accepted chains' copy.
#[cube]
#[allow(clippy::too_many_arguments)]
fn accept(
    sm: &mut Shared<[f32]>,
    flag: &mut Shared<[u32]>,
    acc: &mut [u32],
    meta: &[u32],
    b0: usize,
    nb: usize,
    k: u32,
    rng: &RngArgs,
    args: &PersistArgs,
    #[comptime] cfg: PersistCfg,
) {
    let depth = cfg.depth;
    let d = meta[0] as usize;
    let x_off = meta[comptime!(meta::state(depth, X))] as usize;
    let s_off = meta[comptime!(meta::state(depth, S))] as usize;
    let e_off = meta[comptime!(meta::state(depth, E))] as usize;
    let xp_off = meta[comptime!(meta::state(depth, XP))] as usize;
    let sp_off = meta[comptime!(meta::state(depth, SP))] as usize;
    let ep_off = meta[comptime!(meta::state(depth, EP))] as usize;
    let t = UNIT_POS as usize;
    if t < cfg.chains {
        let mut yes = 0u32;
        if t < nb {
            let mut f = 0.0f32;
            let mut g = 0.0f32;
            let r = t * d;
            for i in 0..d {
                let xi = sm[x_off + r + i];
                let pi = sm[xp_off + r + i];
                let a = pi - xi - args.h * sm[s_off + r + i];
                let c = xi - pi - args.h * sm[sp_off + r + i];
                f += a * a;
                g += c * c;
            }
            let log_alpha = sm[e_off + t] - sm[ep_off + t] + (f - g) * args.inv_2eps2;
            let u = accept_uniform(b0 + t, k, rng);
            if f32::ln(u) < log_alpha {
                yes = 1u32;
                sm[e_off + t] = sm[ep_off + t];
                acc[b0 + t] += 1u32;
            }
        }
        flag[t] = yes;
    }
    sync_cube();
    for p in range_stepped(t, nb * d, THREADS) {
        if flag[p / d] == 1u32 {
            sm[x_off + p] = sm[xp_off + p];
            sm[s_off + p] = sm[sp_off + p];
        }
    }
    sync_cube();
}

/// `args.steps` ULA or MALA steps (module docs) on the chains of `x`
/// (row-major B × d, in place); MALA adds the accepted moves to `acc`.
/// Grid: ⌈B/TB⌉ workgroups as X × Y (workgroup g = y·X + x), [`THREADS`]
/// threads each.
#[cube(launch)]
pub fn persist_kernel(
    x: &mut [f32],
    acc: &mut [u32],
    theta: &[f32],
    meta: &[u32],
    args: PersistArgs,
    rng: RngArgs,
    #[comptime] cfg: PersistCfg,
) {
    let mut mem =
        Smem { sm: Shared::<[f32]>::new_slice(cfg.smem), wt: Shared::<[f32]>::new_slice(comptime!(BK * THREADS)) };
    let mut flag = Shared::<[u32]>::new_slice(cfg.chains);
    let depth = cfg.depth;
    let g = (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize;
    let b0 = g * cfg.chains;
    let batch = args.batch as usize;
    if b0 < batch {
        let mut nb = batch - b0;
        if nb > cfg.chains {
            nb = cfg.chains;
        }
        let d = meta[0] as usize;
        let (lo, len) = (b0 * d, nb * d);
        let t = UNIT_POS as usize;
        let x_off = meta[comptime!(meta::state(depth, X))] as usize;
        let s_off = meta[comptime!(meta::state(depth, S))] as usize;
        let e_off = meta[comptime!(meta::state(depth, E))] as usize;
        // Load the tile's chains; rows past the batch hold 0 (x and x′).
        for p in range_stepped(t, comptime!(cfg.chains) * d, THREADS) {
            let mut v = 0.0f32;
            if p < len {
                v = x[lo + p];
            }
            mem.sm[x_off + p] = v;
            if comptime!(cfg.mala) {
                mem.sm[meta[comptime!(meta::state(depth, XP))] as usize + p] = 0.0f32;
            }
        }
        sync_cube();
        if comptime!(cfg.mala) {
            // Pass 0 evaluates E and s of the state; pass k + 1 runs step k
            // (one copy of the score passes in the shader).
            for it in 0..args.steps + 1 {
                let mut src = x_off;
                let mut s_dst = s_off;
                let mut e_dst = e_off;
                if it > 0 {
                    noise(&mut mem.sm, meta, lo, len, it - 1, &rng, &args, cfg);
                    src = meta[comptime!(meta::state(depth, XP))] as usize;
                    s_dst = meta[comptime!(meta::state(depth, SP))] as usize;
                    e_dst = meta[comptime!(meta::state(depth, EP))] as usize;
                }
                score_pass(&mut mem, theta, meta, src, s_dst, e_dst, cfg, true);
                sync_cube();
                if it > 0 {
                    accept(&mut mem.sm, &mut flag, acc, meta, b0, nb, it - 1, &rng, &args, cfg);
                }
            }
        } else {
            for k in 0..args.steps {
                score_pass(&mut mem, theta, meta, x_off, s_off, e_off, cfg, false);
                noise(&mut mem.sm, meta, lo, len, k, &rng, &args, cfg);
            }
        }
        for p in range_stepped(t, len, THREADS) {
            x[lo + p] = mem.sm[x_off + p];
        }
    }
}
