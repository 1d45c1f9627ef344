//! Exact log Z (seed eq 1) and log-likelihood for d ≤ 2 by quadrature, with
//! a reported error bound: the ground truth that AIS, NCE's learned c
//! (seed eq 24) and every training run in one or two dimensions are checked
//! against.
//!
//! # Rule
//!
//! Z = ∫ exp(−E(x)) dx over ℝᵈ is approximated by the product trapezoidal
//! rule on a box B with n nodes per axis. For an integrand that is smooth
//! and negligible on ∂B the trapezoidal rule converges faster than any power
//! of the spacing h (its error is the aliasing sum of the Fourier transform,
//! Trefethen & Weideman 2014), so a few doublings of n reach 1e-12.
//!
//! # Adaptive grid
//!
//! 1. **Locate.** Start from B = c ± a (default: the origin ± 8 per axis)
//!    with `min_points` per axis. Estimate the mass outside each face of B
//!    (below); while a face's estimate exceeds its share of the tolerance,
//!    push that face out by the box's width on that axis.
//! 2. **Trim.** Shrink B to the nodes where log f > max log f − (ln(1/tol)
//!    + 20), plus two cells, so the nodes sit where the mass is.
//! 3. **Refine.** Double the resolution (n ← 2n − 1) until two successive
//!    estimates agree to `rel_tol` (or `max_points` is reached, reported by
//!    [`LogZQuadrature::converged`]).
//!
//! # Error bound
//!
//! The relative error of Z (hence the absolute error of log Z, to first
//! order) is bounded by the sum of
//!
//! - **discretisation:** |Z_n − Z_{n′}|/Z_n between the last two
//!   resolutions. This estimates the error of the *coarser* one; for the
//!   super-geometric convergence above it bounds the finer one with a wide
//!   margin (and for a kinked integrand with O(h²) convergence it is still
//!   3× the finer one's error);
//! - **truncation:** outside each face with outward unit normal ν, if
//!   log f is concave beyond the face (true for every log-concave tail) its
//!   slope ν·∇ log f = ν·score at the face bounds the decay, so the mass
//!   beyond a face node is at most f/|ν·score|; summed with the face's
//!   quadrature weights. Where the outward slope is not negative the
//!   estimate is f × (box width), pessimistic on purpose, and the box grows.
//!
//! The bound is an estimate, not a proof: an integrand with a narrow peak
//! that falls between the nodes of the locating grid can be missed. Give
//! [`QuadratureOptions::center`] and [`QuadratureOptions::half_width`] at
//! the model's scale for such models.

use super::{log_sum_exp, positive, rows_f64, Estimate};
use crate::error::{config, Result};
use ebm_core::{Energy, EnergyExt, Real};

/// Options of [`log_z_quadrature`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuadratureOptions {
    /// Relative tolerance on Z (≈ absolute tolerance on log Z).
    pub rel_tol: f64,
    /// The centre of the initial box (default: the origin).
    pub center: Option<Vec<f64>>,
    /// The initial box's half-width a on every axis.
    pub half_width: f64,
    /// Nodes per axis of the locating grid (≥ 3).
    pub min_points: usize,
    /// The most nodes per axis refinement may use.
    pub max_points: usize,
    /// The most face expansions before giving up.
    pub max_expansions: usize,
}

impl Default for QuadratureOptions {
    fn default() -> Self {
        Self { rel_tol: 1e-10, center: None, half_width: 8.0, min_points: 33, max_points: 2049, max_expansions: 40 }
    }
}

/// A tensor-product trapezoidal grid on a box in d ∈ {1, 2} dimensions with
/// n nodes per axis (the last axis varies fastest).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    bounds: Vec<(f64, f64)>,
    n: usize,
}

