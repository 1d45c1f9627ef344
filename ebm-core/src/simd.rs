//! Runtime dispatch of hot loops to the widest vector unit the CPU has.
//!
//! The crate is compiled for baseline x86-64 (SSE2, 4 f32 lanes). A loop
//! written as a [`Kernel`] whose `run` is `#[inline(always)]` is compiled
//! three times (AVX-512F, AVX2 and baseline) and [`dispatch`] picks one at
//! run time. The three copies compute the same bits: Rust never contracts
//! `a * b + c` into a fused multiply-add, so only the lane count changes.

/// A loop body to compile once per vector ISA. `run` must be
/// `#[inline(always)]` (with everything it calls) so that it is compiled
/// inside the target-feature wrappers below.
pub(crate) trait Kernel {
    /// What the loop returns.
    type Out;
    /// The loop.
    fn run(self) -> Self::Out;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<K: Kernel>(k: K) -> K::Out {
    k.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<K: Kernel>(k: K) -> K::Out {
    k.run()
}

/// Runs `k` compiled for the widest vector unit this CPU has.
#[inline]
pub(crate) fn dispatch<K: Kernel>(k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F.
            return unsafe { run_avx512(k) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            return unsafe { run_avx2(k) };
        }
    }
    k.run()
}
