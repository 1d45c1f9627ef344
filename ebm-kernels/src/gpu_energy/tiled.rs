//! The MLP family of [`GpuEnergy`] on the tiled kernels of [`crate::mlp2`]
//! (the default for an MLP, [`MlpKernels::Tiled`]): every operation of the
//! seam, the fused objectives and the Langevin chains, with no per-sample
//! private arrays and loop counts that do not depend on the batch size.
//! The chains run K steps per persistent launch with the chains on chip
//! ([`crate::mlp2::persist`]) where [`Mlp2::langevin_path`] says so (one
//! chain's working set fits the shared memory and one step the loop
//! budget), else one step per 2L + 1 (ULA) or 2L + 3 (MALA) launches
//! ([`crate::mlp2::langevin`]).
//!
//! Placement: an operation runs on the device when the largest loop count
//! of its launches ([`crate::mlp2::plan::launches`]) fits the planned loop
//! budget of the adapter; otherwise it is refused (or runs on the CPU twin
//! under [`crate::Fallback::CpuTwin`]), as for the other kernels.
//!
//! The objectives chain the device handles of [`Mlp2`] with the loss-term
//! kernels of [`crate::terms`] and the tree sums of [`crate::reduce`]:
//!
//! | objective | device work | read back |
//! | --- | --- | --- |
//! | `weighted_energy_grad` | E, then Σ w∇θE | E, ∇θ |
//! | `score_regression_grad` | score, residual and terms, tree sum, Σ w∇θ rᵀ∇ₓE | L, ∇θ |
//! | `sm_loss_grad` | [`Mlp2::grad_sm_device`] (loss at index P) | L, ∇θ |
//! | `nce_loss_grad` | E, logits/terms/weights ([`crate::terms::nce_energy_kernel()`]), two tree sums, Σ w∇θE | L, ∂L/∂c, ∇θ |

use super::nce::{NceHandles, NceInputs};
use super::GpuEnergy;
use crate::error::Result;
use crate::fallback::{NotOnDevice, Op, Remedy};
use crate::family::GpuFamily;
use crate::launch::upload_f32;
use crate::mlp2::{plan, LangevinPath, Mlp2};
use crate::on_device::objectives::{nce_terms, read_energy_grad, read_loss_grad, residual_loss};
use ebm_core::langevin::NoiseAt;
use ebm_core::Target;

/// Which kernels run an MLP on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MlpKernels {
    /// Workgroup-cooperative tiled products over the batch ([`crate::mlp2`]);
    /// the default.
    #[default]
    Tiled,
    /// One thread per sample with private arrays ([`crate::fused`],
    /// [`crate::grad`] …): the first kernels, kept for comparison.
    PerSample,
}

/// The largest loop count of one invocation of `op`'s tiled launches.
pub(super) fn tiled_loops(t: &Mlp2, op: Op) -> u64 {
    let mut loops = plan::launches(t.shape(), t.tiles(), op).iter().map(|l| l.loops).max().unwrap_or(0);
    if op == Op::Mala {
        // MALA also evaluates E and the score once at the start.
        let e = plan::launches(t.shape(), t.tiles(), Op::EnergyScore);
        loops = loops.max(e.iter().map(|l| l.loops).max().unwrap_or(0));
    }
    loops
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// Whether this model runs on the tiled MLP kernels.
    pub(super) fn tiled(&self) -> bool {
        self.tiled_loops.is_some()
    }

    /// Runs `f` on the tiled kernels with θ current (callers check
    /// `self.tiled()` first).
    pub(super) fn on_tiled<R>(&self, f: impl FnOnce(&Mlp2) -> Result<R>) -> Result<R> {
        let mut st = self.lock();
        let stale = st.tiled_stale;
        let t = st.tiled.as_mut().expect("on_tiled is called only for a model on the tiled kernels");
        if stale {
            t.set_params(self.cpu.params())?;
            st.tiled_stale = false;
        }
        f(st.tiled.as_ref().expect("checked above"))
    }

    /// Why the tiled kernels cannot run `op` on this adapter: `None` when
    /// this model does not use them, `Some(None)` when they can run it.
    pub(super) fn tiled_placement(&self, op: Op) -> Option<Option<NotOnDevice>> {
        let loops = self.tiled_loops?[Op::ALL.iter().position(|&o| o == op).expect("every op is in Op::ALL")];
        let Some(b) = self.planned_budget().filter(|&b| loops > b) else {
            return Some(None);
        };
        Some(Some(NotOnDevice {
            op,
            model: self.cpu.name(),
            reason: format!(
                "a tiled launch runs {loops} loop iterations per invocation, more than the {b} planned within \
                 {}'s loop budget",
                self.dev.info().name
            ),
            hint: Remedy::SmallerModelOrGpu,
        }))
    }

    /// Which kernels run this model's ULA (`mala = false`) or MALA chains
    /// ([`Mlp2::langevin_path`]); `None` when it is not on the tiled
    /// kernels.
    pub fn tiled_langevin_path(&self, mala: bool) -> Option<LangevinPath> {
        self.tiled().then(|| self.on_tiled(|t| Ok(t.langevin_path(mala))).ok()).flatten()
    }

    /// Kernel launches the tiled kernels have made so far
    /// ([`Mlp2::launch_count`]); `None` when the model is not on them.
    pub fn tiled_launch_count(&self) -> Option<u64> {
        self.tiled().then(|| self.on_tiled(|t| Ok(t.launch_count())).ok()).flatten()
    }

    /// The kernels an MLP runs on (`None` for the other families).
    pub fn mlp_kernels(&self) -> Option<MlpKernels> {
        match (self.tiled(), self.cpu.as_mlp().is_some()) {
            (true, _) => Some(MlpKernels::Tiled),
            (false, true) => Some(MlpKernels::PerSample),
            (false, false) => None,
        }
    }
}

