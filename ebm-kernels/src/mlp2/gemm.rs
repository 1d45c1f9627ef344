//! The tiled-product core every `mlp2` kernel is built from.
//!
//! A workgroup of `tm × tn` threads owns a `BM × BN` tile of the output
//! (BM = tm·rm, BN = tn·rn); thread (ty, tx) = (`UNIT_POS_Y`, `UNIT_POS_X`)
//! accumulates the `rm × rn` register block of rows `ty·rm + i` and columns
//! `tx·rn + j`. The contraction runs over tiles of `bk` values of k: each
//! tile of A (BM × bk) and B (bk × BN) is staged in workgroup shared memory
//! by all threads (each loads `BM·bk/threads` and `bk·BN/threads` values in
//! unrolled code, with bounds checks that read 0 outside the matrix), the
//! workgroup synchronises, and every thread runs `bk` unrolled rank-1
//! updates of its register block.
//!
//! Operands are addressed by runtime offsets and strides,
//! `A(m, k) = a[a_off + m·a_sm + k·a_sk]`, `B(k, n) = b[b_off + k·b_sk + n·b_sn]`,
//! so a transposed or broadcast operand (stride 0) is the same code. Which
//! dimension is contiguous in memory is a comptime flag (`kc`), and picks
//! the thread-to-element map of the staging loads so that consecutive
//! threads read consecutive addresses.
//!
//! Shared tiles are stored k-major (`As[kk·BM + m]`, `Bs[kk·BN + n]`), so the
//! fragment a thread reads for one kk is `rm` (`rn`) consecutive floats.
//!
//! Only `#[unroll]`ed loops (comptime trip counts) sit inside a k tile: the
//! single runtime loop is the one over k tiles, which is what bounds the
//! loop count per invocation on Mesa's llvmpipe ([`super::plan`]).
//!
//! Vectorisation: none of the loads are `Vector` loads. Global loads would
//! need every leading dimension and offset to be a multiple of 4 (d = 3,
//! hidden widths 5–7 are supported shapes) and a second kernel per
//! operand; shared-memory fragment reads are rm/rn consecutive floats,
//! which the shader compilers (naga → SPIR-V → NIR/LLVM, or the driver's
//! own) may merge. The elementwise kernels (zero fill, pairwise partial
//! sums in [`super::grad`]) are vectorised by 4.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The comptime shape of a workgroup tile (see the module docs).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Tile {
    /// Threads along M (`UNIT_POS_Y`).
    pub tm: usize,
    /// Threads along N (`UNIT_POS_X`).
    pub tn: usize,
    /// Register rows per thread.
    pub rm: usize,
    /// Register columns per thread.
    pub rn: usize,
    /// k values per shared-memory tile.
    pub bk: usize,
}

impl Tile {
    /// Rows of the output tile.
    pub const fn bm(&self) -> usize {
        self.tm * self.rm
    }

    /// Columns of the output tile.
    pub const fn bn(&self) -> usize {
        self.tn * self.rn
    }

    /// Threads per workgroup.
    pub const fn threads(&self) -> usize {
        self.tm * self.tn
    }

    /// Shared memory of the two staged tiles, in bytes.
    pub const fn shared_bytes(&self) -> usize {
        4 * self.bk * (self.bm() + self.bn())
    }

    /// Whether the staging maps of the module docs cover the tiles exactly:
    /// the thread count is a multiple of bk, BM and BN, and divides both
    /// tiles.
    pub const fn valid(&self) -> bool {
        let t = self.threads();
        t > 0
            && self.bk > 0
            && t.is_multiple_of(self.bk)
            && t.is_multiple_of(self.bm())
            && t.is_multiple_of(self.bn())
            && (self.bm() * self.bk).is_multiple_of(t)
            && (self.bn() * self.bk).is_multiple_of(t)
    }
}

/// Where an operand lives: `x[off + i·s_outer + k·s_k]` with i the row (A)
/// or column (B) index.
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct Operand {
    /// Offset of element (0, 0).
    pub off: u32,
    /// Stride along M (A) or N (B).
    pub s_mn: u32,
    /// Stride along K.
    pub s_k: u32,
}

