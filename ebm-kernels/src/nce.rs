//! Noise-contrastive estimation (seed §4.1, eq 22–24) on the device: the
//! energies, logits, logistic loss and per-sample weights of the points in
//! one kernel ([`nce_kernel()`]; from energies already on the device,
//! [`crate::terms::nce_energy_kernel()`]), then Σᵦ wᵦ∇θE with those
//! weights without leaving the device.
//!
//! With a learned log-normaliser c and ν noise samples per data sample
//! (the convention of `ebm_estimators::nce`), for each of the N = (1 + ν)B
//! points
//!
//! G(x) = −E_θ(x) − c − log p_n(x) − log ν,
//!
//! L = [Σ_data softplus(−G) + Σ_noise softplus(G)] / N,
//!
//! ∇θL = Σ wᵦ ∇θE(xᵦ) with wᵦ = σ(−G)/N on data and −σ(G)/N on noise,
//! and ∂L/∂c = Σ wᵦ.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::act::{log1p, sigmoid_pair};
use crate::fused::{eval_any, load_row};
use crate::spec::Spec;
use cubecl::prelude::*;

/// The scalars of an NCE launch: N = (1 + ν)B points, the first B data.
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct NceArgs {
    /// The points N.
    pub n: u32,
    /// The data points B.
    pub n_data: u32,
    /// c + log ν.
    pub c_plus_log_nu: f32,
    /// 1/N.
    pub inv_n: f32,
}

/// The per-point outputs of an NCE launch (N each): the logits G, the loss
/// terms and the gradient weights.
#[derive(CubeType, CubeLaunch)]
pub struct NceOuts {
    pub logits: Box<[f32]>,
    pub terms: Box<[f32]>,
    pub weights: Box<[f32]>,
}

/// The logit, loss term and gradient weight of one point.
#[derive(CubeType, Clone, Copy)]
pub struct NcePoint {
    pub logit: f32,
    pub term: f32,
    pub weight: f32,
}

/// One point of energy `e` (a data point when `is_data`): G = −E − (c + log ν)
/// − log p_n, the term softplus(∓G) and the weight ±σ(∓G)/N.
#[cube]
pub fn nce_point(e: f32, log_pn: f32, is_data: bool, c_plus_log_nu: f32, inv_n: f32) -> NcePoint {
    let gl = -e - c_plus_log_nu - log_pn;
    // z = −G on data, G on noise: the term is softplus(z), the weight ±σ(z)/N.
    let z = select(is_data, -gl, gl);
    let sign = select(is_data, 1.0f32, -1.0f32);
    let p = sigmoid_pair(z);
    NcePoint { logit: gl, term: f32::max(z, 0.0f32) + log1p(p.e), weight: sign * p.s * inv_n }
}

/// Point `b` of energy `e`: writes its logit, loss term and gradient weight.
#[cube]
pub fn store_nce_point(e: f32, b: usize, log_pn: &[f32], out: &mut NceOuts, args: &NceArgs) {
    let p = nce_point(e, log_pn[b], b < args.n_data as usize, args.c_plus_log_nu, args.inv_n);
    out.logits[b] = p.logit;
    out.terms[b] = p.term;
    out.weights[b] = p.weight;
}

/// Per point, fused: the energy of the family `spec`, then the logit G, the
/// loss term and the gradient weight.
#[cube(launch)]
pub fn nce_kernel(
    x: &[f32],
    log_pn: &[f32],
    theta: &[f32],
    meta: &[u32],
    out: &mut NceOuts,
    args: NceArgs,
    #[comptime] spec: Spec,
) {
    let b = ABSOLUTE_POS;
    if b < args.n as usize {
        let d = spec.d;
        let mut xs = Array::<f32>::new(d);
        let mut g = Array::<f32>::new(d);
        let mut h = Array::<f32>::new(d);
        load_row(x, b, &mut xs, d);
        let e = eval_any(theta, meta, &xs, &mut g, &mut h, 0usize, 0usize, spec, false, false);
        store_nce_point(e, b, log_pn, out, &args);
    }
}
