//! ICA / product of experts: E(x) = Σₖ g(wₖᵀx).
//!
//! # Energy
//!
//! Each of the K experts scores one projection sₖ = wₖᵀx (wₖ is row k of W,
//! K×d; K may differ from d) with a heavy-tailed source log-density −g
//! ([`Source`]):
//!
//! - `LogCosh`: g(s) = log cosh s;
//! - `Logistic`: g(s) = 2·log cosh(s/2), the negative log-density of the
//!   standard logistic up to a constant;
//! - `StudentT`: g(s) = αₖ·log(1 + ½s²) with a learnable αₖ per expert
//!   (the Student-t product of experts of Welling and Hinton). exp(−E) is
//!   normalisable only for large enough αₖ > 0; θ is not constrained.
//!
//! # Parameter layout (shared with the GPU kernels and checkpoints)
//!
//! θ = [W (K×d row-major: Wₖⱼ at k·d + j), then for `StudentT` only: α (K)].
//!
//! # Derivatives (per sample; s = Wx, gₖ' = g'(sₖ), …)
//!
//! - ∇ₓE = Wᵀg'(s) =: y, so the score is −y;
//! - ∂²E/∂xᵢ² = Σₖ g''(sₖ) Wₖᵢ²;
//! - (a) ∂E/∂Wₖⱼ = gₖ' xⱼ;
//! - (b) f = vᵀy = Σₖ gₖ' tₖ with t = Wv: ∂f/∂Wₖⱼ = gₖ'' tₖ xⱼ + gₖ' vⱼ;
//! - (c) the score-matching integrand of seed eq 12,
//!   J = ½‖y‖² − Σₖ gₖ'' nₖ with nₖ = ‖wₖ‖²; with z = Wy,
//!   ∂J/∂Wₖⱼ = gₖ' yⱼ + (gₖ'' zₖ − gₖ''' nₖ) xⱼ − 2 gₖ'' Wₖⱼ;
//! - (d) the Hessian quadratic form of sliced SM: ∇ₓ²E = Wᵀ diag(g''(s)) W,
//!   so with t = Wv, q = vᵀ∇ₓ²E v = Σₖ gₖ'' tₖ², and
//!   ∂q/∂Wₖⱼ = gₖ''' tₖ² xⱼ + 2 gₖ'' tₖ vⱼ.
//!
//! For `StudentT`, g = αĝ with ĝ(s) = log(1 + ½s²), ĝ' = s/q, ĝ'' = (1 − ½s²)/q²,
//! ĝ''' = −s(3 − ½s²)/q³ (q = 1 + ½s²), and the α gradients are
//! (a) ĝ(sₖ), (b) ĝ'(sₖ) tₖ, (c) zₖ ĝ'(sₖ) − nₖ ĝ''(sₖ), (d) ĝ''(sₖ) tₖ².
//! The log cosh family uses the stable forms log cosh s = |s| + log(1 + e^{−2|s|}) − log 2,
//! tanh s and sech² s = 4e^{−2|s|}/(1 + e^{−2|s|})², with g''' = −2 tanh·sech².
//!
//! Per block of rows the projections and the gradient sums are matrix
//! products (`Real::gemm`): S = X Wᵀ, score = −G' W, Hessian diagonal
//! = G'' (W∘W), ∇_W = Aᵀ X + Bᵀ V (or Bᵀ Y); for (d), T = V Wᵀ and
//! q = rowsum(G'' ∘ T ∘ T).

use crate::blocked::{self as batch, BLOCK};
use crate::energy::Target;
use crate::error::Result;
use crate::real::Real;
use crate::rng;

/// The source (expert) log-density of an [`Ica`] model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// g(s) = log cosh s.
    LogCosh,
    /// g(s) = 2·log cosh(s/2) (standard logistic).
    Logistic,
    /// g(s) = αₖ·log(1 + ½s²) with a learnable αₖ per expert.
    StudentT,
}

