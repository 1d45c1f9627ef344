//! Standard normals from Philox words, in a form that vectorises.
//!
//! Box–Muller (see [`crate::rng`]) maps the uniforms u₀, u₁ of two Philox
//! words to z₀ = r cos t, z₁ = r sin t with r = √(−2 ln u₀) and t = 2πu₁.
//! The angle t is rounded to f32 exactly as the GPU kernels round it; the
//! rest runs in f64 and is rounded to f32 once, so each normal is within
//! about ½ ulp of r·cos t (and r·sin t) for that angle. The platform's
//! `logf` and `sincosf` are calls per value that never vectorise (a fifth of
//! a Langevin step's time went to them); here ln is
//! [`VMath::v_ln`] and sin / cos are polynomials after a Cody–Waite
//! reduction by π/2, all straight-line code, so [`normals_of_blocks`] runs
//! sixteen Philox blocks at a time in vector registers. The scalar path
//! ([`box_muller`]) is the same code, so both give the same bits.

// fdlibm's π/2 split, digit for digit.
#![allow(clippy::excessive_precision)]

use crate::rng::{M0, M1, W0, W1};
use crate::sym::vmath::VMath;

/// Blocks per call of [`normals_of_blocks`] (64 normals).
pub(crate) const BLOCKS: usize = 16;

/// 1.5·2⁵²: adding it rounds an f64 to an integer kept in the low bits.
const MAGIC: f64 = 6_755_399_441_055_744.0;
/// π/2 = PIO2_HI + PIO2_LO, PIO2_HI with 33 significant bits (fdlibm), so
/// q·PIO2_HI is exact for the quadrants q ≤ 4 used here.
const PIO2_HI: f64 = 1.570_796_326_734_125_614_17;
const PIO2_LO: f64 = 6.077_100_506_506_192_249_32e-11;

/// sin t and cos t for 0 ≤ t ≤ 2π (and somewhat beyond), to about 1e-14
/// relative: t = qπ/2 + r with |r| ≤ π/4, Taylor polynomials of degree 13
/// (sin) and 14 (cos) in r (truncation < 3e-14), then the quadrant's
/// swap and signs.
#[inline(always)]
fn sincos(t: f64) -> (f64, f64) {
    let shifted = t * std::f64::consts::FRAC_2_PI + MAGIC;
    let q = shifted - MAGIC;
    let quadrant = shifted.to_bits() & 3;
    let r = (t - q * PIO2_HI) - q * PIO2_LO;
    let z = r * r;
    let mut s = -1.0 / 6_227_020_800.0; // −1/13!
    s = s * z + 1.0 / 39_916_800.0;
    s = s * z - 1.0 / 362_880.0;
    s = s * z + 1.0 / 5_040.0;
    s = s * z - 1.0 / 120.0;
    s = s * z + 1.0 / 6.0;
    let sin_r = r - r * z * s;
    let mut c = 1.0 / 87_178_291_200.0; // 1/14!
    c = c * z - 1.0 / 479_001_600.0;
    c = c * z + 1.0 / 3_628_800.0;
    c = c * z - 1.0 / 40_320.0;
    c = c * z + 1.0 / 720.0;
    c = c * z - 1.0 / 24.0;
    c = c * z + 0.5;
    let cos_r = 1.0 - z * c;
    let swap = quadrant & 1 == 1;
    let s0 = if swap { cos_r } else { sin_r };
    let c0 = if swap { sin_r } else { cos_r };
    let sin_sign = if quadrant >= 2 { -1.0 } else { 1.0 };
    let cos_sign = if quadrant.wrapping_sub(1) <= 1 { -1.0 } else { 1.0 };
    (s0 * sin_sign, c0 * cos_sign)
}

/// The Box–Muller pair (r cos t, r sin t) of two uniforms in (0, 1).
#[inline(always)]
pub(crate) fn box_muller(u0: f32, u1: f32) -> (f32, f32) {
    let r = (-2.0 * (u0 as f64).v_ln()).sqrt();
    let t = std::f32::consts::TAU * u1;
    let (sin_t, cos_t) = sincos(t as f64);
    ((r * cos_t) as f32, (r * sin_t) as f32)
}

/// The 64 normals of the Philox blocks `first, …, first + 15` of `stream`
/// under `key`, in index order, compiled for the CPU's widest vector unit.
pub(crate) fn normals_of_blocks(key: [u32; 2], stream: u64, first: u64, out: &mut [f32; 4 * BLOCKS]) {
    crate::simd::dispatch(Blocks { key, stream, first, out });
}

