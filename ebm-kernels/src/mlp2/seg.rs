//! Segmented reductions: sums over a short run of consecutive values —
//! the d columns (b, ·) of one unit row of a Jacobian matrix, or the units
//! of one sample row — done by a workgroup of 16 rows × 16 lanes: lane t
//! sums the elements ≡ t (mod 16) of its row, then a shared-memory
//! pairwise tree over the lanes (as [`super::layer::out_dot_kernel()`]).
//! One runtime loop of ⌈len/16⌉ iterations per invocation.
//!
//! Notation of [`super::sm`]: J_l (H_l × ns·d, column (b, i) = b·d + i;
//! J₁ = W₁ read from θ with sample stride 0), c_l = γ_l⊙σ″, e_l = γ_l⊙σ‴,
//! P̄_l = W_{l+1}ᵀ J̄_{l+1}.
//!
//! - [`seed_q_kernel()`]: q_l[b, u] = Σᵢ J_l[u, (b, i)]² and the seeds of
//!   the score-matching gradient that depend on it (c̄_l = −q_l):
//!   γ̄_l = σ″⊙c̄_l, and e_l ← e_l⊙c̄_l in place (the first term of ā_l);
//!   at the last layer also J_L ← J̄_L = −2c_L⊙J_L in place.
//! - [`seg_p_kernel()`]: ā_l[b, u] += σ″·Σᵢ P̄_l[u, (b, i)] J_l[u, (b, i)],
//!   and P̄_l ← J̄_l = −2c_l⊙J_l + σ′⊙P̄_l in place (l ≥ 2).
//! - [`rowsum_kernel()`]: q\[b\] (+)= Σ_u t\[b, u\] (vᵀ∇ₓ²E v).
//! - [`loss_kernel()`]: one slab's Σ_b w_b Σᵢ (½γ₀² − ∂²ᵢᵢE) into a partial
//!   row (the score-matching loss).

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::layer::tree_step;
use cubecl::prelude::*;

/// Runtime sizes and offsets of the segment kernels.
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct SegArgs {
    /// Samples of the sub-chunk.
    pub ns: u32,
    /// d.
    pub d: u32,
    /// H_l (units; the grid's y).
    pub h: u32,
    /// J_l(u, (b, i)) at `src[src_off + u·src_sk + b·src_sb + i]`.
    pub src_off: u32,
    /// Stride of J_l along u.
    pub src_sk: u32,
    /// Stride of J_l per sample (0 for W₁).
    pub src_sb: u32,
    /// Per-unit arrays (σ′, σ″, c, e, γ̄, ā) of sample b at `r_off + b·h + u`.
    pub r_off: u32,
    /// Leading dimension of P̄ (ns·d).
    pub p_ld: u32,
}

/// Sums lane `tx`'s `acc` over the 16 lanes of row `ty` into `red[ty·16]`.
#[cube]
fn lanes_sum(red: &mut Shared<[f32]>, acc: f32, ty: usize, tx: usize) {
    red[ty * 16 + tx] = acc;
    sync_cube();
    tree_step(red, ty * 16, tx, 8usize);
    tree_step(red, ty * 16, tx, 4usize);
    tree_step(red, ty * 16, tx, 2usize);
    tree_step(red, ty * 16, tx, 1usize);
}

/// Thread (tx, ty) of a workgroup of 16 samples × 16 lanes at unit `u`
/// (the grid's y): its sample `b`, whether `b` is in the sub-chunk, and the
/// offsets `k` of (b, u) in the per-unit arrays and `base` of J_l(u, (b, 0)).
#[derive(CubeType, Clone, Copy)]
struct SegLane {
    tx: usize,
    ty: usize,
    b: usize,
    u: usize,
    ok: bool,
    d: usize,
    k: usize,
    base: usize,
}

#[cube]
fn seg_lane(args: &SegArgs) -> SegLane {
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let b = CUBE_POS_X as usize * 16usize + ty;
    let u = CUBE_POS_Y as usize;
    let ok = b < args.ns as usize;
    let d = args.d as usize;
    let k = args.r_off as usize + b * args.h as usize + u;
    let base = args.src_off as usize + u * args.src_sk as usize + b * args.src_sb as usize;
    SegLane { tx, ty, b, u, ok, d, k, base }
}

/// q_l and the seeds that depend on it (module docs); grid ⌈ns/16⌉ × H_l.
#[cube(launch)]
pub fn seed_q_kernel(
    src: &mut [f32],
    s2: &[f32],
    c: &[f32],
    e: &mut [f32],
    gbar: &mut [f32],
    args: SegArgs,
    #[comptime] last: bool,
) {
    let mut red = Shared::<[f32]>::new_slice(256usize);
    let SegLane { tx, ty, ok, d, k, base, .. } = seg_lane(&args);
    let mut acc = 0.0f32;
    if ok {
        let mut f = 0.0f32;
        if comptime!(last) {
            f = -2.0f32 * c[k];
        }
        for i in range_stepped(tx, d, 16usize) {
            let j = src[base + i];
            acc += j * j;
            if comptime!(last) {
                src[base + i] = f * j;
            }
        }
    }
    lanes_sum(&mut red, acc, ty, tx);
    if tx == 0 && ok {
        let cbar = -red[ty * 16];
        gbar[k] = s2[k] * cbar;
        e[k] *= cbar;
    }
}

