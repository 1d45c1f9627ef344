//! Where an operation of a device model runs, and what happens when its
//! kernels cannot run it: the explicit fallback policy of
//! [`crate::GpuEnergy`] and [`crate::GpuSym`].
//!
//! A device model never runs an operation on the CPU without being asked
//! to. For each operation ([`Op`]) and model, on the adapter it was built
//! for, [`Placement`] says in advance where the operation will run:
//!
//! - [`Placement::Device`]: on the device;
//! - [`Placement::Refused`]: the kernels cannot hold it (a sample beyond
//!   the adapter's loop budget, per-thread state beyond the kernel's), and
//!   under the default policy [`Fallback::Refuse`] the call returns
//!   [`crate::KernelError::NotOnDevice`] with the reason and what to change;
//! - [`Placement::CpuTwin`]: the same, under the opt-in policy
//!   [`Fallback::CpuTwin`]: the call runs on the CPU twin (same θ, the CPU
//!   model's results) and is recorded, so the caller can list every
//!   operation that ran on the CPU ([`FallbackRecord`]).
//!
//! Errors of the model itself (a Hessian of a ReLU network, bad shapes) are
//! the CPU twin's errors under either policy: they are not placements.

use std::fmt;
use std::sync::Mutex;

/// What a device model does with an operation its kernels cannot run for
/// this model on this adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Return [`crate::KernelError::NotOnDevice`] (the default).
    #[default]
    Refuse,
    /// Run the CPU twin and record it (opt-in; see the module docs).
    CpuTwin,
}

/// An operation of the `ebm_core` seam, as placed on a device (and as
/// planned for the tiled MLP kernels, [`crate::mlp2::plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// E (`energy`).
    Energy,
    /// E and the score (`energy_score`).
    EnergyScore,
    /// E, the score and the Hessian diagonal (`energy_score_hess_diag`).
    HessDiag,
    /// Σ w∇θE (`grad_params_energy`).
    GradEnergy,
    /// Σ w∇θ vᵀ∇ₓE (`grad_params_v_dot_grad_x`).
    GradVDotGradX,
    /// Σ w∇θ of the score-matching integrand (`grad_params_sm`).
    GradSm,
    /// vᵀ∇ₓ²E v (`v_hess_v`).
    VHessV,
    /// Σ w∇θ vᵀ∇ₓ²E v (`grad_params_v_hess_v`).
    GradVHessV,
    /// ULA steps (`langevin_ula`).
    Ula,
    /// MALA steps (`langevin_mala`).
    Mala,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 10] = [
        Op::Energy,
        Op::EnergyScore,
        Op::HessDiag,
        Op::GradEnergy,
        Op::GradVDotGradX,
        Op::GradSm,
        Op::VHessV,
        Op::GradVHessV,
        Op::Ula,
        Op::Mala,
    ];

    /// The front-door method name (`ebm_core::EnergyExt`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Energy => "energy",
            Op::EnergyScore => "energy_score",
            Op::HessDiag => "energy_score_hess_diag",
            Op::GradEnergy => "grad_params_energy",
            Op::GradVDotGradX => "grad_params_v_dot_grad_x",
            Op::GradSm => "grad_params_sm",
            Op::VHessV => "v_hess_v",
            Op::GradVHessV => "grad_params_v_hess_v",
            Op::Ula => "langevin_ula",
            Op::Mala => "langevin_mala",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a caller can change to run an operation on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// One sample exceeds a software adapter's loop budget.
    SmallerModelOrGpu,
    /// One sample's state exceeds what one kernel thread holds.
    SmallerModel,
    /// The kernels have no form of this operation for this model.
    CpuBackend,
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Remedy::SmallerModelOrGpu => {
                "use a smaller model, or a hardware GPU instead of a software adapter (lavapipe/llvmpipe)"
            }
            Remedy::SmallerModel => "use a smaller model (narrower or fewer layers, a smaller dimension)",
            Remedy::CpuBackend => "run this model on the CPU backend",
        };
        write!(
            f,
            "{what}, or opt into the CPU twin with `.with_fallback(Fallback::CpuTwin)` (ebm CLI: `--backend gpu-fallback`)"
        )
    }
}

/// Why an operation does not run on the device, and what to change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NotOnDevice {
    /// The operation.
    pub op: Op,
    /// The model family (`Energy::name`).
    pub model: &'static str,
    /// Why (the limit and by how much).
    pub reason: String,
    /// What to change.
    pub hint: Remedy,
}

impl fmt::Display for NotOnDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of this {} model does not run on the device: {}; {}", self.op, self.model, self.reason, self.hint)
    }
}

/// Where an operation will run (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the device.
    Device,
    /// On the CPU twin (opt-in [`Fallback::CpuTwin`]), and recorded.
    CpuTwin(NotOnDevice),
    /// Refused with [`crate::KernelError::NotOnDevice`] ([`Fallback::Refuse`]).
    Refused(NotOnDevice),
}

impl Placement {
    /// `why` (`None`: the operation fits the device) under `policy`.
    pub fn decide(policy: Fallback, why: Option<NotOnDevice>) -> Self {
        match (why, policy) {
            (None, _) => Placement::Device,
            (Some(w), Fallback::Refuse) => Placement::Refused(w),
            (Some(w), Fallback::CpuTwin) => Placement::CpuTwin(w),
        }
    }

    /// Whether the operation runs on the device.
    pub fn on_device(&self) -> bool {
        matches!(self, Placement::Device)
    }

