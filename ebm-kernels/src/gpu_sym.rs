//! [`GpuSym`]: a symbolic energy (`ebm_core::sym::SymEnergy<f32>`) held on
//! the device end to end: every program of the model runs as one unrolled
//! kernel ([`crate::sym`]).
//!
//! | operation | device work |
//! | --- | --- |
//! | `energy`, `energy_score`, `energy_score_hess_diag` | one launch of [`crate::sym::sym_kernel()`] with the program `[E]`, `[E, s]` or `[E, s, h]` |
//! | `grad_params` (the three `Target`s), `grad_params_v_hess_v` | the gradient program (`grad_energy`, `grad_v_dot_grad`, `grad_sm`, `grad_v_hess_v`: P outputs) per sample, times its weight, as rows ([`crate::sym_rows`]), summed over the batch ([`crate::rows`]) |
//! | `v_hess_v` | one launch of the `v_hess_v` program, v as its auxiliary inputs |
//! | `langevin_ula`, `langevin_mala` | all K steps in one launch ([`crate::sym_langevin`]): the `[E, s]` program inside the step loop, Philox noise in-kernel |
//! | fused objectives | as [`crate::GpuEnergy`]'s: the loss terms ([`crate::terms`]) and the tree sum ([`crate::reduce`]) on the device, the loss and ∇θ read back together |
//!
//! The programs are the model's fused ones (the CPU evaluator's,
//! [`SymEnergy::fused_programs`]) or the fixed-arity ones
//! ([`GpuSym::new_unfused`]); CubeCL compiles each once per process on
//! first use. θ is uploaded when first needed and again after `params_mut`
//! / `set_params`; batch buffers are reused while the batch size stays the
//! same.
//!
//! The programs have no loop, so Mesa llvmpipe's loop budget
//! ([`crate::plan`]) only splits the reductions and the Langevin steps. An
//! operation the kernels cannot express (a gradient program with a
//! constant that is not a finite f32) or a Langevin step beyond the loop
//! budget is refused with [`KernelError::NotOnDevice`], or run on the CPU
//! twin and recorded under the opt-in [`Fallback::CpuTwin`], as for
//! `GpuEnergy` ([`crate::fallback`]). Errors: input errors are the CPU
//! twin's; device failures become `EbmError::Backend`.

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use crate::fallback::{Fallback, FallbackLog, NotOnDevice, Op, Remedy};
use crate::launch::{arg, grid, upload_f32};
use crate::sym::{sym_kernel, SymSpec};
use cubecl::bytes::Bytes;
use cubecl::server::Handle;
use ebm_core::sym::{Program, Programs, SymEnergy};
use ebm_core::{Energy, Trainable};
use std::sync::Mutex;

mod device_ops;
mod grads;
mod langevin;
mod objectives;

/// Runs `spec` once on `batch` samples: `x` (B × `num_inputs`), `aux`
/// (B × `num_aux`, may be empty when unused), θ; returns the three output
/// buffers (B × `spec.widths[k]` each). Inputs are not checked beyond
/// their lengths (the caller's model did that).
pub fn eval_program(
    dev: &GpuDevice,
    spec: &SymSpec,
    x: &[f32],
    aux: &[f32],
    theta: &[f32],
    batch: usize,
) -> Result<[Vec<f32>; 3]> {
    let p = &spec.program;
    let (d, na) = (p.num_inputs as usize, p.num_aux as usize);
    if x.len() != batch * d || aux.len() != batch * na || theta.len() != p.num_params as usize {
        return Err(KernelError::Unsupported(format!(
            "eval_program: x {} / aux {} / θ {} values for {batch} samples of {d} inputs, {na} aux, {} params",
            x.len(),
            aux.len(),
            theta.len(),
            p.num_params
        )));
    }
    let hx = upload_f32(dev, x);
    let ha = upload_f32(dev, aux);
    let ht = upload_f32(dev, theta);
    let c = dev.client();
    let outs: Vec<Handle> = spec.widths.iter().map(|&w| c.empty((batch * w).max(1) * 4)).collect();
    launch(dev, spec, &hx, &ha, &ht, &outs, batch)?;
    let bytes = c.read(outs).map_err(|e| dev.exec_err(e))?;
    let v = |k: usize| bytemuck::cast_slice::<u8, f32>(&bytes[k])[..batch * spec.widths[k]].to_vec();
    Ok([v(0), v(1), v(2)])
}

fn check_size(spec: &SymSpec, batch: usize) -> Result<()> {
    let p = &spec.program;
    let w = spec.widths.iter().copied().chain([p.num_inputs as usize, p.num_aux as usize]).max().unwrap_or(1);
    if batch.checked_mul(w).is_none_or(|n| n >= u32::MAX as usize) {
        return Err(KernelError::Unsupported(format!("batch of {batch}×{w} values exceeds 32-bit indexing")));
    }
    Ok(())
}