/// E, the score and the Hessian diagonal (each when asked for).
pub(super) fn eval(t: &Mlp2, x: &[f32], e: &mut [f32], s: Option<&mut [f32]>, h: Option<&mut [f32]>) -> Result<()> {
    t.eval(x, e, s, h)
}

/// Σ w∇θ of the target.
pub(super) fn grad_params(t: &Mlp2, x: &[f32], target: Target<'_, f32>, w: &[f32], grad: &mut [f32]) -> Result<()> {
    match target {
        Target::Energy => t.grad_energy(x, w, grad),
        Target::VDotGradX(v) => t.grad_v_dot_grad_x(x, &v, w, grad),
        Target::ScoreMatching => t.grad_sm(x, w, grad).map(|_| ()),
    }
}

/// E and Σ w∇θE, read back together.
pub(super) fn weighted_energy(t: &Mlp2, x: &[f32], w: &[f32], energy: &mut [f32], grad: &mut [f32]) -> Result<()> {
    let dev = t.device();
    let b = energy.len();
    let (hx, hw) = (upload_f32(dev, x), upload_f32(dev, w));
    let e = t.eval_device(&hx, b, false, false)?.energy;
    let g = t.grad_energy_device(&hx, &hw, b)?;
    read_energy_grad(dev, e, g, energy, grad)
}

/// L = Σ w½‖∇ₓE − t‖² and ∇θL (the residual stays on the device).
pub(super) fn score_regression(t: &Mlp2, x: &[f32], target: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
    let dev = t.device();
    let b = w.len();
    let (hx, ht, hw) = (upload_f32(dev, x), upload_f32(dev, target), upload_f32(dev, w));
    let score = t.eval_device(&hx, b, true, false)?.score.expect("asked for the score");
    let (r, loss) = residual_loss(dev, &score, &ht, &hw, b, t.shape().d)?;
    let g = t.grad_v_dot_grad_x_device(&hx, &r, &hw, b)?;
    read_loss_grad(dev, loss, g, grad)
}

/// L = Σ w𝒥 and ∇θL in one call of [`Mlp2::grad_sm`].
pub(super) fn sm_loss(t: &Mlp2, x: &[f32], w: &[f32], grad: &mut [f32]) -> Result<f64> {
    t.grad_sm(x, w, grad)
}

/// The NCE kernels (conventions of [`crate::nce`]): E of every point,
/// the logits, loss terms and gradient weights, and Σ w∇θE with those
/// weights, all left on the device.
pub(super) fn nce_handles(t: &Mlp2, inp: NceInputs<'_>) -> Result<NceHandles> {
    let n = inp.log_pn.len();
    let hx = upload_f32(t.device(), inp.x);
    let e = t.eval_device(&hx, n, false, false)?.energy;
    let [logits, terms, weights] = nce_terms(t.device(), &e, inp.log_pn, inp.n_data, inp.c, inp.nu)?;
    let grad = t.grad_energy_device(&hx, &weights, n)?;
    Ok(NceHandles { logits, terms, weights, grad })
}

/// `steps` ULA steps on the chains `x` (in place), on the persistent
/// kernel ([`crate::mlp2::persist`]) when [`Mlp2::langevin_path`] says it
/// applies, else on the multi-launch kernels — both on the device.
pub(super) fn ula(t: &Mlp2, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
    t.ula_auto(x, eps, steps, at)
}

/// `steps` MALA steps on the chains `x` (in place); returns the acceptance
/// rate and adds the accepted moves to `accepts` (path as for [`ula`]).
pub(super) fn mala(t: &Mlp2, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64> {
    t.mala_auto(x, eps, steps, at, accepts)
}
