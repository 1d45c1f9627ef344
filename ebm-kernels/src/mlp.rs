//! The MLP energy in-kernel, one thread per sample: the twin of
//! `ebm_core::mlp::Mlp` (same θ layout: per linear layer W (out×in,
//! row-major) then b; the hidden layers, then the output layer of width 1).
//!
//! Per sample, with z₀ = x, a_l = W_l z_{l−1} + b_l, z_l = σ(a_l):
//!
//! 1. forward: E = w_outᵀ z_L + b_out, keeping σ′(a_l) and σ″(a_l);
//! 2. backward: γ_L = w_out, δ_l = γ_l ⊙ σ′(a_l), γ_{l−1} = W_lᵀ δ_l, so
//!    ∇ₓE = γ₀, and c_l = γ_l ⊙ σ″(a_l) is kept;
//! 3. Hessian diagonal by Jacobian propagation: for each coordinate i the
//!    column jᵢ = J_l e_i of J_l = ∂a_l/∂x runs forward, j₁ = W₁ e_i,
//!    j_{l+1} = W_{l+1} (σ′(a_l) ⊙ j_l), and
//!    ∂²E/∂xᵢ² = Σ_l Σ_u c_{l,u} j_{l,u}²,
//!    which is diag ∇²E = Σ_l γ_l ⊙ σ″(a_l) ⊙ (J_l)² column by column.
//!
//! Per-thread state: σ′ and c of every hidden unit (2·ΣH_l floats) and two
//! vectors of the widest layer.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::act::{act3, act_d3};
use crate::families::XDerivs;
use crate::spec::Spec;
use cubecl::prelude::*;

/// E at `xin`; writes ∇ₓE into `grad` when `want_grad` and ∂²E/∂xᵢ² for
/// i in `h_lo..h_hi` into `hess` when `want_hess` (which implies the
/// gradient pass).
#[cube]
pub fn mlp_eval<'a>(
    w: &[f32],
    dims: &[u32],
    xin: &Array<f32>,
    o: XDerivs<'a>,
    h_lo: usize,
    h_hi: usize,
    #[comptime] spec: Spec,
) -> f32 {
    let layers = spec.a;
    let d = spec.d;
    let mut cur = Array::<f32>::new(spec.wmax);
    let mut nxt = Array::<f32>::new(spec.wmax);
    let mut s1 = Array::<f32>::new(spec.wsum);
    let mut s2 = Array::<f32>::new(spec.wsum);

    for i in 0..d {
        cur[i] = xin[i];
    }
    // Forward.
    let mut at = layer_up(d);
    for l in 0..layers {
        let n_out = dims[l + 1] as usize;
        let boff = at.off + n_out * at.n_in;
        for k in 0..n_out {
            let a = row_dot(w, at.off + k * at.n_in, &cur, 0usize, at.n_in) + w[boff + k];
            let r = act3(a, spec.variant.act());
            nxt[k] = r.v;
            s1[at.aoff + k] = r.d1;
            s2[at.aoff + k] = r.d2;
        }
        for k in 0..n_out {
            cur[k] = nxt[k];
        }
        layer_step(&mut at, n_out);
    }
    let mut off = at.off;
    let mut aoff = at.aoff;
    let n_in = at.n_in;
    let mut e = 0.0f32;
    for k in 0..n_in {
        e += w[off + k] * cur[k];
    }
    e += w[off + n_in];

    if comptime!(o.want_grad || o.want_hess) {
        // Backward: cur holds γ_l, nxt holds δ_l.
        for k in 0..n_in {
            cur[k] = w[off + k];
        }
        for t in 0..layers {
            let ld = layer_down(dims, t, layers);
            off -= ld.n_out * ld.n_prev + ld.n_out;
            aoff -= ld.n_out;
            for k in 0..ld.n_out {
                let g = cur[k];
                nxt[k] = g * s1[aoff + k];
                s2[aoff + k] *= g;
            }
            for j in 0..ld.n_prev {
                let mut acc = 0.0f32;
                for k in 0..ld.n_out {
                    acc += w[off + k * ld.n_prev + j] * nxt[k];
                }
                cur[j] = acc;
            }
        }
        for i in 0..d {
            o.grad[i] = cur[i];
        }
    }

    if comptime!(o.want_hess) {
        // s2 now holds c_l = γ_l ⊙ σ″(a_l).
        let h1 = dims[1] as usize;
        for i in h_lo..h_hi {
            for k in 0..h1 {
                cur[k] = w[k * d + i];
            }
            let mut h = 0.0f32;
            for k in 0..h1 {
                let c = cur[k];
                h += s2[k] * c * c;
            }
            let mut off = h1 * d + h1;
            let mut aprev = 0usize;
            let mut n_in = h1;
            for l in 1..layers {
                let n_out = dims[l + 1] as usize;
                for j in 0..n_in {
                    cur[j] *= s1[aprev + j];
                }
                let anext = aprev + n_in;
                for k in 0..n_out {
                    let row = off + k * n_in;
                    let mut acc = 0.0f32;
                    for j in 0..n_in {
                        acc += w[row + j] * cur[j];
                    }
                    nxt[k] = acc;
                    h += s2[anext + k] * acc * acc;
                }
                for k in 0..n_out {
                    cur[k] = nxt[k];
                }
                off += n_out * n_in + n_out;
                aprev = anext;
                n_in = n_out;
            }
            o.hess[i] = h;
        }
    }
    e
}

