//! In-kernel Gaussian, ICA, Gaussian-mixture and Gaussian–Bernoulli RBM
//! energies, one thread per sample, the twins of `ebm_core::gaussian`,
//! `ebm_core::ica`, `ebm_core::mixture` and `ebm_core::rbm` (same θ layouts).
//!
//! **Gaussian** E = ½‖u‖², u = Lᵀ(x − μ); ∇ₓE = L u; ∂²E/∂xᵢ² = Σ_{j≤i} Lᵢⱼ².
//! θ = [μ (d), L lower triangle row by row, Lᵢⱼ at d + i(i+1)/2 + j].
//!
//! **ICA** E = Σₖ g(sₖ), s = Wx; ∇ₓE = Wᵀg′(s); ∂²E/∂xᵢ² = Σₖ g″(sₖ)Wₖᵢ²;
//! g = log cosh (variant 0), 2 log cosh(s/2) (1), αₖ log(1 + ½s²) (2).
//! θ = [W (K×d), α (K, Student-t only)].
//!
//! **Mixture** E = −log Σₖ exp(−eₖ),
//! eₖ = lse(a) − aₖ + (d/2) log 2π − Σᵢ log|Lₖ,ᵢᵢ| + ½‖Lₖᵀ(x − μₖ)‖²;
//! with gₖ = Pₖ(x − μₖ) and responsibilities γₖ = e^{E − eₖ}:
//! ∇ₓE = ḡ = Σₖ γₖ gₖ, ∂²E/∂xᵢ² = Σₖ γₖ(Pₖ,ᵢᵢ − gₖᵢ²) + ḡᵢ². The sums over k
//! run as one streaming log-sum-exp (rescaled when a smaller eₖ appears),
//! so per-thread state is O(d). θ = [a (K), μ (K×d), per component the
//! packed Lₖ (Full, variant 0) or log lₖ with Lₖ = diag(e^{log lₖ})
//! (Diagonal, variant 1)].
//!
//! **RBM** F = Σᵢ ρᵢ(xᵢ − bᵢ)²/2 − Σⱼ softplus(aⱼ), ρ = e^{−2 log σ},
//! aⱼ = cⱼ + Σᵢ Wⱼᵢρᵢxᵢ; with hⱼ = sigmoid(aⱼ), hⱼ′ = hⱼ(1 − hⱼ), m = Wᵀh:
//! ∇ₓF = ρ∘(x − b − m), ∂²F/∂xᵢ² = ρᵢ − ρᵢ² Σⱼ hⱼ′Wⱼᵢ².
//! θ = [b (d), c (H), W (H×d), log σ (d)].

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::act::log1p;
use crate::gaussian::lt_mul;
use crate::ica::source_fns;
use crate::mixture::{component_energy, logits_lse, stream_step};
use crate::packed::tri;
use crate::rbm::{rbm_hidden, rbm_preact};
use crate::spec::Spec;
use cubecl::prelude::*;

/// Gaussian with Cholesky-factored precision.
#[cube]
pub fn gaussian_eval(
    w: &[f32],
    xin: &Array<f32>,
    grad: &mut Array<f32>,
    hess: &mut Array<f32>,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) -> f32 {
    let d = spec.d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    for i in 0..d {
        r[i] = xin[i] - w[i];
    }
    let e = lt_mul(w, d, &r, &mut u, d);
    if comptime!(want_grad || want_hess) {
        for i in 0..d {
            let row = d + tri(i, 0);
            let mut acc = 0.0f32;
            let mut p = 0.0f32;
            for j in 0..i + 1 {
                let l = w[row + j];
                acc += l * u[j];
                p += l * l;
            }
            grad[i] = acc;
            if comptime!(want_hess) {
                hess[i] = p;
            }
        }
    }
    0.5f32 * e
}

/// g, g′, g″ of an ICA source at s.
#[derive(CubeType, Clone, Copy)]
pub struct Src3 {
    pub g0: f32,
    pub g1: f32,
    pub g2: f32,
}

/// ĝ, ĝ′, ĝ″ of the ICA source `variant` at s ([`crate::ica::source_fns()`]).
#[cube]
pub fn ica_source(s: f32, #[comptime] variant: u32) -> Src3 {
    let f = source_fns(s, variant);
    Src3 { g0: f.g0, g1: f.g1, g2: f.g2 }
}

/// ICA / product of experts.
#[cube]
pub fn ica_eval(
    w: &[f32],
    xin: &Array<f32>,
    grad: &mut Array<f32>,
    hess: &mut Array<f32>,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) -> f32 {
    let d = spec.d;
    let k = spec.a;
    for i in 0..d {
        grad[i] = 0.0f32;
        hess[i] = 0.0f32;
    }
    let mut e = 0.0f32;
    for c in 0..k {
        let row = c * d;
        let mut s = 0.0f32;
        for j in 0..d {
            s += w[row + j] * xin[j];
        }
        let f = ica_source(s, spec.variant);
        let mut al = 1.0f32;
        if comptime!(spec.variant == 2) {
            al = w[k * d + c];
        }
        e += al * f.g0;
        if comptime!(want_grad || want_hess) {
            let g1 = al * f.g1;
            let g2 = al * f.g2;
            for j in 0..d {
                let wj = w[row + j];
                grad[j] += g1 * wj;
                if comptime!(want_hess) {
                    hess[j] += g2 * wj * wj;
                }
            }
        }
    }
    e
}