/// The Jacobian terms of ā_l and J̄_l (module docs); grid ⌈ns/16⌉ × H_l.
#[cube(launch)]
pub fn seg_p_kernel(
    pbar: &mut [f32],
    src: &[f32],
    s1: &[f32],
    s2: &[f32],
    c: &[f32],
    abar: &mut [f32],
    args: SegArgs,
    #[comptime] write_jbar: bool,
) {
    let mut red = Shared::<[f32]>::new_slice(256usize);
    let SegLane { tx, ty, b, u, ok, d, k, base } = seg_lane(&args);
    let pb = u * args.p_ld as usize + b * d;
    let mut acc = 0.0f32;
    if ok {
        let mut f = 0.0f32;
        let mut s = 0.0f32;
        if comptime!(write_jbar) {
            f = -2.0f32 * c[k];
            s = s1[k];
        }
        for i in range_stepped(tx, d, 16usize) {
            let p = pbar[pb + i];
            let j = src[base + i];
            acc += p * j;
            if comptime!(write_jbar) {
                pbar[pb + i] = f * j + s * p;
            }
        }
    }
    lanes_sum(&mut red, acc, ty, tx);
    if tx == 0 && ok {
        abar[k] += s2[k] * red[ty * 16];
    }
}

/// `q[q_off + b] = Σ_u t[b·h + u]` (`+=` when `accumulate ≠ 0`) for b < n;
/// grid ⌈n/16⌉.
#[cube(launch)]
pub fn rowsum_kernel(t: &[f32], q: &mut [f32], n: u32, h: u32, q_off: u32, accumulate: u32) {
    let mut red = Shared::<[f32]>::new_slice(256usize);
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let b = CUBE_POS_X as usize * 16usize + ty;
    let hh = h as usize;
    let mut acc = 0.0f32;
    if b < n as usize {
        for u in range_stepped(tx, hh, 16usize) {
            acc += t[b * hh + u];
        }
    }
    lanes_sum(&mut red, acc, ty, tx);
    if tx == 0 && b < n as usize {
        let o = q_off as usize + b;
        if accumulate != 0u32 {
            q[o] += red[ty * 16];
        } else {
            q[o] = red[ty * 16];
        }
    }
}

/// Runtime arguments of [`loss_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct LossArgs {
    /// Samples of the chunk.
    pub n: u32,
    /// d.
    pub d: u32,
    /// Samples per slab S.
    pub slab: u32,
    /// Weight of chunk sample b at `w[w_off + b]`.
    pub w_off: u32,
    /// Partial row of slab 0.
    pub row0: u32,
    /// Floats per partial row.
    pub row_ld: u32,
    /// Column of the loss in a partial row.
    pub slot: u32,
}

/// `part[(row0 + s)·row_ld + slot] = Σ_{b in slab s} w_b Σᵢ (½g0[b, i]² − hess[b, i])`:
/// one workgroup of 16 samples × 16 lanes per slab (grid = slabs), then a
/// pairwise tree over its 256 threads. ⌈S/16⌉·(⌈d/16⌉ + 1) + 1 loop
/// iterations per invocation.
#[cube(launch)]
pub fn loss_kernel(g0: &[f32], hess: &[f32], w: &[f32], part: &mut [f32], args: LossArgs) {
    let mut red = Shared::<[f32]>::new_slice(256usize);
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let t = ty * 16 + tx;
    let slab = CUBE_POS_X as usize;
    let d = args.d as usize;
    let lo = slab * args.slab as usize;
    let mut hi = lo + args.slab as usize;
    if hi > args.n as usize {
        hi = args.n as usize;
    }
    let mut acc = 0.0f32;
    for b in range_stepped(lo + ty, hi, 16usize) {
        let mut s = 0.0f32;
        for i in range_stepped(tx, d, 16usize) {
            let g = g0[b * d + i];
            s += 0.5f32 * g * g - hess[b * d + i];
        }
        acc += w[args.w_off as usize + b] * s;
    }
    red[t] = acc;
    sync_cube();
    tree_step(&mut red, 0usize, t, 128usize);
    tree_step(&mut red, 0usize, t, 64usize);
    tree_step(&mut red, 0usize, t, 32usize);
    tree_step(&mut red, 0usize, t, 16usize);
    tree_step(&mut red, 0usize, t, 8usize);
    tree_step(&mut red, 0usize, t, 4usize);
    tree_step(&mut red, 0usize, t, 2usize);
    tree_step(&mut red, 0usize, t, 1usize);
    if t == 0 {
        part[(args.row0 as usize + slab) * args.row_ld as usize + args.slot as usize] = red[0];
    }
}
