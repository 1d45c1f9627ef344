//! Gaussian-Bernoulli restricted Boltzmann machine, as an energy on the
//! visible units: its free energy (hidden units summed out).
//!
//! # Energy
//!
//! With σᵢ = exp(log_σᵢ), ρᵢ = 1/σᵢ² = exp(−2·log_σᵢ), x̃ᵢ = ρᵢ xᵢ and the
//! hidden pre-activations aⱼ = cⱼ + Σᵢ Wⱼᵢ x̃ᵢ,
//!
//! F(x) = Σᵢ (xᵢ − bᵢ)²/(2σᵢ²) − Σⱼ softplus(aⱼ),
//!
//! so p(x) = exp(−F(x))/Z (seed eq 1) is the visible marginal of the RBM
//! with joint energy Σᵢ(xᵢ−bᵢ)²/(2σᵢ²) − cᵀh − Σⱼᵢ hⱼWⱼᵢxᵢ/σᵢ². softplus is
//! evaluated stably as max(a, 0) + log(1 + e^{−|a|}).
//!
//! # Parameter layout (shared with the GPU kernels and checkpoints)
//!
//! θ = [b (d), c (H), W (H×d row-major: Wⱼᵢ at d + H + j·d + i), log_σ (d)].
//!
//! # Derivatives (per sample)
//!
//! With hⱼ = sigmoid(aⱼ), hⱼ' = hⱼ(1 − hⱼ), hⱼ'' = hⱼ'(1 − 2hⱼ), m = Wᵀh and
//! δ = x − b − m:
//!
//! - ∇ₓF = ρ∘δ =: y, so the score is −y;
//! - ∂²F/∂xᵢ² = ρᵢ − ρᵢ² Σⱼ hⱼ' Wⱼᵢ²;
//! - (a) ∂F/∂bᵢ = −ρᵢ(xᵢ − bᵢ), ∂F/∂cⱼ = −hⱼ, ∂F/∂Wⱼᵢ = −hⱼ x̃ᵢ,
//!   ∂F/∂log_σᵢ = −ρᵢ(xᵢ − bᵢ)² + 2x̃ᵢmᵢ;
//! - (b) f = vᵀ∇ₓF = Σᵢ ṽᵢ(xᵢ − bᵢ) − hᵀt with ṽ = ρ∘v, t = Wṽ; with
//!   C = −h'∘t: ∂f/∂bᵢ = −ṽᵢ, ∂f/∂cⱼ = Cⱼ, ∂f/∂Wⱼᵢ = Cⱼ x̃ᵢ − hⱼ ṽᵢ,
//!   ∂f/∂log_σᵢ = −2ṽᵢδᵢ − 2x̃ᵢ(WᵀC)ᵢ (ρ, x̃ and ṽ all scale as e^{−2·log_σ});
//! - (c) the score-matching integrand of seed eq 12,
//!   J = ½‖y‖² − Σᵢ ρᵢ + Σⱼ hⱼ' κⱼ with κⱼ = Σᵢ Wⱼᵢ²ρᵢ². Since
//!   d(½‖y‖²) = yᵀdy, the first term's gradient is (b) with v = y held fixed;
//!   the h'κ term adds h''κ to C (so C = −h'∘t + h''∘κ in every formula of
//!   (b)), and the x-independent pieces add ∂/∂log_σᵢ: 2ρᵢ − 4ρᵢ² Σⱼ Sⱼ Wⱼᵢ²
//!   and ∂/∂Wⱼᵢ: 2 Sⱼ Wⱼᵢ ρᵢ², with Sⱼ = hⱼ' (summed over the batch with the
//!   weights);
//! - (d) the Hessian quadratic form of sliced SM. Since
//!   ∇ₓ²F = diag(ρ) − diag(ρ) Wᵀ diag(h') W diag(ρ), with ṽ = ρ∘v and
//!   t = Wṽ, q = vᵀ∇ₓ²F v = Σᵢ ρᵢvᵢ² − Σⱼ hⱼ' tⱼ². With Cⱼ = −hⱼ'' tⱼ² (from
//!   a) and Dⱼ = −2hⱼ' tⱼ (from t): ∂q/∂bᵢ = 0, ∂q/∂cⱼ = Cⱼ,
//!   ∂q/∂Wⱼᵢ = Cⱼ x̃ᵢ + Dⱼ ṽᵢ, ∂q/∂log_σᵢ = −2ρᵢvᵢ² − 2x̃ᵢ(WᵀC)ᵢ − 2ṽᵢ(WᵀD)ᵢ.
//!
//! Per block of rows the affine maps and gradient sums are matrix products
//! (`Real::gemm`).