/// One launch of [`sym_kernel()`] over handles of the right sizes.
pub(crate) fn launch(
    dev: &GpuDevice,
    spec: &SymSpec,
    x: &Handle,
    aux: &Handle,
    theta: &Handle,
    outs: &[Handle],
    batch: usize,
) -> Result<()> {
    check_size(spec, batch)?;
    let p = &spec.program;
    let (count, dim) = grid(dev, batch)?;
    let w = spec.widths;
    // SAFETY: every handle holds at least the length passed with it (the
    // callers allocate them from the same shapes; empty ones hold 1 value).
    unsafe {
        sym_kernel::launch(
            dev.client(),
            count,
            dim,
            arg(x, batch * p.num_inputs as usize),
            arg(aux, batch * p.num_aux as usize),
            arg(theta, p.num_params as usize),
            arg(&outs[0], batch * w[0]),
            arg(&outs[1], batch * w[1]),
            arg(&outs[2], batch * w[2]),
            batch as u32,
            spec.clone(),
        );
    }
    Ok(())
}

/// Per-batch-size device buffers: x, energy, score, Hessian diagonal.
struct Buffers {
    batch: usize,
    x: Handle,
    out: [Handle; 3],
}

struct State {
    theta: Option<Handle>,
    bufs: Option<Buffers>,
    /// A 1-element buffer bound as the unused aux input.
    no_aux: Option<Handle>,
}

/// The kernel specialisations of one model: `[E]`, `[E, s]`, `[E, s, h]`,
/// and the gradient and curvature programs (each an error message when
/// the kernel cannot express it).
struct Specs {
    eval: [SymSpec; 3],
    grad_energy: std::result::Result<SymSpec, String>,
    grad_vdx: std::result::Result<SymSpec, String>,
    grad_sm: std::result::Result<SymSpec, String>,
    vhv: std::result::Result<SymSpec, String>,
    grad_vhv: std::result::Result<SymSpec, String>,
}

/// A symbolic model held on a GPU (see the module docs).
pub struct GpuSym {
    cpu: SymEnergy<f32>,
    dev: GpuDevice,
    specs: Specs,
    loop_budget: Option<u64>,
    fallback: Fallback,
    log: FallbackLog,
    state: Mutex<State>,
}

impl std::fmt::Debug for GpuSym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSym")
            .field("energy", &self.cpu.to_source())
            .field("adapter", &self.dev.info().name)
            .field("fallback", &self.fallback)
            .finish()
    }
}

fn spec_of(p: &Program, widths: [usize; 3]) -> std::result::Result<SymSpec, String> {
    SymSpec::new(p.clone(), widths).map_err(|e| e.to_string())
}

impl GpuSym {
    /// Puts `model` on `dev`, running its fused programs (the CPU
    /// evaluator's), with the default policy [`Fallback::Refuse`]. Errors:
    /// an energy program the kernel cannot express ([`SymSpec::new`]).
    pub fn new(dev: &GpuDevice, model: SymEnergy<f32>) -> Result<Self> {
        let progs = model.fused_programs().clone();
        Self::with_programs(dev, model, progs)
    }

    /// Like [`GpuSym::new`] with the fixed-arity programs
    /// ([`SymEnergy::programs`]: no `Sum`, binary additions instead).
    pub fn new_unfused(dev: &GpuDevice, model: SymEnergy<f32>) -> Result<Self> {
        let progs = model.programs().clone();
        Self::with_programs(dev, model, progs)
    }

    fn with_programs(dev: &GpuDevice, model: SymEnergy<f32>, p: Programs) -> Result<Self> {
        let d = model.dim();
        let np = model.num_params();
        let specs = Specs {
            eval: [
                SymSpec::new(p.energy, [1, 0, 0])?,
                SymSpec::new(p.energy_score, [1, d, 0])?,
                SymSpec::new(p.energy_score_hess, [1, d, d])?,
            ],
            grad_energy: spec_of(&p.grad_energy, [np, 0, 0]),
            grad_vdx: spec_of(&p.grad_v_dot_grad, [np, 0, 0]),
            grad_sm: spec_of(&p.grad_sm, [np, 0, 0]),
            vhv: spec_of(&p.v_hess_v, [1, 0, 0]),
            grad_vhv: spec_of(&p.grad_v_hess_v, [np, 0, 0]),
        };
        Ok(Self {
            cpu: model,
            dev: dev.clone(),
            specs,
            loop_budget: dev.loop_budget(),
            fallback: Fallback::Refuse,
            log: FallbackLog::default(),
            state: Mutex::new(State { theta: None, bufs: None, no_aux: None }),
        })
    }

