//! [`GpuEnergy`]: a model whose parameters stay on the device and whose
//! `ebm_core` traits run the fused kernels, so estimator code written
//! against the seam runs unchanged on the GPU.
//!
//! An MLP runs on the tiled kernels of [`crate::mlp2`] by default
//! ([`MlpKernels::Tiled`]; module `tiled`): every operation below is a
//! sequence of tiled products whose loop counts do not depend on the batch.
//! The other families, and an MLP under [`MlpKernels::PerSample`], run one
//! sample per thread:
//!
//! | operation ([`Op`]) | kernels (one thread per sample) |
//! | --- | --- |
//! | `energy`, `energy_score`, `energy_score_hess_diag` | one launch of [`crate::fused::eval_kernel()`] (several under a loop budget, [`crate::plan`]) |
//! | `langevin_ula`, `langevin_mala` | all K steps in one launch of [`crate::fused::langevin_kernel()`], the noise of `ebm_core::langevin` drawn in-kernel |
//! | `grad_params_energy` (Σ w∇θE, eq 2–3) | per-sample rows ([`crate::grad`]) and a reduction over the batch ([`crate::rows`]) |
//! | `grad_params_v_dot_grad_x` (eq 13), `grad_params_sm` (eq 12) | the same shape with [`crate::grad_vdx`], [`crate::grad_sm`], [`crate::grad_families`], [`crate::grad_mixture`] |
//! | `v_hess_v` | one launch of [`crate::vhv::vhv_kernel()`], every family |
//! | `grad_params_v_hess_v` | rows of [`crate::grad_vhv`] and the reduction, every family |
//!
//! # Whole training steps on the device
//!
//! The fused objectives of `ebm_core::Objectives` are overridden so that a
//! step's loss and θ-gradient are computed on the device from the inputs,
//! and leave it together in one read (module `objectives`):
//!
//! | objective (estimator) | launches | host → device | device → host |
//! | --- | --- | --- | --- |
//! | `weighted_energy_grad` (CD, PCD, improved CD without an energy penalty) | eval, rows + reduction per chunk | x, w | E (B), ∇θ (P) |
//! | `score_regression_grad` (DSM) | eval (score), residual r = ∇ₓE − t and loss terms ([`crate::terms`]), tree sum ([`crate::reduce`]), vᵀ∇ₓE rows at v = r + reduction | x, t, w | L (1), ∇θ (P) |
//! | `sm_loss_grad` (exact SM) | eval (score, Hessian diagonal), score-matching terms, tree sum, score-matching rows + reduction | x, w | L (1), ∇θ (P) |
//! | `nce_loss_grad` (NCE) | eval, logits, terms and weights ([`crate::terms::nce_energy_kernel()`]), rows + reduction with the weights on the device | points, log p_n | logits, terms, weights (N each), ∇θ (P) |
//!
//! Sliced score matching uses `energy_score`, `v_hess_v`, and the two
//! gradients (vᵀ∇ₓE, vᵀ∇ₓ²E v), each on the device; LSD's model side is one
//! `grad_params_v_dot_grad_x`. CD's negatives come from the fused Langevin
//! kernels. `energy_weighted_grad` (weights computed from the energies by
//! a host closure: CD with an L2 energy penalty) keeps the two-pass
//! default: energies out, weights in.
//!
//! # No silent CPU fallback
//!
//! Where the kernels cannot hold an operation for this model on this
//! adapter (one sample beyond a software adapter's loop budget, per-thread
//! state beyond [`crate::family::MAX_THREAD_FLOATS`]), the call returns
//! [`KernelError::NotOnDevice`] under the default policy
//! [`Fallback::Refuse`], or runs on the CPU twin and is recorded under the
//! opt-in [`Fallback::CpuTwin`] ([`GpuEnergy::with_fallback`],
//! [`GpuEnergy::fallbacks`]). [`GpuEnergy::placement`] says in advance
//! where each operation will run ([`crate::fallback`]).
//!
//! θ is uploaded when first needed and again after every `params_mut` /
//! `set_params` (which mark it stale). Batch buffers are allocated once per
//! batch size and reused while the size stays the same.
//!
//! Errors: input errors are the CPU twin's [`EbmError`]s (checked on the
//! host before any launch); device failures and refusals become
//! [`EbmError::Backend`] whose source is the [`KernelError`].

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use crate::fallback::{Fallback, FallbackLog, Op};
use crate::family::GpuFamily;
use crate::launch::{arg, upload_f32};
use crate::mlp2::Mlp2;
use crate::plan::{loop_cost, LoopCost};
use crate::spec::Spec;
use cubecl::bytes::Bytes;
use cubecl::prelude::BufferArg;
use cubecl::server::Handle;
use ebm_core::EbmError;
use std::sync::Mutex;