    /// `device`, `cpu-twin` or `refused`.
    pub fn label(&self) -> &'static str {
        match self {
            Placement::Device => "device",
            Placement::CpuTwin(_) => "cpu-twin",
            Placement::Refused(_) => "refused",
        }
    }
}

/// Calls of one operation that ran on the CPU twin, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackRecord {
    /// The operation.
    pub op: Op,
    /// Why it did not run on the device.
    pub reason: String,
    /// How many calls ran on the CPU twin.
    pub count: u64,
}

impl fmt::Display for FallbackRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ×{} on the CPU twin: {}", self.op, self.count, self.reason)
    }
}

/// The record of a device model's CPU-twin calls.
#[derive(Debug, Default)]
pub(crate) struct FallbackLog(Mutex<Vec<FallbackRecord>>);

impl FallbackLog {
    /// Counts one call of `why.op` on the CPU twin.
    pub(crate) fn record(&self, why: &NotOnDevice) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match v.iter_mut().find(|r| r.op == why.op && r.reason == why.reason) {
            Some(r) => r.count += 1,
            None => v.push(FallbackRecord { op: why.op, reason: why.reason.clone(), count: 1 }),
        }
    }

    /// Every record so far, in first-use order.
    pub(crate) fn snapshot(&self) -> Vec<FallbackRecord> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The placement-policy methods every device model shares
/// ([`crate::GpuEnergy`], [`crate::GpuSym`]), written once: expands, inside
/// the model's `impl` block, to `with_loop_budget`, `with_fallback`,
/// `fallback`, `fallbacks`, `placement` and the private `route`. The model
/// has the fields `loop_budget: Option<u64>`, `fallback: Fallback` and
/// `log: FallbackLog`, and a method `why_not(&self, Op) -> Option<NotOnDevice>`.
macro_rules! placement_policy {
    () => {
        /// Plans launches for a loop budget of `budget` iterations per
        /// invocation instead of the adapter's own
        /// ([`crate::GpuDevice::loop_budget`]); `None` means one launch per
        /// call. Smaller budgets split launches more finely and refuse more
        /// (tests use this to exercise the split and refused paths on any
        /// adapter); a budget above the adapter's gives wrong results there.
        pub fn with_loop_budget(mut self, budget: Option<u64>) -> Self {
            self.loop_budget = budget;
            self
        }

        /// Sets what an operation the kernels cannot hold does
        /// ([`crate::fallback`]): [`crate::Fallback::Refuse`] (the default)
        /// returns [`crate::KernelError::NotOnDevice`],
        /// [`crate::Fallback::CpuTwin`] runs the CPU twin and records the
        /// call (`fallbacks`).
        pub fn with_fallback(mut self, fallback: crate::Fallback) -> Self {
            self.fallback = fallback;
            self
        }

        /// The fallback policy.
        pub fn fallback(&self) -> crate::Fallback {
            self.fallback
        }

        /// Every operation that ran on the CPU twin so far (only under
        /// [`crate::Fallback::CpuTwin`]), with the reason and the number of
        /// calls.
        pub fn fallbacks(&self) -> Vec<crate::FallbackRecord> {
            self.log.snapshot()
        }

        /// Where `op` runs for this model on this adapter, under this
        /// policy: on the device, on the CPU twin, or refused (with the
        /// reason). Errors of the model itself (a Hessian of a ReLU
        /// network) are not placements: such a call fails as on the CPU
        /// twin.
        pub fn placement(&self, op: crate::Op) -> crate::Placement {
            crate::Placement::decide(self.fallback, self.why_not(op))
        }

        /// Whether every one of `ops` runs on the device. If one does not:
        /// under [`crate::Fallback::Refuse`] its
        /// [`crate::KernelError::NotOnDevice`], under
        /// [`crate::Fallback::CpuTwin`] `Ok(false)` (the caller runs the
        /// CPU twin), recorded.
        fn route(&self, ops: &[crate::Op]) -> crate::Result<bool> {
            for &op in ops {
                match self.placement(op) {
                    crate::Placement::Device => {}
                    crate::Placement::Refused(why) => return Err(crate::KernelError::NotOnDevice(why)),
                    crate::Placement::CpuTwin(why) => {
                        self.log.record(&why);
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
    };
}
pub(crate) use placement_policy;

#[cfg(test)]
mod tests {
    use super::*;

    fn why(op: Op, reason: &str) -> NotOnDevice {
        NotOnDevice { op, model: "mlp", reason: reason.into(), hint: Remedy::SmallerModelOrGpu }
    }

    #[test]
    fn policy_decides_and_the_log_counts() {
        assert_eq!(Placement::decide(Fallback::Refuse, None), Placement::Device);
        let w = why(Op::VHessV, "too big");
        assert_eq!(Placement::decide(Fallback::Refuse, Some(w.clone())), Placement::Refused(w.clone()));
        assert_eq!(Placement::decide(Fallback::CpuTwin, Some(w.clone())), Placement::CpuTwin(w.clone()));
        let log = FallbackLog::default();
        log.record(&w);
        log.record(&w);
        log.record(&why(Op::GradSm, "other"));
        let s = log.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].op, s[0].count), (Op::VHessV, 2));
        assert_eq!((s[1].op, s[1].count), (Op::GradSm, 1));
        let msg = w.to_string();
        assert!(msg.contains("v_hess_v") && msg.contains("too big") && msg.contains("Fallback::CpuTwin"), "{msg}");
    }
}