impl Grid {
    /// The grid with `n` ≥ 2 nodes per axis on `bounds` (one (lo, hi) per
    /// axis, lo < hi, 1 or 2 axes).
    ///
    /// Errors: [`crate::EstError::Config`] otherwise.
    pub fn new(bounds: Vec<(f64, f64)>, n: usize) -> Result<Self> {
        if bounds.is_empty() || bounds.len() > 2 {
            return config(format!("quadrature supports d = 1 or 2, got d = {} (use AIS)", bounds.len()));
        }
        if n < 2 {
            return config("a quadrature grid needs at least 2 nodes per axis");
        }
        for &(lo, hi) in &bounds {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return config(format!("quadrature box side [{lo}, {hi}] is empty or not finite"));
            }
        }
        Ok(Self { bounds, n })
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.bounds.len()
    }

    /// Nodes per axis.
    pub fn points_per_axis(&self) -> usize {
        self.n
    }

    /// The box, one (lo, hi) per axis.
    pub fn bounds(&self) -> &[(f64, f64)] {
        &self.bounds
    }

    /// The number of nodes nᵈ.
    pub fn len(&self) -> usize {
        self.n.pow(self.dim() as u32)
    }

    /// Always false (a grid has at least 2 nodes per axis).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node spacing on `axis`.
    pub fn spacing(&self, axis: usize) -> f64 {
        let (lo, hi) = self.bounds[axis];
        (hi - lo) / (self.n - 1) as f64
    }

    /// Coordinate `k` of `axis`.
    pub fn node(&self, axis: usize, k: usize) -> f64 {
        let (lo, hi) = self.bounds[axis];
        if k + 1 == self.n {
            hi
        } else {
            lo + k as f64 * self.spacing(axis)
        }
    }

    fn weight_1d(&self, axis: usize, k: usize) -> f64 {
        let h = self.spacing(axis);
        if k == 0 || k + 1 == self.n {
            0.5 * h
        } else {
            h
        }
    }

    /// The nodes, row-major nᵈ × d.
    pub fn points<T: Real>(&self) -> Vec<T> {
        let d = self.dim();
        let mut p = Vec::with_capacity(self.len() * d);
        for idx in 0..self.len() {
            for (axis, k) in self.multi_index(idx).into_iter().enumerate().take(d) {
                p.push(T::from_f64(self.node(axis, k)));
            }
        }
        p
    }

    /// The trapezoidal weights, one per node.
    pub fn weights(&self) -> Vec<f64> {
        (0..self.len())
            .map(|idx| {
                self.multi_index(idx)
                    .into_iter()
                    .enumerate()
                    .take(self.dim())
                    .map(|(axis, k)| self.weight_1d(axis, k))
                    .product()
            })
            .collect()
    }

    /// The per-axis indices of node `idx` (unused axes are 0).
    fn multi_index(&self, idx: usize) -> [usize; 2] {
        if self.dim() == 1 {
            [idx, 0]
        } else {
            [idx / self.n, idx % self.n]
        }
    }
}

/// log Z by quadrature with its error bound.
#[derive(Debug, Clone, PartialEq)]
pub struct LogZQuadrature {
    /// The estimate of log Z.
    pub log_z: f64,
    /// Bound on |log Z − `log_z`| (discretisation + truncation, first order).
    pub err_bound: f64,
    /// The relative discretisation error estimate of Z.
    pub discretisation_err: f64,
    /// The relative truncation (outside the box) estimate of Z.
    pub tail_err: f64,
    /// Whether refinement met `rel_tol` within `max_points`.
    pub converged: bool,
    /// The final grid.
    pub grid: Grid,
}

impl LogZQuadrature {
    /// The final grid's nodes and the weights wᵢ exp(−E(xᵢ) − log Z) (≈ the
    /// probability of each node's cell), for expectations under the
    /// normalised model: E_p\[g\] ≈ Σᵢ weightᵢ g(xᵢ).
    ///
    /// Errors: model errors.
    pub fn density_weights<T: Real, M: Energy<T> + ?Sized>(&self, model: &M) -> Result<(Vec<T>, Vec<f64>)> {
        let pts = self.grid.points::<T>();
        let mut e = vec![T::zero(); self.grid.len()];
        model.energy(&pts, &mut e)?;
        let w = self.grid.weights().iter().zip(&e).map(|(w, &e)| w * (-e.to_f64() - self.log_z).exp()).collect();
        Ok((pts, w))
    }
}

/// log f = −E and the score at every node of `grid`.
struct Eval {
    logf: Vec<f64>,
    score: Vec<f64>,
    max: f64,
}

