//! How batches are cut into chunks, and the deterministic parallel sum of
//! per-chunk parameter gradients.

use crate::real::Real;
use rayon::prelude::*;
use std::ops::Range;

/// Rows (samples) per chunk of the energy / score passes.
pub(super) const FWD_ROWS: usize = 64;

/// Target columns (sample, coordinate) of the stacked Jacobians per inner
/// chunk of the Hessian diagonal: each layer's GEMM is
/// (H_{l+1} × H_l)·(H_l × cols). Measured (single thread, interleaved runs)
/// on d = 64, 256-256 softplus, B = 1024, f32: 64 → 71 ms, 128 → 67 ms,
/// 256 → 64 ms, 512 → 66 ms, 1024 → 70 ms.
pub(super) const HESS_ROWS: usize = 256;

/// The same for the score-matching gradient, which keeps every layer's J_l
/// and P_l of the inner chunk alive. Measured on the same model: 64 to 1024
/// all within 232 ± 7 ms; 256 was the fastest by CPU time.
pub(super) const SM_ROWS: usize = 256;

/// Samples per chunk so that a chunk holds about `rows` rows of `per_sample`
/// values each (at least one sample). `width` bounds the scratch: a chunk of
/// Jacobians holds samples · per_sample · width values, kept under 2²²
/// (16 MiB in f32) when one sample allows it.
pub(super) fn samples_per_chunk(per_sample: usize, width: usize, rows: usize) -> usize {
    let by_rows = rows / per_sample.max(1);
    let by_mem = (1usize << 22) / (per_sample.max(1) * width.max(1));
    by_rows.min(by_mem).max(1)
}

/// Samples per outer chunk (the forward and backward passes) when inner
/// chunks of `inner` samples propagate Jacobians: a multiple of `inner`
/// near [`FWD_ROWS`], smaller when the batch would not give every rayon
/// thread a chunk.
pub(super) fn outer_samples(batch: usize, inner: usize) -> usize {
    let inner = inner.max(1);
    let target = inner * (FWD_ROWS / inner).max(1);
    let per_thread = batch.div_ceil(rayon::current_num_threads().max(1));
    target.min(per_thread.div_ceil(inner) * inner).max(inner)
}

/// Sums `body`'s per-chunk contributions into `grad` (overwritten).
///
/// The batch of `batch` samples is cut into chunks of `chunk` samples; the
/// chunks are dealt in contiguous groups (about two per rayon thread), each
/// group accumulates into its own buffer with one `make()` scratch, and the
/// groups are added in order, so the result only depends on the thread count.
pub(super) fn sum_over_chunks<T: Real, W>(
    batch: usize,
    chunk: usize,
    grad: &mut [T],
    make: impl Fn() -> W + Sync,
    body: impl Fn(&mut W, Range<usize>, &mut [T]) + Sync,
) {
    let num_chunks = batch.div_ceil(chunk);
    let groups = num_chunks.min(2 * rayon::current_num_threads()).max(1);
    let per_group = num_chunks.div_ceil(groups);
    let p = grad.len();
    let parts: Vec<Vec<T>> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let mut acc = vec![T::zero(); p];
            let mut ws = make();
            for c in g * per_group..((g + 1) * per_group).min(num_chunks) {
                let start = c * chunk;
                body(&mut ws, start..(start + chunk).min(batch), &mut acc);
            }
            acc
        })
        .collect();
    grad.fill(T::zero());
    for part in parts {
        for (g, v) in grad.iter_mut().zip(part) {
            *g += v;
        }
    }
}
