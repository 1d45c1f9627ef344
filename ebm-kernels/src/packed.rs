//! The packed lower triangle in kernels: Lᵢⱼ (j ≤ i) stored row by row, as
//! in `ebm_core::linalg::tri` (the families' parameter layout).

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// Index of Lᵢⱼ (j ≤ i) in a packed row-major lower triangle:
/// i(i + 1)/2 + j.
#[cube]
pub fn tri(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}
