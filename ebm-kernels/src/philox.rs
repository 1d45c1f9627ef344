//! Philox4x32-10 inside a kernel, with u32 arithmetic only, drawing the same
//! numbers as [`ebm_core::rng`] (its CPU twin; the words agree bit for bit,
//! uniforms exactly, normals to the rounding of the device's `ln`, `sqrt`,
//! `cos`, `sin`).
//!
//! Addressing (see `ebm_core::rng`): key = (seed mod 2³², seed ≫ 32),
//! counter = (block mod 2³², block ≫ 32, stream mod 2³², stream ≫ 32) with
//! block = index / 4 and lane = index mod 4. 64-bit quantities travel as
//! (lo, hi) pairs of u32.
//!
//! - uniform: u = ((w ≫ 8) + ½)·2⁻²⁴;
//! - normal: Box–Muller on the lane pairs (0,1), (2,3):
//!   z₀ = r cos 2πu₁, z₁ = r sin 2πu₁, r = √(−2 ln u₀).

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The four words of one Philox4x32-10 block.
#[derive(CubeType, Clone, Copy)]
pub struct Words {
    /// Word 0.
    pub w0: u32,
    /// Word 1.
    pub w1: u32,
    /// Word 2.
    pub w2: u32,
    /// Word 3.
    pub w3: u32,
}

/// Four f32 values (the four lanes of one block).
#[derive(CubeType, Clone, Copy)]
pub struct Quad {
    /// Lane 0.
    pub v0: f32,
    /// Lane 1.
    pub v1: f32,
    /// Lane 2.
    pub v2: f32,
    /// Lane 3.
    pub v3: f32,
}

/// Ten Philox rounds over counter (c0..c3) with key (k0, k1).
#[cube]
pub fn philox4x32_10(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32) -> Words {
    let mut x0 = c0;
    let mut x1 = c1;
    let mut x2 = c2;
    let mut x3 = c3;
    let mut key0 = k0;
    let mut key1 = k1;
    #[unroll]
    for _ in 0..10u32 {
        let hi0 = x0.mul_hi(M0);
        let lo0 = x0 * M0;
        let hi1 = x2.mul_hi(M1);
        let lo1 = x2 * M1;
        let n0 = hi1 ^ x1 ^ key0;
        let n2 = hi0 ^ x3 ^ key1;
        x0 = n0;
        x1 = lo1;
        x2 = n2;
        x3 = lo0;
        key0 += W0;
        key1 += W1;
    }
    Words { w0: x0, w1: x1, w2: x2, w3: x3 }
}

/// The block `(block_lo, block_hi)` of stream `(stream_lo, stream_hi)` for
/// seed `(seed_lo, seed_hi)`.
#[cube]
pub fn block(seed_lo: u32, seed_hi: u32, stream_lo: u32, stream_hi: u32, block_lo: u32, block_hi: u32) -> Words {
    philox4x32_10(block_lo, block_hi, stream_lo, stream_hi, seed_lo, seed_hi)
}

/// A word to a uniform in (0, 1) with 24 random bits (exact in f32).
#[cube]
pub fn uniform_from_word(w: u32) -> f32 {
    (f32::cast_from(w >> 8u32) + 0.5f32) * (1.0f32 / 16_777_216.0f32)
}

/// The four standard normals of one block.
#[cube]
pub fn normals_from_block(w: Words) -> Quad {
    let tau = 6.283_185_5f32;
    let u0 = uniform_from_word(w.w0);
    let u1 = uniform_from_word(w.w1);
    let u2 = uniform_from_word(w.w2);
    let u3 = uniform_from_word(w.w3);
    let r0 = f32::sqrt(-2.0f32 * f32::ln(u0));
    let t0 = tau * u1;
    let r1 = f32::sqrt(-2.0f32 * f32::ln(u2));
    let t1 = tau * u3;
    Quad { v0: r0 * f32::cos(t0), v1: r0 * f32::sin(t0), v2: r1 * f32::cos(t1), v3: r1 * f32::sin(t1) }
}

/// Value `lane` (0..4) of `v0 .. v3`.
#[cube]
pub fn lane_of<T: CubePrimitive>(v0: T, v1: T, v2: T, v3: T, lane: u32) -> T {
    let mut v = v3;
    if lane == 0u32 {
        v = v0;
    } else if lane == 1u32 {
        v = v1;
    } else if lane == 2u32 {
        v = v2;
    }
    v
}

/// Lane `lane` (0..4) of a quad.
#[cube]
pub fn quad_lane(q: Quad, lane: u32) -> f32 {
    lane_of::<f32>(q.v0, q.v1, q.v2, q.v3, lane)
}

/// Word `lane` (0..4) of a block.
#[cube]
pub fn word_lane(w: Words, lane: u32) -> u32 {
    lane_of::<u32>(w.w0, w.w1, w.w2, w.w3, lane)
}

