//! The Hessian diagonal, the second term of the score-matching integrand
//! (seed eq 12): ∂²E/∂xᵢ² = Σ_l Σ_u c_{l,u} (J_l)²_{u,i} with c_l = γ_l ⊙ σ″(a_l),
//! J₁ = W₁ and J_{l+1} = W_{l+1} diag(σ′(a_l)) J_l (`ebm_core::mlp`).
//!
//! - Layer 1 is one product of the per-layer kernel
//!   ([`super::layer::Epilogue::Store`] with B staged squared):
//!   H = C₁ (B × H₁) · (W₁ ∘ W₁) (H₁ × d).
//! - Layers l + 1 = 2..L: the Jacobians of a chunk of samples are one
//!   matrix J_l (H_l × chunk·d) whose column (b, i) = b·d + i, and
//!   [`jac_kernel()`] computes J_{l+1} = W_{l+1} · (S_l ⊙ J_l) where the
//!   prologue scales row k of column (b, i) by σ′(a_l)[b, k] while staging
//!   it. The first product reads W₁ directly as J₁ (sample stride 0):
//!   J₂[:, (b, i)] = W₂ · (σ′(a₁)[b, :] ⊙ W₁[:, i]).
//!
//! The epilogue squares each element, multiplies by c_{l+1}[b, u] and sums
//! over u into ∂²E/∂xᵢ² without atomics: **one workgroup owns a strip of
//! BN columns and loops over all M-tiles of u**, so every column's sum is
//! finished inside one workgroup — per thread over its rm rows of each
//! M-tile, then a shared-memory pairwise tree over the tm thread rows —
//! and added to `hess` by a single thread (launches of successive layers
//! are ordered on the queue). J_{l+1} itself is written only when a later
//! layer needs it (l + 1 < L), so for L ≤ 2 no Jacobian is materialised.
//!
//! Loop count per invocation: ⌈H_{l+1}/BM⌉ · (⌈H_l/bk⌉ + 1).

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::gemm::{mma_tile, stage_a, zero_acc, Operand, Tile};
use cubecl::prelude::*;

/// The comptime configuration of [`jac_kernel()`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct JacCfg {
    /// Workgroup tile (tm a power of two ≤ 16).
    pub tile: Tile,
    /// Write J_{l+1} to `jout`.
    pub store: bool,
}

/// Runtime sizes and offsets of [`jac_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct JacArgs {
    /// H_{l+1} (rows u).
    pub m: u32,
    /// Columns: samples of the chunk × d.
    pub n: u32,
    /// H_l (contraction).
    pub k: u32,
    /// d.
    pub d: u32,
    /// Source J_l(k, (b, i)) at `src[src_off + k·src_sk + b·src_sb + i]`.
    pub src_off: u32,
    /// Stride of the source along k.
    pub src_sk: u32,
    /// Stride of the source per sample (0 for W₁).
    pub src_sb: u32,
    /// σ′(a_l)[b, k] at `s1[s_off + b·s_ld + k]`.
    pub s_off: u32,
    /// Leading dimension of σ′(a_l).
    pub s_ld: u32,
    /// c_{l+1}[b, u] at `c[c_off + b·c_ld + u]`.
    pub c_off: u32,
    /// Leading dimension of c_{l+1}.
    pub c_ld: u32,
    /// ∂²E/∂xᵢ² of sample b of the chunk at `hess[h_off + b·d + i]`.
    pub h_off: u32,
}

