//! Weight gradients of the Jacobian recursion ([`super::sm`]): sums over
//! the columns (b, i) of the unit-major Jacobian matrices (H × ns·d,
//! column (b, i) = b·d + i), weighted per sample, into partial rows laid
//! out like θ (one row per slab of S samples, as [`super::grad`]).
//!
//! - [`jac_wgrad_kernel()`]: W̄_{l+1} += Σ_{(b,i)} w_b J̄_{l+1}[·, (b, i)] ⊗ P_l[·, (b, i)]
//!   with P_l = σ′(a_l)⊙J_l scaled while staging — a tiled product
//!   (H_{l+1} × cols)·(cols × H_l) whose contraction runs over the slab's
//!   S·d columns. Both operands are contiguous along the contraction.
//!   Each register accumulates one k tile (bk terms) at a time into a
//!   block sum that is added to a second register every `flush` tiles, so
//!   the sequential part of the sum is ≤ bk·flush + S·d/(bk·flush) terms
//!   rather than S·d.
//! - [`w1_sum_kernel()`]: W̄₁[u, i] += Σ_b w_b J̄₁[u, (b, i)] with
//!   J̄₁ = −2c₁⊙W₁ + σ′(a₁)⊙P̄₁ formed on the fly (so J̄₁ is never stored):
//!   one thread per (u, i), S samples each.
//!
//! Both add (`+=`) into rows that the caller zeroes once per chunk, so
//! sub-chunks that share a slab accumulate; launches are ordered on the
//! queue and every (row, column) has one writer per launch.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::gemm::{mma_synced, tile_acc, zero_acc, Tile};
use cubecl::prelude::*;

/// The comptime configuration of [`jac_wgrad_kernel()`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct JgCfg {
    /// Workgroup tile.
    pub tile: Tile,
    /// k tiles per block sum.
    pub flush: usize,
}

/// Runtime sizes and offsets of [`jac_wgrad_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct JgArgs {
    /// H_{l+1} (rows v).
    pub m: u32,
    /// H_l (columns u).
    pub n: u32,
    /// d.
    pub d: u32,
    /// First sample of the sub-chunk within the chunk.
    pub s0: u32,
    /// Samples of the sub-chunk.
    pub ns: u32,
    /// Samples per slab S.
    pub slab: u32,
    /// J̄_{l+1}(v, k) at `jbar[v·a_ld + k]` (a_ld = ns·d).
    pub a_ld: u32,
    /// J_l(u, (b, i)) at `src[src_off + u·src_sk + b·src_sb + i]`.
    pub src_off: u32,
    /// Stride of J_l along u.
    pub src_sk: u32,
    /// Stride of J_l per sample (0 for W₁).
    pub src_sb: u32,
    /// σ′(a_l) of sub-chunk sample b at `s1[s_off + b·s_ld + u]`.
    pub s_off: u32,
    /// Leading dimension of σ′(a_l).
    pub s_ld: u32,
    /// Weight of sub-chunk sample b at `w[w_off + b]`.
    pub w_off: u32,
    /// Partial row of slab 0 of the chunk.
    pub row0: u32,
    /// Floats per partial row.
    pub row_ld: u32,
    /// Offset of W_{l+1} in θ.
    pub t_w: u32,
}

/// `part[(row0 + r)·row_ld + t_w + v·n + u] += Σ_{k in slab r} w J̄(v, k)·σ′ J(u, k)`;
/// grid ⌈n/BN⌉ × ⌈m/BM⌉ × (slabs that meet the sub-chunk).
#[cube(launch)]
pub fn jac_wgrad_kernel(
    jbar: &[f32],
    src: &[f32],
    s1: &[f32],
    w: &[f32],
    part: &mut [f32],
    args: JgArgs,
    #[comptime] cfg: JgCfg,
) {
    let tile = cfg.tile;
    let bm = comptime!(tile.bm());
    let bn = comptime!(tile.bn());
    let bk = tile.bk;
    let kstep = comptime!(tile.threads() / tile.bk);
    let per_a = comptime!(tile.bm() * tile.bk / tile.threads());
    let per_b = comptime!(tile.bn() * tile.bk / tile.threads());
    let mut ta = tile_acc(tile);
    let mut tot = Array::<f32>::new(comptime!(tile.rm * tile.rn));
    zero_acc(&mut tot, tile);
    let m0 = CUBE_POS_Y as usize * bm;
    let n0 = CUBE_POS_X as usize * bn;
    let m_end = args.m as usize;
    let n_end = args.n as usize;
    let d = args.d as usize;
    let s0 = args.s0 as usize;
    let span = slab_span(s0, args.ns as usize, args.slab as usize);
    // The slab's samples within the sub-chunk, as local columns.
    let k_beg = (span.lo - s0) * d;
    let k_end = (span.hi - s0) * d;
    let t = UNIT_POS as usize;
    let kk = t % bk;
    let tiles = (k_end - k_beg).div_ceil(bk);
    for kt in 0..tiles {
        let k = k_beg + kt * bk + kk;
        let k_ok = k < k_end;
        let b = k / d;
        let i = k - b * d;
        let mut wb = 0.0f32;
        if k_ok {
            wb = w[args.w_off as usize + b];
        }
        #[unroll]
        for q in 0..per_a {
            let mm = t / bk + q * kstep;
            let m = m0 + mm;
            let mut v = 0.0f32;
            if k_ok && m < m_end {
                v = jbar[m * args.a_ld as usize + k] * wb;
            }
            ta.sa[kk * bm + mm] = v;
        }
        #[unroll]
        for q in 0..per_b {
            let nn = t / bk + q * kstep;
            let u = n0 + nn;
            let mut v = 0.0f32;
            if k_ok && u < n_end {
                let j = src[args.src_off as usize + u * args.src_sk as usize + b * args.src_sb as usize + i];
                v = j * s1[args.s_off as usize + b * args.s_ld as usize + u];
            }
            ta.sb[kk * bn + nn] = v;
        }
        mma_synced(&mut ta, tile);
        if (kt + 1) % cfg.flush == 0 {
            #[unroll]
            for e in 0..comptime!(tile.rm * tile.rn) {
                tot[e] += ta.acc[e];
                ta.acc[e] = 0.0f32;
            }
        }
    }
    let ty = UNIT_POS_Y as usize;
    let tx = UNIT_POS_X as usize;
    let row = (args.row0 as usize + span.r) * args.row_ld as usize + args.t_w as usize;
    #[unroll]
    for ii in 0..tile.rm {
        let m = m0 + ty * tile.rm + ii;
        #[unroll]
        for jj in 0..tile.rn {
            let n = n0 + tx * tile.rn + jj;
            if m < m_end && n < n_end {
                let e = ii * tile.rn + jj;
                part[row + m * n_end + n] += tot[e] + ta.acc[e];
            }
        }
    }
}

