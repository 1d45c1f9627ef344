//! Reference checks shared by every test in the workspace: one tolerance
//! type and f64 central finite differences of every derivative the
//! [`crate::Energy`] traits expose.
//!
//! These are public so that the GPU kernels, the symbolic engine and the
//! estimators check themselves against the same definitions.

use crate::energy::{sm_integrand, Curvature, EnergyExt, Trainable};
use crate::real::Real;

/// A relative-plus-absolute tolerance: `|a − b| ≤ atol + rtol · max(|a|, |b|)`.
/// NaN never passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part.
    pub rtol: f64,
    /// Absolute part.
    pub atol: f64,
}

impl Tolerance {
    /// A tolerance with the given relative and absolute parts.
    pub const fn new(rtol: f64, atol: f64) -> Self {
        Self { rtol, atol }
    }

    /// Grows both parts for a per-sample computation of length `n`: a dot
    /// product or chain of `n` rounded operations (faer's `eps · 8 · n`
    /// habit; a Langevin chain of `n` steps likewise). `n` is a property of
    /// one sample's computation — never the batch size: a sum over the
    /// batch is checked with [`Tolerance::assert_sum_close`] instead.
    pub fn grown(self, n: usize) -> Self {
        let f = (n.max(1)) as f64;
        Self { rtol: self.rtol * f, atol: self.atol * f }
    }

    /// Whether `a` and `b` agree.
    pub fn close(&self, a: f64, b: f64) -> bool {
        let diff = (a - b).abs();
        diff <= self.atol + self.rtol * a.abs().max(b.abs())
    }

    /// Largest error of `got` against `want` in units of this tolerance
    /// (≤ 1 passes): `max_i |g_i − w_i| / (atol + rtol · max(|g_i|, |w_i|))`.
    /// NaN and a length mismatch count as infinite.
    pub fn worst_ratio(&self, got: &[f32], want: &[f64]) -> f64 {
        if got.len() != want.len() {
            return f64::INFINITY;
        }
        got.iter()
            .zip(want)
            .map(|(&g, &w)| {
                let g = g as f64;
                let r = (g - w).abs() / (self.atol + self.rtol * g.abs().max(w.abs()));
                if r.is_nan() {
                    f64::INFINITY
                } else {
                    r
                }
            })
            .fold(0.0, f64::max)
    }

    /// Panics with the first disagreeing index, both values and `what`.
    #[track_caller]
    pub fn assert_all_close<A: Real, B: Real>(&self, what: &str, got: &[A], want: &[B]) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        let mut worst = (0usize, 0.0f64);
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let (g, w) = (g.to_f64(), w.to_f64());
            if !self.close(g, w) {
                panic!(
                    "{what}[{i}]: got {g:e}, want {w:e} (|diff| {:e}, tolerance {:?}; {} values)",
                    (g - w).abs(),
                    self,
                    got.len()
                );
            }
            let scale = self.atol + self.rtol * g.abs().max(w.abs());
            let r = (g - w).abs() / scale;
            if r > worst.1 {
                worst = (i, r);
            }
        }
    }
}

impl Tolerance {
    /// Panics unless every entry of a batch sum agrees with its reference:
    /// `|got_i − sum_i| ≤ atol + rtol · Σ_b |t_{b,i}|`.
    ///
    /// Any summation order of the terms t_b has a rounding error of at most
    /// γ · Σ_b |t_b| (Higham, *Accuracy and Stability of Numerical
    /// Algorithms*, §4.2), and an f32 term computed with relative error u
    /// adds u·|t_b|: the bound follows the cancellation in the sum, not the
    /// number of terms. `rtol` is fixed by the caller and covers γ at the
    /// sizes the test uses; it never grows with B.
    #[track_caller]
    pub fn assert_sum_close<A: Real>(&self, what: &str, got: &[A], want: &SumRef) {
        assert_eq!(got.len(), want.sum.len(), "{what}: lengths differ");
        let (i, r) = want.worst(got, self);
        if r > 1.0 {
            let (g, s, a) = (Real::to_f64(got[i]), want.sum[i], want.abs_sum[i]);
            panic!(
                "{what}[{i}]: got {g:e}, want {s:e} (|diff| {:e} is {r:.3e} × the bound {:e} + {:e}·Σ|terms| {a:e}; {} values)",
                (g - s).abs(),
                self.atol,
                self.rtol,
                got.len()
            );
        }
    }
}

