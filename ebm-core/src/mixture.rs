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
//! - ∂²E/∂xᵢ² = Σₖ γₖ (Pₖ,ᵢᵢ − gₖᵢ²) + ḡᵢ² (the γ-mixture of the component
//!   Hessians minus the γ-variance of the component gradients).
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
//!   χ̄ = Σₖ γₖ χₖ, αₖ = γₖ(χ̄ − χₖ), βₖ = γₖ, wₖ = 2gₖ − ḡ, τₖ = γₖ.
//!
//! The component pieces (Full; the Diagonal ones follow with Lₖ = diag(lₖ),
//! ∂/∂log_lₖᵢ = lₖᵢ ∂/∂Lₖ,ᵢᵢ):
//!
//! | | ∂/∂μₖ | ∂/∂Lₖ,ᵢⱼ | ∂/∂log_lₖᵢ (Diagonal) |
//! |---|---|---|---|
//! | eₖ | −gₖ | rᵢuⱼ − δᵢⱼ/Lₖ,ᵢᵢ | uᵢ² − 1 |
//! | wᵀgₖ | −Pₖw | wᵢuⱼ + (Lₖᵀw)ⱼ rᵢ | 2wᵢgₖᵢ |
//! | tr Pₖ | 0 | 2Lₖ,ᵢⱼ | 2lₖᵢ² |
//!
//! The terms that do not depend on x (−δᵢⱼ/Lᵢᵢ, tr P) are accumulated as
//! Σᵦ wᵦαₖ and Σᵦ wᵦτₖ over the batch and applied once.

use crate::energy::Energy;
use crate::error::Result;
use crate::gaussian::{batch, dot, l_mul, lt_mul, tri};
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
    /// Diagonal only: lₖᵢ = exp(log_lₖᵢ) (K×d).
    l: Vec<T>,
}

/// Per-task scratch: per-component r, u, g (K×d), energies, responsibilities
/// and a few d-vectors.
struct Scratch<T> {
    r: Vec<T>,
    u: Vec<T>,
    g: Vec<T>,
    e: Vec<T>,
    gam: Vec<T>,
    gbar: Vec<T>,
    wv: Vec<T>,
    a: Vec<T>,
    la: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(k: usize, d: usize) -> Self {
        let z = |n| vec![T::zero(); n];
        Self {
            r: z(k * d),
            u: z(k * d),
            g: z(k * d),
            e: z(k),
            gam: z(k),
            gbar: z(d),
            wv: z(d),
            a: z(d),
            la: z(d),
        }
    }
}

