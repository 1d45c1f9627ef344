//! The inputs and the destination of one per-sample θ-gradient row,
//! bundled for the row functions of every family ([`crate::grad_families`],
//! [`crate::grad_vhv`], [`crate::grad_vdx`]): they all read a sample x
//! and a direction v from thread-local arrays and write wᵦ times their
//! gradient at `out[row ..]`.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// Sample, direction and destination of one θ-gradient row.
#[derive(CubeType)]
pub struct RowIo<'a> {
    /// The sample x (d values).
    pub x: &'a Array<f32>,
    /// The direction v (d values; unread by the score-matching rows, which
    /// may pass x again).
    pub v: &'a Array<f32>,
    /// The rows buffer.
    pub out: &'a mut [f32],
    /// The offset of this row in `out`.
    pub row: usize,
    /// The sample's weight wᵦ.
    pub wb: f32,
}
