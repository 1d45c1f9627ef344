//! Gaussian mixture energy, normalised by construction (log Z = 0).
//!
//! # Energy
//!
//! E(x) = −log Σₖ πₖ N(x; μₖ, Pₖ⁻¹) with π = softmax(logits) and precision
//! Pₖ = Lₖ Lₖᵀ. Writing the per-component energy
//!
//! eₖ(x) = −log πₖ + (d/2)·log 2π − Σᵢ log|Lₖ,ᵢᵢ| + ½‖uₖ‖², uₖ = Lₖᵀ rₖ, rₖ = x − μₖ,
//!
//! gives E = −log Σₖ exp(−eₖ), evaluated as a stable log-sum-exp around
//! minₖ eₖ. The density exp(−E) integrates to one (seed eq 1 with Z = 1).
//!
//! # Parameter layout (shared with the GPU kernels and checkpoints)
//!
//! θ = [logits (K), means (K×d row-major: μₖ at K + k·d), then per component
//! k in order:
//! - [`Covariance::Full`]: Lₖ's lower triangle row by row (Lₖ,₀₀, Lₖ,₁₀,
//!   Lₖ,₁₁, Lₖ,₂₀, …), d(d+1)/2 values at K + K·d + k·d(d+1)/2;
//! - [`Covariance::Diagonal`]: log_lₖ (d values at K + K·d + k·d), with
//!   Lₖ = diag(exp(log_lₖ)), so Pₖ = diag(exp(2·log_lₖ))].
//!
//! # Derivatives (per sample)
//!
//! With gₖ = Pₖ rₖ = ∇ₓeₖ, responsibilities γₖ = exp(E − eₖ) (softmax of −e)
//! and ḡ = Σₖ γₖ gₖ:
//!
//! - ∇ₓE = ḡ, so the score is −ḡ;
//! - ∂²E/∂xᵢ² = Σₖ γₖ Pₖ,ᵢᵢ − Σₖ γₖ (gₖᵢ − ḡᵢ)² (the γ-mixture of the component
//!   Hessians minus the γ-variance of the component gradients, evaluated in
//!   this centred form so that it does not cancel far from the means).
//!
//! For any parameter, ∂γₖ = γₖ(∂E − ∂eₖ) and ∂E = Σₖ γₖ ∂eₖ. Every gradient
//! below is therefore of the form
//! Σₖ [αₖ ∂eₖ + βₖ ∂(wₖᵀgₖ)|_{wₖ fixed} − τₖ ∂ tr Pₖ], whose logit part is
//! ∂/∂aⱼ = πⱼ Σₖαₖ − αⱼ (since ∂eₖ/∂aⱼ = πⱼ − δₖⱼ):
//!
//! - (a) E: αₖ = γₖ, β = τ = 0;
//! - (b) f = vᵀ∇ₓE = Σₖ γₖ φₖ with φₖ = vᵀgₖ: αₖ = γₖ(f − φₖ), βₖ = γₖ,
//!   wₖ = v, τ = 0;
//! - (c) the score-matching integrand of seed eq 12, which for a mixture is
//!   J = Σₖ γₖ ψₖ − ½‖ḡ‖² with ψₖ = ‖gₖ‖² − tr Pₖ: with χₖ = ψₖ − ḡᵀgₖ and
//!   χ̄ = Σₖ γₖ χₖ, αₖ = γₖ(χ̄ − χₖ), βₖ = γₖ, wₖ = 2gₖ − ḡ, τₖ = γₖ;
//! - (d) the Hessian quadratic form of sliced SM. The Hessian is
//!   ∇ₓ²E = Σₖ γₖ Pₖ − Σₖ γₖ (gₖ − ḡ)(gₖ − ḡ)ᵀ, so with φₖ = vᵀgₖ,
//!   φ̄ = vᵀḡ and πₖ = vᵀPₖv = ‖Lₖᵀv‖²,
//!   q = vᵀ∇ₓ²E v = Σₖ γₖ [πₖ − (φₖ − φ̄)²] = Σₖ γₖ (πₖ − φₖ²) + φ̄².
//!   Differentiating the last form, ∂q = Σₖ ∂γₖ χₖ + Σₖ γₖ [∂πₖ − 2(φₖ − φ̄) ∂φₖ]
//!   with χₖ = πₖ − (φₖ − φ̄)² (up to a k-independent term that ∂γ
//!   annihilates): αₖ = γₖ(χ̄ − χₖ), βₖ = −2γₖ(φₖ − φ̄), wₖ = v, τ = 0, plus
//!   the new component piece γₖ ∂πₖ (last column of the table).
//!
//! (αₖ is computed from gₖ − ḡ: f − φₖ = −vᵀ(gₖ − ḡ) and
//! χₖ = ‖gₖ − ḡ‖² + ḡᵀ(gₖ − ḡ) − tr Pₖ, which avoid cancellation; in (d),
//! φₖ − φ̄ = vᵀ(gₖ − ḡ).)
//!
//! The component pieces (Full; the Diagonal ones follow with Lₖ = diag(lₖ),
//! ∂/∂log_lₖᵢ = lₖᵢ ∂/∂Lₖ,ᵢᵢ):
//!
//! | | ∂/∂μₖ | ∂/∂Lₖ,ᵢⱼ | ∂/∂log_lₖᵢ (Diagonal) |
//! |---|---|---|---|
//! | eₖ | −gₖ | rᵢuⱼ − δᵢⱼ/Lₖ,ᵢᵢ | uᵢ² − 1 |
//! | wᵀgₖ | −Pₖw | wᵢuⱼ + (Lₖᵀw)ⱼ rᵢ | 2wᵢgₖᵢ |
//! | tr Pₖ | 0 | 2Lₖ,ᵢⱼ | 2lₖᵢ² |
//! | πₖ = vᵀPₖv | 0 | 2vᵢ(Lₖᵀv)ⱼ | 2lₖᵢ²vᵢ² |
//!
//! The terms that do not depend on x (−δᵢⱼ/Lᵢᵢ, tr P) are accumulated as
//! Σᵦ wᵦαₖ and Σᵦ wᵦτₖ over the batch and applied once. Batches run in
//! parallel jobs (rayon) of row blocks; for Full components each block goes
//! through matrix products (`Real::gemm`) with a dense Lₖ: U = R Lₖ, G = U Lₖᵀ,
//! and the Lₖ-gradient sums (cR)ᵀU, (cW)ᵀU, (cR)ᵀ(W Lₖ); for (d) the
//! products Aₖ = V Lₖ serve both πₖ and the Lₖ-gradient
//! (cR + 2wγV)ᵀAₖ.

