//! Launch geometry and buffer helpers shared by the kernels.

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use cubecl::prelude::*;
use cubecl::server::Handle;

/// Threads per workgroup of the one-thread-per-sample kernels.
pub const WORKGROUP: u32 = 64;

/// A grid of `ceil(n / WORKGROUP)` workgroups of [`WORKGROUP`] threads,
/// folded into two dimensions when it exceeds the per-dimension limit. The
/// kernels index samples by `ABSOLUTE_POS` and skip those past the batch.
pub fn grid(dev: &GpuDevice, n: usize) -> Result<(CubeCount, CubeDim)> {
    let groups = n.div_ceil(WORKGROUP as usize).max(1);
    let max = dev.info().limits.max_workgroups_per_dimension.max(1) as usize;
    let (x, y) = if groups <= max { (groups, 1) } else { (max, groups.div_ceil(max)) };
    if y > max {
        return Err(KernelError::Unsupported(format!(
            "{n} samples need {groups} workgroups, more than {max}² on {}",
            dev.info().name
        )));
    }
    Ok((CubeCount::Static(x as u32, y as u32, 1), CubeDim::new_1d(WORKGROUP)))
}

/// Uploads f32 values (at least one element, so empty inputs still bind).
pub fn upload_f32(dev: &GpuDevice, v: &[f32]) -> Handle {
    if v.is_empty() {
        dev.client().create_from_slice(f32::as_bytes(&[0.0]))
    } else {
        dev.client().create_from_slice(f32::as_bytes(v))
    }
}

/// Uploads u32 values (at least one element).
pub fn upload_u32(dev: &GpuDevice, v: &[u32]) -> Handle {
    if v.is_empty() {
        dev.client().create_from_slice(u32::as_bytes(&[0]))
    } else {
        dev.client().create_from_slice(u32::as_bytes(v))
    }
}

/// Reads `n` f32 values back.
pub fn read_f32(dev: &GpuDevice, h: Handle, n: usize) -> Result<Vec<f32>> {
    let bytes = dev.client().read_one(h).map_err(|e| dev.exec_err(e))?;
    let v = f32::from_bytes(&bytes);
    Ok(v[..n].to_vec())
}

/// Reads `n` u32 values back.
pub fn read_u32(dev: &GpuDevice, h: Handle, n: usize) -> Result<Vec<u32>> {
    let bytes = dev.client().read_one(h).map_err(|e| dev.exec_err(e))?;
    let v = u32::from_bytes(&bytes);
    Ok(v[..n].to_vec())
}

/// A kernel argument over a whole handle of `len` elements.
///
/// # Safety
/// `len` must not exceed the handle's size in elements (an internal
/// invariant: every caller allocates the handle from the same length).
pub unsafe fn arg(h: &Handle, len: usize) -> BufferArg {
    unsafe { BufferArg::from_raw_parts(h.clone(), len.max(1)) }
}
