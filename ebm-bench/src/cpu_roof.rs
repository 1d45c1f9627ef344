//! The CPU's roof, measured at the start of every main-job run, so that a
//! CPU time reads as a fraction of what this machine can do: CPU models
//! differ from one machine to the next (AVX-512 at full or half width), so
//! an absolute time means little without the peak measured in the same run.
//!
//! - **fp32 multiply-add peak** for each vector width the CPU has (128-bit
//!   FMA, 256-bit AVX2 + FMA, 512-bit AVX-512F), on one core and on every
//!   core at once. Each thread runs [`CHAINS`] independent chains
//!   `a ← a·m + c` of one vector each, enough to cover the FMA latency on two
//!   ports, so the rate is the issue rate: `2 · lanes · CHAINS` FLOPs per
//!   round (a multiply-add counts as 2, as everywhere in `ebm-bench`). The
//!   peak is the best width; the *widest vector at full rate* is the widest
//!   one within 10 % of that peak (on a CPU that splits 512-bit operations in
//!   two halves, that is AVX2).
//! - **GEMM rate** of the CPU GEMM that ebm uses (`Real::gemm`, i.e.
//!   matrixmultiply): 2n³ FLOPs for n = [`GEMM_N`], on one thread and on
//!   every core (rows split evenly), best of several.
//!
//! Each figure grows its work until one timed run lasts at least the target
//! time, then reports the best of three runs.

use ebm_core::Real;
use std::time::{Duration, Instant};

/// Independent multiply-add chains per thread.
pub const CHAINS: usize = 12;
/// The GEMM size n of the GEMM rate (n × n times n × n).
pub const GEMM_N: usize = 512;

/// The fp32 multiply-add rate at one vector width.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WidthRate {
    /// The instruction set: `fma128`, `avx2`, `avx512`, or `scalar`.
    pub isa: &'static str,
    /// Vector width in bits.
    pub bits: u32,
    /// GFLOP/s on one core.
    pub one_core: f64,
    /// GFLOP/s on every core at once.
    pub all_cores: f64,
}

/// The CPU's measured roof (module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CpuRoof {
    /// Every width the CPU runs, narrowest first.
    pub widths: Vec<WidthRate>,
    /// The widest vector within 10 % of the best all-core rate.
    pub full_rate_isa: &'static str,
    /// Threads of the all-core figures (`available_parallelism`).
    pub threads: usize,
    /// fp32 peak GFLOP/s on one core (the best width).
    pub peak_one_core: f64,
    /// fp32 peak GFLOP/s on every core (the best width).
    pub peak_all_cores: f64,
    /// f32 GEMM GFLOP/s on one thread.
    pub sgemm_one_core: f64,
    /// f32 GEMM GFLOP/s on every core.
    pub sgemm_all_cores: f64,
}

impl CpuRoof {
    /// The figure-by-figure maximum of two measurements of the same machine
    /// (a roof is a peak: on a shared machine, a measurement taken under
    /// load is too low, never too high).
    pub fn max(&self, other: &CpuRoof) -> CpuRoof {
        let widths: Vec<WidthRate> = self
            .widths
            .iter()
            .map(|w| {
                let o = other.widths.iter().find(|o| o.isa == w.isa);
                WidthRate {
                    one_core: o.map_or(w.one_core, |o| o.one_core.max(w.one_core)),
                    all_cores: o.map_or(w.all_cores, |o| o.all_cores.max(w.all_cores)),
                    ..w.clone()
                }
            })
            .collect();
        let (full_rate_isa, peak_one_core, peak_all_cores) = peaks(&widths);
        CpuRoof {
            full_rate_isa,
            threads: self.threads,
            peak_one_core,
            peak_all_cores,
            sgemm_one_core: self.sgemm_one_core.max(other.sgemm_one_core),
            sgemm_all_cores: self.sgemm_all_cores.max(other.sgemm_all_cores),
            widths,
        }
    }

    /// The roof against which a CPU time in precision `f64 = true` or f32 is
    /// read: the all-core fp32 peak, halved for f64 (half the lanes).
    pub fn peak_for(&self, f64_target: bool) -> f64 {
        if f64_target {
            self.peak_all_cores / 2.0
        } else {
            self.peak_all_cores
        }
    }
}

type Kernel = fn(u64, f32) -> f32;

