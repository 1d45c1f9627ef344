//! Launch planning for adapters with a loop budget.
//!
//! Mesa's llvmpipe (lavapipe) silently stops every loop of an invocation
//! after 65 536 loop iterations in total ([`crate::probe`]). The fused
//! kernels run one thread per sample, so a large model, a Hessian diagonal
//! or many Langevin steps can exceed that. This module counts, from the
//! kernels' loop structure, how many loop iterations one invocation runs
//! (an upper bound: every loop iteration counted once, the count padded by
//! 10%), and [`crate::GpuEnergy`] splits its launches to stay within 90% of
//! the budget:
//!
//! - the MLP Hessian diagonal over ranges of coordinates (each launch
//!   recomputes E and the score and writes its range of ∂²E/∂xᵢ²);
//! - Langevin chains over groups of steps (exact: the noise is addressed by
//!   the global step number, and the chains stay on the device);
//! - the parameter gradients (Σ w∇θE, Σ w∇θ vᵀ∇ₓE, Σ w∇θ𝒥) over chunks of
//!   samples whose reduction loop fits, and the MLP score-matching gradient
//!   also over ranges of coordinates ([`crate::grad_sm::sm_loop_cost`],
//!   [`crate::grad_vdx::vdx_loop_cost`], [`crate::grad_families::family_row_cost`]).
//!
//! A model whose single energy-and-score pass does not fit is refused with
//! [`crate::KernelError::Unsupported`] rather than computed wrong. On GPUs
//! (no budget) every call is a single launch.

use crate::spec::*;
use ebm_core::Covariance;

/// Loop iterations one invocation runs for one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopCost {
    /// The energy.
    pub energy: u64,
    /// Extra for the gradient (backward pass).
    pub grad: u64,
    /// Extra for the Hessian diagonal of all coordinates beyond the gradient.
    pub hess_all: u64,
    /// MLP only: the Hessian diagonal per coordinate (the whole Hessian is
    /// `d · hess_per_coord`); 0 for families that fuse it with the gradient.
    pub hess_per_coord: u64,
}

fn pad(n: u64) -> u64 {
    n + n / 10 + 16
}

/// The loop cost of `spec` (`meta` carries the MLP widths).
pub fn loop_cost(spec: &Spec, meta: &[u32]) -> LoopCost {
    let d = spec.d as u64;
    let k = spec.a as u64;
    match spec.family {
        Family::Mlp => {
            let n: Vec<u64> = meta.iter().map(|&v| v as u64).collect();
            let layers = spec.a;
            let mut fwd = d + n[layers] + layers as u64;
            let mut bwd = n[layers] + d + layers as u64;
            for l in 1..=layers {
                fwd += n[l] * (n[l - 1] + 1) + n[l];
                bwd += n[l] + n[l - 1] * (n[l] + 1);
            }
            let mut per = 1 + 2 * n[1] + layers as u64;
            for l in 2..=layers {
                per += n[l - 1] + n[l] * (n[l - 1] + 1) + n[l];
            }
            LoopCost { energy: pad(fwd), grad: pad(bwd), hess_all: pad(per * d), hess_per_coord: pad(per) }
        }
        Family::Gaussian => {
            let tri = d * (d + 1) / 2;
            LoopCost { energy: pad(2 * d + tri), grad: pad(d + tri), hess_all: 0, hess_per_coord: 0 }
        }
        Family::Ica => LoopCost { energy: pad(d + k * (1 + 2 * d)), grad: 0, hess_all: 0, hess_per_coord: 0 },
        Family::Mixture => {
            let per = match spec.variant.covariance() {
                Covariance::Diagonal => 2 * d,
                Covariance::Full => 3 * d + d * (d + 1),
            };
            LoopCost { energy: pad(2 * k + 2 * d + k * (1 + d + per)), grad: 0, hess_all: 0, hess_per_coord: 0 }
        }
        Family::Rbm => LoopCost { energy: pad(2 * d + k * (1 + 2 * d)), grad: 0, hess_all: 0, hess_per_coord: 0 },
    }
}

