//! A sum of n values on the device, by a tree of launches: each launch
//! replaces n values by ⌈n / [`FAN_IN`]⌉ partial sums (one thread per
//! group of [`FAN_IN`] consecutive values), until one value is left. The
//! losses of the fused training objectives are summed this way, so they
//! reach the host as one value, with the θ-gradient.
//!
//! Every thread runs at most [`FAN_IN`] loop iterations, far below a
//! software adapter's loop budget ([`crate::plan`]); the additions are
//! pairwise-like (a sum of 64, then of sums), so the rounding error grows
//! with log₆₄ n rather than n.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::device::GpuDevice;
use crate::error::Result;
use crate::launch::{arg, grid};
use cubecl::prelude::*;
use cubecl::server::Handle;

/// Values summed by one thread of one level of the tree.
pub const FAN_IN: usize = 64;

/// `out[t] = Σ input[t·FAN_IN .. min((t + 1)·FAN_IN, n)]` for every group t.
#[cube(launch)]
pub fn partial_sums_kernel(input: &[f32], out: &mut [f32], n: u32, #[comptime] fan_in: usize) {
    let t = ABSOLUTE_POS;
    let lo = t * fan_in;
    if lo < n as usize {
        let mut hi = lo + fan_in;
        if hi > n as usize {
            hi = n as usize;
        }
        let mut acc = 0.0f32;
        for i in lo..hi {
            acc += input[i];
        }
        out[t] = acc;
    }
}

/// The sum of the first `n` ≥ 1 values of `values`, left on the device as
/// a one-value buffer (`values` itself is not modified).
pub fn sum_on_device(dev: &GpuDevice, values: &Handle, n: usize) -> Result<Handle> {
    let c = dev.client();
    let mut cur = values.clone();
    let mut len = n.max(1);
    loop {
        let groups = len.div_ceil(FAN_IN);
        let out = c.empty(groups * 4);
        let (count, dim) = grid(dev, groups)?;
        // SAFETY: `cur` holds at least `len` values and `out` `groups`.
        unsafe {
            partial_sums_kernel::launch(c, count, dim, arg(&cur, len), arg(&out, groups), len as u32, FAN_IN);
        }
        cur = out;
        len = groups;
        if len == 1 {
            return Ok(cur);
        }
    }
}