fn evaluate<T: Real, M: Energy<T> + ?Sized>(model: &M, grid: &Grid) -> Result<Eval> {
    let d = grid.dim();
    let pts = grid.points::<T>();
    let (mut e, mut s) = (vec![T::zero(); grid.len()], vec![T::zero(); grid.len() * d]);
    model.energy_score(&pts, &mut e, &mut s)?;
    let logf: Vec<f64> = e.iter().map(|&v| -v.to_f64()).collect();
    if let Some(i) = logf.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
        return config(format!(
            "quadrature: the energy is {} at node {:?}; exp(−E) must be integrable",
            -logf[i],
            &pts[i * d..(i + 1) * d].iter().map(|&v| v.to_f64()).collect::<Vec<_>>()
        ));
    }
    let max = logf.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return config("quadrature: exp(−E) vanishes at every node; give a center and half_width at the model's scale");
    }
    Ok(Eval { logf, score: s.iter().map(|&v| v.to_f64()).collect(), max })
}

/// log of the trapezoidal sum Σ wᵢ fᵢ.
fn log_integral(grid: &Grid, ev: &Eval) -> f64 {
    let w = grid.weights();
    let terms: Vec<f64> = ev.logf.iter().zip(&w).map(|(l, w)| l + w.ln()).collect();
    log_sum_exp(&terms)
}

/// Estimated mass beyond each face [(axis, side)], relative to exp(max log f),
/// side 0 = lo, 1 = hi.
fn face_tails(grid: &Grid, ev: &Eval) -> Vec<[f64; 2]> {
    let d = grid.dim();
    let n = grid.points_per_axis();
    let mut tails = vec![[0.0; 2]; d];
    for idx in 0..grid.len() {
        let mi = grid.multi_index(idx);
        for axis in 0..d {
            let side = if mi[axis] == 0 {
                0
            } else if mi[axis] + 1 == n {
                1
            } else {
                continue;
            };
            let face_w: f64 = (0..d).filter(|&o| o != axis).map(|o| grid.weight_1d(o, mi[o])).product();
            let f = (ev.logf[idx] - ev.max).exp();
            let s = ev.score[idx * d + axis];
            let slope = if side == 0 { -s } else { s };
            let (lo, hi) = grid.bounds[axis];
            let beyond = if slope < 0.0 { f / -slope } else { f * (hi - lo) };
            tails[axis][side] += face_w * beyond;
        }
    }
    tails
}