/// The widths this CPU runs: (isa, bits, lanes, kernel).
fn kernels() -> Vec<(&'static str, u32, usize, Kernel)> {
    let mut out: Vec<(&'static str, u32, usize, Kernel)> = vec![("scalar", 32, 1, scalar_chains)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("fma") {
            out.push(("fma128", 128, 4, x86::fma128));
        }
        if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
            out.push(("avx2", 256, 8, x86::avx2));
        }
        if std::is_x86_feature_detected!("avx512f") {
            out.push(("avx512", 512, 16, x86::avx512));
        }
    }
    out
}

/// [`CHAINS`] scalar chains: the fallback where no vector FMA is known.
fn scalar_chains(iters: u64, seed: f32) -> f32 {
    let mut a = [0f32; CHAINS];
    for (k, ak) in a.iter_mut().enumerate() {
        *ak = seed + k as f32 * 1e-3;
    }
    for _ in 0..iters {
        for ak in a.iter_mut() {
            *ak = ak.mul_add(0.999_999_9, 1.0e-7);
        }
    }
    a.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    /// One kernel per width: [`CHAINS`] vector chains a ← a·m + c, summed.
    macro_rules! chains {
        ($name:ident, $feat:literal, $set1:ident, $fmadd:ident, $add:ident, $storeu:ident, $lanes:expr) => {
            pub fn $name(iters: u64, seed: f32) -> f32 {
                #[target_feature(enable = $feat)]
                unsafe fn run(iters: u64, seed: f32) -> f32 {
                    let m = $set1(0.999_999_9);
                    let c = $set1(1.0e-7);
                    let mut a = [$set1(seed); CHAINS];
                    for (k, ak) in a.iter_mut().enumerate() {
                        *ak = $set1(seed + k as f32 * 1e-3);
                    }
                    for _ in 0..iters {
                        for ak in a.iter_mut() {
                            *ak = $fmadd(*ak, m, c);
                        }
                    }
                    let mut s = a[0];
                    for ak in &a[1..] {
                        s = $add(s, *ak);
                    }
                    let mut out = [0f32; $lanes];
                    // SAFETY: `out` holds exactly one vector of `$lanes` f32.
                    unsafe { $storeu(out.as_mut_ptr(), s) };
                    out.iter().sum()
                }
                // SAFETY: `kernels()` lists this width only where the CPU
                // reports the feature.
                unsafe { run(iters, seed) }
            }
        };
    }

    chains!(fma128, "fma", _mm_set1_ps, _mm_fmadd_ps, _mm_add_ps, _mm_storeu_ps, 4);
    chains!(avx2, "avx2,fma", _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_storeu_ps, 8);
    chains!(avx512, "avx512f", _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_storeu_ps, 16);
}

/// Best of three runs of `run(work)` in seconds, after growing `work` (×4)
/// until one run lasts at least `target`.
fn best_of_three(target: Duration, mut work: u64, run: &dyn Fn(u64)) -> (u64, f64) {
    loop {
        let t = Instant::now();
        run(work);
        if t.elapsed() >= target || work >= 1 << 40 {
            break;
        }
        work *= 4;
    }
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            run(work);
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (work, best)
}

/// GFLOP/s of `kernel` on `threads` threads at once.
fn fma_rate(kernel: Kernel, lanes: usize, threads: usize, target: Duration) -> f64 {
    let run = |iters: u64| {
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || std::hint::black_box(kernel(std::hint::black_box(iters), 0.5 + t as f32)));
            }
        });
    };
    let (iters, secs) = best_of_three(target, 1 << 14, &run);
    (2 * lanes * CHAINS) as f64 * iters as f64 * threads as f64 / secs / 1e9
}

/// GFLOP/s of an n³ f32 GEMM with rows split over `threads` threads.
fn gemm_rate(threads: usize, target: Duration) -> f64 {
    let n = GEMM_N;
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let rows = n.div_ceil(threads);
    let run = |reps: u64| {
        for _ in 0..reps {
            let mut c = vec![0f32; n * n];
            std::thread::scope(|s| {
                for (i, cc) in c.chunks_mut(rows * n).enumerate() {
                    let a = &a[i * rows * n..];
                    let b = &b;
                    s.spawn(move || {
                        let r = cc.len() / n;
                        f32::gemm(r, n, n, 1.0, a, n, 1, b, n, 1, 0.0, cc, n, 1);
                    });
                }
            });
            std::hint::black_box(&c);
        }
    };
    let (reps, secs) = best_of_three(target, 1, &run);
    2.0 * (n as f64).powi(3) * reps as f64 / secs / 1e9
}

