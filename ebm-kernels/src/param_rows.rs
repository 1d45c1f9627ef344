//! The one kernel of the per-sample θ-gradient rows, for every target and
//! every family: [`param_rows_kernel()`] writes, one thread per sample,
//! the weighted row wᵦ∇θf(xᵦ) of the target f chosen at compile time by a
//! [`RowTarget`], and `crate::grad::reduce_rows_kernel` sums the rows over
//! the batch ([`crate::rows`]):
//!
//! | [`RowTarget`] | f | MLP | other families |
//! | --- | --- | --- | --- |
//! | `Energy` | E | [`crate::grad`] | [`crate::grad`] |
//! | `VDotGradX` | vᵀ∇ₓE | [`crate::grad_vdx`] | [`crate::grad_families`] |
//! | `ScoreMatching` | 𝒥 (eq 12) | [`crate::grad_sm`] | [`crate::grad_families`] |
//! | `VHessV` | vᵀ∇ₓ²E v | [`crate::grad_vhv`] | [`crate::grad_vhv`] |

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::grad::grad_any;
use crate::grad_families::family_row;
use crate::grad_sm::{mlp_sm, SmRange};
use crate::grad_vdx::mlp_vdx;
use crate::grad_vhv::vhv_row;
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// The θ-gradient a row holds (a compile-time switch of
/// [`param_rows_kernel()`]).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum RowTarget {
    /// ∇θE.
    Energy,
    /// ∇θ(vᵀ∇ₓE).
    VDotGradX,
    /// ∇θ𝒥, 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (the MLP's over the coordinates `lo..hi`).
    ScoreMatching,
    /// ∇θ(vᵀ∇ₓ²E v).
    VHessV,
}

impl RowTarget {
    /// Whether the rows read a direction v per sample.
    pub const fn reads_v(self) -> bool {
        matches!(self, RowTarget::VDotGradX | RowTarget::VHessV)
    }
}

/// The row of sample `xs` (direction `vs`, when `target` reads one) of
/// `target` times `wb` at `out[row ..]`; `range` is read by the MLP's
/// score-matching rows only.
#[cube]
fn row_of<'a>(
    w: &[f32],
    meta: &[u32],
    xs: &'a Array<f32>,
    vs: &'a Array<f32>,
    out: &'a mut [f32],
    row: usize,
    wb: f32,
    range: SmRange,
    #[comptime] spec: Spec,
    #[comptime] target: RowTarget,
) {
    let io = RowIo::<'a> { x: xs, v: vs, out, row, wb };
    let mlp = comptime!(spec.family == Family::Mlp);
    if comptime!(target == RowTarget::Energy) {
        grad_any(w, meta, io.x, io.out, io.row, io.wb, spec);
    } else if comptime!(target == RowTarget::VDotGradX) {
        if comptime!(mlp) {
            mlp_vdx(w, meta, io, spec);
        } else {
            family_row(w, io, spec, false);
        }
    } else if comptime!(target == RowTarget::ScoreMatching) {
        if comptime!(mlp) {
            mlp_sm(w, meta, io, range, spec, false);
        } else {
            family_row(w, io, spec, true);
        }
    } else {
        vhv_row(w, meta, io, spec);
    }
}

/// Rows `rows[t·P ..]` ← w_b ∇θf(x_b) of `target`'s f, b = b0 + t, for
/// the `n` samples from `b0` (θ read from global memory). `v` is read
/// only when the target has a direction (it may be a 1-value dummy
/// otherwise); `lo`, `hi` and `seed_g` only by the MLP's score-matching
/// rows ([`crate::grad_sm`]). Thread t < `n` loads sample b and, when the
/// target reads one, its direction.
#[cube(launch)]
pub fn param_rows_kernel(
    x: &[f32],
    v: &[f32],
    weights: &[f32],
    theta: &[f32],
    meta: &[u32],
    rows: &mut [f32],
    b0: u32,
    n: u32,
    lo: u32,
    hi: u32,
    seed_g: u32,
    #[comptime] spec: Spec,
    #[comptime] target: RowTarget,
) {
    let t = ABSOLUTE_POS;
    if t < n as usize {
        let d = spec.d;
        let b = b0 as usize + t;
        let with_v = comptime!(target.reads_v());
        let mut xs = Array::<f32>::new(d);
        let mut vs = Array::<f32>::new(comptime!(if target.reads_v() { spec.d } else { 1 }));
        for i in 0..d {
            xs[i] = x[b * d + i];
            if comptime!(with_v) {
                vs[i] = v[b * d + i];
            }
        }
        let range = SmRange { lo: lo as usize, hi: hi as usize, seed_g: seed_g != 0u32 };
        row_of(theta, meta, &xs, &vs, rows, t * spec.n_params, weights[b], range, spec, target);
    }
}