/// The slab of a workgroup of the weight sums: the slab index `r` of the
/// chunk (the grid's z counts the slabs that meet the sub-chunk
/// `s0..s0 + ns`, slabs of `slab` samples) and its samples `lo..hi` within
/// the sub-chunk.
#[derive(CubeType, Clone, Copy)]
pub struct SlabSpan {
    pub r: usize,
    pub lo: usize,
    pub hi: usize,
}

/// This workgroup's [`SlabSpan`].
#[cube]
pub fn slab_span(s0: usize, ns: usize, slab: usize) -> SlabSpan {
    let r = s0 / slab + CUBE_POS_Z as usize;
    let mut lo = r * slab;
    if lo < s0 {
        lo = s0;
    }
    let mut hi = (r + 1) * slab;
    if hi > s0 + ns {
        hi = s0 + ns;
    }
    SlabSpan { r, lo, hi }
}

/// Runtime sizes and offsets of [`w1_sum_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct W1Args {
    /// H₁.
    pub h1: u32,
    /// d.
    pub d: u32,
    /// First sample of the sub-chunk within the chunk.
    pub s0: u32,
    /// Samples of the sub-chunk.
    pub ns: u32,
    /// Samples per slab S.
    pub slab: u32,
    /// Leading dimension of P̄₁ (ns·d).
    pub p_ld: u32,
    /// Weight of chunk sample b at `w[w_off + b]`.
    pub w_off: u32,
    /// Offset of W₁ in θ.
    pub t_w: u32,
    /// Partial row of slab 0 of the chunk.
    pub row0: u32,
    /// Floats per partial row.
    pub row_ld: u32,
}

/// `part[(row0 + r)·row_ld + t_w + u·d + i] += Σ_{b in slab r} w_b (−2c₁[b, u] W₁[u, i] + σ′₁[b, u] P̄₁[u, (b, i)])`
/// (the P̄ term when `has_p`); workgroups of 256 threads, grid
/// ⌈H₁·d/256⌉ × 1 × slabs. c₁ and σ′₁ are chunk arrays (B × H₁), P̄₁ the
/// sub-chunk's H₁ × ns·d.
#[cube(launch)]
pub fn w1_sum_kernel(
    theta: &[f32],
    pbar: &[f32],
    c1: &[f32],
    s1: &[f32],
    w: &[f32],
    part: &mut [f32],
    args: W1Args,
    #[comptime] has_p: bool,
) {
    let idx = CUBE_POS_X as usize * 256usize + UNIT_POS as usize;
    let d = args.d as usize;
    let h1 = args.h1 as usize;
    if idx < h1 * d {
        let u = idx / d;
        let i = idx - u * d;
        let s0 = args.s0 as usize;
        let span = slab_span(s0, args.ns as usize, args.slab as usize);
        let mut sc = 0.0f32;
        let mut sp = 0.0f32;
        for b in span.lo..span.hi {
            let wb = w[args.w_off as usize + b];
            let k = b * h1 + u;
            sc += wb * c1[k];
            if comptime!(has_p) {
                sp += wb * s1[k] * pbar[u * args.p_ld as usize + (b - s0) * d + i];
            }
        }
        let t = args.t_w as usize + idx;
        part[(args.row0 as usize + span.r) * args.row_ld as usize + t] += -2.0f32 * theta[t] * sc + sp;
    }
}
