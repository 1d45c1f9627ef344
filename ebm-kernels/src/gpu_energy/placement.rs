//! Where each operation of [`GpuEnergy`] can run: the limits of its kernels
//! (per-thread state, one sample's loop iterations against the adapter's
//! loop budget, [`crate::plan`]) checked against this model, in advance and
//! without launching anything. [`GpuEnergy::placement`] applies the
//! fallback policy to the answer.

use super::GpuEnergy;
use crate::fallback::{NotOnDevice, Op, Remedy};
use crate::family::{GpuFamily, MAX_THREAD_FLOATS};
use crate::grad_families::{family_row_cost, family_row_floats, has_family_row};
use crate::grad_sm::sm_loop_cost;
use crate::grad_vdx::vdx_loop_cost;
use crate::grad_vhv::{vhv_row_cost, vhv_row_floats};
use crate::launch::WORKGROUP;
use crate::plan::{eval_ranges, fixed_cost, steps_per_launch};
use crate::spec::Family;
use crate::vhv::{gaussian_vhv_loop_cost, vhv_loop_cost, vhv_thread_floats};
use crate::vhv_families::{family_vhv_loop_cost, family_vhv_thread_floats};

/// Coordinate ranges of the score-matching rows under a loop budget
/// (`None` when one coordinate does not fit).
pub(super) fn sm_ranges(d: usize, base: u64, per: u64, budget: Option<u64>) -> Option<Vec<(u32, u32)>> {
    let Some(b) = budget else {
        return Some(vec![(0, d as u32)]);
    };
    if base + per > b {
        return None;
    }
    let step = ((b - base) / per.max(1)).max(1) as usize;
    Some((0..d).step_by(step).map(|lo| (lo as u32, (lo + step).min(d) as u32)).collect())
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// The budget launches are planned within (90% of the adapter's).
    pub(super) fn planned_budget(&self) -> Option<u64> {
        self.loop_budget.map(|b| b / 10 * 9)
    }

    /// The MLP widths d, H₁ … H_L, 1 (empty for the other families).
    pub(super) fn widths(&self) -> Vec<u32> {
        if self.spec.family != Family::Mlp {
            return Vec::new();
        }
        self.cpu.spec().map(|(_, m)| m).unwrap_or_default()
    }

    fn not_on_device(&self, op: Op, reason: String, hint: Remedy) -> Option<NotOnDevice> {
        Some(NotOnDevice { op, model: self.cpu.name(), reason, hint })
    }

    /// `None` when one sample's `cost` loop iterations fit the planned
    /// budget, the reason otherwise.
    fn over_budget(&self, op: Op, cost: u64) -> Option<NotOnDevice> {
        let b = self.planned_budget().filter(|&b| cost > b)?;
        let reason = format!(
            "one sample needs about {cost} loop iterations in one kernel invocation, more than the {b} planned \
             within this adapter's loop budget of {} ({} stops an invocation's loops there, silently)",
            self.loop_budget.unwrap_or(b),
            self.dev.info().name
        );
        self.not_on_device(op, reason, Remedy::SmallerModelOrGpu)
    }

    /// `None` when `floats` values of per-thread state fit the kernel.
    fn over_state(&self, op: Op, floats: usize) -> Option<NotOnDevice> {
        if floats <= MAX_THREAD_FLOATS {
            return None;
        }
        let reason = format!(
            "one sample needs {floats} f32 values of per-thread state, more than the {MAX_THREAD_FLOATS} a \
             one-thread-per-sample kernel holds"
        );
        self.not_on_device(op, reason, Remedy::SmallerModel)
    }

    /// Why `op` cannot run on the device for this model and adapter, or
    /// `None` when it can (module docs).
    pub(super) fn why_not(&self, op: Op) -> Option<NotOnDevice> {
        if let Some(tiled) = self.tiled_placement(op) {
            return tiled;
        }
        let s = self.spec;
        let d = s.d as u64;
        let fixed = fixed_cost(&s, WORKGROUP as u64);
        let eval = |g: bool, h: bool| {
            eval_ranges(&s, &self.cost, fixed, self.loop_budget, g, h)
                .err()
                .and_then(|reason| self.not_on_device(op, reason, Remedy::SmallerModelOrGpu))
        };
        let langevin = |mala: bool| {
            let e = self.cost.energy + self.cost.grad;
            let per_step = if mala { 1 + 4 * d + e } else { 1 + 2 * d + e };
            let fixed = fixed + if mala { e } else { 0 };
            steps_per_launch(1, per_step, fixed, self.loop_budget)
                .err()
                .and_then(|reason| self.not_on_device(op, reason, Remedy::SmallerModelOrGpu))
        };
        let mlp = s.family == Family::Mlp;
        match op {
            Op::Energy => eval(false, false),
            Op::EnergyScore => eval(true, false),
            Op::HessDiag => eval(true, true),
            Op::Ula => langevin(false),
            Op::Mala => langevin(true),
            Op::GradEnergy => {
                let row = 3 * s.n_params as u64 + self.cost.energy + self.cost.grad + 4 * d + 16;
                self.over_budget(op, row)
            }
            Op::GradVDotGradX if mlp => self
                .over_state(op, 4 * s.d + 6 * s.wsum + s.wmax)
                .or_else(|| self.over_budget(op, vdx_loop_cost(&self.widths()) + 2 * d)),
            Op::GradSm if mlp => self.over_state(op, 3 * s.d + 9 * s.wsum + 3 * s.wmax).or_else(|| {
                let (base, per) = sm_loop_cost(&self.widths(), s.n_params);
                match sm_ranges(s.d, base + d, per, self.planned_budget()) {
                    Some(_) => None,
                    None => self.over_budget(op, base + d + per),
                }
            }),
            Op::GradVDotGradX | Op::GradSm => {
                debug_assert!(has_family_row(s.family));
                self.over_state(op, family_row_floats(&s)).or_else(|| self.over_budget(op, family_row_cost(&s)))
            }
            Op::VHessV if mlp => self
                .over_state(op, vhv_thread_floats(&s))
                .or_else(|| self.over_budget(op, vhv_loop_cost(&self.widths()) + d)),
            Op::VHessV if s.family == Family::Gaussian => {
                self.over_state(op, 2 * s.d).or_else(|| self.over_budget(op, gaussian_vhv_loop_cost(s.d)))
            }
            Op::VHessV => self
                .over_state(op, family_vhv_thread_floats(&s))
                .or_else(|| self.over_budget(op, family_vhv_loop_cost(&s, &self.cost))),
            Op::GradVHessV => self
                .over_state(op, vhv_row_floats(&s))
                .or_else(|| self.over_budget(op, vhv_row_cost(&s, &self.widths()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sm_ranges;

    #[test]
    fn sm_ranges_cover_the_coordinates() {
        assert_eq!(sm_ranges(5, 10, 3, None), Some(vec![(0, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(100)), Some(vec![(0, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(16)), Some(vec![(0, 2), (2, 4), (4, 5)]));
        assert_eq!(sm_ranges(5, 10, 3, Some(12)), None);
    }
}