/// The reference of a batch sum, per entry: Σ_b t_b and the magnitude of
/// its terms Σ_b |t_b| that [`Tolerance::assert_sum_close`] scales by.
#[derive(Debug, Clone, PartialEq)]
pub struct SumRef {
    /// Σ_b t_b, summed in f64 in row order.
    pub sum: Vec<f64>,
    /// Σ_b |t_b|.
    pub abs_sum: Vec<f64>,
}

impl SumRef {
    /// An empty sum of `len` entries.
    pub fn zeros(len: usize) -> Self {
        Self { sum: vec![0.0; len], abs_sum: vec![0.0; len] }
    }

    /// Adds one term.
    pub fn add<T: Real>(&mut self, term: &[T]) {
        assert_eq!(term.len(), self.sum.len(), "SumRef::add: term length");
        for ((s, a), &t) in self.sum.iter_mut().zip(&mut self.abs_sum).zip(term) {
            let t = Real::to_f64(t);
            *s += t;
            *a += t.abs();
        }
    }

    /// `rtol` relative to each entry's Σ_b|t_b|, plus `rtol · 10⁻³ ·
    /// max_j Σ_b|t_{b,j}|`: entries whose terms cancel inside one sample
    /// (an f32 term's error then follows the sample's scale, not |t_b|)
    /// are judged on the vector's scale. Neither part depends on B.
    pub fn tolerance(&self, rtol: f64) -> Tolerance {
        let scale = self.abs_sum.iter().copied().fold(0.0, f64::max);
        Tolerance::new(rtol, rtol * 1e-3 * scale.max(1e-300))
    }

    /// The entry with the largest `|got_i − sum_i| / (atol + rtol·Σ|t_i|)`
    /// under `tol`, and that ratio (≤ 1 passes; NaN and a length mismatch
    /// are infinite).
    pub fn worst<A: Real>(&self, got: &[A], tol: &Tolerance) -> (usize, f64) {
        if got.len() != self.sum.len() {
            return (0, f64::INFINITY);
        }
        let mut worst = (0, 0.0);
        for (i, (&g, (&s, &a))) in got.iter().zip(self.sum.iter().zip(&self.abs_sum)).enumerate() {
            let diff = (Real::to_f64(g) - s).abs();
            // Equal (zero included) passes even under a zero bound; NaN fails.
            let r = if diff == 0.0 { 0.0 } else { diff / (tol.atol + tol.rtol * a) };
            let r = if r.is_nan() { f64::INFINITY } else { r };
            if r > worst.1 {
                worst = (i, r);
            }
        }
        worst
    }

    /// The sum over `rows` terms of length `len`; `term(b, out)` writes
    /// row b's term into `out` (in the precision of the model that computes it).
    pub fn over_rows<T: Real>(rows: usize, len: usize, mut term: impl FnMut(usize, &mut [T])) -> Self {
        let mut r = Self::zeros(len);
        let mut t = vec![T::zero(); len];
        for b in 0..rows {
            term(b, &mut t);
            r.add(&t);
        }
        r
    }
}

/// Tolerance of the finite-difference checks: central differences in f64
/// with steps of 1e-5 have truncation and rounding errors near 1e-9 relative.
pub const FD_TOL: Tolerance = Tolerance::new(2e-5, 2e-6);