/// The record of one sample's passes that the parameter-gradient rows of
/// the MLP read ([`crate::grad`], [`crate::grad_vdx`], [`crate::grad_sm`],
/// [`crate::grad_vhv`], [`crate::vhv`]), filled by [`mlp_forward()`] (and
/// [`crate::grad_vdx::mlp_fwd_bwd()`] for the backward slots):
///
/// - `z`: z₀ = x at 0, then z_l at d + Σ_{m<l} H_m;
/// - `s1`, `s2`, `s3`: σ′(a_l), σ″(a_l) (kept with `backward`) and σ‴(a_l)
///   (kept with `with_s3`) of every hidden unit, at Σ_{m<l} H_m;
/// - `gam`: γ_l = ∂E/∂z_l of every hidden unit, `g0`: γ₀ = ∇ₓE (both kept
///   with `backward`).
///
/// A slot not kept is a 1-value dummy that is never touched.
#[derive(CubeType)]
pub struct MlpTape {
    pub z: Array<f32>,
    pub s1: Array<f32>,
    #[cube(comptime)]
    pub backward: bool,
    pub s2: Array<f32>,
    pub gam: Array<f32>,
    pub g0: Array<f32>,
    #[cube(comptime)]
    pub with_s3: bool,
    pub s3: Array<f32>,
}

/// An empty [`MlpTape`] for `spec` keeping the slots asked for.
#[cube]
pub fn mlp_tape(#[comptime] spec: Spec, #[comptime] backward: bool, #[comptime] with_s3: bool) -> MlpTape {
    let kept = comptime!(if backward { spec.wsum } else { 1 });
    MlpTape {
        z: Array::<f32>::new(comptime!(spec.d + spec.wsum)),
        s1: Array::<f32>::new(spec.wsum),
        s2: Array::<f32>::new(kept),
        s3: Array::<f32>::new(comptime!(if with_s3 { spec.wsum } else { 1 })),
        gam: Array::<f32>::new(kept),
        g0: Array::<f32>::new(comptime!(if backward { spec.d } else { 1 })),
        backward,
        with_s3,
    }
}

/// The forward pass of one sample into `tape`, keeping every layer: z_l,
/// σ′(a_l), and σ″ (with `tape.backward`) and σ‴ (with `tape.with_s3`).
/// Shared by every parameter-gradient row of the MLP.
#[cube]
pub fn mlp_forward(w: &[f32], dims: &[u32], xin: &Array<f32>, tape: &mut MlpTape, #[comptime] spec: Spec) {
    let layers = spec.a;
    let d = spec.d;
    for i in 0..d {
        tape.z[i] = xin[i];
    }
    let mut at = layer_up(d);
    for l in 0..layers {
        let n_out = dims[l + 1] as usize;
        let boff = at.off + n_out * at.n_in;
        let zout = at.zin + at.n_in;
        for k in 0..n_out {
            let a = row_dot(w, at.off + k * at.n_in, &tape.z, at.zin, at.n_in) + w[boff + k];
            let f = act3(a, spec.variant.act());
            let u = at.aoff + k;
            tape.z[zout + k] = f.v;
            tape.s1[u] = f.d1;
            if comptime!(tape.backward) {
                tape.s2[u] = f.d2;
            }
            if comptime!(tape.with_s3) {
                tape.s3[u] = act_d3(a, spec.variant.act());
            }
        }
        layer_step(&mut at, n_out);
    }
}

/// Σ_{j<n} w[r + j]·src[so + j], summed in the order of j: row r of a
/// layer's weights against a vector.
#[cube]
pub fn row_dot(w: &[f32], r: usize, src: &Array<f32>, so: usize, n: usize) -> f32 {
    let mut acc = 0.0f32;
    for j in 0..n {
        acc += w[r + j] * src[so + j];
    }
    acc
}

/// Layer l of a forward sweep: `off` is the offset of W_l in θ (b_l
/// follows at `off` + H_l·H_{l−1}), `zin` that of z_{l−1} in a tape's z,
/// `aoff` that of layer l's units (Σ_{m<l} H_m), and `n_in` = H_{l−1}.
/// Stepped past the last hidden layer it is the output layer's: `off` at
/// w_out, `zin` at z_L, `aoff` = ΣH_l, `n_in` = H_L.
#[derive(CubeType, Clone, Copy)]
pub struct LayerUp {
    pub off: usize,
    pub zin: usize,
    pub aoff: usize,
    pub n_in: usize,
}

/// The [`LayerUp`] of layer 1 (reading x of `d` values).
#[cube]
pub fn layer_up(#[comptime] d: usize) -> LayerUp {
    LayerUp { off: 0usize, zin: 0usize, aoff: 0usize, n_in: d.runtime() }
}

/// Steps `at` past a layer of `n_out` units.
#[cube]
pub fn layer_step(at: &mut LayerUp, n_out: usize) {
    at.off += n_out * at.n_in + n_out;
    at.zin += at.n_in;
    at.aoff += n_out;
    at.n_in = n_out;
}

/// Layer l = `layers` − 1 − t of a backward sweep and its widths
/// (`n_out` = H_l, `n_prev` = H_{l−1}, from `dims`).
#[derive(CubeType, Clone, Copy)]
pub struct LayerDown {
    pub l: usize,
    pub n_out: usize,
    pub n_prev: usize,
}

/// The [`LayerDown`] of step `t` of a backward sweep over `layers` layers.
#[cube]
pub fn layer_down(dims: &[u32], t: usize, #[comptime] layers: usize) -> LayerDown {
    let l = layers - 1 - t;
    LayerDown { l, n_out: dims[l + 1] as usize, n_prev: dims[l] as usize }
}

/// The offset of w_out in θ (the output layer's weights; b_out follows).
#[cube]
pub fn mlp_out_offset(dims: &[u32], #[comptime] spec: Spec) -> usize {
    comptime!(spec.n_params - 1) - dims[spec.a] as usize
}
