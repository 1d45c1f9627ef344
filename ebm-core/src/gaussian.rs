//! Multivariate Gaussian energy with a Cholesky-factored precision.
//!
//! # Energy
//!
//! E(x) = ½‖Lᵀ(x − μ)‖², with precision P = L Lᵀ and L lower-triangular, so
//! p(x) = exp(−E(x)) / Z (seed eq 1) is N(μ, P⁻¹) and Z has the closed form
//! log Z = (d/2)·log 2π − Σᵢ log|Lᵢᵢ| ([`Gaussian::log_z`]).
//!
//! # Parameter layout (shared with the GPU kernels and checkpoints)
//!
//! θ = [μ (d values), then L's lower triangle row by row:
//! L₀₀, L₁₀, L₁₁, L₂₀, L₂₁, L₂₂, … (d(d+1)/2 values)], so Lᵢⱼ (j ≤ i) sits at
//! `d + i(i+1)/2 + j`. Length d + d(d+1)/2.
//!
//! # Derivatives (per sample; r = x − μ, u = Lᵀr, g = L u = P r)
//!
//! - E = ½‖u‖²; ∇ₓE = g, so the score is −g;
//! - ∂²E/∂xᵢ² = Pᵢᵢ = Σ_{j≤i} Lᵢⱼ² (independent of x);
//! - (a) ∂E/∂μ = −g, ∂E/∂Lᵢⱼ = rᵢ uⱼ (the phases of the MLE gradient, seed
//!   eq 2–3);
//! - (b) f = vᵀ∇ₓE (denoising SM, seed eq 13, and sliced SM) = aᵀu with a = Lᵀv: ∂f/∂μ = −L a = −P v,
//!   ∂f/∂Lᵢⱼ = vᵢ uⱼ + aⱼ rᵢ;
//! - (c) the score-matching integrand of seed eq 12,
//!   J = ½‖g‖² − tr P = ½‖g‖² − Σᵢⱼ Lᵢⱼ². Since d(½‖g‖²) = gᵀdg, its gradient
//!   is (b) with v = g held fixed, and tr P adds −2Lᵢⱼ:
//!   ∂J/∂μ = −P g, ∂J/∂Lᵢⱼ = gᵢ uⱼ + (Lᵀg)ⱼ rᵢ − 2Lᵢⱼ;
//! - (d) the Hessian quadratic form of sliced SM, q = vᵀ∇ₓ²E v = vᵀPv = ‖a‖²
//!   with a = Lᵀv (independent of x and μ): ∂q/∂μ = 0, ∂q/∂Lᵢⱼ = 2vᵢaⱼ,
//!   i.e. ∇_L Σᵦ wᵦ qᵦ = 2 (wV)ᵀA (lower triangle) with A = V L.
//!
//! Batches are split into jobs of rows processed in parallel with rayon,
//! each with its own scratch; parameter gradients are summed per job and the
//! partial sums added in job order (deterministic for a given batch size).
//! Within a job, blocks of rows go through matrix products (`Real::gemm`)
//! with a dense copy of L: U = R L (rows uᵀ), G = U Lᵀ, and the L-gradient
//! sums (wR)ᵀU, (wV)ᵀU, (wR)ᵀA of whose lower triangle θ keeps.

use crate::blocked::{self as batch, BLOCK};
use crate::energy::Target;
use crate::error::{EbmError, Result};
pub(crate) use crate::linalg::tri;
use crate::real::Real;
use crate::rng;
use std::ops::Range;

/// Multivariate Gaussian E(x) = ½‖Lᵀ(x − μ)‖² (see the module docs for the
/// parameter layout and derivatives).
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian<T> {
    dim: usize,
    params: Vec<T>,
}

impl<T: Real> Gaussian<T> {
    const NAME: &'static str = "gaussian";

    /// The length of θ for dimension `dim`: d + d(d+1)/2.
    pub fn param_len(dim: usize) -> usize {
        dim + dim * (dim + 1) / 2
    }

    /// A Gaussian from its flat θ (layout in the module docs).
    ///
    /// Errors: [`EbmError::InvalidConfig`] if `dim` is 0,
    /// [`EbmError::ParamLen`] if θ has the wrong length,
    /// [`EbmError::NonFinite`] if θ holds a NaN or an infinity.
    pub fn new(dim: usize, params: Vec<T>) -> Result<Self> {
        batch::check_config(Self::NAME, &[("dim", dim)], &params, Self::param_len(dim))?;
        Ok(Self { dim, params })
    }