/// (d, B) of the checked batch: x holds B rows of the model's d, v the
/// same shape, w B weights (panics otherwise).
#[track_caller]
fn batch_shape<E: EnergyExt<f64>>(model: &E, x: &[f64], v: &[f64], w: &[f64]) -> (usize, usize) {
    let d = model.dim();
    let b = x.len() / d;
    assert_eq!(b * d, x.len());
    assert_eq!(v.len(), x.len());
    assert_eq!(w.len(), b);
    (d, b)
}

fn fd_step(v: f64) -> f64 {
    1e-5 * v.abs().max(1.0)
}

/// `f` at `base` with coordinate `k` moved by +h and by −h: the two points
/// of a central difference.
fn either_side<R>(base: &[f64], k: usize, h: f64, mut f: impl FnMut(&[f64]) -> R) -> (R, R) {
    let mut p = base.to_vec();
    p[k] = base[k] + h;
    let plus = f(&p);
    p[k] = base[k] - h;
    (plus, f(&p))
}

/// Σᵦ wᵦ f(model, xᵦ) evaluated through the public interface.
fn batch_energy<E: EnergyExt<f64>>(m: &E, x: &[f64], w: &[f64]) -> f64 {
    let mut e = vec![0.0; w.len()];
    m.energy(x, &mut e).expect("energy");
    e.iter().zip(w).map(|(a, b)| a * b).sum()
}

fn batch_v_dot_grad<E: EnergyExt<f64>>(m: &E, x: &[f64], v: &[f64], w: &[f64]) -> f64 {
    let b = w.len();
    let d = x.len() / b;
    let mut e = vec![0.0; b];
    let mut s = vec![0.0; b * d];
    m.energy_score(x, &mut e, &mut s).expect("energy_score");
    // vᵀ∇E = −vᵀ score
    (0..b).map(|i| -w[i] * (0..d).map(|j| v[i * d + j] * s[i * d + j]).sum::<f64>()).sum()
}

fn batch_sm<E: EnergyExt<f64>>(m: &E, x: &[f64], w: &[f64]) -> f64 {
    let b = w.len();
    let d = x.len() / b;
    let mut e = vec![0.0; b];
    let mut s = vec![0.0; b * d];
    let mut h = vec![0.0; b * d];
    m.energy_score_hess_diag(x, &mut e, &mut s, &mut h).expect("hess");
    (0..b).map(|i| w[i] * sm_integrand(&s[i * d..(i + 1) * d], &h[i * d..(i + 1) * d])).sum()
}

/// Central-difference gradient of `f` with respect to every parameter.
fn fd_param_grad<E: Trainable<f64> + Clone>(m: &E, f: impl Fn(&E) -> f64) -> Vec<f64> {
    let theta = m.params().to_vec();
    let mut probe = m.clone();
    (0..theta.len())
        .map(|k| {
            let h = fd_step(theta[k]);
            let (fp, fm) = either_side(&theta, k, h, |t| {
                probe.set_params(t).unwrap();
                f(&probe)
            });
            (fp - fm) / (2.0 * h)
        })
        .collect()
}