mod curvature;
mod device_ops;
mod eval;
pub(crate) mod langevin;
mod nce;
mod objectives;
mod param_grads;
mod placement;
mod tiled;

pub use nce::NceOut;
pub use tiled::MlpKernels;

/// Per-batch-size device buffers.
struct Buffers {
    batch: usize,
    x: Handle,
    energy: Handle,
    score: Handle,
    hess: Handle,
    accepts: Handle,
}

struct State {
    theta: Option<Handle>,
    bufs: Option<Buffers>,
    /// The tiled MLP kernels (an MLP under [`MlpKernels::Tiled`]).
    tiled: Option<Mlp2>,
    /// Whether θ changed since the tiled kernels' copy was uploaded.
    tiled_stale: bool,
}

/// A model held on a GPU (see the module docs). `M` is the CPU twin that
/// owns θ on the host.
pub struct GpuEnergy<M: GpuFamily> {
    cpu: M,
    dev: GpuDevice,
    spec: Spec,
    meta: Handle,
    meta_len: usize,
    cost: LoopCost,
    loop_budget: Option<u64>,
    fallback: Fallback,
    log: FallbackLog,
    /// For an MLP on the tiled kernels (`State::tiled` is set): the largest
    /// loop count per invocation of each op (`Op::ALL` order), from the plan.
    tiled_loops: Option<[u64; Op::ALL.len()]>,
    state: Mutex<State>,
}