/// g, g', g'', g''' at s (for `StudentT`, of ĝ, i.e. with α = 1).
#[inline]
fn source_fns<T: Real>(src: Source, s: T) -> [T; 4] {
    let one = T::one();
    let two = T::from_f64(2.0);
    match src {
        Source::LogCosh | Source::Logistic => {
            let (h, scale) = match src {
                Source::LogCosh => (s, one),
                _ => (s * T::from_f64(0.5), T::from_f64(0.5)),
            };
            let a = h.abs();
            let e = (-two * a).exp();
            let t = ((one - e) / (one + e)).copysign(h);
            let sech2 = T::from_f64(4.0) * e / ((one + e) * (one + e));
            let lc = a + e.ln_1p() - T::LN_2();
            // g(s) = lc(h)/scale with h = scale·s; derivatives pick up scale each.
            [lc / scale, t, scale * sech2, -two * scale * scale * t * sech2]
        }
        Source::StudentT => {
            let half_s2 = T::from_f64(0.5) * s * s;
            let q = one + half_s2;
            [half_s2.ln_1p(), s / q, (one - half_s2) / (q * q), -s * (T::from_f64(3.0) - half_s2) / (q * q * q)]
        }
    }
}

/// A product of experts E(x) = Σₖ g(wₖᵀx) (see the module docs for the
/// parameter layout and derivatives).
#[derive(Clone, Debug, PartialEq)]
pub struct Ica<T> {
    dim: usize,
    k: usize,
    source: Source,
    params: Vec<T>,
}

/// Per-task scratch: BLOCK×K matrices and a BLOCK×d one.
struct Scratch<T> {
    s: Vec<T>,
    t: Vec<T>,
    a: Vec<T>,
    bm: Vec<T>,
    g1: Vec<T>,
    y: Vec<T>,
}

impl<T: Real> Scratch<T> {
    fn new(k: usize, d: usize) -> Self {
        let z = |n| vec![T::zero(); n];
        Self { s: z(BLOCK * k), t: z(BLOCK * k), a: z(BLOCK * k), bm: z(BLOCK * k), g1: z(BLOCK * k), y: z(BLOCK * d) }
    }
}

impl<T: Real> Ica<T> {
    fn model_name(source: Source) -> &'static str {
        match source {
            Source::LogCosh => "ica_logcosh",
            Source::Logistic => "ica_logistic",
            Source::StudentT => "ica_student_t",
        }
    }

    /// The length of θ: K·d, plus K for `StudentT`.
    pub fn param_len(dim: usize, k: usize, source: Source) -> usize {
        k * dim + if source == Source::StudentT { k } else { 0 }
    }

    /// A product of experts from its flat θ (layout in the module docs).
    ///
    /// Errors: [`crate::EbmError::InvalidConfig`] if `dim` or `k` is 0,
    /// [`crate::EbmError::ParamLen`] if θ has the wrong length,
    /// [`crate::EbmError::NonFinite`] if θ holds a NaN or an infinity.
    pub fn new(dim: usize, k: usize, source: Source, params: Vec<T>) -> Result<Self> {
        batch::check_config(
            Self::model_name(source),
            &[("dim", dim), ("number of experts", k)],
            &params,
            Self::param_len(dim, k, source),
        )?;
        Ok(Self { dim, k, source, params })
    }

    /// A seeded random start: Wₖⱼ = z/√d with z standard normal from
    /// [`rng`] (stream 0 of `seed`), and αₖ = 1 for `StudentT`.
    pub fn init(dim: usize, k: usize, source: Source, seed: u64) -> Result<Self> {
        let mut params = vec![T::one(); Self::param_len(dim, k, source)];
        rng::fill_normal(seed, 0, 0, &mut params[..k * dim]);
        let scale = T::from_f64(1.0 / (dim.max(1) as f64).sqrt());
        params[..k * dim].iter_mut().for_each(|w| *w *= scale);
        Self::new(dim, k, source, params)
    }

    /// The number of experts K.
    pub fn num_experts(&self) -> usize {
        self.k
    }

    /// The source density.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The filters W, K×d row-major.
    pub fn filters(&self) -> &[T] {
        &self.params[..self.k * self.dim]
    }

    /// The Student-t shapes α (empty for the other sources).
    pub fn alphas(&self) -> &[T] {
        &self.params[self.k * self.dim..]
    }

    /// The same model in another precision (parameters rounded to nearest).
    pub fn cast<U: Real>(&self) -> Ica<U> {
        Ica {
            dim: self.dim,
            k: self.k,
            source: self.source,
            params: self.params.iter().map(|&t| U::from_f64(t.to_f64())).collect(),
        }
    }

    /// αₖ (1 unless `StudentT`).
    #[inline]
    fn alpha(&self, k: usize) -> T {
        match self.source {
            Source::StudentT => self.params[self.k * self.dim + k],
            _ => T::one(),
        }
    }

    /// out (n×K) = rows (n×d) · Wᵀ.
    fn project(&self, n: usize, rows: &[T], out: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        T::gemm(n, d, k, T::one(), rows, d, 1, self.filters(), 1, d, T::zero(), out, k, 1);
    }

    /// acc (K×d) += coefᵀ (K×n) · rows (n×d).
    fn add_outer(&self, n: usize, coef: &[T], rows: &[T], acc: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        T::gemm(k, n, d, T::one(), coef, 1, k, rows, d, 1, T::one(), acc, d, 1);
    }

    fn forward(&self, x: &[T], out: batch::Out<'_, T>) {
        let (d, k) = (self.dim, self.k);
        let w2: Vec<T> = if out.h.is_some() { self.filters().iter().map(|&w| w * w).collect() } else { Vec::new() };
        batch::forward(
            d,
            x,
            out,
            k * d,
            || Scratch::new(k, d),
            |sc, xb, ob| {
                let n = ob.e.len();
                self.project(n, xb, &mut sc.s);
                let need_d = ob.s.is_some();
                for r in 0..n {
                    let mut e = T::zero();
                    for c in 0..k {
                        let al = self.alpha(c);
                        let f = source_fns(self.source, sc.s[r * k + c]);
                        e += al * f[0];
                        if need_d {
                            sc.g1[r * k + c] = al * f[1];
                            sc.a[r * k + c] = al * f[2];
                        }
                    }
                    ob.e[r] = e;
                }
                if let Some(s) = ob.s {
                    T::gemm(n, k, d, -T::one(), &sc.g1, k, 1, self.filters(), d, 1, T::zero(), s, d, 1);
                }
                if let Some(h) = ob.h {
                    T::gemm(n, k, d, T::one(), &sc.a, k, 1, &w2, d, 1, T::zero(), h, d, 1);
                }
            },
        );
    }
}