/// Which parameter gradient to accumulate.
#[derive(Clone, Copy)]
enum Objective {
    Energy,
    VDotGrad,
    ScoreMatching,
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
        let mut l = Vec::new();
        if self.cov == Covariance::Diagonal {
            l = self.factors().iter().map(|&v| v.exp()).collect();
        }
        for c in 0..k {
            let f = self.factor(c);
            let mut logdet = T::zero();
            for i in 0..d {
                let (li, pii) = match self.cov {
                    Covariance::Full => {
                        let row = &f[tri(i, 0)..tri(i, 0) + i + 1];
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

    /// Fills r, u, g, e, γ, ḡ of `s` for sample `x` and returns E(x).
    fn eval_sample(&self, p: &Prep<T>, x: &[T], s: &mut Scratch<T>) -> T {
        let (d, k) = (self.dim, self.k);
        let half = T::from_f64(0.5);
        let mut emin = T::infinity();
        for c in 0..k {
            let mu = &self.means()[c * d..(c + 1) * d];
            let r = &mut s.r[c * d..(c + 1) * d];
            for i in 0..d {
                r[i] = x[i] - mu[i];
            }
            let u = &mut s.u[c * d..(c + 1) * d];
            let g = &mut s.g[c * d..(c + 1) * d];
            match self.cov {
                Covariance::Full => {
                    let f = self.factor(c);
                    lt_mul(f, r, u);
                    l_mul(f, u, g);
                }
                Covariance::Diagonal => {
                    let l = &p.l[c * d..(c + 1) * d];
                    for i in 0..d {
                        u[i] = l[i] * r[i];
                        g[i] = l[i] * u[i];
                    }
                }
            }
            let e = p.konst[c] + half * dot(u, u);
            s.e[c] = e;
            emin = emin.min(e);
        }
        let mut sum = T::zero();
        for c in 0..k {
            let t = (emin - s.e[c]).exp();
            s.gam[c] = t;
            sum += t;
        }
        s.gbar.iter_mut().for_each(|v| *v = T::zero());
        for c in 0..k {
            s.gam[c] /= sum;
            let gc = s.gam[c];
            if gc != T::zero() {
                for (gb, &g) in s.gbar.iter_mut().zip(&s.g[c * d..(c + 1) * d]) {
                    *gb += gc * g;
                }
            }
        }
        emin - sum.ln()
    }

    fn forward(&self, x: &[T], out: batch::Out<'_, T>) {
        let (d, k) = (self.dim, self.k);
        let p = self.prep();
        let want_h = out.h.is_some();
        batch::forward(
            d,
            x,
            out,
            k * d * d,
            || Scratch::new(k, d),
            |s, xb, mut ob| {
                for (row, xr) in xb.chunks_exact(d).enumerate() {
                    ob.e[row] = self.eval_sample(&p, xr, s);
                    if let Some(sc) = ob.s.as_deref_mut() {
                        for i in 0..d {
                            sc[row * d + i] = -s.gbar[i];
                        }
                    }
                    if want_h {
                        let h = &mut ob.h.as_deref_mut().expect("hess requested")[row * d..(row + 1) * d];
                        for i in 0..d {
                            h[i] = s.gbar[i] * s.gbar[i];
                        }
                        for c in 0..k {
                            let gc = s.gam[c];
                            if gc == T::zero() {
                                continue;
                            }
                            let g = &s.g[c * d..(c + 1) * d];
                            let dp = &p.diag_p[c * d..(c + 1) * d];
                            for i in 0..d {
                                h[i] += gc * (dp[i] - g[i] * g[i]);
                            }
                        }
                    }
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ of E, vᵀ∇ₓE or J (see the module docs), written to `grad`.
    fn grad(&self, obj: Objective, x: &[T], v: Option<&[T]>, w: &[T], grad: &mut [T]) {
        let (d, k, cov) = (self.dim, self.k, self.cov);
        let np = self.params.len();
        let cs = cov.factor_len(d);
        let (mean0, fac0) = (k, k + k * d);
        let p = self.prep();
        let b = w.len();
        // acc = [θ-gradient (np), Σ wᵦαₖ (K), Σ wᵦτₖ (K)].
        let total = batch::reduce(
            b,
            np + 2 * k,
            k * d * d,
            || (Scratch::new(k, d), vec![T::zero(); 2 * k]),
            |(s, coef), rows, acc| {
                for n in rows {
                    let xr = &x[n * d..(n + 1) * d];
                    self.eval_sample(&p, xr, s);
                    let wn = w[n];
                    // αₖ in coef[..k], βₖ = τₖ-or-0 handled per objective.
                    let (alpha, scal) = coef.split_at_mut(k);
                    match obj {
                        Objective::Energy => alpha.copy_from_slice(&s.gam),
                        Objective::VDotGrad => {
                            let vr = &v.expect("v")[n * d..(n + 1) * d];
                            let mut f = T::zero();
                            for c in 0..k {
                                scal[c] = dot(vr, &s.g[c * d..(c + 1) * d]);
                                f += s.gam[c] * scal[c];
                            }
                            for c in 0..k {
                                alpha[c] = s.gam[c] * (f - scal[c]);
                            }
                        }
                        Objective::ScoreMatching => {
                            let mut chibar = T::zero();
                            for c in 0..k {
                                let g = &s.g[c * d..(c + 1) * d];
                                scal[c] = dot(g, g) - p.tr_p[c] - dot(&s.gbar, g);
                                chibar += s.gam[c] * scal[c];
                            }
                            for c in 0..k {
                                alpha[c] = s.gam[c] * (chibar - scal[c]);
                            }
                        }
                    }
                    let asum: T = alpha.iter().copied().sum();
                    for j in 0..k {
                        acc[j] += wn * (p.pi[j] * asum - alpha[j]);
                    }
                    for c in 0..k {
                        let gc = s.gam[c];
                        if gc == T::zero() {
                            continue;
                        }
                        let ca = wn * alpha[c];
                        acc[np + c] += ca;
                        let r = &s.r[c * d..(c + 1) * d];
                        let u = &s.u[c * d..(c + 1) * d];
                        let g = &s.g[c * d..(c + 1) * d];
                        // αₖ ∂eₖ (x-dependent part).
                        for i in 0..d {
                            acc[mean0 + c * d + i] -= ca * g[i];
                        }
                        let fo = fac0 + c * cs;
                        match cov {
                            Covariance::Full => {
                                for i in 0..d {
                                    let cr = ca * r[i];
                                    for j in 0..=i {
                                        acc[fo + tri(i, j)] += cr * u[j];
                                    }
                                }
                            }
                            Covariance::Diagonal => {
                                for i in 0..d {
                                    acc[fo + i] += ca * u[i] * u[i];
                                }
                            }
                        }
                        // βₖ ∂(wₖᵀgₖ).
                        let wv: &[T] = match obj {
                            Objective::Energy => continue,
                            Objective::VDotGrad => &v.expect("v")[n * d..(n + 1) * d],
                            Objective::ScoreMatching => {
                                acc[np + k + c] += wn * gc;
                                for i in 0..d {
                                    s.wv[i] = T::from_f64(2.0) * g[i] - s.gbar[i];
                                }
                                &s.wv
                            }
                        };
                        let cb = wn * gc;
                        match cov {
                            Covariance::Full => {
                                let f = self.factor(c);
                                lt_mul(f, wv, &mut s.a);
                                l_mul(f, &s.a, &mut s.la);
                                for i in 0..d {
                                    acc[mean0 + c * d + i] -= cb * s.la[i];
                                    let (bw, br) = (cb * wv[i], cb * r[i]);
                                    for j in 0..=i {
                                        acc[fo + tri(i, j)] += bw * u[j] + s.a[j] * br;
                                    }
                                }
                            }
                            Covariance::Diagonal => {
                                let l = &p.l[c * d..(c + 1) * d];
                                for i in 0..d {
                                    acc[mean0 + c * d + i] -= cb * wv[i] * l[i] * l[i];
                                    acc[fo + i] += T::from_f64(2.0) * cb * wv[i] * g[i];
                                }
                            }
                        }
                    }
                }
            },
        );
        grad.copy_from_slice(&total[..np]);
        // x-independent terms: −(Σ wα)·δᵢⱼ/Lᵢᵢ (or −1) and −(Σ wτ)·∂ tr P.
        let two = T::from_f64(2.0);
        for c in 0..k {
            let (sa, st) = (total[np + c], total[np + k + c]);
            let fo = fac0 + c * cs;
            let f = self.factor(c);
            match cov {
                Covariance::Full => {
                    for i in 0..d {
                        grad[fo + tri(i, i)] -= sa / f[tri(i, i)];
                    }
                    for (gi, &li) in grad[fo..fo + cs].iter_mut().zip(f) {
                        *gi -= two * st * li;
                    }
                }
                Covariance::Diagonal => {
                    for i in 0..d {
                        grad[fo + i] -= sa + two * st * p.diag_p[c * d + i];
                    }
                }
            }
        }
    }
}

impl<T: Real> Energy<T> for GaussianMixture<T> {
    fn name(&self) -> &'static str {
        Self::model_name(self.cov)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn params(&self) -> &[T] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    fn energy(&self, x: &[T], energy: &mut [T]) -> Result<()> {
        batch::check_forward(self.dim, x, energy, None, None)?;
        self.forward(x, batch::Out { e: energy, s: None, h: None });
        Ok(())
    }

    fn energy_score(&self, x: &[T], energy: &mut [T], score: &mut [T]) -> Result<()> {
        batch::check_forward(self.dim, x, energy, Some(score), None)?;
        self.forward(x, batch::Out { e: energy, s: Some(score), h: None });
        Ok(())
    }

    fn energy_score_hess_diag(
        &self,
        x: &[T],
        energy: &mut [T],
        score: &mut [T],
        hess_diag: &mut [T],
    ) -> Result<()> {
        batch::check_forward(self.dim, x, energy, Some(score), Some(hess_diag))?;
        self.forward(x, batch::Out { e: energy, s: Some(score), h: Some(hess_diag) });
        Ok(())
    }

    fn grad_params_energy(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()> {
        batch::check_grad(self.dim, self.params.len(), x, None, weights, grad)?;
        self.grad(Objective::Energy, x, None, weights, grad);
        Ok(())
    }

    fn grad_params_v_dot_grad_x(
        &self,
        x: &[T],
        v: &[T],
        weights: &[T],
        grad: &mut [T],
    ) -> Result<()> {
        batch::check_grad(self.dim, self.params.len(), x, Some(v), weights, grad)?;
        self.grad(Objective::VDotGrad, x, Some(v), weights, grad);
        Ok(())
    }

    fn grad_params_sm(&self, x: &[T], weights: &[T], grad: &mut [T]) -> Result<()> {
        batch::check_grad(self.dim, self.params.len(), x, None, weights, grad)?;
        self.grad(Objective::ScoreMatching, x, None, weights, grad);
        Ok(())
    }
}