/// Measures the CPU's roof (module docs); each figure's timed run lasts at
/// least `target` (about 10 timed runs per width in all).
pub fn measure(target: Duration) -> CpuRoof {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let widths: Vec<WidthRate> = kernels()
        .into_iter()
        .map(|(isa, bits, lanes, k)| WidthRate {
            isa,
            bits,
            one_core: fma_rate(k, lanes, 1, target),
            all_cores: fma_rate(k, lanes, threads, target),
        })
        .collect();
    let (full_rate_isa, peak_one_core, peak_all_cores) = peaks(&widths);
    CpuRoof {
        full_rate_isa,
        threads,
        peak_one_core,
        peak_all_cores,
        sgemm_one_core: gemm_rate(1, target),
        sgemm_all_cores: gemm_rate(threads, target),
        widths,
    }
}

/// The widest vector within 10 % of the best all-core rate, the best
/// one-core and the best all-core rate.
fn peaks(widths: &[WidthRate]) -> (&'static str, f64, f64) {
    let best = widths.iter().map(|w| w.all_cores).fold(0.0, f64::max);
    let best_one = widths.iter().map(|w| w.one_core).fold(0.0, f64::max);
    let full = widths.iter().rev().find(|w| w.all_cores >= 0.9 * best).expect("the scalar width is always measured");
    (full.isa, best_one, best)
}

/// The roof in a few lines, for the run's log and the summary.
pub fn describe(r: &CpuRoof) -> String {
    let mut s = format!(
        "CPU roof (measured now, {} threads): fp32 multiply-add peak {:.1} GFLOP/s on one core, {:.1} on all; widest vector at full rate: {}; sgemm {}³ {:.1} GFLOP/s on one core, {:.1} on all",
        r.threads, r.peak_one_core, r.peak_all_cores, r.full_rate_isa, GEMM_N, r.sgemm_one_core, r.sgemm_all_cores
    );
    for w in &r.widths {
        s.push_str(&format!(
            "\n  {:>7} ({:>3}-bit): {:8.1} GFLOP/s one core, {:8.1} all",
            w.isa, w.bits, w.one_core, w.all_cores
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width's kernel computes the chains it claims: the same value as
    /// the scalar chains (up to rounding of the lane sum), so the FLOP count
    /// is not of a loop the compiler removed or merged.
    #[test]
    fn every_width_computes_the_scalar_chains() {
        let want = scalar_chains(1000, 0.25) as f64;
        for (isa, _, lanes, k) in kernels() {
            let got = k(1000, 0.25) as f64 / lanes as f64;
            assert!((got - want).abs() <= 1e-5 * want.abs(), "{isa}: {got} against {want}");
        }
    }

    /// The measured roof is well formed: every rate positive and finite,
    /// the peaks are the best widths, and the full-rate width is the widest
    /// within 10 % of the best. (No ordering between timed figures is
    /// asserted: on a shared machine one figure may be taken under load.)
    #[test]
    fn roof_is_well_formed() {
        let r = measure(Duration::from_millis(20));
        let rates = r.widths.iter().flat_map(|w| [w.one_core, w.all_cores]);
        assert!(rates.chain([r.sgemm_one_core, r.sgemm_all_cores]).all(|v| v.is_finite() && v > 0.0), "{r:?}");
        assert_eq!(r.peak_all_cores, r.widths.iter().map(|w| w.all_cores).fold(0.0, f64::max));
        assert_eq!(r.peak_one_core, r.widths.iter().map(|w| w.one_core).fold(0.0, f64::max));
        let widest = r.widths.iter().filter(|w| w.all_cores >= 0.9 * r.peak_all_cores).map(|w| w.bits).max();
        assert_eq!(Some(r.widths.iter().find(|w| w.isa == r.full_rate_isa).unwrap().bits), widest, "{r:?}");
        assert_eq!(r.widths[0].isa, "scalar");
        let mut low = r.clone();
        for w in &mut low.widths {
            w.all_cores /= 2.0;
        }
        low.sgemm_one_core *= 3.0;
        let m = low.max(&r);
        assert_eq!(m.peak_all_cores, r.peak_all_cores);
        assert_eq!(m.sgemm_one_core, 3.0 * r.sgemm_one_core);
        assert_eq!(m.full_rate_isa, r.full_rate_isa);
    }
}