impl<T: Real> Ica<T> {
    /// qᵦ = Σₖ gₖ''(sₖ) tₖ² with S = X Wᵀ, T = V Wᵀ (module docs, (d)).
    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        batch::forward_dir(
            d,
            x,
            v,
            out,
            2 * k * d,
            || Scratch::new(k, d),
            |sc, xb, vb, ob| {
                let n = ob.len();
                self.project(n, xb, &mut sc.s);
                self.project(n, vb, &mut sc.t);
                for (r, q) in ob.iter_mut().enumerate() {
                    let mut acc = T::zero();
                    for c in 0..k {
                        let i = r * k + c;
                        let t = sc.t[i];
                        acc += self.alpha(c) * source_fns(self.source, sc.s[i])[2] * t * t;
                    }
                    *q = acc;
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ qᵦ: ∇_W = Aᵀ X + Bᵀ V with A = w g''' t², B = 2 w g'' t,
    /// and ∇_α = Σ w ĝ'' t² for `StudentT`.
    fn grad_v_hess_v_impl(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) {
        let two = T::from_f64(2.0);
        self.grad_paired(x, v, weights, 4, grad, |wn, c, f, t| {
            let wa = wn * self.alpha(c);
            (wa * f[3] * t * t, two * wa * f[2] * t, wn * f[2] * t * t)
        });
    }

    /// Σᵦ wᵦ∇θ of a quantity of (s, t) = (W xᵦ, W vᵦ) into `grad`: per
    /// sample and unit c, `unit(wᵦ, c, f, t)` (f the source functions at s)
    /// gives (aᵦc, bᵦc, ∇_αc term); ∇_W = Aᵀ X + Bᵀ V and, for `StudentT`,
    /// ∇_α the sum of the terms. `work` k·d blocks of work per row.
    fn grad_paired(
        &self,
        x: &[T],
        v: &[T],
        weights: &[T],
        work: usize,
        grad: &mut [T],
        unit: impl Fn(T, usize, [T; 4], T) -> (T, T, T) + Sync,
    ) {
        let (d, k) = (self.dim, self.k);
        let student = self.source == Source::StudentT;
        let total = batch::reduce(
            weights.len(),
            self.params.len(),
            work * k * d,
            || Scratch::new(k, d),
            |sc, rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                let vb = &v[rows.start * d..rows.end * d];
                self.project(n, xb, &mut sc.s);
                self.project(n, vb, &mut sc.t);
                let (aw, aa) = acc.split_at_mut(k * d);
                for r in 0..n {
                    let wn = weights[rows.start + r];
                    for c in 0..k {
                        let i = r * k + c;
                        let (a, bm, da) = unit(wn, c, source_fns(self.source, sc.s[i]), sc.t[i]);
                        sc.a[i] = a;
                        sc.bm[i] = bm;
                        if student {
                            aa[c] += da;
                        }
                    }
                }
                self.add_outer(n, &sc.a, xb, aw);
                self.add_outer(n, &sc.bm, vb, aw);
            },
        );
        grad.copy_from_slice(&total);
    }
}

impl<T: Real> Ica<T> {
    /// Σᵦ wᵦ∇θE(xᵦ) into `grad`.
    fn grad_energy(&self, x: &[T], weights: &[T], grad: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        let b = weights.len();
        let student = self.source == Source::StudentT;
        let total = batch::reduce(
            b,
            self.params.len(),
            k * d,
            || Scratch::new(k, d),
            |sc, rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                self.project(n, xb, &mut sc.s);
                let (aw, aa) = acc.split_at_mut(k * d);
                for r in 0..n {
                    let wn = weights[rows.start + r];
                    for c in 0..k {
                        let f = source_fns(self.source, sc.s[r * k + c]);
                        sc.a[r * k + c] = wn * self.alpha(c) * f[1];
                        if student {
                            aa[c] += wn * f[0];
                        }
                    }
                }
                self.add_outer(n, &sc.a, xb, aw);
            },
        );
        grad.copy_from_slice(&total);
    }

    /// Σᵦ wᵦ∇θ vᵦᵀ∇ₓE(xᵦ) into `grad`.
    fn grad_vdx(&self, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) {
        self.grad_paired(x, v, weights, 2, grad, |wn, c, f, t| {
            let wa = wn * self.alpha(c);
            (wa * f[2] * t, wa * f[1], wn * f[1] * t)
        });
    }

    /// Σᵦ wᵦ∇θ J(xᵦ) (eq 12) into `grad`.
    fn grad_sm(&self, x: &[T], weights: &[T], grad: &mut [T]) {
        let (d, k) = (self.dim, self.k);
        let np = self.params.len();
        let b = weights.len();
        let student = self.source == Source::StudentT;
        let nrm: Vec<T> = self.filters().chunks_exact(d).map(|w| w.iter().map(|&v| v * v).sum()).collect();
        // acc = [θ-gradient, Σᵦ wᵦ gₖ'' (K)] for the −2 gₖ'' Wₖⱼ term.
        let total = batch::reduce(
            b,
            np + k,
            3 * k * d,
            || Scratch::new(k, d),
            |sc, rows, acc| {
                let n = rows.len();
                let xb = &x[rows.start * d..rows.end * d];
                self.project(n, xb, &mut sc.s);
                for r in 0..n {
                    for c in 0..k {
                        sc.g1[r * k + c] = self.alpha(c) * source_fns(self.source, sc.s[r * k + c])[1];
                    }
                }
                // Y = G' W (n×d), Z = Y Wᵀ (n×K).
                T::gemm(n, k, d, T::one(), &sc.g1, k, 1, self.filters(), d, 1, T::zero(), &mut sc.y, d, 1);
                self.project(n, &sc.y[..n * d], &mut sc.t);
                let (aw, rest) = acc.split_at_mut(k * d);
                let (aa, a2) = rest.split_at_mut(np - k * d);
                for r in 0..n {
                    let wn = weights[rows.start + r];
                    for c in 0..k {
                        let i = r * k + c;
                        let f = source_fns(self.source, sc.s[i]);
                        let al = self.alpha(c);
                        let z = sc.t[i];
                        sc.bm[i] = wn * sc.g1[i];
                        sc.a[i] = wn * al * (f[2] * z - f[3] * nrm[c]);
                        a2[c] += wn * al * f[2];
                        if student {
                            aa[c] += wn * (z * f[1] - nrm[c] * f[2]);
                        }
                    }
                }
                self.add_outer(n, &sc.bm, &sc.y[..n * d], aw);
                self.add_outer(n, &sc.a, xb, aw);
            },
        );
        grad.copy_from_slice(&total[..np]);
        let two = T::from_f64(2.0);
        for c in 0..k {
            let s2 = two * total[np + c];
            for j in 0..d {
                grad[c * d + j] -= s2 * self.params[c * d + j];
            }
        }
    }
}

impl<T: Real> Ica<T> {
    fn family_name(&self) -> &'static str {
        Self::model_name(self.source)
    }

    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) {
        match target {
            Target::Energy => self.grad_energy(x, w, grad),
            Target::VDotGradX(v) => self.grad_vdx(x, &v, w, grad),
            Target::ScoreMatching => self.grad_sm(x, w, grad),
        }
    }
}

batch::blocked_family!(Ica);