/// Iterations of the shared-memory staging loop plus loads and stores of
/// one sample (x, score, Hessian).
pub fn fixed_cost(spec: &Spec, workgroup: u64) -> u64 {
    let stage = if spec.shared { (spec.n_params as u64).div_ceil(workgroup) } else { 0 };
    pad(stage + 4 * spec.d as u64 + 4)
}

/// How to cut one `eval` call into launches: Hessian coordinate ranges.
pub fn eval_ranges(
    spec: &Spec,
    cost: &LoopCost,
    fixed: u64,
    budget: Option<u64>,
    want_grad: bool,
    want_hess: bool,
) -> Result<Vec<(u32, u32)>, String> {
    let d = spec.d as u32;
    let full = if want_hess { vec![(0, d)] } else { vec![(0, 0)] };
    let Some(budget) = budget.map(|b| b / 10 * 9) else {
        return Ok(full);
    };
    let base = fixed + cost.energy + if want_grad || want_hess { cost.grad } else { 0 };
    let total = base + if want_hess { cost.hess_all } else { 0 };
    if total <= budget {
        return Ok(full);
    }
    if want_hess && cost.hess_per_coord > 0 && base + cost.hess_per_coord <= budget {
        let per_launch = ((budget - base) / cost.hess_per_coord).max(1) as u32;
        let mut out = Vec::new();
        let mut lo = 0;
        while lo < d {
            let hi = (lo + per_launch).min(d);
            out.push((lo, hi));
            lo = hi;
        }
        return Ok(out);
    }
    Err(format!(
        "one sample needs about {total} loop iterations in one invocation, more than this \
         adapter's loop budget of {budget} (Mesa llvmpipe stops loops after 65 536 iterations)"
    ))
}

/// Steps per launch for Langevin chains (`per_step` loop iterations per
/// step, `fixed` once per launch); `None` budget means all in one launch.
pub fn steps_per_launch(steps: u64, per_step: u64, fixed: u64, budget: Option<u64>) -> Result<u64, String> {
    let Some(budget) = budget.map(|b| b / 10 * 9) else {
        return Ok(steps.max(1));
    };
    if fixed + per_step > budget {
        return Err(format!(
            "one Langevin step needs about {} loop iterations in one invocation, more than this \
             adapter's loop budget of {budget} (Mesa llvmpipe stops loops after 65 536 \
             iterations)",
            fixed + per_step
        ));
    }
    Ok(((budget - fixed) / per_step).clamp(1, steps.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::Activation;

    fn mlp_spec(d: usize, hidden: &[usize]) -> (Spec, Vec<u32>) {
        let mut meta = vec![d as u32];
        meta.extend(hidden.iter().map(|&h| h as u32));
        meta.push(1);
        (
            Spec {
                family: Family::Mlp,
                d,
                a: hidden.len(),
                wmax: 0,
                wsum: 0,
                variant: Variant::Act(Activation::Softplus),
                n_params: 0,
                shared: false,
            },
            meta,
        )
    }

    #[test]
    fn no_budget_is_one_launch() {
        let (s, m) = mlp_spec(16, &[128, 64]);
        let c = loop_cost(&s, &m);
        assert_eq!(eval_ranges(&s, &c, 0, None, true, true).unwrap(), vec![(0, 16)]);
        assert_eq!(steps_per_launch(100, 1000, 0, None).unwrap(), 100);
    }

    #[test]
    fn hessian_coordinates_split_under_a_budget() {
        let (s, m) = mlp_spec(16, &[128, 64]);
        let c = loop_cost(&s, &m);
        let r = eval_ranges(&s, &c, 100, Some(65_536), true, true).unwrap();
        assert!(r.len() > 1);
        assert_eq!(r.first().unwrap().0, 0);
        assert_eq!(r.last().unwrap().1, 16);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(eval_ranges(&s, &c, 100, Some(1000), false, false).is_err());
        assert_eq!(steps_per_launch(100, 1000, 100, Some(65_536)).unwrap(), 58);
        assert!(steps_per_launch(100, 70_000, 100, Some(65_536)).is_err());
    }
}
