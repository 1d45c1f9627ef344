//! The adapter's own roof, measured with two tiny CubeCL kernels, so that
//! `gpu_roofline` can state each rate as a fraction of what this adapter
//! reaches through the same stack (wgpu, CubeCL's WGSL/SPIR-V, the driver)
//! and not only of the vendor's nominal peak.
//!
//! - [`fma_kernel()`]: every thread runs `iters` rounds of 8 independent
//!   multiply-add chains `a ← a·m + c` on registers and writes their sum:
//!   16·`iters` FLOPs per thread (a multiply-add counts as 2, as everywhere
//!   in `ebm-bench`), no memory traffic to speak of. The compiler may or may
//!   not fuse each multiply-add into one FMA instruction; the count is the
//!   same.
//! - [`copy_kernel()`]: `out[i] = in[i]` over n f32 values, one per thread;
//!   8n bytes moved (read + write).
//!
//! Each measurement grows its problem (threads, iterations, bytes) until one
//! timed batch of launches takes at least the given target time, then
//! reports the best of three such batches. Every batch ends with a device
//! sync, inside the timed region.

use ebm_kernels::launch::{arg, grid};
use ebm_kernels::GpuDevice;
use std::time::Instant;

#[allow(missing_docs)] // `#[cube]` generates undocumented items.
mod kernels {
    use cubecl::prelude::*;

    /// 8 independent multiply-add chains of `iters` rounds per thread.
    #[cube(launch)]
    pub fn fma_kernel(out: &mut [f32], n: u32, m: f32, c: f32, iters: u32) {
        let i = ABSOLUTE_POS;
        if i < n as usize {
            let s = f32::cast_from(i as u32) * 1.0e-9f32;
            let mut a0 = s + 0.1f32;
            let mut a1 = s + 0.2f32;
            let mut a2 = s + 0.3f32;
            let mut a3 = s + 0.4f32;
            let mut a4 = s + 0.5f32;
            let mut a5 = s + 0.6f32;
            let mut a6 = s + 0.7f32;
            let mut a7 = s + 0.8f32;
            for _ in 0..iters {
                a0 = a0 * m + c;
                a1 = a1 * m + c;
                a2 = a2 * m + c;
                a3 = a3 * m + c;
                a4 = a4 * m + c;
                a5 = a5 * m + c;
                a6 = a6 * m + c;
                a7 = a7 * m + c;
            }
            out[i] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
        }
    }

    /// `out[i] = src[i]` for i < n.
    #[cube(launch)]
    pub fn copy_kernel(src: &[f32], out: &mut [f32], n: u32) {
        let i = ABSOLUTE_POS;
        if i < n as usize {
            out[i] = src[i];
        }
    }
}

pub use kernels::{copy_kernel, fma_kernel};

/// One roof measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roof {
    /// The rate: FLOP/s for the FMA kernel, bytes/s for the copy kernel.
    pub rate: f64,
    /// Seconds of one timed batch (the best of three).
    pub seconds: f64,
    /// Launches per timed batch.
    pub launches: usize,
    /// Work per launch: FLOPs (FMA) or bytes (copy).
    pub work_per_launch: f64,
}

type Res<T> = Result<T, String>;

/// Best-of-three seconds of `launches` calls of `launch` followed by a sync.
fn time_batch(dev: &GpuDevice, launches: usize, launch: &mut dyn FnMut()) -> Res<f64> {
    let sync = |dev: &GpuDevice| cubecl::future::block_on(dev.client().sync()).map_err(|e| format!("{e:?}"));
    launch();
    sync(dev)?;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..launches {
            launch();
        }
        sync(dev)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// The fp32 multiply-add throughput of `dev` in FLOP/s ([`fma_kernel()`]),
/// grown until a batch of launches takes `target_s` seconds or the problem
/// reaches 2²² threads × 4096 rounds × 32 launches.
pub fn measure_fma(dev: &GpuDevice, target_s: f64) -> Res<Roof> {
    let mut threads: usize = 1 << 14;
    let mut iters: u32 = 256;
    let mut launches = 1usize;
    loop {
        let out = dev.client().empty(threads * 4);
        let (count, dim) = grid(dev, threads).map_err(|e| e.to_string())?;
        let n = threads as u32;
        let mut launch = || {
            // SAFETY: `out` holds `threads` f32 values.
            unsafe {
                fma_kernel::launch(
                    dev.client(),
                    count.clone(),
                    dim,
                    arg(&out, threads),
                    n,
                    0.999_999_9f32,
                    1.0e-7f32,
                    iters,
                );
            }
        };
        let s = time_batch(dev, launches, &mut launch)?;
        let flops = 16.0 * iters as f64 * threads as f64;
        let maxed = threads >= 1 << 22 && iters >= 4096 && launches >= 32;
        if s >= target_s || maxed {
            return Ok(Roof { rate: flops * launches as f64 / s, seconds: s, launches, work_per_launch: flops });
        }
        if threads < 1 << 22 {
            threads *= 4;
        } else if iters < 4096 {
            iters *= 4;
        } else {
            launches *= 2;
        }
    }
}

/// The copy bandwidth of `dev` in bytes/s ([`copy_kernel()`], read + write
/// counted), grown from 4 MiB to at most `max_bytes` per buffer, then in
/// launches, until a batch takes `target_s` seconds (or 16 launches).
pub fn measure_copy(dev: &GpuDevice, target_s: f64, max_bytes: usize) -> Res<Roof> {
    let limit = (dev.info().limits.max_storage_buffer_binding_bytes as usize).min(max_bytes);
    let mut n: usize = (1 << 20).min(limit / 4).max(64);
    let mut launches = 1usize;
    loop {
        let src = dev.client().empty(n * 4);
        let out = dev.client().empty(n * 4);
        let (count, dim) = grid(dev, n).map_err(|e| e.to_string())?;
        let nn = n as u32;
        let mut launch = || {
            // SAFETY: `src` and `out` hold `n` f32 values each.
            unsafe {
                copy_kernel::launch(dev.client(), count.clone(), dim, arg(&src, n), arg(&out, n), nn);
            }
        };
        let s = time_batch(dev, launches, &mut launch)?;
        let bytes = 8.0 * n as f64;
        if s >= target_s || (n * 8 > limit && launches >= 16) {
            return Ok(Roof { rate: bytes * launches as f64 / s, seconds: s, launches, work_per_launch: bytes });
        }
        if n * 8 <= limit {
            n *= 2;
        } else {
            launches *= 2;
        }
    }
}