    /// A seeded random start: μᵢ = 0.1·zᵢ, L = I plus off-diagonal entries
    /// 0.1·z/√d, with z standard normals from [`rng`] (stream 0 of `seed`).
    pub fn init(dim: usize, seed: u64) -> Result<Self> {
        let mut z = vec![T::zero(); Self::param_len(dim)];
        rng::fill_normal(seed, 0, 0, &mut z);
        let tenth = T::from_f64(0.1);
        let off = T::from_f64(0.1 / (dim.max(1) as f64).sqrt());
        let mut params = z;
        for m in params[..dim].iter_mut() {
            *m *= tenth;
        }
        for i in 0..dim {
            for j in 0..=i {
                let p = &mut params[dim + tri(i, j)];
                *p = if i == j { T::one() } else { *p * off };
            }
        }
        Self::new(dim, params)
    }

    /// The Gaussian N(mean, precision⁻¹), with `precision` row-major d×d,
    /// symmetric and positive definite; L is its Cholesky factor.
    ///
    /// Errors: [`EbmError::DimMismatch`] if `precision` is not d×d,
    /// [`EbmError::NonFinite`], and [`EbmError::InvalidConfig`] if the
    /// precision is not symmetric or not positive definite.
    pub fn from_mean_precision(mean: &[T], precision: &[T]) -> Result<Self> {
        let d = mean.len();
        if d == 0 {
            return Err(EbmError::InvalidConfig("gaussian: the mean must have at least one coordinate".into()));
        }
        crate::energy::check_len("precision", precision, d * d)?;
        crate::energy::check_finite("mean", mean, d)?;
        crate::energy::check_finite("precision", precision, d)?;
        let scale = precision.iter().fold(T::zero(), |m, v| m.max(v.abs()));
        let sym_tol = T::from_f64(1e3) * T::epsilon() * scale;
        for i in 0..d {
            for j in 0..i {
                let (a, b) = (precision[i * d + j], precision[j * d + i]);
                if (a - b).abs() > sym_tol {
                    return Err(EbmError::InvalidConfig(format!(
                        "gaussian: precision is not symmetric: P[{i}][{j}] = {a} but P[{j}][{i}] = {b}"
                    )));
                }
            }
        }
        let l = crate::linalg::cholesky_packed(precision, d).map_err(|e| match e {
            EbmError::InvalidConfig(m) => EbmError::InvalidConfig(format!("gaussian: precision: {m}")),
            e => e,
        })?;
        let mut params = mean.to_vec();
        params.extend_from_slice(&l);
        Self::new(d, params)
    }

    /// The mean μ.
    pub fn mean(&self) -> &[T] {
        &self.params[..self.dim]
    }

    /// L's packed lower triangle (row by row).
    pub fn chol_packed(&self) -> &[T] {
        &self.params[self.dim..]
    }

    /// The precision P = L Lᵀ, row-major d×d.
    pub fn precision(&self) -> Vec<T> {
        let d = self.dim;
        let l = self.chol_packed();
        let mut p = vec![T::zero(); d * d];
        for i in 0..d {
            for j in 0..=i {
                let s = (0..=j).fold(T::zero(), |a, k| a + l[tri(i, k)] * l[tri(j, k)]);
                p[i * d + j] = s;
                p[j * d + i] = s;
            }
        }
        p
    }

    /// log Z = (d/2)·log 2π − Σᵢ log|Lᵢᵢ| (+∞ when some Lᵢᵢ = 0).
    pub fn log_z(&self) -> T {
        let d = self.dim;
        let l = self.chol_packed();
        let half_log_2pi = T::from_f64(0.5 * (2.0 * std::f64::consts::PI).ln());
        (0..d).fold(T::from_f64(d as f64) * half_log_2pi, |a, i| a - l[tri(i, i)].abs().ln())
    }

    /// The same model in another precision (parameters rounded to nearest).
    pub fn cast<U: Real>(&self) -> Gaussian<U> {
        Gaussian { dim: self.dim, params: self.params.iter().map(|&t| U::from_f64(t.to_f64())).collect() }
    }

    /// L as a dense row-major d×d matrix (zeros above the diagonal).
    fn dense_l(&self) -> Vec<T> {
        let d = self.dim;
        let l = self.chol_packed();
        let mut m = vec![T::zero(); d * d];
        for i in 0..d {
            m[i * d..i * d + i + 1].copy_from_slice(&l[tri(i, 0)..tri(i, 0) + i + 1]);
        }
        m
    }

    fn diag_precision(&self) -> Vec<T> {
        let l = self.chol_packed();
        (0..self.dim).map(|i| (0..=i).fold(T::zero(), |a, j| a + l[tri(i, j)] * l[tri(i, j)])).collect()
    }