use crate::activation::Activation;
use crate::blocked::{self as batch, BLOCK};
use crate::energy::Target;
use crate::error::Result;
use crate::real::Real;
use crate::rng;

/// softplus(a) = log(1 + eᵃ), sigmoid(a), sigmoid'(a) and sigmoid''(a), stably
/// (the softplus activation and its derivatives, [`crate::activation`]).
#[inline]
fn softplus_and_sigmoids<T: Real>(a: T) -> [T; 4] {
    let d = Activation::Softplus.derivs(a);
    [d.value, d.d1, d.d2, d.d3]
}

/// A Gaussian-Bernoulli RBM's free energy (see the module docs for the
/// parameter layout and derivatives).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussBernoulliRbm<T> {
    dim: usize,
    hidden: usize,
    params: Vec<T>,
}

/// Per-task scratch: BLOCK×H and BLOCK×d matrices.
struct Scratch<T> {
    xt: Vec<T>,
    a: Vec<T>,
    h: Vec<T>,
    h1: Vec<T>,
    t: Vec<T>,
    cw: Vec<T>,
    m: Vec<T>,
    vt: Vec<T>,
    cm: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(hd: usize, d: usize) -> Self {
        let [a, h, h1, t, cw] = batch::zeros(BLOCK * hd);
        let [xt, m, vt, cm] = batch::zeros(BLOCK * d);
        Self { xt, a, h, h1, t, cw, m, vt, cm }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Objective {
    Energy,
    VDotGrad,
    ScoreMatching,
}

impl<T: Real> GaussBernoulliRbm<T> {
    const NAME: &'static str = "gauss_bernoulli_rbm";

    /// The length of θ: d + H + H·d + d.
    pub fn param_len(dim: usize, hidden: usize) -> usize {
        2 * dim + hidden + hidden * dim
    }

    /// An RBM from its flat θ (layout in the module docs).
    ///
    /// Errors: [`crate::EbmError::InvalidConfig`] if `dim` or `hidden` is 0,
    /// [`crate::EbmError::ParamLen`] if θ has the wrong length,
    /// [`crate::EbmError::NonFinite`] if θ holds a NaN or an infinity.
    pub fn new(dim: usize, hidden: usize, params: Vec<T>) -> Result<Self> {
        batch::check_config(
            Self::NAME,
            &[("dim", dim), ("number of hidden units", hidden)],
            &params,
            Self::param_len(dim, hidden),
        )?;
        Ok(Self { dim, hidden, params })
    }

    /// A seeded random start (Hinton's recipe): b = 0, c = 0, log_σ = 0
    /// (unit variances) and Wⱼᵢ = 0.01·z with z standard normal from [`rng`]
    /// (stream 0 of `seed`).
    pub fn init(dim: usize, hidden: usize, seed: u64) -> Result<Self> {
        let mut params = vec![T::zero(); Self::param_len(dim, hidden)];
        let w = &mut params[dim + hidden..dim + hidden + hidden * dim];
        rng::fill_normal(seed, 0, 0, w);
        w.iter_mut().for_each(|v| *v *= T::from_f64(0.01));
        Self::new(dim, hidden, params)
    }

    /// The number of hidden units H.
    pub fn num_hidden(&self) -> usize {
        self.hidden
    }

    /// The visible biases b.
    pub fn visible_bias(&self) -> &[T] {
        &self.params[..self.dim]
    }

    /// The hidden biases c.
    pub fn hidden_bias(&self) -> &[T] {
        &self.params[self.dim..self.dim + self.hidden]
    }

    /// The weights W, H×d row-major.
    pub fn weights(&self) -> &[T] {
        let o = self.dim + self.hidden;
        &self.params[o..o + self.hidden * self.dim]
    }

    /// log σ of the visible units.
    pub fn log_sigma(&self) -> &[T] {
        &self.params[self.dim + self.hidden + self.hidden * self.dim..]
    }

    /// The same model in another precision (parameters rounded to nearest).
    pub fn cast<U: Real>(&self) -> GaussBernoulliRbm<U> {
        GaussBernoulliRbm {
            dim: self.dim,
            hidden: self.hidden,
            params: self.params.iter().map(|&t| U::from_f64(t.to_f64())).collect(),
        }
    }

    /// ρᵢ = exp(−2·log_σᵢ).
    fn rho(&self) -> Vec<T> {
        self.log_sigma().iter().map(|&l| (T::from_f64(-2.0) * l).exp()).collect()
    }

    /// For the n rows `yb`: ỹ = ρ∘y into `scaled` and ỹWᵀ (n×H) into `proj`.
    fn scaled_projection(&self, n: usize, yb: &[T], rho: &[T], scaled: &mut [T], proj: &mut [T]) {
        let (d, hd) = (self.dim, self.hidden);
        for (yt, yr) in scaled.chunks_exact_mut(d).zip(yb.chunks_exact(d)) {
            for i in 0..d {
                yt[i] = rho[i] * yr[i];
            }
        }
        T::gemm(n, d, hd, T::one(), scaled, d, 1, self.weights(), 1, d, T::zero(), proj, hd, 1);
    }

    /// For n rows: x̃ = ρ∘x into `sc.xt`, and a = x̃Wᵀ + c into `sc.a`.
    fn preact(&self, n: usize, xb: &[T], rho: &[T], sc: &mut Scratch<T>) {
        let hd = self.hidden;
        self.scaled_projection(n, xb, rho, &mut sc.xt, &mut sc.a);
        for row in sc.a[..n * hd].chunks_exact_mut(hd) {
            for (a, &c) in row.iter_mut().zip(self.hidden_bias()) {
                *a += c;
            }
        }
    }

    fn forward(&self, x: &[T], out: batch::Out<'_, T>) {
        let (d, hd) = (self.dim, self.hidden);
        let rho = self.rho();
        let w2: Vec<T> = if out.h.is_some() { self.weights().iter().map(|&w| w * w).collect() } else { Vec::new() };
        let bias = self.visible_bias();
        let half = T::from_f64(0.5);
        batch::forward(
            d,
            x,
            out,
            hd * d,
            || Scratch::new(hd, d),
            |sc, xb, ob| {
                let n = ob.e.len();
                self.preact(n, xb, &rho, sc);
                for r in 0..n {
                    let xr = &xb[r * d..(r + 1) * d];
                    let mut e = T::zero();
                    for i in 0..d {
                        let q = xr[i] - bias[i];
                        e += half * rho[i] * q * q;
                    }
                    for j in 0..hd {
                        let f = softplus_and_sigmoids(sc.a[r * hd + j]);
                        e -= f[0];
                        sc.h[r * hd + j] = f[1];
                        sc.h1[r * hd + j] = f[2];
                    }
                    ob.e[r] = e;
                }
                if let Some(s) = ob.s {
                    // m = h W, score = −ρ∘(x − b − m).
                    T::gemm(n, hd, d, T::one(), &sc.h, hd, 1, self.weights(), d, 1, T::zero(), &mut sc.m, d, 1);
                    for r in 0..n {
                        for i in 0..d {
                            s[r * d + i] = -rho[i] * (xb[r * d + i] - bias[i] - sc.m[r * d + i]);
                        }
                    }
                }
                if let Some(h) = ob.h {
                    T::gemm(n, hd, d, T::one(), &sc.h1, hd, 1, &w2, d, 1, T::zero(), h, d, 1);
                    for r in 0..n {
                        for i in 0..d {
                            let q = &mut h[r * d + i];
                            *q = rho[i] - rho[i] * rho[i] * *q;
                        }
                    }
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ of F, vᵀ∇ₓF or J (see the module docs), written to `grad`.
    fn grad(&self, obj: Objective, x: &[T], v: Option<&[T]>, w: &[T], grad: &mut [T]) {
        let (d, hd) = (self.dim, self.hidden);
        let np = self.params.len();
        let (oc, ow, ol) = (d, d + hd, d + hd + hd * d);
        let rho = self.rho();
        let bias = self.visible_bias();
        let wts = self.weights();
        let kappa: Vec<T> = if obj == Objective::ScoreMatching {
            wts.chunks_exact(d).map(|wj| (0..d).fold(T::zero(), |s, i| s + wj[i] * wj[i] * rho[i] * rho[i])).collect()
        } else {
            Vec::new()
        };
        let two = T::from_f64(2.0);
        // acc = [θ-gradient (np), Sⱼ = Σᵦ wᵦ hⱼ' (H, score matching only)].
        let total = batch::reduce(
            w.len(),
            np + hd,
            if obj == Objective::Energy { 2 } else { 4 } * hd * d,
            || Scratch::new(hd, d),
            |sc, rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                let wb = &w[rows.clone()];
                self.preact(n, xb, &rho, sc);
                let sm = obj == Objective::ScoreMatching;
                for r in 0..n {
                    for j in 0..hd {
                        let i = r * hd + j;
                        let f = softplus_and_sigmoids(sc.a[i]);
                        sc.h[i] = f[1];
                        sc.h1[i] = f[2];
                        // Keep h'' in `a` (no longer needed) for score matching.
                        sc.a[i] = f[3];
                        if sm {
                            acc[np + j] += wb[r] * f[2];
                        }
                    }
                }
                // m = hW (n×d).
                T::gemm(n, hd, d, T::one(), &sc.h, hd, 1, wts, d, 1, T::zero(), &mut sc.m, d, 1);
                // Weighted h, stored in `cw` for now: ∂/∂c −= Σ wh, and the
                // Wᵀ-gradient term −(wh)ᵀ x̃ (a) or −(wh)ᵀ ṽ (b, c).
                for r in 0..n {
                    for j in 0..hd {
                        sc.cw[r * hd + j] = wb[r] * sc.h[r * hd + j];
                    }
                }
                let (ab, rest) = acc.split_at_mut(oc);
                let (ac, rest) = rest.split_at_mut(hd);
                let (aw, rest) = rest.split_at_mut(hd * d);
                let al = &mut rest[..d];
                if obj == Objective::Energy {
                    for r in 0..n {
                        let xr = &xb[r * d..(r + 1) * d];
                        let wn = wb[r];
                        for i in 0..d {
                            let q = xr[i] - bias[i];
                            ab[i] -= wn * rho[i] * q;
                            al[i] += wn * (two * sc.xt[r * d + i] * sc.m[r * d + i] - rho[i] * q * q);
                        }
                        for j in 0..hd {
                            ac[j] -= sc.cw[r * hd + j];
                        }
                    }
                    T::gemm(hd, n, d, -T::one(), &sc.cw, 1, hd, &sc.xt, d, 1, T::one(), aw, d, 1);
                    return;
                }
                // ṽ = ρ∘v (b) or ρ∘y = ρ²∘δ (c), with δ = x − b − m kept in `m`.
                for r in 0..n {
                    for i in 0..d {
                        let k = r * d + i;
                        let delta = xb[k] - bias[i] - sc.m[k];
                        sc.m[k] = delta;
                        sc.vt[k] = match v {
                            Some(v) => rho[i] * v[rows.start * d + k],
                            None => rho[i] * rho[i] * delta,
                        };
                    }
                }
                // −(wh)ᵀṽ into ∂W.
                T::gemm(hd, n, d, -T::one(), &sc.cw, 1, hd, &sc.vt, d, 1, T::one(), aw, d, 1);
                // t = ṽWᵀ (n×H); C = −h'∘t (+ h''∘κ), weighted.
                T::gemm(n, d, hd, T::one(), &sc.vt, d, 1, wts, 1, d, T::zero(), &mut sc.t, hd, 1);
                for r in 0..n {
                    for j in 0..hd {
                        let i = r * hd + j;
                        let mut c = -sc.h1[i] * sc.t[i];
                        if sm {
                            c += sc.a[i] * kappa[j];
                        }
                        sc.cw[i] = wb[r] * c;
                        ac[j] += sc.cw[i];
                    }
                }
                T::gemm(hd, n, d, T::one(), &sc.cw, 1, hd, &sc.xt, d, 1, T::one(), aw, d, 1);
                // (wC)W (n×d) for the log_σ gradient.
                T::gemm(n, hd, d, T::one(), &sc.cw, hd, 1, wts, d, 1, T::zero(), &mut sc.cm, d, 1);
                for r in 0..n {
                    let wn = wb[r];
                    for i in 0..d {
                        let k = r * d + i;
                        ab[i] -= wn * sc.vt[k];
                        al[i] -= two * (wn * sc.vt[k] * sc.m[k] + sc.xt[k] * sc.cm[k]);
                    }
                }
            },
        );
        grad.copy_from_slice(&total[..np]);
        if obj == Objective::ScoreMatching {
            let wsum: T = w.iter().copied().sum();
            let s = &total[np..];
            for i in 0..d {
                let r2 = rho[i] * rho[i];
                let mut q = T::zero();
                for j in 0..hd {
                    let wji = wts[j * d + i];
                    grad[ow + j * d + i] += two * s[j] * wji * r2;
                    q += s[j] * wji * wji;
                }
                grad[ol + i] += two * rho[i] * wsum - T::from_f64(4.0) * r2 * q;
            }
        }
    }
}

impl<T: Real> GaussBernoulliRbm<T> {
    /// For n rows: ṽ = ρ∘v into `sc.vt` and t = ṽWᵀ into `sc.t`.
    fn project_dir(&self, n: usize, vb: &[T], rho: &[T], sc: &mut Scratch<T>) {
        self.scaled_projection(n, vb, rho, &mut sc.vt, &mut sc.t);
    }

    /// qᵦ = Σᵢ ρᵢvᵢ² − Σⱼ hⱼ' tⱼ² (module docs, (d)).
    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) {
        let (d, hd) = (self.dim, self.hidden);
        let rho = self.rho();
        batch::forward_dir(
            d,
            x,
            v,
            out,
            2 * hd * d,
            || Scratch::new(hd, d),
            |sc, xb, vb, ob| {
                let n = ob.len();
                self.preact(n, xb, &rho, sc);
                self.project_dir(n, vb, &rho, sc);
                for (r, q) in ob.iter_mut().enumerate() {
                    let vr = &vb[r * d..(r + 1) * d];
                    let mut acc = (0..d).fold(T::zero(), |s, i| s + rho[i] * vr[i] * vr[i]);
                    for j in 0..hd {
                        let t = sc.t[r * hd + j];
                        acc -= softplus_and_sigmoids(sc.a[r * hd + j])[2] * t * t;
                    }
                    *q = acc;
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ qᵦ (module docs, (d)), written to `grad`.
    fn grad_v_hess_v_impl(&self, x: &[T], v: &[T], w: &[T], grad: &mut [T]) {
        let (d, hd) = (self.dim, self.hidden);
        let np = self.params.len();
        let (oc, ow, ol) = (d, d + hd, d + hd + hd * d);
        let rho = self.rho();
        let wts = self.weights();
        let two = T::from_f64(2.0);
        let total = batch::reduce(
            w.len(),
            np,
            5 * hd * d,
            || Scratch::new(hd, d),
            |sc, rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                let vb = &v[rows.start * d..rows.end * d];
                let wb = &w[rows];
                self.preact(n, xb, &rho, sc);
                self.project_dir(n, vb, &rho, sc);
                // Weighted C = −h''∘t² into `cw`, D = −2h'∘t into `h`.
                let ac = &mut acc[oc..ow];
                for r in 0..n {
                    for j in 0..hd {
                        let i = r * hd + j;
                        let f = softplus_and_sigmoids(sc.a[i]);
                        let t = sc.t[i];
                        sc.cw[i] = -wb[r] * f[3] * t * t;
                        sc.h[i] = -two * wb[r] * f[2] * t;
                        ac[j] += sc.cw[i];
                    }
                }
                let aw = &mut acc[ow..ol];
                T::gemm(hd, n, d, T::one(), &sc.cw, 1, hd, &sc.xt, d, 1, T::one(), aw, d, 1);
                T::gemm(hd, n, d, T::one(), &sc.h, 1, hd, &sc.vt, d, 1, T::one(), aw, d, 1);
                // (wC)W and (wD)W (n×d) for the log_σ gradient.
                T::gemm(n, hd, d, T::one(), &sc.cw, hd, 1, wts, d, 1, T::zero(), &mut sc.cm, d, 1);
                T::gemm(n, hd, d, T::one(), &sc.h, hd, 1, wts, d, 1, T::zero(), &mut sc.m, d, 1);
                let al = &mut acc[ol..];
                for r in 0..n {
                    for i in 0..d {
                        let k = r * d + i;
                        let vi = vb[k];
                        al[i] -= two * (wb[r] * rho[i] * vi * vi + sc.xt[k] * sc.cm[k] + sc.vt[k] * sc.m[k]);
                    }
                }
            },
        );
        grad.copy_from_slice(&total);
    }
}

impl<T: Real> GaussBernoulliRbm<T> {
    fn family_name(&self) -> &'static str {
        Self::NAME
    }

    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) {
        match target {
            Target::Energy => self.grad(Objective::Energy, x, None, w, grad),
            Target::VDotGradX(v) => self.grad(Objective::VDotGrad, x, Some(&v), w, grad),
            Target::ScoreMatching => self.grad(Objective::ScoreMatching, x, None, w, grad),
        }
    }
}

batch::blocked_family!(GaussBernoulliRbm);
