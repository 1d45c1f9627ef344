//! Parameter gradients of the energy, Σᵦ wᵦ ∇θE(xᵦ) (seed eq 2–3), on the
//! device in two kernels:
//!
//! 1. [`grad_rows_kernel()`]: one thread per sample writes its weighted
//!    gradient wᵦ∇θE(xᵦ) as a row of a (chunk × P) buffer;
//! 2. [`reduce_rows_kernel()`]: one thread per parameter sums the rows
//!    (adding to the output for the second and later chunks).
//!
//! Per family (notation of `crate::families` and `crate::mlp`):
//!
//! - MLP: ∂E/∂W_l = δ_l z_{l−1}ᵀ, ∂E/∂b_l = δ_l, ∂E/∂w_out = z_L, ∂E/∂b_out = 1;
//! - Gaussian: ∂E/∂μ = −L u, ∂E/∂Lᵢⱼ = rᵢ uⱼ;
//! - ICA: ∂E/∂Wₖⱼ = αₖ ĝ′(sₖ) xⱼ, and for Student-t ∂E/∂αₖ = ĝ(sₖ);
//! - mixture: ∂E/∂aⱼ = πⱼ − γⱼ, ∂E/∂μₖ = −γₖ gₖ,
//!   ∂E/∂Lₖ,ᵢⱼ = γₖ(rᵢuⱼ − δᵢⱼ/Lₖ,ᵢᵢ) (full), ∂E/∂log lₖᵢ = γₖ(uᵢ² − 1) (diagonal);
//! - RBM: ∂F/∂bᵢ = −ρᵢ(xᵢ − bᵢ), ∂F/∂cⱼ = −hⱼ, ∂F/∂Wⱼᵢ = −hⱼ x̃ᵢ,
//!   ∂F/∂log σᵢ = −ρᵢ(xᵢ − bᵢ)² + 2x̃ᵢmᵢ.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::act::log1p;
use crate::gaussian::lt_mul;
use crate::ica::source_fns;
use crate::mixture::{component_energy, exp_shift, logits_lse};
use crate::mlp::{mlp_forward, mlp_out_offset};
use crate::packed::tri;
use crate::param_rows::{param_rows, RowTarget};
use crate::rbm::{rbm_hidden, rbm_preact};
use crate::spec::*;
use cubecl::prelude::*;

#[cube]
fn mlp_grad(w: &[f32], dims: &[u32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let layers = spec.a;
    // z₀ = x and every z_l, σ′(a_l) of every hidden unit, two work vectors.
    let mut z = Array::<f32>::new(comptime!(spec.d + spec.wsum));
    let mut s1 = Array::<f32>::new(spec.wsum);
    let mut no_s2 = Array::<f32>::new(1usize);
    let mut no_s3 = Array::<f32>::new(1usize);
    let mut cur = Array::<f32>::new(spec.wmax);
    let mut nxt = Array::<f32>::new(spec.wmax);
    mlp_forward(w, dims, xin, &mut z, &mut s1, &mut no_s2, &mut no_s3, spec, false, false);
    let n_in = dims[layers] as usize;
    let mut off = mlp_out_offset(dims, spec);
    let mut zin = comptime!(spec.d + spec.wsum) - n_in;
    let mut aoff = spec.wsum.runtime();
    // Output layer: ∂E/∂w_out = z_L, ∂E/∂b_out = 1; γ_L = w_out.
    for k in 0..n_in {
        out[row + off + k] = wb * z[zin + k];
        cur[k] = w[off + k];
    }
    out[row + off + n_in] = wb;
    for t in 0..layers {
        let l = layers - 1 - t;
        let n_out = dims[l + 1] as usize;
        let n_prev = dims[l] as usize;
        off -= n_out * n_prev + n_out;
        aoff -= n_out;
        zin -= n_prev;
        for k in 0..n_out {
            nxt[k] = cur[k] * s1[aoff + k];
        }
        let boff = off + n_out * n_prev;
        for k in 0..n_out {
            let dk = wb * nxt[k];
            let r = off + k * n_prev;
            for j in 0..n_prev {
                out[row + r + j] = dk * z[zin + j];
            }
            out[row + boff + k] = dk;
        }
        if l > 0 {
            for j in 0..n_prev {
                let mut acc = 0.0f32;
                for k in 0..n_out {
                    acc += w[off + k * n_prev + j] * nxt[k];
                }
                cur[j] = acc;
            }
        }
    }
}

#[cube]
fn gaussian_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    for i in 0..d {
        r[i] = xin[i] - w[i];
    }
    lt_mul(w, d, &r, &mut u, d);
    for i in 0..d {
        let base = d + tri(i, 0);
        let mut g = 0.0f32;
        for j in 0..i + 1 {
            g += w[base + j] * u[j];
            out[row + base + j] = wb * r[i] * u[j];
        }
        out[row + i] = -wb * g;
    }
}

#[cube]
fn ica_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let k = spec.a;
    for c in 0..k {
        let r = c * d;
        let mut s = 0.0f32;
        for j in 0..d {
            s += w[r + j] * xin[j];
        }
        let g1 = if comptime!(spec.variant == 2) {
            let hs2 = 0.5f32 * s * s;
            let q = 1.0f32 + hs2;
            out[row + k * d + c] = wb * log1p(hs2);
            w[k * d + c] * s / q
        } else {
            source_fns(s, spec.variant).g1
        };
        for j in 0..d {
            out[row + r + j] = wb * g1 * xin[j];
        }
    }
}