/// One Jacobian layer (module docs); `wa` is W_{l+1} as the A operand (in θ).
#[cube(launch)]
pub fn jac_kernel(
    theta: &[f32],
    src: &[f32],
    s1: &[f32],
    c: &[f32],
    hess: &mut [f32],
    jout: &mut [f32],
    wa: Operand,
    args: JacArgs,
    #[comptime] cfg: JacCfg,
) {
    let tile = cfg.tile;
    let bm = comptime!(tile.bm());
    let bn = comptime!(tile.bn());
    let rm = tile.rm;
    let rn = tile.rn;
    let bk = tile.bk;
    let mut sa = Shared::<[f32]>::new_slice(comptime!(tile.bm() * tile.bk));
    let mut sb = Shared::<[f32]>::new_slice(comptime!(tile.bn() * tile.bk));
    let mut red = Shared::<[f32]>::new_slice(comptime!(tile.tm * tile.bn()));
    let mut acc = Array::<f32>::new(comptime!(tile.rm * tile.rn));
    let mut hsum = Array::<f32>::new(rn);
    let mut cb = Array::<u32>::new(rn);
    let n0 = CUBE_POS_X as usize * bn;
    let m_end = args.m as usize;
    let n_end = args.n as usize;
    let k_end = args.k as usize;
    let d = args.d as usize;
    let t = UNIT_POS as usize;
    let ty = UNIT_POS_Y as usize;
    let tx = UNIT_POS_X as usize;

    // The column this thread stages (the same for every k tile).
    let nn = t % bn;
    let col = n0 + nn;
    let col_ok = col < n_end;
    let bl = col / d;
    let src_base = args.src_off as usize + bl * args.src_sb as usize + (col - bl * d);
    let s_base = args.s_off as usize + bl * args.s_ld as usize;
    let kk0 = t / bn;
    let kstep = comptime!(tile.threads() / tile.bn());
    let per_b = comptime!(tile.bn() * tile.bk / tile.threads());

    // The columns of this thread's register block, and their c row.
    #[unroll]
    for j in 0..rn {
        hsum[j] = 0.0f32;
        let cj = n0 + tx * rn + j;
        cb[j] = (args.c_off as usize + (cj / d) * args.c_ld as usize) as u32;
    }

    let m_tiles = m_end.div_ceil(bm);
    let k_tiles = k_end.div_ceil(bk);
    for mt in 0..m_tiles {
        let m0 = mt * bm;
        zero_acc(&mut acc, tile);
        for kt in 0..k_tiles {
            let k0 = kt * bk;
            stage_a(
                theta.as_vectorized(),
                theta,
                &mut sa,
                &wa,
                m0,
                m_end,
                k0,
                k_end,
                0,
                tile,
                true,
                false,
                false,
                false,
            );
            #[unroll]
            for r in 0..per_b {
                let kk = kk0 + r * kstep;
                let k = k0 + kk;
                let mut v = 0.0f32;
                if col_ok && k < k_end {
                    v = src[src_base + k * args.src_sk as usize] * s1[s_base + k];
                }
                sb[kk * bn + nn] = v;
            }
            sync_cube();
            mma_tile(&sa, &sb, &mut acc, tile);
            sync_cube();
        }
        #[unroll]
        for i in 0..rm {
            let u = m0 + ty * rm + i;
            #[unroll]
            for j in 0..rn {
                let cj = n0 + tx * rn + j;
                if u < m_end && cj < n_end {
                    let jv = acc[i * rn + j];
                    hsum[j] += c[cb[j] as usize + u] * jv * jv;
                    if comptime!(cfg.store) {
                        jout[u * n_end + cj] = jv;
                    }
                }
            }
        }
    }

    // Pairwise tree over the tm thread rows that share each column.
    #[unroll]
    for j in 0..rn {
        red[ty * bn + tx * rn + j] = hsum[j];
    }
    sync_cube();
    if comptime!(tile.tm >= 16) {
        rows_step(&mut red, ty, tx, 8usize, tile);
    }
    if comptime!(tile.tm >= 8) {
        rows_step(&mut red, ty, tx, 4usize, tile);
    }
    if comptime!(tile.tm >= 4) {
        rows_step(&mut red, ty, tx, 2usize, tile);
    }
    if comptime!(tile.tm >= 2) {
        rows_step(&mut red, ty, tx, 1usize, tile);
    }
    if ty == 0 {
        #[unroll]
        for j in 0..rn {
            let cj = n0 + tx * rn + j;
            if cj < n_end {
                let b = cj / d;
                let h = args.h_off as usize + b * d + (cj - b * d);
                hess[h] += red[tx * rn + j];
            }
        }
    }
}

/// `red[ty][·] += red[ty + half][·]` for the rows `ty < half` (this thread's
/// rn columns), then a barrier.
#[cube]
fn rows_step(red: &mut Shared<[f32]>, ty: usize, tx: usize, half: usize, #[comptime] tile: Tile) {
    let bn = comptime!(tile.bn());
    if ty < half {
        #[unroll]
        for j in 0..tile.rn {
            let o = ty * bn + tx * tile.rn + j;
            red[o] += red[o + half * bn];
        }
    }
    sync_cube();
}