impl<M: GpuFamily> std::fmt::Debug for GpuEnergy<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEnergy")
            .field("model", &self.cpu.name())
            .field("spec", &self.spec)
            .field("adapter", &self.dev.info().name)
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// Puts `model` on `dev` with the default policy [`Fallback::Refuse`];
    /// an MLP runs on the tiled kernels ([`MlpKernels::Tiled`]). For the
    /// one-thread-per-sample kernels θ is staged in shared memory when it
    /// fits the adapter's workgroup storage.
    pub fn new(dev: &GpuDevice, model: M) -> Result<Self> {
        Self::with_mlp_kernels(dev, model, MlpKernels::Tiled)
    }

    /// As [`GpuEnergy::new`], choosing the kernels of an MLP (ignored for
    /// the other families): [`MlpKernels::PerSample`] keeps the first,
    /// one-thread-per-sample kernels, for comparisons.
    pub fn with_mlp_kernels(dev: &GpuDevice, model: M, kernels: MlpKernels) -> Result<Self> {
        let tiled = match (model.as_mlp(), kernels) {
            (Some(m), MlpKernels::Tiled) => Some(Mlp2::new(dev, m)?),
            _ => None,
        };
        let (mut spec, meta) = model.spec()?;
        let bytes = spec.n_params * 4;
        spec.shared = bytes <= dev.info().limits.max_workgroup_storage_bytes as usize;
        let meta_len = meta.len();
        let cost = loop_cost(&spec, &meta);
        let meta = crate::launch::upload_u32(dev, &meta);
        Ok(Self {
            cpu: model,
            dev: dev.clone(),
            spec,
            meta,
            meta_len,
            cost,
            loop_budget: dev.loop_budget(),
            fallback: Fallback::Refuse,
            log: FallbackLog::default(),
            tiled_loops: tiled.as_ref().map(|t| Op::ALL.map(|op| tiled::tiled_loops(t, op))),
            state: Mutex::new(State { theta: None, bufs: None, tiled, tiled_stale: false }),
        })
    }

    /// Like [`GpuEnergy::new`] but never stages θ in shared memory (for
    /// tests of both paths and for comparisons); an MLP runs on the
    /// one-thread-per-sample kernels ([`MlpKernels::PerSample`]).
    pub fn new_global_params(dev: &GpuDevice, model: M) -> Result<Self> {
        let mut g = Self::with_mlp_kernels(dev, model, MlpKernels::PerSample)?;
        g.spec.shared = false;
        Ok(g)
    }

    /// Whether `v_hess_v` runs on the device for this model (a smooth
    /// model whose samples fit the kernel's per-thread state and the loop
    /// budget).
    pub fn v_hess_v_on_device(&self) -> bool {
        self.cpu.hess_error().is_none() && self.why_not(Op::VHessV).is_none()
    }

    /// The loop budget launches are planned for.
    pub fn loop_budget(&self) -> Option<u64> {
        self.loop_budget
    }

    /// The CPU twin (same θ).
    pub fn cpu(&self) -> &M {
        &self.cpu
    }

    /// The device.
    pub fn device(&self) -> &GpuDevice {
        &self.dev
    }

    /// The kernel specialisation.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    crate::fallback::placement_policy!();

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn theta(&self, st: &mut State) -> Handle {
        if st.theta.is_none() {
            st.theta = Some(upload_f32(&self.dev, self.cpu.params()));
        }
        st.theta.clone().expect("set above")
    }

    fn buffers<'a>(&self, st: &'a mut State, batch: usize) -> &'a Buffers {
        let d = self.spec.d;
        if st.bufs.as_ref().map(|b| b.batch) != Some(batch) {
            let c = self.dev.client();
            st.bufs = Some(Buffers {
                batch,
                x: c.empty(batch * d * 4),
                energy: c.empty(batch * 4),
                score: c.empty(batch * d * 4),
                hess: c.empty(batch * d * 4),
                accepts: c.empty(batch * 4),
            });
        }
        st.bufs.as_ref().expect("set above")
    }

    /// θ and the batch buffers with `x` written (`x.len() / d` samples).
    fn stage<'a>(&self, st: &'a mut State, x: &[f32]) -> Result<(Handle, &'a Buffers)> {
        let batch = x.len() / self.spec.d;
        self.check_size(batch)?;
        let theta = self.theta(st);
        let b = self.buffers(st, batch);
        self.write(&b.x, bytemuck::cast_slice(x));
        Ok((theta, b))
    }

    fn write(&self, h: &Handle, bytes: &[u8]) {
        self.dev.client().write(h, Bytes::from_bytes_vec(bytes.to_vec()));
    }

    fn read(&self, hs: Vec<Handle>) -> Result<Vec<Bytes>> {
        self.dev.client().read(hs).map_err(|e| self.dev.exec_err(e))
    }

    fn check_size(&self, batch: usize) -> Result<()> {
        let n = batch.checked_mul(self.spec.d).filter(|&n| n < u32::MAX as usize);
        if n.is_none() {
            return Err(KernelError::Unsupported(format!(
                "batch of {batch}×{} values exceeds the kernels' 32-bit indexing",
                self.spec.d
            )));
        }
        Ok(())
    }

    fn meta_len(&self) -> usize {
        self.meta_len
    }

    /// The launch arguments every per-sample kernel of a batch reads: the
    /// batch `b.x` (B×d), θ and the family's `meta`.
    ///
    /// # Safety
    /// `theta` is the staged θ ([`Self::stage`]) and `b` the batch buffers
    /// staged with it.
    unsafe fn sample_args(&self, theta: &Handle, b: &Buffers) -> [BufferArg; 3] {
        // SAFETY: the handles were allocated with these lengths.
        unsafe { [arg(&b.x, b.batch * self.spec.d), arg(theta, self.spec.n_params), arg(&self.meta, self.meta_len())] }
    }
}

crate::on_device::device_model_traits!([M: GpuFamily] GpuEnergy<M>);

/// A Langevin step size must be positive and finite.
pub(crate) fn check_eps(eps: f32) -> ebm_core::Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(EbmError::InvalidConfig(format!("Langevin step size must be positive and finite, got {eps}")));
    }
    Ok(())
}