use crate::blocked::{self as batch, BLOCK};
use crate::energy::Target;
use crate::error::Result;
use crate::gaussian::{dot, tri};
use crate::real::Real;
use crate::rng;

/// The covariance structure of every component of a [`GaussianMixture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Covariance {
    /// A full precision Pₖ = Lₖ Lₖᵀ with Lₖ lower-triangular.
    Full,
    /// A diagonal precision Pₖ = diag(exp(2·log_lₖ)).
    Diagonal,
}

impl Covariance {
    /// Parameters per component for the precision factor in dimension d.
    pub fn factor_len(self, dim: usize) -> usize {
        match self {
            Covariance::Full => dim * (dim + 1) / 2,
            Covariance::Diagonal => dim,
        }
    }
}

/// A K-component Gaussian mixture E(x) = −log Σₖ πₖ N(x; μₖ, Pₖ⁻¹) (see the
/// module docs for the parameter layout and derivatives).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture<T> {
    dim: usize,
    k: usize,
    cov: Covariance,
    params: Vec<T>,
}

/// Per-call quantities that depend only on θ.
struct Prep<T> {
    /// πₖ.
    pi: Vec<T>,
    /// The x-independent part of eₖ.
    konst: Vec<T>,
    /// Pₖ,ᵢᵢ (K×d).
    diag_p: Vec<T>,
    /// tr Pₖ.
    tr_p: Vec<T>,
    /// Full: dense Lₖ (K×d×d, zeros above the diagonal); Diagonal:
    /// lₖᵢ = exp(log_lₖᵢ) (K×d).
    l: Vec<T>,
}

/// Per-task scratch for a block of at most BLOCK rows: per-component r, u, g
/// (K×BLOCK×d, component-major), per-row energies, responsibilities and
/// coefficients (BLOCK×K), ḡ and three work matrices (BLOCK×d).
struct Scratch<T> {
    r: Vec<T>,
    u: Vec<T>,
    g: Vec<T>,
    e: Vec<T>,
    gam: Vec<T>,
    alpha: Vec<T>,
    gbar: Vec<T>,
    wv: Vec<T>,
    a: Vec<T>,
    tmp: Vec<T>,
    vec_d: Vec<T>,
    /// The β coefficients (BLOCK×K): γₖ, or −2γₖ(φₖ − φ̄) for (d).
    beta: Vec<T>,
    /// πₖ = vᵀPₖv (BLOCK×K, (d) only).
    qp: Vec<T>,
    /// Aₖ = V Lₖ (K×BLOCK×d, Full and (d) only).
    av: Vec<T>,
}