    /// R = X − μ for n rows (row-major n×d).
    fn residuals(&self, xb: &[T], r: &mut [T]) {
        let mu = self.mean();
        for (rr, xr) in r.chunks_exact_mut(self.dim).zip(xb.chunks_exact(self.dim)) {
            for ((a, &b), &m) in rr.iter_mut().zip(xr).zip(mu) {
                *a = b - m;
            }
        }
    }

    /// Per block of n rows, with dense L: U = R L (rows uᵀ = (Lᵀr)ᵀ) and
    /// −score = G = U Lᵀ.
    fn forward(&self, x: &[T], out: batch::Out<'_, T>) {
        let d = self.dim;
        let l = self.dense_l();
        let diag = if out.h.is_some() { self.diag_precision() } else { Vec::new() };
        batch::forward(
            d,
            x,
            out,
            2 * d * d,
            || vec![T::zero(); 2 * BLOCK * d],
            |scr, xb, ob| {
                let n = ob.e.len();
                let (r, u) = scr.split_at_mut(BLOCK * d);
                self.residuals(xb, r);
                T::gemm(n, d, d, T::one(), r, d, 1, &l, d, 1, T::zero(), u, d, 1);
                for (e, ur) in ob.e.iter_mut().zip(u.chunks_exact(d)) {
                    *e = T::from_f64(0.5) * dot(ur, ur);
                }
                if let Some(s) = ob.s {
                    T::gemm(n, d, d, -T::one(), u, d, 1, &l, 1, d, T::zero(), s, d, 1);
                }
                if let Some(h) = ob.h {
                    for hr in h.chunks_exact_mut(d) {
                        hr.copy_from_slice(&diag);
                    }
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ of E (`dir` = `None`), of vᵀ∇ₓE (`Some(Some(v))`) or of
    /// gᵀ∇ₓE with g held fixed (`Some(None)`, the first term of J), as
    /// [μ-gradient (d), dense L-gradient (d×d, lower triangle meaningful)].
    fn grad_blocked(&self, x: &[T], dir: Option<Option<&[T]>>, w: &[T]) -> Vec<T> {
        let d = self.dim;
        self.reduce_dense(w.len(), 4 * d * d, 6, |l, scr, rows, acc| {
            let n = rows.len();
            let xb = &x[rows.start * d..rows.end * d];
            let wb = &w[rows.clone()];
            let (r, rest) = scr.split_at_mut(BLOCK * d);
            let (u, rest) = rest.split_at_mut(BLOCK * d);
            let (g, rest) = rest.split_at_mut(BLOCK * d);
            let (a, rest) = rest.split_at_mut(BLOCK * d);
            let (wr, wv) = rest.split_at_mut(BLOCK * d);
            self.residuals(xb, r);
            T::gemm(n, d, d, T::one(), r, d, 1, l, d, 1, T::zero(), u, d, 1);
            for (k, wn) in wb.iter().enumerate() {
                for i in 0..d {
                    wr[k * d + i] = *wn * r[k * d + i];
                }
            }
            let (am, al) = acc.split_at_mut(d);
            // ∂/∂L (dense) += (wR)ᵀ·(U or A) below; ∂/∂μ −= Σ w·(G or L A).
            let (vdir, grad_l_from): (&[T], &mut [T]) = match dir {
                None => {
                    T::gemm(n, d, d, T::one(), u, d, 1, l, 1, d, T::zero(), g, d, 1);
                    T::gemm(d, n, d, T::one(), wr, 1, d, u, d, 1, T::one(), al, d, 1);
                    for (k, wn) in wb.iter().enumerate() {
                        for i in 0..d {
                            am[i] -= *wn * g[k * d + i];
                        }
                    }
                    return;
                }
                Some(Some(v)) => (&v[rows.start * d..rows.end * d], a),
                Some(None) => {
                    T::gemm(n, d, d, T::one(), u, d, 1, l, 1, d, T::zero(), g, d, 1);
                    (&g[..], a)
                }
            };
            // A = V L (rows aᵀ = (Lᵀv)ᵀ), then L A in `wv`'s place after use.
            let a = grad_l_from;
            T::gemm(n, d, d, T::one(), vdir, d, 1, l, d, 1, T::zero(), a, d, 1);
            for (k, wn) in wb.iter().enumerate() {
                for i in 0..d {
                    wv[k * d + i] = *wn * vdir[k * d + i];
                }
            }
            T::gemm(d, n, d, T::one(), wv, 1, d, u, d, 1, T::one(), al, d, 1);
            T::gemm(d, n, d, T::one(), wr, 1, d, a, d, 1, T::one(), al, d, 1);
            // −Σ w L a = −(Σ w aᵀ) Lᵀ: sum the weighted rows of A first.
            let wa = &mut wv[..d];
            wa.iter_mut().for_each(|t| *t = T::zero());
            for (k, wn) in wb.iter().enumerate() {
                for i in 0..d {
                    wa[i] += *wn * a[k * d + i];
                }
            }
            for i in 0..d {
                am[i] -= dot(&l[i * d..i * d + i + 1], &wa[..i + 1]);
            }
        })
    }

    /// qᵦ = ‖Lᵀvᵦ‖² per row (module docs, (d)): one GEMM A = V L per block.
    fn v_hess_v_blocked(&self, x: &[T], v: &[T], out: &mut [T]) {
        let d = self.dim;
        let l = self.dense_l();
        batch::forward_dir(
            d,
            x,
            v,
            out,
            d * d,
            || vec![T::zero(); BLOCK * d],
            |a, _xb, vb, ob| {
                let n = ob.len();
                T::gemm(n, d, d, T::one(), vb, d, 1, &l, d, 1, T::zero(), a, d, 1);
                for (q, ar) in ob.iter_mut().zip(a.chunks_exact(d)) {
                    *q = dot(ar, ar);
                }
            },
        );
    }

    /// Σᵦ wᵦ ∇_θ qᵦ as [μ-gradient (zero), dense L-gradient 2 (wV)ᵀA].
    fn grad_v_hess_v_blocked(&self, v: &[T], w: &[T]) -> Vec<T> {
        let d = self.dim;
        let two = T::from_f64(2.0);
        self.reduce_dense(w.len(), 2 * d * d, 2, |l, scr, rows, acc| {
            let n = rows.len();
            let vb = &v[rows.start * d..rows.end * d];
            let (a, wv) = scr.split_at_mut(BLOCK * d);
            T::gemm(n, d, d, T::one(), vb, d, 1, l, d, 1, T::zero(), a, d, 1);
            for (k, &wn) in w[rows].iter().enumerate() {
                for i in 0..d {
                    wv[k * d + i] = wn * vb[k * d + i];
                }
            }
            T::gemm(d, n, d, two, wv, 1, d, a, d, 1, T::one(), &mut acc[d..], d, 1);
        })
    }

    /// Sums `f(l, scratch, rows, acc)` over a batch of `b` rows into
    /// [μ-gradient (d), dense L-gradient (d×d)], with `l` the dense L and a
    /// scratch of `blocks` BLOCK×d matrices per task.
    fn reduce_dense<F>(&self, b: usize, work_per_row: usize, blocks: usize, f: F) -> Vec<T>
    where
        F: Fn(&[T], &mut [T], Range<usize>, &mut [T]) + Sync + Send,
    {
        let d = self.dim;
        let l = self.dense_l();
        let scratch = || vec![T::zero(); blocks * BLOCK * d];
        batch::reduce(b, d + d * d, work_per_row, scratch, |scr, rows, acc| f(&l, scr, rows, acc))
    }

    /// Packs [μ-gradient, dense L-gradient] into θ's layout.
    fn pack_grad(&self, dense: &[T], grad: &mut [T]) {
        let d = self.dim;
        grad[..d].copy_from_slice(&dense[..d]);
        for i in 0..d {
            grad[d + tri(i, 0)..d + tri(i, 0) + i + 1].copy_from_slice(&dense[d + i * d..d + i * d + i + 1]);
        }
    }
}

/// aᵀb with eight independent partial sums (lets the compiler vectorise a
/// reduction that strict left-to-right order would keep scalar).
#[inline]
pub(crate) fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::zero(); 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ca.remainder().iter().zip(cb.remainder()).fold(T::zero(), |s, (&p, &q)| s + p * q);
    for v in acc {
        s += v;
    }
    s
}

impl<T: Real> Gaussian<T> {
    fn family_name(&self) -> &'static str {
        Self::NAME
    }

    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) {
        let dense = match target {
            Target::Energy => self.grad_blocked(x, None, w),
            Target::VDotGradX(v) => self.grad_blocked(x, Some(Some(&v)), w),
            Target::ScoreMatching => self.grad_blocked(x, Some(None), w),
        };
        self.pack_grad(&dense, grad);
        if let Target::ScoreMatching = target {
            // − tr P = −Σ Lᵢⱼ², weighted by Σᵦ wᵦ.
            let two_wsum = T::from_f64(2.0) * w.iter().copied().sum::<T>();
            for (gl, &l) in grad[self.dim..].iter_mut().zip(self.chol_packed()) {
                *gl -= two_wsum * l;
            }
        }
    }

    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) {
        self.v_hess_v_blocked(x, v, out);
    }

    fn grad_v_hess_v_impl(&self, _x: &[T], v: &[T], w: &[T], grad: &mut [T]) {
        self.pack_grad(&self.grad_v_hess_v_blocked(v, w), grad);
    }
}

batch::blocked_family!(Gaussian);