#[cube]
fn mixture_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let k = spec.a;
    let diag = comptime!(spec.variant == 1);
    let flen = comptime!(if spec.variant == 1 { spec.d } else { spec.d * (spec.d + 1) / 2 });
    let fbase = k + k * d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    let mut e = Array::<f32>::new(spec.a);
    let lse = logits_lse(w, k);
    // Pass 1: component energies eₖ.
    let mut emin = 0.0f32;
    for c in 0..k {
        let mu = k + c * d;
        let f = fbase + c * flen;
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        for i in 0..d {
            r[i] = xin[i] - w[mu + i];
        }
        if comptime!(diag) {
            for i in 0..d {
                logdet += w[f + i];
                let ui = f32::exp(w[f + i]) * r[i];
                uu += ui * ui;
            }
        } else {
            for j in 0..d {
                let mut acc = 0.0f32;
                for i in j..d {
                    acc += w[f + tri(i, j)] * r[i];
                }
                uu += acc * acc;
                logdet += f32::ln(f32::abs(w[f + tri(j, j)]));
            }
        }
        let ec = component_energy(lse, w[c], logdet, uu, spec);
        e[c] = ec;
        if c == 0 || ec < emin {
            emin = ec;
        }
    }
    let ssum = exp_shift(&mut e, emin, k);
    // Pass 2: γₖ and the per-component gradients.
    for c in 0..k {
        let gam = e[c] / ssum;
        let pi = f32::exp(w[c] - lse);
        out[row + c] = wb * (pi - gam);
        let wg = wb * gam;
        let mu = k + c * d;
        let f = fbase + c * flen;
        for i in 0..d {
            r[i] = xin[i] - w[mu + i];
        }
        if comptime!(diag) {
            for i in 0..d {
                let l = f32::exp(w[f + i]);
                let ui = l * r[i];
                out[row + mu + i] = -wg * l * ui;
                out[row + f + i] = wg * (ui * ui - 1.0f32);
            }
        } else {
            for j in 0..d {
                let mut acc = 0.0f32;
                for i in j..d {
                    acc += w[f + tri(i, j)] * r[i];
                }
                u[j] = acc;
            }
            for i in 0..d {
                let base = f + tri(i, 0);
                let mut g = 0.0f32;
                for j in 0..i + 1 {
                    g += w[base + j] * u[j];
                    out[row + base + j] = wg * r[i] * u[j];
                }
                out[row + base + i] = wg * (r[i] * u[i] - 1.0f32 / w[base + i]);
                out[row + mu + i] = -wg * g;
            }
        }
    }
}

#[cube]
fn rbm_grad(w: &[f32], xin: &Array<f32>, out: &mut [f32], row: usize, wb: f32, #[comptime] spec: Spec) {
    let d = spec.d;
    let nh = spec.a;
    let wbase = d + nh;
    let sbase = wbase + nh * d;
    let mut xt = Array::<f32>::new(d);
    let mut m = Array::<f32>::new(d);
    for i in 0..d {
        xt[i] = f32::exp(-2.0f32 * w[sbase + i]) * xin[i];
        m[i] = 0.0f32;
    }
    for j in 0..nh {
        let r = wbase + j * d;
        let h = rbm_hidden(rbm_preact(w, &xt, j, spec)).h;
        out[row + d + j] = -wb * h;
        for i in 0..d {
            out[row + r + i] = -wb * h * xt[i];
            m[i] += h * w[r + i];
        }
    }
    for i in 0..d {
        let p = f32::exp(-2.0f32 * w[sbase + i]);
        let dx = xin[i] - w[i];
        out[row + i] = -wb * p * dx;
        out[row + sbase + i] = wb * (2.0f32 * xt[i] * m[i] - p * dx * dx);
    }
}

/// The row wᵦ∇θE(x) of `spec`'s family at `out[row ..]`.
#[cube]
pub fn grad_any(
    w: &[f32],
    meta: &[u32],
    xin: &Array<f32>,
    out: &mut [f32],
    row: usize,
    wb: f32,
    #[comptime] spec: Spec,
) {
    if comptime!(spec.family == FAM_MLP) {
        mlp_grad(w, meta, xin, out, row, wb, spec);
    } else if comptime!(spec.family == FAM_GAUSSIAN) {
        gaussian_grad(w, xin, out, row, wb, spec);
    } else if comptime!(spec.family == FAM_ICA) {
        ica_grad(w, xin, out, row, wb, spec);
    } else if comptime!(spec.family == FAM_MIXTURE) {
        mixture_grad(w, xin, out, row, wb, spec);
    } else {
        rbm_grad(w, xin, out, row, wb, spec);
    }
}

/// Rows `rows[b·P ..]` ← w_{b0+b} ∇θE(x_{b0+b}) for the `n` samples from
/// `b0` (θ read from global memory: each thread reads all of it once).
#[cube(launch)]
pub fn grad_rows_kernel(
    x: &[f32],
    weights: &[f32],
    theta: &[f32],
    meta: &[u32],
    rows: &mut [f32],
    b0: u32,
    n: u32,
    #[comptime] spec: Spec,
) {
    param_rows(x, x, weights, theta, meta, rows, b0, n, 0u32, 0u32, 0u32, spec, comptime!(RowTarget::Energy));
}

/// `out[p] (+)= Σ_{t<n} rows[t·P + p]` (overwrites when `accumulate` is 0).
#[cube(launch)]
pub fn reduce_rows_kernel(rows: &[f32], out: &mut [f32], n: u32, accumulate: u32, #[comptime] n_params: usize) {
    let p = ABSOLUTE_POS;
    if p < n_params {
        let mut acc = 0.0f32;
        for t in 0..n as usize {
            acc += rows[t * n_params + p];
        }
        if accumulate != 0u32 {
            out[p] += acc;
        } else {
            out[p] = acc;
        }
    }
}