/// The uniform draw number `(idx_lo, idx_hi)` of a stream.
#[cube]
pub fn uniform_at(seed_lo: u32, seed_hi: u32, stream_lo: u32, stream_hi: u32, idx_lo: u32, idx_hi: u32) -> f32 {
    let blo = (idx_lo >> 2u32) | (idx_hi << 30u32);
    let bhi = idx_hi >> 2u32;
    let w = block(seed_lo, seed_hi, stream_lo, stream_hi, blo, bhi);
    uniform_from_word(word_lane(w, idx_lo & 3u32))
}

/// The normal draw number `(idx_lo, idx_hi)` of a stream.
#[cube]
pub fn normal_at(seed_lo: u32, seed_hi: u32, stream_lo: u32, stream_hi: u32, idx_lo: u32, idx_hi: u32) -> f32 {
    let blo = (idx_lo >> 2u32) | (idx_hi << 30u32);
    let bhi = idx_hi >> 2u32;
    let w = block(seed_lo, seed_hi, stream_lo, stream_hi, blo, bhi);
    quad_lane(normals_from_block(w), idx_lo & 3u32)
}

/// Test kernel: Philox blocks of arbitrary counters and keys.
/// `ctr` holds 4 words per block, `key` 2, `out` 4.
#[cube(launch)]
pub fn philox_blocks_kernel(ctr: &[u32], key: &[u32], out: &mut [u32]) {
    let i = ABSOLUTE_POS;
    if i * 4 < out.len() {
        let w = philox4x32_10(ctr[4 * i], ctr[4 * i + 1], ctr[4 * i + 2], ctr[4 * i + 3], key[2 * i], key[2 * i + 1]);
        out[4 * i] = w.w0;
        out[4 * i + 1] = w.w1;
        out[4 * i + 2] = w.w2;
        out[4 * i + 3] = w.w3;
    }
}

/// Test kernel: uniform and normal draws. `addr` holds 6 words per draw:
/// seed (lo, hi), stream (lo, hi), index (lo, hi).
#[cube(launch)]
pub fn draws_kernel(addr: &[u32], uniform: &mut [f32], normal: &mut [f32]) {
    let i = ABSOLUTE_POS;
    if i < uniform.len() {
        let a = 6 * i;
        uniform[i] = uniform_at(addr[a], addr[a + 1], addr[a + 2], addr[a + 3], addr[a + 4], addr[a + 5]);
        normal[i] = normal_at(addr[a], addr[a + 1], addr[a + 2], addr[a + 3], addr[a + 4], addr[a + 5]);
    }
}

/// Host side: runs [`philox_blocks_kernel()`] on `(counter, key)` pairs; the
/// GPU twin of `ebm_core::rng::philox4x32_10` for tests.
pub fn philox_blocks(dev: &crate::GpuDevice, inputs: &[([u32; 4], [u32; 2])]) -> crate::Result<Vec<[u32; 4]>> {
    use crate::launch::{arg, grid, read_u32, upload_u32};
    let n = inputs.len();
    let ctr: Vec<u32> = inputs.iter().flat_map(|(c, _)| *c).collect();
    let key: Vec<u32> = inputs.iter().flat_map(|(_, k)| *k).collect();
    let hc = upload_u32(dev, &ctr);
    let hk = upload_u32(dev, &key);
    let ho = dev.client().empty((4 * n).max(1) * 4);
    let (count, dim) = grid(dev, n)?;
    // SAFETY: each handle was allocated with the length passed with it.
    unsafe {
        philox_blocks_kernel::launch(dev.client(), count, dim, arg(&hc, 4 * n), arg(&hk, 2 * n), arg(&ho, 4 * n));
    }
    let out = read_u32(dev, ho, 4 * n)?;
    Ok(out.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

/// Host side: the uniform and the normal draw at each `(seed, stream,
/// index)` address, computed in-kernel ([`uniform_at()`], [`normal_at()`]).
pub fn draws(dev: &crate::GpuDevice, addrs: &[(u64, u64, u64)]) -> crate::Result<(Vec<f32>, Vec<f32>)> {
    use crate::launch::{arg, grid, read_f32, upload_u32};
    let n = addrs.len();
    let words: Vec<u32> = addrs
        .iter()
        .flat_map(|&(s, t, i)| [s as u32, (s >> 32) as u32, t as u32, (t >> 32) as u32, i as u32, (i >> 32) as u32])
        .collect();
    let ha = upload_u32(dev, &words);
    let hu = dev.client().empty(n.max(1) * 4);
    let hn = dev.client().empty(n.max(1) * 4);
    let (count, dim) = grid(dev, n)?;
    // SAFETY: each handle was allocated with the length passed with it.
    unsafe {
        draws_kernel::launch(dev.client(), count, dim, arg(&ha, 6 * n), arg(&hu, n), arg(&hn, n));
    }
    Ok((read_f32(dev, hu, n)?, read_f32(dev, hn, n)?))
}
