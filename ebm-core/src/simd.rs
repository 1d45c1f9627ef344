//! Runtime dispatch of hot loops to the widest vector unit the CPU has.
//!
//! The crate is compiled for baseline x86-64 (SSE2, 4 f32 lanes). A loop
//! written as a [`Kernel`] whose `run` is `#[inline(always)]` is compiled
//! three times (AVX-512F, AVX2 and baseline) and [`dispatch`] picks one at
//! run time. The three copies compute the same bits: Rust never contracts
//! `a * b + c` into a fused multiply-add, and an explicit `mul_add` rounds
//! once on every path (a hardware FMA in the AVX2 + FMA and AVX-512 copies,
//! libm's correctly rounded `fma` in the baseline one, which is slower but
//! only runs on CPUs without AVX2), so only the lane count changes.

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
#[target_feature(enable = "avx512f,fma")]
unsafe fn run_avx512<K: Kernel>(k: K) -> K::Out {
    k.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: Kernel>(k: K) -> K::Out {
    k.run()
}

/// Runs `k` compiled for the widest vector unit this CPU has.
#[inline]
pub(crate) fn dispatch<K: Kernel>(k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX-512F and FMA.
            return unsafe { run_avx512(k) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA.
            return unsafe { run_avx2(k) };
        }
    }
    k.run()
}