    /// The CPU twin (same θ).
    pub fn cpu(&self) -> &SymEnergy<f32> {
        &self.cpu
    }

    /// The device.
    pub fn device(&self) -> &GpuDevice {
        &self.dev
    }

    /// The kernel specialisations: `[E]`, `[E, score]`, `[E, score, Hessian diagonal]`.
    pub fn specs(&self) -> &[SymSpec; 3] {
        &self.specs.eval
    }

    /// The loop budget launches are planned within (90% of the adapter's).
    fn planned_budget(&self) -> Option<u64> {
        self.loop_budget.map(|b| b / 10 * 9)
    }

    /// The program of a gradient or curvature operation.
    fn program_spec(&self, op: Op) -> Option<&std::result::Result<SymSpec, String>> {
        match op {
            Op::GradEnergy => Some(&self.specs.grad_energy),
            Op::GradVDotGradX => Some(&self.specs.grad_vdx),
            Op::GradSm => Some(&self.specs.grad_sm),
            Op::VHessV => Some(&self.specs.vhv),
            Op::GradVHessV => Some(&self.specs.grad_vhv),
            _ => None,
        }
    }

    /// Why `op` cannot run on the device, or `None` (module docs).
    fn why_not(&self, op: Op) -> Option<NotOnDevice> {
        let model = self.cpu.name();
        if let Some(Err(e)) = self.program_spec(op) {
            let reason = format!("its program cannot be compiled to a kernel: {e}");
            return Some(NotOnDevice { op, model, reason, hint: Remedy::CpuBackend });
        }
        let mala = match op {
            Op::Ula => false,
            Op::Mala => true,
            _ => return None,
        };
        let (per_step, fixed) = langevin::loop_cost(self.cpu.dim(), mala);
        crate::plan::steps_per_launch(1, per_step, fixed, self.loop_budget).err().map(|reason| NotOnDevice {
            op,
            model,
            reason,
            hint: Remedy::SmallerModelOrGpu,
        })
    }

    crate::fallback::placement_policy!();

    /// A compiled gradient or curvature program (the caller routed `op`).
    fn spec(&self, op: Op) -> Result<&SymSpec> {
        match self.program_spec(op) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(KernelError::Unsupported(e.clone())),
            None => Err(KernelError::Unsupported(format!("{op} has no program"))),
        }
    }

    /// θ, the batch buffers with `x` written, and the dummy aux input.
    fn stage<'a>(&self, st: &'a mut State, x: &[f32]) -> Result<(Handle, &'a Buffers, Handle)> {
        let d = self.cpu.dim();
        let batch = x.len() / d;
        let c = self.dev.client();
        if st.theta.is_none() {
            st.theta = Some(upload_f32(&self.dev, self.cpu.params()));
        }
        if st.no_aux.is_none() {
            st.no_aux = Some(upload_f32(&self.dev, &[]));
        }
        if st.bufs.as_ref().map(|b| b.batch) != Some(batch) {
            let e = c.empty(batch * 4);
            let s = c.empty(batch * d * 4);
            let h = c.empty(batch * d * 4);
            st.bufs = Some(Buffers { batch, x: c.empty(batch * d * 4), out: [e, s, h] });
        }
        let (theta, aux) = (st.theta.clone().expect("set above"), st.no_aux.clone().expect("set above"));
        let b = st.bufs.as_ref().expect("set above");
        c.write(&b.x, Bytes::from_bytes_vec(bytemuck::cast_slice(x).to_vec()));
        Ok((theta, b, aux))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self, hs: Vec<Handle>) -> Result<Vec<Bytes>> {
        self.dev.client().read(hs).map_err(|e| self.dev.exec_err(e))
    }

    /// Outputs of program `which` (0, 1, 2: see [`GpuSym::specs`]) at the
    /// checked inputs `x`, left in the batch buffers.
    fn launch_eval(&self, theta: &Handle, b: &Buffers, aux: &Handle, which: usize) -> Result<()> {
        launch(&self.dev, &self.specs.eval[which], &b.x, aux, theta, &b.out, b.batch)
    }

    /// Outputs of program `which` at the checked inputs `x`, read back.
    fn eval_device(&self, x: &[f32], which: usize) -> Result<Vec<Bytes>> {
        let mut st = self.lock();
        let (theta, b, aux) = self.stage(&mut st, x)?;
        self.launch_eval(&theta, b, &aux, which)?;
        let n = 1 + (which >= 1) as usize + (which >= 2) as usize;
        self.read(b.out[..n].to_vec())
    }
}

crate::on_device::device_model_traits!([] GpuSym);