/// Gaussian mixture, full (variant 0) or diagonal (variant 1) precisions.
#[cube]
pub fn mixture_eval(
    w: &[f32],
    xin: &Array<f32>,
    grad: &mut Array<f32>,
    hess: &mut Array<f32>,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) -> f32 {
    let d = spec.d;
    let k = spec.a;
    let diag = comptime!(spec.variant == 1);
    let flen = comptime!(if spec.variant == 1 { spec.d } else { spec.d * (spec.d + 1) / 2 });
    let fbase = k + k * d;
    let mut r = Array::<f32>::new(d);
    let mut u = Array::<f32>::new(d);
    let mut g = Array::<f32>::new(d);
    let mut pd = Array::<f32>::new(d);

    let lse = logits_lse(w, k);

    let mut m = 0.0f32;
    let mut ssum = 0.0f32;
    for i in 0..d {
        grad[i] = 0.0f32;
        hess[i] = 0.0f32;
    }
    for c in 0..k {
        let mu = k + c * d;
        let f = fbase + c * flen;
        for i in 0..d {
            r[i] = xin[i] - w[mu + i];
        }
        let mut logdet = 0.0f32;
        let mut uu = 0.0f32;
        if comptime!(diag) {
            for i in 0..d {
                let l = f32::exp(w[f + i]);
                logdet += w[f + i];
                let ui = l * r[i];
                uu += ui * ui;
                g[i] = l * ui;
                pd[i] = l * l;
            }
        } else {
            uu = lt_mul(w, f, &r, &mut u, d);
            for i in 0..d {
                let row = f + tri(i, 0);
                logdet += f32::ln(f32::abs(w[row + i]));
                let mut acc = 0.0f32;
                let mut p = 0.0f32;
                for j in 0..i + 1 {
                    let l = w[row + j];
                    acc += l * u[j];
                    p += l * l;
                }
                g[i] = acc;
                pd[i] = p;
            }
        }
        let ec = component_energy(lse, w[c], logdet, uu, spec);
        // Streaming log-sum-exp of −e around the smallest e so far.
        let st = stream_step(m, ec, c);
        m = st.m;
        let scale = st.scale;
        let wgt = st.wgt;
        ssum = ssum * scale + wgt;
        if comptime!(want_grad || want_hess) {
            for i in 0..d {
                let gi = g[i];
                grad[i] = grad[i] * scale + wgt * gi;
                if comptime!(want_hess) {
                    hess[i] = hess[i] * scale + wgt * (pd[i] - gi * gi);
                }
            }
        }
    }
    if comptime!(want_grad || want_hess) {
        let inv = 1.0f32 / ssum;
        for i in 0..d {
            let gb = grad[i] * inv;
            grad[i] = gb;
            if comptime!(want_hess) {
                hess[i] = hess[i] * inv + gb * gb;
            }
        }
    }
    m - f32::ln(ssum)
}

/// Gaussian–Bernoulli RBM free energy.
#[cube]
pub fn rbm_eval(
    w: &[f32],
    xin: &Array<f32>,
    grad: &mut Array<f32>,
    hess: &mut Array<f32>,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) -> f32 {
    let d = spec.d;
    let nh = spec.a;
    let wbase = d + nh;
    let sbase = wbase + nh * d;
    let mut rho = Array::<f32>::new(d);
    let mut xt = Array::<f32>::new(d);
    let mut e = 0.0f32;
    for i in 0..d {
        let p = f32::exp(-2.0f32 * w[sbase + i]);
        rho[i] = p;
        xt[i] = p * xin[i];
        let dx = xin[i] - w[i];
        e += 0.5f32 * p * dx * dx;
        grad[i] = 0.0f32;
        hess[i] = 0.0f32;
    }
    for j in 0..nh {
        let row = wbase + j * d;
        let a = rbm_preact(w, &xt, j, spec);
        let u = rbm_hidden(a);
        let h = u.h;
        let h1 = u.e * u.inv * u.inv;
        e -= f32::max(a, 0.0f32) + log1p(u.e);
        if comptime!(want_grad || want_hess) {
            for i in 0..d {
                let wi = w[row + i];
                grad[i] += h * wi;
                if comptime!(want_hess) {
                    hess[i] += h1 * wi * wi;
                }
            }
        }
    }
    if comptime!(want_grad || want_hess) {
        for i in 0..d {
            let p = rho[i];
            grad[i] = p * (xin[i] - w[i] - grad[i]);
            if comptime!(want_hess) {
                hess[i] = p - p * p * hess[i];
            }
        }
    }
    e
}
