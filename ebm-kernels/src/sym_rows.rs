//! Per-sample rows of a symbolic model's θ-gradients on the device: a
//! gradient program of `ebm_core::sym::Programs` (`grad_energy`,
//! `grad_v_dot_grad`, `grad_sm`, `grad_v_hess_v`; P outputs, one per
//! parameter) unrolled into one kernel as in [`crate::sym`], each output
//! times the sample's weight wᵦ written into row t of a (chunk × P) buffer,
//! which [`crate::rows`] then sums over the batch. The program has no loop,
//! so a row fits any loop budget; the reduction's loop is chunked.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::sym::{expand_values, ProgramReads, SymSpec};
use crate::sym_ops as k;
use cubecl::intrinsic;
use cubecl::prelude::*;

/// Stores wᵦ times every output of `spec.program` at sample `b` into
/// `rows[t·P + i]`.
pub fn expand_rows(
    scope: &Scope,
    spec: &SymSpec,
    reads: ProgramReads<'_>,
    rows: &mut SliceExpand<f32>,
    b: NativeExpand<usize>,
    t: NativeExpand<usize>,
    wb: NativeExpand<f32>,
) {
    let values = expand_values(scope, &spec.program, reads, b);
    let p = values.len();
    for (i, v) in values.into_iter().enumerate() {
        let y = k::mul::expand(scope, v, wb);
        k::store::expand(scope, rows, t, p, i, y);
    }
}

#[cube]
#[allow(clippy::too_many_arguments)]
fn run_rows(
    x: &[f32],
    aux: &[f32],
    theta: &[f32],
    rows: &mut [f32],
    b: usize,
    t: usize,
    wb: f32,
    #[comptime] spec: SymSpec,
) {
    intrinsic!(|scope| expand_rows(scope, &spec, ProgramReads { x, aux, theta }, rows, b, t, wb))
}

/// Rows `rows[t·P ..]` ← w_b × (the P outputs of `spec.program` at sample
/// b = b0 + t) for the `n` samples from `b0`; `aux` is B × `num_aux` (a
/// 1-element dummy when unused).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn sym_rows_kernel(
    x: &[f32],
    aux: &[f32],
    theta: &[f32],
    weights: &[f32],
    rows: &mut [f32],
    b0: u32,
    n: u32,
    #[comptime] spec: SymSpec,
) {
    let t = ABSOLUTE_POS;
    if t < n as usize {
        let b = b0 as usize + t;
        run_rows(x, aux, theta, rows, b, t, weights[b], spec);
    }
}
