//! Philox4x32-10, the counter-based generator shared by the CPU and the GPU.
//!
//! Philox (Salmon et al., SC'11, "Parallel random numbers: as easy as 1, 2, 3")
//! is a pure function of a 128-bit counter and a 64-bit key, so any draw can be
//! computed independently of every other one. That is what lets a GPU thread
//! produce the same noise as the CPU: both address a draw by
//! (seed, stream, index).
//!
//! # Addressing
//!
//! - key = (seed mod 2³², seed ≫ 32);
//! - counter = (block mod 2³², block ≫ 32, stream mod 2³², stream ≫ 32), with
//!   block = index / 4; lane = index mod 4 selects one of the four outputs.
//!
//! # Distributions
//!
//! - uniform: u = ((w ≫ 8) + ½) · 2⁻²⁴ ∈ (0, 1), exact in f32 and never 0 or 1;
//! - standard normal: Box–Muller on the lane pairs (0,1) and (2,3) of a block,
//!   z₀ = r cos(2πu₁), z₁ = r sin(2πu₁) with r = √(−2 ln u₀), with the angle
//!   rounded to f32 as the GPU kernels round it and the rest in f64, rounded
//!   to f32 once (the crate's `rng_normal` module, which vectorises it).
//!   The f64 path converts the f32 value, so both precisions see the same
//!   noise.

pub(crate) const M0: u32 = 0xD251_1F53;
pub(crate) const M1: u32 = 0xCD9E_8D57;
pub(crate) const W0: u32 = 0x9E37_79B9;
pub(crate) const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block: ten rounds over `ctr` with `key`.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The 4 words of block `block` in `stream` for `seed`.
#[inline]
pub fn block(seed: u64, stream: u64, block: u64) -> [u32; 4] {
    philox4x32_10(
        [block as u32, (block >> 32) as u32, stream as u32, (stream >> 32) as u32],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// Maps a 32-bit word to a uniform in (0, 1) with 24 random bits.
#[inline(always)]
pub fn uniform_from_word(w: u32) -> f32 {
    ((w >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
}

/// The four standard normals of one block (Box–Muller on lanes (0,1), (2,3)).
#[inline]
pub fn normals_from_block(words: [u32; 4]) -> [f32; 4] {
    let (a0, a1) = box_muller(uniform_from_word(words[0]), uniform_from_word(words[1]));
    let (b0, b1) = box_muller(uniform_from_word(words[2]), uniform_from_word(words[3]));
    [a0, a1, b0, b1]
}

#[inline(always)]
fn box_muller(u0: f32, u1: f32) -> (f32, f32) {
    crate::rng_normal::box_muller(u0, u1)
}

/// The uniform draw number `index` of `stream`.
pub fn uniform(seed: u64, stream: u64, index: u64) -> f32 {
    uniform_from_word(block(seed, stream, index / 4)[(index % 4) as usize])
}

/// The standard-normal draw number `index` of `stream`.
pub fn normal(seed: u64, stream: u64, index: u64) -> f32 {
    normals_from_block(block(seed, stream, index / 4))[(index % 4) as usize]
}

/// Fills `out[j]` with the standard-normal draw number `offset + j` of
/// `stream`, computing each Philox block once.
pub fn fill_normal<T: crate::Real>(seed: u64, stream: u64, offset: u64, out: &mut [T]) {
    use crate::rng_normal::{normals_of_blocks, BLOCKS};
    // Scalar up to a block boundary, then 16 blocks at a time, then scalar.
    let head = (((4 - offset % 4) % 4) as usize).min(out.len());
    fill_with(seed, stream, offset, &mut out[..head], normals_from_block);
    let mut j = head;
    let mut buf = [0f32; 4 * BLOCKS];
    let key = [seed as u32, (seed >> 32) as u32];
    while out.len() - j >= 4 * BLOCKS {
        normals_of_blocks(key, stream, (offset + j as u64) / 4, &mut buf);
        for (o, &v) in out[j..j + 4 * BLOCKS].iter_mut().zip(&buf) {
            *o = T::from_f64(v as f64);
        }
        j += 4 * BLOCKS;
    }
    fill_with(seed, stream, offset + j as u64, &mut out[j..], normals_from_block);
}

/// Fills `out[j]` with the uniform draw number `offset + j` of `stream`.
pub fn fill_uniform<T: crate::Real>(seed: u64, stream: u64, offset: u64, out: &mut [T]) {
    fill_with(seed, stream, offset, out, |w| w.map(uniform_from_word));
}

fn fill_with<T: crate::Real>(seed: u64, stream: u64, offset: u64, out: &mut [T], f: impl Fn([u32; 4]) -> [f32; 4]) {
    let mut j = 0usize;
    while j < out.len() {
        let index = offset + j as u64;
        let vals = f(block(seed, stream, index / 4));
        let lane = (index % 4) as usize;
        let take = (4 - lane).min(out.len() - j);
        for t in 0..take {
            out[j + t] = T::from_f64(vals[lane + t] as f64);
        }
        j += take;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's `kat_vectors`, the three `philox4x32 10` lines.
    #[test]
    fn random123_known_answers() {
        let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            ([0; 4], [0; 2], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
            ([0xffffffff; 4], [0xffffffff; 2], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),
            (
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0],
                [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
            ),
        ];
        for (ctr, key, want) in kat {
            assert_eq!(philox4x32_10(ctr, key), want, "ctr {ctr:x?} key {key:x?}");
        }
    }

    #[test]
    fn fill_matches_pointwise_draws_at_any_offset() {
        for offset in [0u64, 1, 2, 3, 5, 1 << 33] {
            let mut buf = vec![0f32; 11];
            fill_normal(7, 3, offset, &mut buf);
            for (j, v) in buf.iter().enumerate() {
                assert_eq!(*v, normal(7, 3, offset + j as u64));
            }
            let mut ubuf = vec![0f64; 9];
            fill_uniform(7, 3, offset, &mut ubuf);
            for (j, v) in ubuf.iter().enumerate() {
                assert_eq!(*v, uniform(7, 3, offset + j as u64) as f64);
            }
        }
    }

    #[test]
    fn streams_and_seeds_differ() {
        assert_ne!(block(1, 0, 0), block(2, 0, 0));
        assert_ne!(block(1, 0, 0), block(1, 1, 0));
        assert_ne!(block(1, 0, 0), block(1, 0, 1));
        assert_ne!(block(1u64 << 32, 0, 0), block(0, 0, 0));
    }

    /// Mean and variance of 400 000 normals, and the uniform mean, within
    /// 5 standard errors (a false alarm has probability < 1e-6).
    #[test]
    fn normal_moments_within_statistical_bounds() {
        let n = 400_000usize;
        let mut z = vec![0f64; n];
        fill_normal(42, 9, 0, &mut z);
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se_mean = (1.0 / n as f64).sqrt();
        let se_var = (2.0 / (n - 1) as f64).sqrt();
        assert!(mean.abs() < 5.0 * se_mean, "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * se_var, "var {var}");
        let kurt = z.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!((kurt - 3.0).abs() < 5.0 * (24.0 / n as f64).sqrt(), "kurtosis {kurt}");
        let mut u = vec![0f64; n];
        fill_uniform(42, 10, 0, &mut u);
        let um = u.iter().sum::<f64>() / n as f64;
        assert!((um - 0.5).abs() < 5.0 * (1.0 / 12.0 / n as f64).sqrt(), "uniform mean {um}");
        assert!(u.iter().all(|&v| v > 0.0 && v < 1.0));
    }
}