struct Blocks<'a> {
    key: [u32; 2],
    stream: u64,
    first: u64,
    out: &'a mut [f32; 4 * BLOCKS],
}

impl crate::simd::Kernel for Blocks<'_> {
    type Out = ();

    #[inline(always)]
    fn run(self) {
        // Philox4x32-10 on 16 counters at once, words in separate arrays.
        let mut c = [[0u32; BLOCKS]; 4];
        for i in 0..BLOCKS {
            let block = self.first + i as u64;
            c[0][i] = block as u32;
            c[1][i] = (block >> 32) as u32;
            c[2][i] = self.stream as u32;
            c[3][i] = (self.stream >> 32) as u32;
        }
        let mut k = self.key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(W0);
                k[1] = k[1].wrapping_add(W1);
            }
            for i in 0..BLOCKS {
                let p0 = (M0 as u64) * (c[0][i] as u64);
                let p1 = (M1 as u64) * (c[2][i] as u64);
                let next =
                    [(p1 >> 32) as u32 ^ c[1][i] ^ k[0], p1 as u32, (p0 >> 32) as u32 ^ c[3][i] ^ k[1], p0 as u32];
                for w in 0..4 {
                    c[w][i] = next[w];
                }
            }
        }
        // Pairs (w0, w1) of every block, then (w2, w3): one Box–Muller loop
        // over 32 independent lanes.
        let (mut u0, mut u1) = ([0f32; 2 * BLOCKS], [0f32; 2 * BLOCKS]);
        for i in 0..BLOCKS {
            u0[i] = crate::rng::uniform_from_word(c[0][i]);
            u1[i] = crate::rng::uniform_from_word(c[1][i]);
            u0[BLOCKS + i] = crate::rng::uniform_from_word(c[2][i]);
            u1[BLOCKS + i] = crate::rng::uniform_from_word(c[3][i]);
        }
        let (mut zc, mut zs) = ([0f32; 2 * BLOCKS], [0f32; 2 * BLOCKS]);
        for j in 0..2 * BLOCKS {
            (zc[j], zs[j]) = box_muller(u0[j], u1[j]);
        }
        for i in 0..BLOCKS {
            self.out[4 * i] = zc[i];
            self.out[4 * i + 1] = zs[i];
            self.out[4 * i + 2] = zc[BLOCKS + i];
            self.out[4 * i + 3] = zs[BLOCKS + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        let ulp = (f32::from_bits(w.abs().to_bits() + 1) - w.abs()) as f64;
        (got as f64 - want).abs() / ulp
    }

    /// Box–Muller against `std`'s f64 ln, sin and cos at the same f32 angle:
    /// within 1 ulp of the f64 value over a grid of u₀, u₁ (including the
    /// extreme uniforms 2⁻²⁵ and 1 − 2⁻²⁵ and every quadrant boundary).
    #[test]
    fn box_muller_is_within_one_ulp_of_f64() {
        let mut worst = 0.0f64;
        let lo = 0.5f32 / 16_777_216.0;
        let mut us: Vec<f32> = (1..4000).map(|k| k as f32 / 4000.0).collect();
        us.extend([lo, 1.0 - lo, 0.25, 0.5, 0.75, 0.125, 0.375]);
        for &u0 in us.iter().step_by(7) {
            for &u1 in &us {
                let (z0, z1) = box_muller(u0, u1);
                let r = (-2.0 * (u0 as f64).ln()).sqrt();
                let t = (std::f32::consts::TAU * u1) as f64;
                worst = worst.max(ulps(z0, r * t.cos())).max(ulps(z1, r * t.sin()));
            }
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
    }

    /// The 16-block kernel gives the scalar path's bits, block by block.
    #[test]
    fn blocks_match_the_scalar_path() {
        for (seed, stream, first) in [(0u64, 0u64, 0u64), (u64::MAX, 7, 1 << 33), (12345, 1 << 40, 999)] {
            let mut out = [0f32; 4 * BLOCKS];
            normals_of_blocks([seed as u32, (seed >> 32) as u32], stream, first, &mut out);
            for i in 0..BLOCKS {
                let want = crate::rng::normals_from_block(crate::rng::block(seed, stream, first + i as u64));
                assert_eq!(
                    out[4 * i..4 * i + 4].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.map(f32::to_bits).to_vec()
                );
            }
        }
    }
}
