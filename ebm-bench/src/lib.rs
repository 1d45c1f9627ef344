//! Support code for ebm's criterion benches (`cargo bench -p ebm-bench`):
//! the bench sizes, seeded inputs, and FLOP counts used to turn times into
//! rates; the backends ([`targets`]), the size policy and setup shared by
//! the bench targets ([`policy`]), the estimator steps ([`steps`]), and the
//! decomposed Hessian-diagonal baseline ([`hess_diag_decomposed`]).
//!
//! ```
//! use ebm_bench::{hess_diag_decomposed, normal_batch, MlpShape};
//! use ebm_core::prelude::*;
//! use ebm_core::{Activation, Mlp};
//!
//! # fn main() -> ebm_core::Result<()> {
//! // The bench's fused Hessian diagonal equals its decomposed baseline.
//! let shape = MlpShape { dim: 3, hidden: [8, 8] };
//! let m = Mlp::<f64>::init(shape.dim, &shape.hidden, Activation::Softplus, 42)?;
//! let (b, d) = (5, shape.dim);
//! let x: Vec<f64> = normal_batch(1, b, d);
//! let (mut e, mut s, mut h) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d]);
//! m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h)?;
//! let (mut e2, mut s2, mut h2, mut v, mut q) = (vec![0.0; b], vec![0.0; b * d], vec![0.0; b * d], vec![0.0; b * d], vec![0.0; b]);
//! hess_diag_decomposed(&m, &x, &mut e2, &mut s2, &mut h2, &mut v, &mut q)?;
//! assert!(h.iter().zip(&h2).all(|(a, c)| (a - c).abs() < 1e-9 * (1.0 + a.abs())));
//! println!("{} FLOPs for the fused Hessian diagonal of B = {b}", shape.hess_diag_flops(b));
//! # Ok(())
//! # }
//! ```

use ebm_core::prelude::*;
use ebm_core::{check_len, Real};

/// An MLP bench shape: data dimension d and hidden widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpShape {
    /// Data dimension d.
    pub dim: usize,
    /// Hidden widths (two layers in every bench shape).
    pub hidden: [usize; 2],
}

impl MlpShape {
    /// A bench-ID fragment such as `d64_h256-256`.
    pub fn id(&self) -> String {
        format!("d{}_h{}-{}", self.dim, self.hidden[0], self.hidden[1])
    }

    /// FLOPs of the fused energy + score + Hessian-diagonal decomposition for
    /// a batch of `b` samples, counting a multiply-add as 2:
    /// forward 2·(d·H₁ + H₁·H₂ + H₂), backward the same again, Jacobian
    /// propagation 2·d·H₁·H₂ (J₁ = W₁ is free), and the squared epilogue
    /// 3·d·(H₁ + H₂).
    pub fn hess_diag_flops(&self, b: usize) -> f64 {
        let (d, h1, h2) = (self.dim as f64, self.hidden[0] as f64, self.hidden[1] as f64);
        let fwd = 2.0 * (d * h1 + h1 * h2 + h2);
        let per_sample = 2.0 * fwd + 2.0 * d * h1 * h2 + 3.0 * d * (h1 + h2);
        per_sample * b as f64
    }
}

/// The MLP shapes of the issue: (2, 128-128), (16, 128-128), (64, 256-256),
/// (256, 256-256).
pub const MLP_SHAPES: [MlpShape; 4] = [
    MlpShape { dim: 2, hidden: [128, 128] },
    MlpShape { dim: 16, hidden: [128, 128] },
    MlpShape { dim: 64, hidden: [256, 256] },
    MlpShape { dim: 256, hidden: [256, 256] },
];

/// Batch sizes of the benches.
pub const BATCHES: [usize; 2] = [1024, 16384];

/// A seeded standard-normal batch of `b` samples in dimension `d`.
pub fn normal_batch<T: Real>(seed: u64, b: usize, d: usize) -> Vec<T> {
    let mut x = vec![T::zero(); b * d];
    ebm_core::rng::fill_normal(seed, 0xbe7c, 0, &mut x);
    x
}

/// The decomposed twin of [`EnergyExt::energy_score_hess_diag`], the baseline
/// that the fused call is benched against (group `hess_diag_decomposed`):
/// the energy and score from one [`EnergyExt::energy_score`] call, then the
/// Hessian diagonal as d separate second-derivative passes over the whole
/// batch, pass i computing ∂²E/∂xᵢ²(xᵦ) for every sample b as
/// [`EnergyExt::v_hess_v`] with vᵦ = eᵢ on every row (eᵢᵀ∇ₓ²E eᵢ is exactly
/// the i-th diagonal entry). Same outputs as the fused call; `v` (B×d) and
/// `q` (B) are scratch.
pub fn hess_diag_decomposed<T: Real, E: Model<T> + ?Sized>(
    m: &E,
    x: &[T],
    energy: &mut [T],
    score: &mut [T],
    hess_diag: &mut [T],
    v: &mut [T],
    q: &mut [T],
) -> ebm_core::Result<()> {
    let d = m.dim();
    let b = ebm_core::check_batch("x", x, d)?;
    check_len("hess_diag", hess_diag, b * d)?;
    check_len("v", v, b * d)?;
    check_len("q", q, b)?;
    m.energy_score(x, energy, score)?;
    v.fill(T::zero());
    for i in 0..d {
        for row in v.chunks_exact_mut(d) {
            if i > 0 {
                row[i - 1] = T::zero();
            }
            row[i] = T::one();
        }
        m.v_hess_v(x, v, q)?;
        for (row, &qb) in hess_diag.chunks_exact_mut(d).zip(q.iter()) {
            row[i] = qb;
        }
    }
    Ok(())
}

pub mod chains;
pub mod check;
pub mod counted;
pub mod cpu_roof;
pub mod exit;
pub mod flops;
pub mod main_job;
pub mod op;
pub mod peers;
pub mod policy;
pub mod results;
pub mod roof;
pub mod roofline;
pub mod steps;
pub mod summary;
pub mod targets;
