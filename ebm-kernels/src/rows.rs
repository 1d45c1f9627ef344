//! Σ over a batch of per-sample gradient rows, on the device: the samples
//! are cut into chunks; for each chunk, a row kernel writes one weighted row
//! of P values per sample into a (chunk × P) buffer and
//! [`crate::grad::reduce_rows_kernel()`] adds the rows to the P-value result
//! (one thread per parameter), which stays on the device. Shared by every
//! parameter gradient of [`crate::GpuEnergy`] and [`crate::GpuSym`].

use crate::device::GpuDevice;
use crate::error::Result;
use crate::grad::reduce_rows_kernel;
use crate::launch::{arg, grid};
use cubecl::prelude::{CubeCount, CubeDim};
use cubecl::server::Handle;

/// Samples per chunk of rows for P parameters: at most 16 Mi floats of
/// rows, and a reduction loop within the planned loop `budget`.
pub fn rows_chunk(p: usize, batch: usize, budget: Option<u64>) -> usize {
    let mut chunk = batch.min((16 << 20) / p.max(1)).max(1);
    if let Some(b) = budget {
        chunk = chunk.min((b as usize).saturating_sub(16).max(1));
    }
    chunk
}

/// Σ over `batch` samples of rows of `p` values: for each chunk of
/// [`rows_chunk`] samples, `passes` launches of
/// `write_rows(b0, n, pass, count, dim, rows)` each write the rows of
/// samples b0..b0+n (into `rows`, `rows_chunk · p` floats), and the
/// reduction adds them to the result (the first pass of the first chunk
/// overwrites it). Returns the P-value result, on the device.
pub fn sum_rows(
    dev: &GpuDevice,
    p: usize,
    batch: usize,
    budget: Option<u64>,
    passes: usize,
    mut write_rows: impl FnMut(usize, usize, usize, CubeCount, CubeDim, &Handle),
) -> Result<Handle> {
    let chunk = rows_chunk(p, batch, budget);
    let c = dev.client();
    let rows = c.empty(chunk * p * 4);
    let out = c.empty(p.max(1) * 4);
    let (pc, pd) = grid(dev, p)?;
    let mut b0 = 0usize;
    while b0 < batch {
        let n = chunk.min(batch - b0);
        let (count, dim) = grid(dev, n)?;
        for pass in 0..passes {
            write_rows(b0, n, pass, count.clone(), dim, &rows);
            let acc = (b0 > 0 || pass > 0) as u32;
            // SAFETY: `rows` holds chunk·P floats and `out` P.
            unsafe {
                reduce_rows_kernel::launch(c, pc.clone(), pd, arg(&rows, chunk * p), arg(&out, p), n as u32, acc, p);
            }
        }
        b0 += n;
    }
    Ok(out)
}
