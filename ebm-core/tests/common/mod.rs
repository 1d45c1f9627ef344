//! Shared by the symbolic-twin tests: the formulas of the hand-written
//! families (their `sym` layouts are the families' flat θ) and a seeded
//! batch (x, v, weights).
#![allow(dead_code)]

use ebm_core::gaussian::Gaussian;
use ebm_core::ica::{Ica, Source};
use ebm_core::mixture::{Covariance, GaussianMixture};
use ebm_core::prelude::*;
use ebm_core::sym::SymEnergy;
use ebm_core::testing::{normal_vec, uniform_vec, SumRef, Tolerance};

// Not every test binary that includes this module uses the formulas.
#[allow(unused_imports)]
pub use ebm_core::testing::formulas::{ica_src, GAUSS as GAUSSIAN, MIXTURE as MIXTURE_DIAG, MIXTURE_FULL};

/// The batched vᵀ∇ₓ²E v and its θ-gradient of `m` (d = `d`) against the
/// same one row at a time: `same_row(n, row value, batched value)` checks
/// each row, and the gradient (its buffer filled with `g0` first, to show
/// it is overwritten) is the sum of the per-row gradients.
#[allow(clippy::too_many_arguments)]
pub fn check_batched_rows<M: Model<f64> + ?Sized>(
    m: &M,
    label: &str,
    d: usize,
    x: &[f64],
    v: &[f64],
    w: &[f64],
    g0: f64,
    same_row: impl Fn(usize, f64, f64),
) {
    let (b, np) = (w.len(), m.num_params());
    let mut q = vec![0.0; b];
    m.v_hess_v(x, v, &mut q).unwrap();
    let mut g = vec![g0; np];
    m.grad_params_v_hess_v(x, v, w, &mut g).unwrap();
    let mut want = SumRef::zeros(np);
    let (mut q1, mut g1) = ([0.0], vec![0.0; np]);
    for n in 0..b {
        let (xr, vr) = (&x[n * d..(n + 1) * d], &v[n * d..(n + 1) * d]);
        m.v_hess_v(xr, vr, &mut q1).unwrap();
        same_row(n, q1[0], q[n]);
        m.grad_params_v_hess_v(xr, vr, &w[n..n + 1], &mut g1).unwrap();
        want.add(&g1);
    }
    // A batch sum: against the magnitude of its terms, not grown with B.
    Tolerance::new(1e-13, 0.0).assert_sum_close(&format!("{label}: batched gradient"), &g, &want);
}

/// A seeded batch: x (scaled normals), v (normals) and weights in [−0.5, 1).
pub fn batch(seed: u64, b: usize, d: usize, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = normal_vec(seed, b * d).iter().map(|v| v * scale).collect();
    (x, normal_vec(seed + 1, b * d), uniform_vec(seed + 2, b, -0.5, 1.0))
}

/// A comparison of a `sym` twin (first) with its hand-written family
/// (second) at a batch (x, v, w): `agree(label, twin, hand, x, v, w, tol)`.
pub type Agree<T> = fn(&str, &dyn Model<T>, &dyn Model<T>, &[f64], &[f64], &[f64], Tolerance);

/// Runs one [`Agree`] on every hand-written family and its `sym` twin with
/// the same flat θ: in f64 at three batch sizes (`tol64`) and once more on
/// both models cast to f32 (`tol32`).
pub struct Twins {
    pub agree64: Agree<f64>,
    pub agree32: Agree<f32>,
    pub tol64: Tolerance,
    pub tol32: Tolerance,
}

impl Twins {
    /// Every family: [`Twins::gaussian`], [`Twins::ica`], [`Twins::mixture`].
    pub fn all(&self) {
        self.gaussian();
        self.ica();
        self.mixture();
    }

    /// `agree` in f64 at batches of `sizes` rows (x scaled by `scale`), then
    /// in f32 at a batch of `rows32` rows from `seed32`.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        label: &str,
        twin: &SymEnergy<f64>,
        hand: &dyn Model<f64>,
        hand32: &dyn Model<f32>,
        seed: u64,
        sizes: [usize; 3],
        scale: f64,
        (seed32, rows32): (u64, usize),
    ) {
        let d = hand.dim();
        for b in sizes {
            let (x, v, w) = batch(seed * 10 + b as u64, b, d, scale);
            (self.agree64)(&format!("{label} B={b}"), twin, hand, &x, &v, &w, self.tol64);
        }
        let (x, v, w) = batch(seed32, rows32, d, 1.0);
        (self.agree32)(&format!("{label} f32"), &twin.cast::<f32>(), hand32, &x, &v, &w, self.tol32);
    }

    /// The Gaussian at d = 1, 3, 6.
    pub fn gaussian(&self) {
        for (d, seed) in [(1usize, 1u64), (3, 2), (6, 3)] {
            let hand = Gaussian::<f64>::init(d, seed).unwrap();
            let twin = SymEnergy::<f64>::parse_with(GAUSSIAN, &[("d", d)], hand.params()).unwrap();
            let label = format!("gaussian d={d}");
            self.check(&label, &twin, &hand, &hand.cast::<f32>(), seed, [1, 37, 130], 1.5, (seed + 99, 50));
        }
    }

    /// ICA with every source, the Student-t α away from 1 (so its
    /// gradients are exercised non-trivially).
    pub fn ica(&self) {
        for source in [Source::LogCosh, Source::Logistic, Source::StudentT] {
            for (d, k, seed) in [(2usize, 3usize, 4u64), (4, 4, 5), (5, 2, 6)] {
                let mut hand = Ica::<f64>::init(d, k, source, seed).unwrap();
                if source == Source::StudentT {
                    let mut t = hand.params().to_vec();
                    t[k * d..].copy_from_slice(&uniform_vec(seed, k, 0.5, 2.5));
                    hand.set_params(&t).unwrap();
                }
                let twin = SymEnergy::<f64>::parse_with(ica_src(source), &[("d", d), ("K", k)], hand.params()).unwrap();
                let label = format!("ica {source:?} d={d} K={k}");
                self.check(&label, &twin, &hand, &hand.cast::<f32>(), seed, [1, 33, 100], 2.0, (seed + 77, 40));
            }
        }
    }

    /// The mixture with both covariances, moved away from the symmetric
    /// start so every component matters.
    pub fn mixture(&self) {
        for cov in [Covariance::Full, Covariance::Diagonal] {
            let src = match cov {
                Covariance::Full => MIXTURE_FULL,
                Covariance::Diagonal => MIXTURE_DIAG,
            };
            for (d, k, seed) in [(1usize, 2usize, 7u64), (2, 3, 8), (4, 3, 9)] {
                let mut hand = GaussianMixture::<f64>::init(d, k, cov, seed).unwrap();
                let np = hand.num_params();
                let t: Vec<f64> =
                    hand.params().iter().zip(uniform_vec(seed ^ 9, np, -0.3, 0.3)).map(|(a, b)| a + b).collect();
                hand.set_params(&t).unwrap();
                let twin = SymEnergy::<f64>::parse_with(src, &[("d", d), ("K", k)], hand.params()).unwrap();
                let label = format!("mixture {cov:?} d={d} K={k}");
                self.check(&label, &twin, &hand, &hand.cast::<f32>(), seed, [1, 45, 100], 1.5, (seed + 55, 40));
            }
        }
    }
}
