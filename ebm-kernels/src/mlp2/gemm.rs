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
//! Vectorisation: A's staging loads can be 128-bit `Vector<f32, 4>` loads
//! ([`stage_a()`] with `vec4`): each thread reads four consecutive
//! elements along A's contiguous dimension (k or m) and writes them into
//! the k-major shared tile. The caller takes this path only where every
//! address is a multiple of 4 floats ([`vec4_ok`]), binding A with vector
//! size 4: the layer products and the batch sums of [`super::grad`] at
//! widths that are multiples of 4; elsewhere
//! (d = 3, hidden widths 5–7, offsets into packed buffers) A is bound with
//! vector size 1 and read one float at a time. The staged tile, and so
//! every sum, is the same either way: the two paths give bit-identical
//! results. B is read one float at a time: in the layer products B is θ,
//! which the epilogue also reads per element, and a kernel binds at most
//! eight buffers, so θ cannot be bound a second time as vectors.
//! Shared-memory fragment reads are rm/rn consecutive floats, which the
//! shader compilers (naga → SPIR-V → NIR/LLVM, or the driver's own) may
//! merge. The elementwise kernels (zero fill, pairwise partial sums in
//! [`super::grad`]) are vectorised by 4.

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

/// Whether A's staging loads can be `Vector<f32, 4>` loads (module docs):
/// along the contiguous dimension of A (k when `kc`, else m) the stride is
/// 1 and the extent (K, or M = `m`) and the tile's extent (bk, or BM) are
/// multiples of 4, so a load that starts inside the matrix ends inside it;
/// the offset and the other stride are multiples of 4 floats. (The tile's
/// `BM·bk/4` loads are spread over its threads; with fewer loads than
/// threads, as in a 16-row tile, the rest idle.)
pub fn vec4_ok(tile: &Tile, kc: bool, off: usize, s_mn: usize, s_k: usize, m: usize, k: usize) -> bool {
    let (unit, other, extent, tile_extent) = if kc { (s_k, s_mn, k, tile.bk) } else { (s_mn, s_k, m, tile.bm()) };
    unit == 1
        && off.is_multiple_of(4)
        && other.is_multiple_of(4)
        && extent.is_multiple_of(4)
        && tile_extent.is_multiple_of(4)
}

/// Stages `A(m0.., k0..)` into `sh` (bk × BM, k-major); values with
/// `m ≥ m_end` or `k ≥ k_end` read 0. When `weighted`, each value is
/// multiplied by `w[w_off + k]`; when `ones`, A is all ones (times the weight
/// when weighted) and `a` is not read. `a` holds vectors of N floats: N = 1
/// reads one float per element; with `vec4` (N = 4, the caller checked
/// [`vec4_ok`], not `ones`) each thread reads whole vectors of four
/// consecutive elements along the contiguous dimension.
// The comptime `if`s stay apart from the runtime ones they hold: CubeCL
// expands a comptime condition while generating the kernel.
#[allow(clippy::collapsible_if)]
#[cube]
pub fn stage_a<N: Size>(
    a: &[Vector<f32, N>],
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
    #[comptime] vec4: bool,
) {
    let bm = comptime!(tile.bm());
    let bk = tile.bk;
    let threads = comptime!(tile.threads());
    let t = UNIT_POS as usize;
    if comptime!(vec4) {
        // Load i covers four consecutive k (kc) or m of one m (k).
        let q = comptime!(if kc { tile.bk / 4 } else { tile.bm() / 4 });
        let loads = comptime!(tile.bm() * tile.bk / 4);
        #[unroll]
        for r in 0..comptime!(loads.div_ceil(tile.threads())) {
            let idx = t + r * threads;
            if idx < loads {
                let outer = idx / q;
                let inner = 4 * (idx % q);
                let mm = if comptime!(kc) { outer } else { inner };
                let kk = if comptime!(kc) { inner } else { outer };
                let m = m0 + mm;
                let k = k0 + kk;
                let mut v = Vector::<f32, N>::new(0.0f32);
                if m < m_end && k < k_end {
                    v = a[(op.off as usize + m * op.s_mn as usize + k * op.s_k as usize) / 4];
                }
                #[unroll]
                for j in 0..4 {
                    let mut e = v.extract(j);
                    if comptime!(kc) {
                        if comptime!(weighted) {
                            if k < k_end {
                                e *= w[w_off + k + j];
                            }
                        }
                        sh[(kk + j) * bm + mm] = e;
                    } else {
                        if comptime!(weighted) {
                            if k < k_end {
                                e *= w[w_off + k];
                            }
                        }
                        sh[kk * bm + mm + j] = e;
                    }
                }
            }
        }
    } else {
        let per = comptime!(tile.bm() * tile.bk / tile.threads());
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
                    v = a[op.off as usize + m * op.s_mn as usize + k * op.s_k as usize].extract(0usize);
                }
                if comptime!(weighted) {
                    v *= w[w_off + k];
                }
            }
            sh[kk * bm + mm] = v;
        }
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

/// A workgroup's tile of `C = A·B`: the staged tiles of A and B and the
/// thread's accumulator.
#[derive(CubeType)]
pub struct TileAcc {
    pub sa: Shared<[f32]>,
    pub sb: Shared<[f32]>,
    pub acc: Array<f32>,
}

/// The shared tiles and the zeroed accumulator of this workgroup's tile.
#[cube]
pub fn tile_acc(#[comptime] tile: Tile) -> TileAcc {
    let sa = Shared::<[f32]>::new_slice(comptime!(tile.bm() * tile.bk));
    let sb = Shared::<[f32]>::new_slice(comptime!(tile.bn() * tile.bk));
    let mut acc = Array::<f32>::new(comptime!(tile.rm * tile.rn));
    zero_acc(&mut acc, tile);
    TileAcc { sa, sb, acc }
}

/// The first row `m0` and column `n0` of this workgroup's output tile.
#[derive(CubeType, Clone, Copy)]
pub struct TileOrigin {
    pub m0: usize,
    pub n0: usize,
}

/// The origin of this workgroup's tile (grid x over columns, y over rows).
#[cube]
pub fn tile_origin(#[comptime] tile: Tile) -> TileOrigin {
    let bm = comptime!(tile.bm());
    let bn = comptime!(tile.bn());
    TileOrigin { m0: CUBE_POS_Y as usize * bm, n0: CUBE_POS_X as usize * bn }
}

/// `acc += A·B` over the staged k tile, between two workgroup barriers.
#[cube]
pub fn mma_synced(t: &mut TileAcc, #[comptime] tile: Tile) {
    sync_cube();
    mma_tile(&t.sa, &t.sb, &mut t.acc, tile);
    sync_cube();
}