/// log Z = log ∫ exp(−E(x)) dx of a model with d ≤ 2 by adaptive
/// trapezoidal quadrature (see the module docs).
///
/// Errors: d > 2, invalid options, a model error, a NaN or −∞ energy, and
/// mass still found at the box's faces after `max_expansions` expansions
/// (a model that is not normalisable, or far from the initial box).
pub fn log_z_quadrature<T: Real, M: Energy<T> + ?Sized>(model: &M, opts: &QuadratureOptions) -> Result<LogZQuadrature> {
    let d = model.dim();
    if d == 0 || d > 2 {
        return config(format!("quadrature supports d = 1 or 2, got d = {d} (use AIS)"));
    }
    positive("quadrature rel_tol", opts.rel_tol)?;
    positive("quadrature half_width", opts.half_width)?;
    if opts.min_points < 3 || opts.max_points < opts.min_points {
        return config(format!(
            "quadrature needs 3 ≤ min_points ≤ max_points, got {} and {}",
            opts.min_points, opts.max_points
        ));
    }
    let center = match &opts.center {
        Some(c) if c.len() != d => {
            return Err(ebm_core::EbmError::DimMismatch { what: "center", expected: d, got: c.len() }.into())
        }
        Some(c) if c.iter().any(|v| !v.is_finite()) => return config("quadrature center is not finite"),
        Some(c) => c.clone(),
        None => vec![0.0; d],
    };
    let face_tol = 0.25 * opts.rel_tol / (2 * d) as f64;
    let mut bounds: Vec<(f64, f64)> = center.iter().map(|c| (c - opts.half_width, c + opts.half_width)).collect();
    let mut expansions = 0usize;
    // Pushes out the faces whose tail is too large; false when none is.
    let mut expand = |grid: &Grid, ev: &Eval, integral: f64, bounds: &mut Vec<(f64, f64)>| -> Result<bool> {
        let tails = face_tails(grid, ev);
        let mut grew = false;
        for axis in 0..d {
            let width = bounds[axis].1 - bounds[axis].0;
            for side in 0..2 {
                if tails[axis][side] > face_tol * integral {
                    if side == 0 {
                        bounds[axis].0 -= width;
                    } else {
                        bounds[axis].1 += width;
                    }
                    grew = true;
                }
            }
        }
        if grew {
            expansions += 1;
            if expansions > opts.max_expansions {
                return config(format!(
                    "quadrature: exp(−E) still has mass at the faces of {bounds:?} after {} expansions; \
                     the model may not be normalisable",
                    opts.max_expansions
                ));
            }
        }
        Ok(grew)
    };
    // 1. Locate.
    let (grid, ev) = loop {
        let grid = Grid::new(bounds.clone(), opts.min_points)?;
        let ev = evaluate(model, &grid)?;
        let integral = (log_integral(&grid, &ev) - ev.max).exp();
        if !expand(&grid, &ev, integral, &mut bounds)? {
            break (grid, ev);
        }
    };
    // 2. Trim to the nodes that matter.
    let cut = (1.0 / opts.rel_tol).ln().max(0.0) + 20.0;
    for axis in 0..d {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for idx in 0..grid.len() {
            if ev.logf[idx] > ev.max - cut {
                let x = grid.node(axis, grid.multi_index(idx)[axis]);
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        let h = grid.spacing(axis);
        bounds[axis] = ((lo - 2.0 * h).max(bounds[axis].0), (hi + 2.0 * h).min(bounds[axis].1));
    }
    // 3. Refine.
    let mut n = opts.min_points;
    let mut prev: Option<f64> = None;
    loop {
        let grid = Grid::new(bounds.clone(), n)?;
        let ev = evaluate(model, &grid)?;
        let log_i = log_integral(&grid, &ev);
        let integral = (log_i - ev.max).exp();
        if expand(&grid, &ev, integral, &mut bounds)? {
            prev = None;
            continue;
        }
        let tail = face_tails(&grid, &ev).iter().map(|t| t[0] + t[1]).sum::<f64>() / integral;
        let disc = prev.map(|p| (log_i - p).exp_m1().abs());
        let next = 2 * n - 1;
        let converged = disc.is_some_and(|e| e <= opts.rel_tol);
        if converged || next > opts.max_points {
            let disc = disc.unwrap_or(f64::INFINITY);
            return Ok(LogZQuadrature {
                log_z: log_i,
                err_bound: disc + tail,
                discretisation_err: disc,
                tail_err: tail,
                converged,
                grid,
            });
        }
        prev = Some(log_i);
        n = next;
    }
}

/// The mean log-likelihood (1/n) Σ [−E(xᵢ) − log Z] of the samples `x`
/// (row-major n×d) with its standard error, for a log Z from
/// [`log_z_quadrature`] (or AIS, adding its own error).
///
/// Errors: model errors on `x`.
pub fn log_likelihood<T: Real, M: Energy<T> + ?Sized>(model: &M, x: &[T], log_z: f64) -> Result<Estimate> {
    let (_, n) = rows_f64("x", x, model.dim())?;
    let mut e = vec![T::zero(); n];
    model.energy(x, &mut e)?;
    let v: Vec<f64> = e.iter().map(|&e| -e.to_f64() - log_z).collect();
    Ok(Estimate::from_values(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_weights_integrate_polynomials_of_degree_one() {
        let g = Grid::new(vec![(-1.0, 2.0), (0.0, 1.0)], 5).unwrap();
        let p = g.points::<f64>();
        let w = g.weights();
        let area: f64 = w.iter().sum();
        assert!((area - 3.0).abs() < 1e-14);
        let mx: f64 = p.chunks(2).zip(&w).map(|(x, w)| w * (x[0] + 2.0 * x[1])).sum();
        assert!((mx - (1.5 * 1.0 + 2.0 * 0.5 * 3.0)).abs() < 1e-13, "{mx}");
    }

    #[test]
    fn bad_grids_and_dimensions_are_errors() {
        assert!(Grid::new(vec![], 3).is_err());
        assert!(Grid::new(vec![(0.0, 1.0); 3], 3).is_err());
        assert!(Grid::new(vec![(1.0, 1.0)], 3).is_err());
        assert!(Grid::new(vec![(0.0, 1.0)], 1).is_err());
    }
}