/// Checks every derivative of `model` at the batch `x` (row-major B×d)
/// against f64 central finite differences, with per-sample directions `v`
/// and weights `w`:
///
/// 1. `energy_score` and `energy_score_hess_diag` return the same energy as
///    `energy`, and the same score;
/// 2. score = −∇ₓE (differences of `energy`);
/// 3. the Hessian diagonal equals the diagonal of the full finite-difference
///    Hessian (differences of the analytic gradient, checked in 2), and the
///    second difference of the energy;
/// 4. the three parameter gradients equal the differences of Σᵦ wᵦ E,
///    Σᵦ wᵦ vᵦᵀ∇ₓE and Σᵦ wᵦ J (seed eq 12) in θ.
///
/// Panics with the first disagreement.
#[track_caller]
pub fn check_all_derivatives<E: Trainable<f64> + Clone>(model: &E, x: &[f64], v: &[f64], w: &[f64], tol: Tolerance) {
    let (d, b) = batch_shape(model, x, v, w);
    let name = model.name();

    let mut e0 = vec![0.0; b];
    model.energy(x, &mut e0).expect("energy");
    let (mut e1, mut s1) = (vec![0.0; b], vec![0.0; b * d]);
    model.energy_score(x, &mut e1, &mut s1).expect("energy_score");
    let (mut e2, mut s2, mut h2) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    model.energy_score_hess_diag(x, &mut e2, &mut s2, &mut h2).expect("energy_score_hess_diag");
    let exact = Tolerance::new(1e-12, 1e-12);
    exact.assert_all_close(&format!("{name}: energy of energy_score"), &e1, &e0);
    exact.assert_all_close(&format!("{name}: energy of energy_score_hess_diag"), &e2, &e0);
    exact.assert_all_close(&format!("{name}: score of energy_score_hess_diag"), &s2, &s1);

    // score = −∇ₓE and the Hessian diagonal, per sample and coordinate.
    let mut fd_score = vec![0.0; b * d];
    let mut fd_hess_from_grad = vec![0.0; b * d];
    let mut fd_hess_from_energy = vec![0.0; b * d];
    for i in 0..b {
        let row = &x[i * d..(i + 1) * d];
        let energy_at = |p: &[f64]| {
            let mut e = [0.0];
            model.energy(p, &mut e).expect("energy");
            e[0]
        };
        let score_at = |p: &[f64]| {
            let mut e = [0.0];
            let mut s = vec![0.0; d];
            model.energy_score(p, &mut e, &mut s).expect("energy_score");
            s
        };
        for j in 0..d {
            let h = fd_step(row[j]);
            let ((ep, sp), (em, sm)) = either_side(row, j, h, |p| (energy_at(p), score_at(p)));
            fd_score[i * d + j] = -(ep - em) / (2.0 * h);
            // full FD Hessian row j is −(s(x+h e_j) − s(x−h e_j)) / 2h; keep its diagonal
            fd_hess_from_grad[i * d + j] = -(sp[j] - sm[j]) / (2.0 * h);
            let h2e = 1e-3 * row[j].abs().max(1.0);
            let (epp, emm) = either_side(row, j, h2e, energy_at);
            fd_hess_from_energy[i * d + j] = (epp - 2.0 * e0[i] + emm) / (h2e * h2e);
        }
    }
    tol.assert_all_close(&format!("{name}: score vs −FD ∇ₓE"), &s1, &fd_score);
    tol.assert_all_close(&format!("{name}: hess_diag vs diagonal of the FD Hessian"), &h2, &fd_hess_from_grad);
    // The second difference of E loses about half the digits; scale its tolerance.
    let loose = Tolerance::new(tol.rtol * 100.0, tol.atol * 100.0);
    loose.assert_all_close(&format!("{name}: hess_diag vs second difference of E"), &h2, &fd_hess_from_energy);

    // Parameter gradients.
    let p = model.num_params();
    let mut g = vec![f64::NAN; p];
    model.grad_params_energy(x, w, &mut g).expect("grad_params_energy");
    let fd = fd_param_grad(model, |m| batch_energy(m, x, w));
    tol.assert_all_close(&format!("{name}: grad_params_energy"), &g, &fd);

    let mut g = vec![f64::NAN; p];
    model.grad_params_v_dot_grad_x(x, v, w, &mut g).expect("grad_params_v_dot_grad_x");
    let fd = fd_param_grad(model, |m| batch_v_dot_grad(m, x, v, w));
    tol.assert_all_close(&format!("{name}: grad_params_v_dot_grad_x"), &g, &fd);

    let mut g = vec![f64::NAN; p];
    model.grad_params_sm(x, w, &mut g).expect("grad_params_sm");
    let fd = fd_param_grad(model, |m| batch_sm(m, x, w));
    tol.assert_all_close(&format!("{name}: grad_params_sm"), &g, &fd);
}