/// Stages `A(m0.., k0..)` into `sh` (bk × BM, k-major); values with
/// `m ≥ m_end` or `k ≥ k_end` read 0. When `weighted`, each value is
/// multiplied by `w[w_off + k]`; when `ones`, A is all ones (times the weight
/// when weighted) and `a` is not read.
#[cube]
pub fn stage_a(
    a: &[f32],
    w: &[f32],
    sh: &mut Shared<[f32]>,
    op: &Operand,
    m0: usize,
    m_end: usize,
    k0: usize,
    k_end: usize,
    w_off: usize,
    #[comptime] tile: Tile,
    #[comptime] kc: bool,
    #[comptime] weighted: bool,
    #[comptime] ones: bool,
) {
    let bm = comptime!(tile.bm());
    let bk = tile.bk;
    let threads = comptime!(tile.threads());
    let per = comptime!(tile.bm() * tile.bk / tile.threads());
    let t = UNIT_POS as usize;
    #[unroll]
    for r in 0..per {
        let mm = if comptime!(kc) { t / bk + r * comptime!(threads / tile.bk) } else { t % bm };
        let kk = if comptime!(kc) { t % bk } else { t / bm + r * comptime!(threads / tile.bm()) };
        let m = m0 + mm;
        let k = k0 + kk;
        let mut v = 0.0f32;
        if m < m_end && k < k_end {
            if comptime!(ones) {
                v = 1.0f32;
            } else {
                v = a[op.off as usize + m * op.s_mn as usize + k * op.s_k as usize];
            }
            if comptime!(weighted) {
                v *= w[w_off + k];
            }
        }
        sh[kk * bm + mm] = v;
    }
}

/// Stages `B(k0.., n0..)` into `sh` (bk × BN, k-major); values with
/// `k ≥ k_end` read 0, and so do columns `n ≥ n_end` — except column
/// `n_end` itself reads 1 when `ones_col` (the bias column of the
/// parameter gradients). `square` stages B∘B.
#[cube]
pub fn stage_b(
    b: &[f32],
    sh: &mut Shared<[f32]>,
    op: &Operand,
    n0: usize,
    n_end: usize,
    k0: usize,
    k_end: usize,
    #[comptime] tile: Tile,
    #[comptime] kc: bool,
    #[comptime] square: bool,
    #[comptime] ones_col: bool,
) {
    let bn = comptime!(tile.bn());
    let bk = tile.bk;
    let threads = comptime!(tile.threads());
    let per = comptime!(tile.bn() * tile.bk / tile.threads());
    let t = UNIT_POS as usize;
    #[unroll]
    for r in 0..per {
        let nn = if comptime!(kc) { t / bk + r * comptime!(threads / tile.bk) } else { t % bn };
        let kk = if comptime!(kc) { t % bk } else { t / bn + r * comptime!(threads / tile.bn()) };
        let n = n0 + nn;
        let k = k0 + kk;
        let mut v = 0.0f32;
        if k < k_end {
            if n < n_end {
                v = b[op.off as usize + k * op.s_k as usize + n * op.s_mn as usize];
                if comptime!(square) {
                    v *= v;
                }
            } else if comptime!(ones_col) {
                v = select(n == n_end, 1.0f32, 0.0f32);
            }
        }
        sh[kk * bn + nn] = v;
    }
}

/// One k tile of rank-1 updates: `acc[i·rn + j] += As[kk][ty·rm + i]·Bs[kk][tx·rn + j]`.
#[cube]
pub fn mma_tile(sa: &Shared<[f32]>, sb: &Shared<[f32]>, acc: &mut Array<f32>, #[comptime] tile: Tile) {
    let bm = comptime!(tile.bm());
    let bn = comptime!(tile.bn());
    let rm = tile.rm;
    let rn = tile.rn;
    let ty = UNIT_POS_Y as usize;
    let tx = UNIT_POS_X as usize;
    let mut af = Array::<f32>::new(rm);
    let mut bf = Array::<f32>::new(rn);
    #[unroll]
    for kk in 0..tile.bk {
        #[unroll]
        for i in 0..rm {
            af[i] = sa[kk * bm + ty * rm + i];
        }
        #[unroll]
        for j in 0..rn {
            bf[j] = sb[kk * bn + tx * rn + j];
        }
        #[unroll]
        for i in 0..rm {
            #[unroll]
            for j in 0..rn {
                acc[i * rn + j] += af[i] * bf[j];
            }
        }
    }
}

/// Zeroes the register block.
#[cube]
pub fn zero_acc(acc: &mut Array<f32>, #[comptime] tile: Tile) {
    #[unroll]
    for i in 0..comptime!(tile.rm * tile.rn) {
        acc[i] = 0.0f32;
    }
}