impl<T: Real> Scratch<T> {
    /// Scratch for K components in dimension d; `dir` sizes the buffers of
    /// the Hessian quadratic form (d).
    fn new(k: usize, d: usize, dir: bool) -> Self {
        let [r, u, g] = batch::zeros(k * BLOCK * d);
        let [e, gam, alpha, beta] = batch::zeros(BLOCK * k);
        let [gbar, wv, a, tmp] = batch::zeros(BLOCK * d);
        let [vec_d] = batch::zeros(d);
        let [qp] = batch::zeros(if dir { BLOCK * k } else { 0 });
        let [av] = batch::zeros(if dir { k * BLOCK * d } else { 0 });
        Self { r, u, g, e, gam, alpha, gbar, wv, a, tmp, vec_d, beta, qp, av }
    }
}

/// Which parameter gradient to accumulate.
#[derive(Clone, Copy)]
enum Objective {
    Energy,
    VDotGrad,
    ScoreMatching,
    VHessV,
}

impl<T: Real> GaussianMixture<T> {
    fn model_name(cov: Covariance) -> &'static str {
        match cov {
            Covariance::Full => "gaussian_mixture_full",
            Covariance::Diagonal => "gaussian_mixture_diag",
        }
    }

    /// The length of θ: K + K·d + K·(d(d+1)/2 or d).
    pub fn param_len(dim: usize, k: usize, cov: Covariance) -> usize {
        k + k * dim + k * cov.factor_len(dim)
    }

    /// A mixture from its flat θ (layout in the module docs).
    ///
    /// Errors: [`crate::EbmError::InvalidConfig`] if `dim` or `k` is 0,
    /// [`crate::EbmError::ParamLen`] if θ has the wrong length,
    /// [`crate::EbmError::NonFinite`] if θ holds a NaN or an infinity.
    pub fn new(dim: usize, k: usize, cov: Covariance, params: Vec<T>) -> Result<Self> {
        batch::check_config(
            Self::model_name(cov),
            &[("dim", dim), ("number of components", k)],
            &params,
            Self::param_len(dim, k, cov),
        )?;
        Ok(Self { dim, k, cov, params })
    }

    /// The full-covariance mixture Σₖ πₖ N(μₖ, Σₖ) from its moments:
    /// `weights` πₖ (K positive values; the logits are log πₖ, so weights
    /// that do not sum to one are normalised by the softmax), `means` (K×d
    /// row-major) and `covariances` (K row-major d×d SPD matrices). θ holds
    /// logits log πₖ and the Cholesky factor Lₖ of each precision
    /// Pₖ = Σₖ⁻¹ = Lₖ Lₖᵀ.
    ///
    /// Errors: [`crate::EbmError::InvalidConfig`] if K is 0, a weight is not
    /// positive and finite, or a covariance is not positive definite;
    /// [`crate::EbmError::DimMismatch`] if `means` or `covariances` do not
    /// hold K·d and K·d² values.
    pub fn from_moments(weights: &[T], means: &[T], covariances: &[T]) -> Result<Self> {
        let k = weights.len();
        if k == 0 || weights.iter().any(|&w| !(w > T::zero() && w.is_finite())) {
            return Err(crate::EbmError::InvalidConfig(format!(
                "gaussian mixture: weights must be positive and finite, got {k} weights"
            )));
        }
        let dim = means.len() / k;
        if dim == 0 || means.len() != k * dim {
            return Err(crate::EbmError::DimMismatch {
                what: "gaussian mixture: means",
                expected: k * dim.max(1),
                got: means.len(),
            });
        }
        if covariances.len() != k * dim * dim {
            let expected = k * dim * dim;
            return Err(crate::EbmError::DimMismatch {
                what: "gaussian mixture: covariances",
                expected,
                got: covariances.len(),
            });
        }
        let mut params: Vec<T> = weights.iter().map(|&w| w.ln()).collect();
        params.extend_from_slice(means);
        for cov in covariances.chunks_exact(dim * dim) {
            let precision = crate::linalg::inverse_spd(cov, dim)?;
            params.extend(crate::linalg::cholesky_packed(&precision, dim)?);
        }
        Self::new(dim, k, Covariance::Full, params)
    }

    /// A seeded random start: zero logits (equal weights), means standard
    /// normal from [`rng`] (stream 0 of `seed`), identity precisions.
    pub fn init(dim: usize, k: usize, cov: Covariance, seed: u64) -> Result<Self> {
        let mut params = vec![T::zero(); Self::param_len(dim, k, cov)];
        rng::fill_normal(seed, 0, 0, &mut params[k..k + k * dim]);
        if cov == Covariance::Full {
            let base = k + k * dim;
            let cs = cov.factor_len(dim);
            for c in 0..k {
                for i in 0..dim {
                    params[base + c * cs + tri(i, i)] = T::one();
                }
            }
        }
        Self::new(dim, k, cov, params)
    }

    /// The number of components K.
    pub fn num_components(&self) -> usize {
        self.k
    }

    /// The covariance structure.
    pub fn covariance(&self) -> Covariance {
        self.cov
    }

    /// The mixture logits (π = softmax(logits)).
    pub fn logits(&self) -> &[T] {
        &self.params[..self.k]
    }

    /// The means, K×d row-major.
    pub fn means(&self) -> &[T] {
        &self.params[self.k..self.k + self.k * self.dim]
    }

    /// The precision factors of all components (packed Lₖ or log_lₖ, per
    /// component in order).
    pub fn factors(&self) -> &[T] {
        &self.params[self.k + self.k * self.dim..]
    }

    /// The mixture weights π = softmax(logits).
    pub fn weights(&self) -> Vec<T> {
        let a = self.logits();
        let m = a.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let ex: Vec<T> = a.iter().map(|&v| (v - m).exp()).collect();
        let s: T = ex.iter().copied().sum();
        ex.into_iter().map(|v| v / s).collect()
    }

    /// The same model in another precision (parameters rounded to nearest).
    pub fn cast<U: Real>(&self) -> GaussianMixture<U> {
        GaussianMixture {
            dim: self.dim,
            k: self.k,
            cov: self.cov,
            params: self.params.iter().map(|&t| U::from_f64(t.to_f64())).collect(),
        }
    }

    fn factor(&self, c: usize) -> &[T] {
        let cs = self.cov.factor_len(self.dim);
        &self.factors()[c * cs..(c + 1) * cs]
    }

    fn prep(&self) -> Prep<T> {
        let (d, k) = (self.dim, self.k);
        let pi = self.weights();
        let a = self.logits();
        let amax = a.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let lse = amax + a.iter().map(|&v| (v - amax).exp()).sum::<T>().ln();
        let half_log_2pi = T::from_f64(0.5 * (2.0 * std::f64::consts::PI).ln());
        let mut konst = vec![T::zero(); k];
        let mut diag_p = vec![T::zero(); k * d];
        let mut tr_p = vec![T::zero(); k];
        let mut l = match self.cov {
            Covariance::Full => vec![T::zero(); k * d * d],
            Covariance::Diagonal => self.factors().iter().map(|&v| v.exp()).collect(),
        };
        for c in 0..k {
            let f = self.factor(c);
            let mut logdet = T::zero();
            for i in 0..d {
                let (li, pii) = match self.cov {
                    Covariance::Full => {
                        let row = &f[tri(i, 0)..tri(i, 0) + i + 1];
                        l[c * d * d + i * d..c * d * d + i * d + i + 1].copy_from_slice(row);
                        (row[i].abs().ln(), dot(row, row))
                    }
                    Covariance::Diagonal => (f[i], l[c * d + i] * l[c * d + i]),
                };
                logdet += li;
                diag_p[c * d + i] = pii;
                tr_p[c] += pii;
            }
            konst[c] = lse - a[c] + T::from_f64(d as f64) * half_log_2pi - logdet;
        }
        Prep { pi, konst, diag_p, tr_p, l }
    }

    /// For the n rows `xb`: fills r, u, g (per component), e, γ and ḡ of `s`
    /// and writes E into `energy[..n]`. Full components use two matrix
    /// products per block: U = R Lₖ (rows uᵀ = (Lₖᵀr)ᵀ) and G = U Lₖᵀ.
    fn eval_block(&self, p: &Prep<T>, xb: &[T], energy: &mut [T], s: &mut Scratch<T>) {
        let (d, k) = (self.dim, self.k);
        let n = energy.len();
        let half = T::from_f64(0.5);
        for c in 0..k {
            let mu = &self.means()[c * d..(c + 1) * d];
            let blk = c * BLOCK * d..c * BLOCK * d + n * d;
            let (r, u, g) = (&mut s.r[blk.clone()], &mut s.u[blk.clone()], &mut s.g[blk]);
            for (rr, xr) in r.chunks_exact_mut(d).zip(xb.chunks_exact(d)) {
                for i in 0..d {
                    rr[i] = xr[i] - mu[i];
                }
            }
            match self.cov {
                Covariance::Full => {
                    let l = &p.l[c * d * d..(c + 1) * d * d];
                    T::gemm(n, d, d, T::one(), r, d, 1, l, d, 1, T::zero(), u, d, 1);
                    T::gemm(n, d, d, T::one(), u, d, 1, l, 1, d, T::zero(), g, d, 1);
                }
                Covariance::Diagonal => {
                    let l = &p.l[c * d..(c + 1) * d];
                    for ((rr, ur), gr) in r.chunks_exact(d).zip(u.chunks_exact_mut(d)).zip(g.chunks_exact_mut(d)) {
                        for i in 0..d {
                            ur[i] = l[i] * rr[i];
                            gr[i] = l[i] * ur[i];
                        }
                    }
                }
            }
            for (row, ur) in u.chunks_exact(d).enumerate() {
                s.e[row * k + c] = p.konst[c] + half * dot(ur, ur);
            }
        }
        for row in 0..n {
            let e = &s.e[row * k..(row + 1) * k];
            let gam = &mut s.gam[row * k..(row + 1) * k];
            let emin = e.iter().fold(T::infinity(), |m, &v| m.min(v));
            let mut sum = T::zero();
            for c in 0..k {
                gam[c] = (emin - e[c]).exp();
                sum += gam[c];
            }
            energy[row] = emin - sum.ln();
            let gb = &mut s.gbar[row * d..(row + 1) * d];
            gb.iter_mut().for_each(|v| *v = T::zero());
            for c in 0..k {
                gam[c] /= sum;
                let gc = gam[c];
                if gc != T::zero() {
                    let g = &s.g[(c * BLOCK + row) * d..(c * BLOCK + row + 1) * d];
                    for i in 0..d {
                        gb[i] += gc * g[i];
                    }
                }
            }
        }
    }

    fn forward(&self, x: &[T], out: batch::Out<'_, T>) {
        let (d, k) = (self.dim, self.k);
        let p = self.prep();
        batch::forward(
            d,
            x,
            out,
            2 * k * d * d,
            || Scratch::new(k, d, false),
            |s, xb, ob| {
                let n = ob.e.len();
                self.eval_block(&p, xb, ob.e, s);
                if let Some(sc) = ob.s {
                    for (o, &g) in sc.iter_mut().zip(&s.gbar) {
                        *o = -g;
                    }
                }
                if let Some(h) = ob.h {
                    // Σₖ γₖ (Pₖ,ᵢᵢ − (gₖᵢ − ḡᵢ)²), centred.
                    for row in 0..n {
                        let hr = &mut h[row * d..(row + 1) * d];
                        let gb = &s.gbar[row * d..(row + 1) * d];
                        hr.iter_mut().for_each(|v| *v = T::zero());
                        for c in 0..k {
                            let gc = s.gam[row * k + c];
                            if gc == T::zero() {
                                continue;
                            }
                            let g = &s.g[(c * BLOCK + row) * d..(c * BLOCK + row + 1) * d];
                            let dp = &p.diag_p[c * d..(c + 1) * d];
                            for i in 0..d {
                                let dev = g[i] - gb[i];
                                hr[i] += gc * (dp[i] - dev * dev);
                            }
                        }
                    }
                }
            },
        );
    }

    /// πₖ = vᵀPₖv for the n rows `vb` into `s.qp` (BLOCK×K); for Full, with
    /// one GEMM Aₖ = V Lₖ per component, kept in `s.av`.
    fn quad_block(&self, p: &Prep<T>, vb: &[T], n: usize, s: &mut Scratch<T>) {
        let (d, k) = (self.dim, self.k);
        for c in 0..k {
            match self.cov {
                Covariance::Full => {
                    let l = &p.l[c * d * d..(c + 1) * d * d];
                    let a = &mut s.av[c * BLOCK * d..c * BLOCK * d + n * d];
                    T::gemm(n, d, d, T::one(), vb, d, 1, l, d, 1, T::zero(), a, d, 1);
                    for (row, ar) in a.chunks_exact(d).enumerate() {
                        s.qp[row * k + c] = dot(ar, ar);
                    }
                }
                Covariance::Diagonal => {
                    let l = &p.l[c * d..(c + 1) * d];
                    for (row, vr) in vb.chunks_exact(d).take(n).enumerate() {
                        s.qp[row * k + c] = (0..d).fold(T::zero(), |q, i| {
                            let t = l[i] * vr[i];
                            q + t * t
                        });
                    }
                }
            }
        }
    }

    /// qᵦ = vᵦᵀ∇ₓ²E(xᵦ)vᵦ = Σₖ γₖ [πₖ − (vᵀ(gₖ − ḡ))²] (module docs, (d)).
    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        let p = self.prep();
        batch::forward_dir(
            d,
            x,
            v,
            out,
            3 * k * d * d,
            || (Scratch::new(k, d, true), vec![T::zero(); BLOCK]),
            |(s, energy), xb, vb, ob| {
                let n = ob.len();
                self.eval_block(&p, xb, &mut energy[..n], s);
                self.quad_block(&p, vb, n, s);
                for (row, q) in ob.iter_mut().enumerate() {
                    let vr = &vb[row * d..(row + 1) * d];
                    let gb = &s.gbar[row * d..(row + 1) * d];
                    let mut acc = T::zero();
                    for c in 0..k {
                        let gc = s.gam[row * k + c];
                        if gc == T::zero() {
                            continue;
                        }
                        let g = &s.g[(c * BLOCK + row) * d..(c * BLOCK + row + 1) * d];
                        let t = (0..d).fold(T::zero(), |t, i| t + vr[i] * (g[i] - gb[i]));
                        acc += gc * (s.qp[row * k + c] - t * t);
                    }
                    *q = acc;
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ of E, vᵀ∇ₓE, J or vᵀ∇ₓ²E v (see the module docs), written
    /// to `grad`.
    fn grad(&self, obj: Objective, x: &[T], v: Option<&[T]>, w: &[T], grad: &mut [T]) {
        let (d, k, cov) = (self.dim, self.k, self.cov);
        let cs = cov.factor_len(d);
        // The factor gradients are accumulated dense for Full (K×d×d).
        let fs = match cov {
            Covariance::Full => d * d,
            Covariance::Diagonal => d,
        };
        let (mean0, fac0) = (k, k + k * d);
        let (sa0, st0) = (fac0 + k * fs, fac0 + k * fs + k);
        let p = self.prep();
        let two = T::from_f64(2.0);
        let vhv = matches!(obj, Objective::VHessV);
        // acc = [logits, means, factor gradients (K×fs), Σ wᵦαₖ (K), Σ wᵦτₖ (K)].
        let total = batch::reduce(
            w.len(),
            st0 + k,
            4 * k * d * d,
            || (Scratch::new(k, d, vhv), vec![T::zero(); BLOCK]),
            |(s, energy), rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                let wb = &w[rows.clone()];
                let vb = v.map(|v| &v[rows.start * d..rows.end * d]);
                self.eval_block(&p, xb, &mut energy[..n], s);
                if vhv {
                    self.quad_block(&p, vb.expect("v"), n, s);
                }
                // αₖ per row (see the module docs), logits, Σwα and Σwτ.
                for row in 0..n {
                    let gam = &s.gam[row * k..(row + 1) * k];
                    let alpha = &mut s.alpha[row * k..(row + 1) * k];
                    let beta = &mut s.beta[row * k..(row + 1) * k];
                    let gb = &s.gbar[row * d..(row + 1) * d];
                    let g_of = |c: usize| &s.g[(c * BLOCK + row) * d..(c * BLOCK + row + 1) * d];
                    match obj {
                        Objective::Energy => alpha.copy_from_slice(gam),
                        Objective::VDotGrad => {
                            // f − φₖ = −vᵀ(gₖ − ḡ), exact zero for a lone component.
                            let vr = &vb.expect("v")[row * d..(row + 1) * d];
                            for c in 0..k {
                                let g = g_of(c);
                                let t = (0..d).fold(T::zero(), |t, i| t + vr[i] * (g[i] - gb[i]));
                                alpha[c] = -gam[c] * t;
                            }
                        }
                        Objective::ScoreMatching => {
                            // χₖ = ‖gₖ − ḡ‖² + ḡᵀ(gₖ − ḡ) − tr Pₖ (centred form).
                            let mut chibar = T::zero();
                            for c in 0..k {
                                let g = g_of(c);
                                let mut chi = -p.tr_p[c];
                                for i in 0..d {
                                    let dev = g[i] - gb[i];
                                    chi += dev * (dev + gb[i]);
                                }
                                alpha[c] = chi;
                                chibar += gam[c] * chi;
                            }
                            for c in 0..k {
                                alpha[c] = gam[c] * (chibar - alpha[c]);
                            }
                        }
                        Objective::VHessV => {
                            // χₖ = πₖ − tₖ², βₖ = −2γₖtₖ, tₖ = vᵀ(gₖ − ḡ).
                            let vr = &vb.expect("v")[row * d..(row + 1) * d];
                            let mut chibar = T::zero();
                            for c in 0..k {
                                let g = g_of(c);
                                let t = (0..d).fold(T::zero(), |t, i| t + vr[i] * (g[i] - gb[i]));
                                let chi = s.qp[row * k + c] - t * t;
                                alpha[c] = chi;
                                beta[c] = -two * gam[c] * t;
                                chibar += gam[c] * chi;
                            }
                            for c in 0..k {
                                alpha[c] = gam[c] * (chibar - alpha[c]);
                            }
                        }
                    }
                    if !vhv {
                        beta.copy_from_slice(gam);
                    }
                    let wn = wb[row];
                    let asum: T = alpha.iter().copied().sum();
                    for c in 0..k {
                        acc[c] += wn * (p.pi[c] * asum - alpha[c]);
                        acc[sa0 + c] += wn * alpha[c];
                        if let Objective::ScoreMatching = obj {
                            acc[st0 + c] += wn * gam[c];
                        }
                    }
                }
                for c in 0..k {
                    let blk = c * BLOCK * d..c * BLOCK * d + n * d;
                    let (r, u, g) = (&s.r[blk.clone()], &s.u[blk.clone()], &s.g[blk]);
                    // αₖ ∂eₖ (x-dependent part): μ −= Σ wα g; Full: L += (wα∘R)ᵀU,
                    // Diagonal: log_l += Σ wα u².
                    let (am, af) = {
                        let (head, tail) = acc.split_at_mut(fac0);
                        (&mut head[mean0 + c * d..mean0 + (c + 1) * d], &mut tail[c * fs..(c + 1) * fs])
                    };
                    for row in 0..n {
                        let ca = wb[row] * s.alpha[row * k + c];
                        if ca == T::zero() {
                            if cov == Covariance::Full {
                                s.tmp[row * d..(row + 1) * d].iter_mut().for_each(|t| *t = T::zero());
                            }
                            continue;
                        }
                        let (gr, rr, ur) =
                            (&g[row * d..(row + 1) * d], &r[row * d..(row + 1) * d], &u[row * d..(row + 1) * d]);
                        for (m, &gi) in am.iter_mut().zip(gr) {
                            *m -= ca * gi;
                        }
                        match cov {
                            Covariance::Full => {
                                for (t, &ri) in s.tmp[row * d..(row + 1) * d].iter_mut().zip(rr) {
                                    *t = ca * ri;
                                }
                            }
                            Covariance::Diagonal => {
                                for (a, &ui) in af.iter_mut().zip(ur) {
                                    *a += ca * ui * ui;
                                }
                            }
                        }
                    }
                    if cov == Covariance::Full {
                        T::gemm(d, n, d, T::one(), &s.tmp, 1, d, u, d, 1, T::one(), af, d, 1);
                    }
                    if let Objective::Energy = obj {
                        continue;
                    }
                    // βₖ ∂(wₖᵀgₖ) with wₖ = v or 2gₖ − ḡ, and for (d) γₖ ∂πₖ.
                    for row in 0..n {
                        let wvr = &mut s.wv[row * d..(row + 1) * d];
                        match vb {
                            Some(vb) => wvr.copy_from_slice(&vb[row * d..(row + 1) * d]),
                            None => {
                                for i in 0..d {
                                    wvr[i] = two * g[row * d + i] - s.gbar[row * d + i];
                                }
                            }
                        }
                    }
                    match cov {
                        Covariance::Full => {
                            let l = &p.l[c * d * d..(c + 1) * d * d];
                            // A = Wv Lₖ (rows aᵀ = (Lₖᵀw)ᵀ); for (d) Wv = V
                            // and A is the Aₖ of `quad_block`.
                            if !vhv {
                                T::gemm(n, d, d, T::one(), &s.wv, d, 1, l, d, 1, T::zero(), &mut s.a, d, 1);
                            }
                            let a: &[T] = if vhv { &s.av[c * BLOCK * d..c * BLOCK * d + n * d] } else { &s.a[..n * d] };
                            let sum_a = &mut s.vec_d;
                            sum_a.iter_mut().for_each(|t| *t = T::zero());
                            for row in 0..n {
                                let cb = wb[row] * s.beta[row * k + c];
                                for i in 0..d {
                                    sum_a[i] += cb * a[row * d + i];
                                }
                            }
                            // μ −= Lₖ Σ wγ a.
                            let am = &mut acc[mean0 + c * d..mean0 + (c + 1) * d];
                            for i in 0..d {
                                am[i] -= dot(&l[i * d..i * d + i + 1], &sum_a[..i + 1]);
                            }
                            let af = &mut acc[fac0 + c * fs..fac0 + (c + 1) * fs];
                            for row in 0..n {
                                let cb = wb[row] * s.beta[row * k + c];
                                for i in 0..d {
                                    s.tmp[row * d + i] = cb * s.wv[row * d + i];
                                }
                            }
                            T::gemm(d, n, d, T::one(), &s.tmp, 1, d, u, d, 1, T::one(), af, d, 1);
                            // (cβ R)ᵀA, plus (2wγ V)ᵀA = ∂πₖ for (d).
                            for row in 0..n {
                                let cb = wb[row] * s.beta[row * k + c];
                                let cp = if vhv { two * wb[row] * s.gam[row * k + c] } else { T::zero() };
                                for i in 0..d {
                                    s.tmp[row * d + i] = cb * r[row * d + i] + cp * s.wv[row * d + i];
                                }
                            }
                            T::gemm(d, n, d, T::one(), &s.tmp, 1, d, a, d, 1, T::one(), af, d, 1);
                        }
                        Covariance::Diagonal => {
                            let l = &p.l[c * d..(c + 1) * d];
                            for row in 0..n {
                                let cb = wb[row] * s.beta[row * k + c];
                                let cp = if vhv { two * wb[row] * s.gam[row * k + c] } else { T::zero() };
                                for i in 0..d {
                                    let wvi = s.wv[row * d + i];
                                    let bw = cb * wvi;
                                    let l2 = l[i] * l[i];
                                    acc[mean0 + c * d + i] -= bw * l2;
                                    acc[fac0 + c * fs + i] += two * bw * g[row * d + i] + cp * l2 * wvi * wvi;
                                }
                            }
                        }
                    }
                }
            },
        );
        grad[..fac0].copy_from_slice(&total[..fac0]);
        // Pack the factor gradients and add the x-independent terms:
        // −(Σ wα)·δᵢⱼ/Lᵢᵢ (or −1) and −(Σ wτ)·∂ tr P.
        for c in 0..k {
            let (sa, st) = (total[sa0 + c], total[st0 + c]);
            let fo = fac0 + c * cs;
            let f = self.factor(c);
            let dense = &total[fac0 + c * fs..fac0 + (c + 1) * fs];
            match cov {
                Covariance::Full => {
                    for i in 0..d {
                        for j in 0..=i {
                            grad[fo + tri(i, j)] = dense[i * d + j] - two * st * f[tri(i, j)];
                        }
                        grad[fo + tri(i, i)] -= sa / f[tri(i, i)];
                    }
                }
                Covariance::Diagonal => {
                    for i in 0..d {
                        grad[fo + i] = dense[i] - sa - two * st * p.diag_p[c * d + i];
                    }
                }
            }
        }
    }
}

impl<T: Real> GaussianMixture<T> {
    fn family_name(&self) -> &'static str {
        Self::model_name(self.cov)
    }

    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) {
        match target {
            Target::Energy => self.grad(Objective::Energy, x, None, w, grad),
            Target::VDotGradX(v) => self.grad(Objective::VDotGrad, x, Some(&v), w, grad),
            Target::ScoreMatching => self.grad(Objective::ScoreMatching, x, None, w, grad),
        }
    }

    fn grad_v_hess_v_impl(&self, x: &[T], v: &[T], w: &[T], grad: &mut [T]) {
        self.grad(Objective::VHessV, x, Some(v), w, grad);
    }
}

batch::blocked_family!(GaussianMixture);