fn batch_v_hess_v<E: Curvature<f64>>(m: &E, x: &[f64], v: &[f64], w: &[f64]) -> f64 {
    let mut q = vec![0.0; w.len()];
    m.v_hess_v(x, v, &mut q).expect("v_hess_v");
    q.iter().zip(w).map(|(a, b)| a * b).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Checks the Hessian quadratic form [`crate::EnergyExt::v_hess_v`] and its parameter
/// gradient [`crate::EnergyExt::grad_params_v_hess_v`] of `model` at the batch `x`
/// (row-major B×d), directions `v` (B×d) and weights `w` (B) against f64
/// finite differences:
///
/// 1. qᵦ = vᵦᵀ∇²E(xᵦ)vᵦ equals the central difference of the exact score
///    along vᵦ, −vᵦᵀ[s(xᵦ + hvᵦ) − s(xᵦ − hvᵦ)]/2h (within `tol`), and the
///    directional second difference of the energy,
///    [E(xᵦ + hvᵦ) − 2E(xᵦ) + E(xᵦ − hvᵦ)]/h² (within 100·`tol`);
/// 2. with vᵦ = eⱼ (every coordinate of every sample, one batch) it equals
///    the Hessian diagonal of `energy_score_hess_diag` to 1e-9 relative;
/// 3. the gradient equals the central differences in θ of Σᵦ wᵦ qᵦ, and it
///    overwrites `grad`.
///
/// Separate from [`check_all_derivatives`] because the method is optional
/// for user models (the default returns [`crate::EbmError::Unsupported`]).
/// Panics with the first disagreement.
#[track_caller]
pub fn check_v_hess_v<E: Curvature<f64> + Clone>(model: &E, x: &[f64], v: &[f64], w: &[f64], tol: Tolerance) {
    let (d, b) = batch_shape(model, x, v, w);
    let name = model.name();

    let mut q = vec![f64::NAN; b];
    model.v_hess_v(x, v, &mut q).expect("v_hess_v");
    let mut e0 = vec![0.0; b];
    model.energy(x, &mut e0).expect("energy");

    // 1. Finite differences along v, per sample.
    let mut fd_score = vec![0.0; b];
    let mut fd_energy = vec![0.0; b];
    for i in 0..b {
        let (row, dir) = (&x[i * d..(i + 1) * d], &v[i * d..(i + 1) * d]);
        let vn = inf_norm(dir);
        if vn == 0.0 {
            continue;
        }
        let at = |t: f64| -> Vec<f64> { row.iter().zip(dir).map(|(a, u)| a + t * u).collect() };
        let score_at = |p: &[f64]| {
            let mut e = [0.0];
            let mut s = vec![0.0; d];
            model.energy_score(p, &mut e, &mut s).expect("energy_score");
            s
        };
        let energy_at = |p: &[f64]| {
            let mut e = [0.0];
            model.energy(p, &mut e).expect("energy");
            e[0]
        };
        let scale = inf_norm(row).max(1.0) / vn;
        let h = 1e-5 * scale;
        let (sp, sm) = (score_at(&at(h)), score_at(&at(-h)));
        fd_score[i] = -(0..d).map(|j| dir[j] * (sp[j] - sm[j])).sum::<f64>() / (2.0 * h);
        let h2 = 1e-3 * scale;
        fd_energy[i] = (energy_at(&at(h2)) - 2.0 * e0[i] + energy_at(&at(-h2))) / (h2 * h2);
    }
    tol.assert_all_close(&format!("{name}: v_hess_v vs FD of the score along v"), &q, &fd_score);
    let loose = Tolerance::new(tol.rtol * 100.0, tol.atol * 100.0);
    loose.assert_all_close(&format!("{name}: v_hess_v vs second difference of E along v"), &q, &fd_energy);

    // 2. Unit directions give the Hessian diagonal.
    let mut xs = Vec::with_capacity(b * d * d);
    let mut es = vec![0.0; b * d * d];
    for i in 0..b {
        for j in 0..d {
            xs.extend_from_slice(&x[i * d..(i + 1) * d]);
            es[(i * d + j) * d + j] = 1.0;
        }
    }
    let mut qd = vec![f64::NAN; b * d];
    model.v_hess_v(&xs, &es, &mut qd).expect("v_hess_v");
    let (mut e2, mut s2, mut h2) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
    model.energy_score_hess_diag(x, &mut e2, &mut s2, &mut h2).expect("energy_score_hess_diag");
    Tolerance::new(1e-9, 1e-9).assert_all_close(&format!("{name}: v_hess_v(eⱼ) vs hess_diag"), &qd, &h2);

    // 3. Parameter gradient.
    let mut g = vec![f64::NAN; model.num_params()];
    model.grad_params_v_hess_v(x, v, w, &mut g).expect("grad_params_v_hess_v");
    let fd = fd_param_grad(model, |m| batch_v_hess_v(m, x, v, w));
    tol.assert_all_close(&format!("{name}: grad_params_v_hess_v"), &g, &fd);
}

/// `a` rounded to f32, and those f32 values back in f64.
fn rounded(a: &[f64]) -> (Vec<f32>, Vec<f64>) {
    let a32: Vec<f32> = a.iter().map(|&t| t as f32).collect();
    let a64 = a32.iter().map(|&t| t as f64).collect();
    (a32, a64)
}

/// An f32 model against its f64 twin (same parameters up to rounding) at
/// one batch: x (B×d), directions v (B×d) and weights w (B) rounded to f32,
/// the f64 model evaluated at those rounded values (so only the arithmetic
/// differs), and the tolerance `tol`.
///
/// Outputs per sample are checked within `tol`; the parameter gradients (batch
/// sums) within `tol` of the f64 per-row terms' sum, relative to the terms'
/// magnitude ([`Tolerance::assert_sum_close`]).
#[derive(Debug, Clone)]
pub struct F32Check {
    x: (Vec<f32>, Vec<f64>),
    v: (Vec<f32>, Vec<f64>),
    w: (Vec<f32>, Vec<f64>),
    tol: Tolerance,
}

impl F32Check {
    /// The check at the batch `x`, `v`, `w` (rounded to f32 here) within `tol`.
    pub fn new(x: &[f64], v: &[f64], w: &[f64], tol: Tolerance) -> Self {
        Self { x: rounded(x), v: rounded(v), w: rounded(w), tol }
    }

    /// Every output: energy, score and Hessian diagonal, and the three
    /// parameter gradients.
    #[track_caller]
    pub fn outputs<A: Trainable<f32> + ?Sized, B: Trainable<f64> + ?Sized>(&self, m32: &A, m64: &B) {
        let ((x32, x64), (v32, v64), (w32, w64), tol) = (&self.x, &self.v, &self.w, self.tol);
        let d = m64.dim();
        let b = x64.len() / d;
        let p = m64.num_params();
        let (mut e, mut s, mut h) = (vec![0f32; b], vec![0f32; b * d], vec![0f32; b * d]);
        let (mut e6, mut s6, mut h6) = (vec![0f64; b], vec![0f64; b * d], vec![0f64; b * d]);
        m32.energy_score_hess_diag(x32, &mut e, &mut s, &mut h).unwrap();
        m64.energy_score_hess_diag(x64, &mut e6, &mut s6, &mut h6).unwrap();
        let name = m64.name();
        tol.assert_all_close(&format!("{name} f32: energy"), &e, &e6);
        tol.assert_all_close(&format!("{name} f32: score"), &s, &s6);
        tol.assert_all_close(&format!("{name} f32: hess_diag"), &h, &h6);
        // The parameter gradients are batch sums: each against the f64 sum of
        // its per-row terms, relative to their magnitude.
        let mut g = vec![0f32; p];
        let row = |r: usize| r * d..(r + 1) * d;
        m32.grad_params_energy(x32, w32, &mut g).unwrap();
        let want = SumRef::over_rows(b, p, |r, t| m64.grad_params_energy(&x64[row(r)], &w64[r..r + 1], t).unwrap());
        tol.assert_sum_close(&format!("{name} f32: grad_params_energy"), &g, &want);
        m32.grad_params_v_dot_grad_x(x32, v32, w32, &mut g).unwrap();
        let want = SumRef::over_rows(b, p, |r, t| {
            m64.grad_params_v_dot_grad_x(&x64[row(r)], &v64[row(r)], &w64[r..r + 1], t).unwrap()
        });
        tol.assert_sum_close(&format!("{name} f32: grad_params_v_dot_grad_x"), &g, &want);
        m32.grad_params_sm(x32, w32, &mut g).unwrap();
        let want = SumRef::over_rows(b, p, |r, t| m64.grad_params_sm(&x64[row(r)], &w64[r..r + 1], t).unwrap());
        tol.assert_sum_close(&format!("{name} f32: grad_params_sm"), &g, &want);
    }

    /// [`check_v_hess_v`]'s outputs: `v_hess_v` and its parameter gradient.
    #[track_caller]
    pub fn v_hess_v<A: Curvature<f32> + ?Sized, B: Curvature<f64> + ?Sized>(&self, m32: &A, m64: &B) {
        let ((x32, x64), (v32, v64), (w32, w64), tol) = (&self.x, &self.v, &self.w, self.tol);
        let b = w64.len();
        let p = m64.num_params();
        let (mut q, mut q6) = (vec![0f32; b], vec![0f64; b]);
        m32.v_hess_v(x32, v32, &mut q).unwrap();
        m64.v_hess_v(x64, v64, &mut q6).unwrap();
        let name = m64.name();
        tol.assert_all_close(&format!("{name} f32: v_hess_v"), &q, &q6);
        let mut g = vec![0f32; p];
        m32.grad_params_v_hess_v(x32, v32, w32, &mut g).unwrap();
        let d = m64.dim();
        let want = SumRef::over_rows(b, p, |r, t| {
            let rows = r * d..(r + 1) * d;
            m64.grad_params_v_hess_v(&x64[rows.clone()], &v64[rows], &w64[r..r + 1], t).unwrap()
        });
        tol.assert_sum_close(&format!("{name} f32: grad_params_v_hess_v"), &g, &want);
    }
}

/// Deterministic pseudo-random values in [lo, hi) for tests (a Philox
/// stream, so no extra dependency and the same numbers everywhere).
pub fn uniform_vec(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut u = vec![0f64; n];
    crate::rng::fill_uniform(seed, 0x7e57, 0, &mut u);
    u.iter().map(|&t| lo + (hi - lo) * t).collect()
}

/// Deterministic standard normals for tests.
pub fn normal_vec(seed: u64, n: usize) -> Vec<f64> {
    let mut z = vec![0f64; n];
    crate::rng::fill_normal(seed, 0x7e58, 0, &mut z);
    z
}

/// The least-squares slope of ln ys against ln xs: the growth exponent of
/// a size measured at several dimensions.
pub fn log_log_slope(xs: &[usize], ys: &[usize]) -> f64 {
    let pts: Vec<(f64, f64)> = xs.iter().zip(ys).map(|(&x, &y)| ((x as f64).ln(), (y as f64).ln())).collect();
    fit_slope(&pts)
}

/// The least-squares slope of y on x over the points `(x, y)`:
/// `Σ (x − x̄)(y − ȳ) / Σ (x − x̄)²`.
pub fn fit_slope(pts: &[(f64, f64)]) -> f64 {
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    sxy / sxx
}

/// Formula sources shared by the symbolic-energy tests (`SymEnergy` on the
/// CPU and `GpuSym` on the device): the hand-written families as formulas,
/// their `sym` layouts the families' flat θ.
pub mod formulas {
    use crate::ica::Source;

    /// Cholesky-factored Gaussian (`Sum` of products, `square`).
    pub const GAUSS: &str = "energy(x[d]; mu[d], L[d,d] lower) = \
    0.5 * sum(j, 0..d, square(sum(i, j..d, L[i,j] * (x[i] - mu[i]))))";
    /// log cosh ICA.
    pub const ICA: &str = "energy(x[d]; W[K,d]) = sum(k, 0..K, logcosh(sum(i, 0..d, W[k,i] * x[i])))";
    /// Student-t experts (`log1p`).
    pub const STUDENT: &str =
        "energy(x[d]; W[K,d], alpha[K]) = sum(k, 0..K, alpha[k] * log1p(0.5 * square(sum(i, 0..d, W[k,i] * x[i]))))";
    /// Diagonal Gaussian mixture (log-sum-exp: `max`, `exp`, `log`).
    pub const MIXTURE: &str = "
energy(x[d]; logits[K], mu[K,d], log_l[K,d]) =
  -logsumexp(k, 0..K,
      logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)
      + sum(i, 0..d, log_l[k,i])
      - 0.5 * sum(i, 0..d, square(exp(log_l[k,i]) * (x[i] - mu[k,i]))))";
    /// Full Gaussian mixture: eₖ = −log πₖ + (d/2) log 2π − Σᵢ log|Lₖ,ᵢᵢ|
    /// + ½‖Lₖᵀ(x − μₖ)‖², E = −lse(−e).
    pub const MIXTURE_FULL: &str = "
energy(x[d]; logits[K], mu[K,d], L[K,d,d] lower) =
  -logsumexp(k, 0..K,
      logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)
      + sum(i, 0..d, 0.5 * log(square(L[k,i,i])))
      - 0.5 * sum(j, 0..d, square(sum(i, j..d, L[k,i,j] * (x[i] - mu[k,i])))))";

    /// The body of [`CHAINS`]: a literal, so that [`CHAINS_ALL`] can extend it.
    macro_rules! chains_src {
        () => {
            "
energy(x[d]; a[d], b[d], c) =
    square(c - sum(i, 0..d, a[i] * x[i]))
  - sum(i, 0..d, b[i] * x[i] * x[i]) * 0.25
  + -(x[0] * x[1] + c) + -(a[0] * x[0])
  + sum(i, 0..d, tanh(a[i] * x[i] - b[i]) + sigmoid(x[i] - c) + softplus(b[i] * x[i]))
  + log(1 + square(sum(i, 0..d, x[i] - a[i]))) + exp(-0.1 * sum(i, 0..d, square(x[i])))
  + sqrt(2 + square(x[0] - x[1])) + (1.5 + square(x[1]))^(-2) + x[0]^3 * c
  + (2 + square(x[0]))^0.7 + sin(a[0] * x[1]) * cos(x[0])"
        };
    }
    /// Subtracted chains on either side, negated chains and products,
    /// squares as terms, chains shared between outputs, integer and real
    /// powers (positive and negative), and every unary function but
    /// `logcosh` and `log1p`.
    pub const CHAINS: &str = chains_src!();
    /// [`CHAINS`] with a `logcosh` and a `log1p` term: every unary function.
    pub const CHAINS_ALL: &str = concat!(chains_src!(), "\n  + logcosh(x[2] - b[2]) + log1p(square(x[1] * c))");

    /// The ICA formula of `source`.
    pub fn ica_src(source: Source) -> &'static str {
        match source {
            Source::LogCosh => ICA,
            Source::Logistic => "energy(x[d]; W[K,d]) = sum(k, 0..K, 2 * logcosh(0.5 * sum(i, 0..d, W[k,i] * x[i])))",
            Source::StudentT => STUDENT,
        }
    }
}
