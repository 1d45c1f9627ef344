//! [`GpuSym`]: a symbolic energy (`ebm_core::sym::SymEnergy<f32>`) whose
//! energy, score and Hessian diagonal run on the device as
//! [`crate::sym::sym_kernel()`], each one launch of one unrolled program.
//!
//! - `energy`, `energy_score`, `energy_score_hess_diag`: the model's
//!   programs `[E]`, `[E, s]`, `[E, s, h]` (by default the fused ones the
//!   CPU evaluator runs, [`SymEnergy::fused_programs`]; the fixed-arity
//!   ones with [`GpuSym::new_unfused`]), compiled once each per process by
//!   CubeCL on first use;
//! - the three parameter gradients, `v_hess_v` and its gradient
//!   **delegate to the CPU twin**; Langevin uses the trait's default (the
//!   CPU reference loop), which calls this type's `energy_score`, so each
//!   step's score is computed on the device.
//!
//! θ is uploaded when first needed and again after `params_mut` /
//! `set_params`; batch buffers are reused while the batch size stays the
//! same. The kernel has no loop, so no launch splitting is needed under
//! Mesa llvmpipe's loop budget ([`crate::plan`]). Errors: input errors are
//! the CPU twin's; device failures become `EbmError::InvalidConfig`.

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use crate::launch::{arg, grid, upload_f32};
use crate::sym::{sym_kernel, SymSpec};
use cubecl::bytes::Bytes;
use cubecl::server::Handle;
use ebm_core::sym::{Programs, SymEnergy};
use ebm_core::{
    Batch, Curvature, Energy, Langevin, Objectives, Outputs, ParamGrad, PerSample, Target, Trainable, Weights,
};
use std::sync::Mutex;

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
fn launch(
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

/// A symbolic model held on a GPU (see the module docs).
pub struct GpuSym {
    cpu: SymEnergy<f32>,
    dev: GpuDevice,
    /// `[E]`, `[E, s]`, `[E, s, h]`.
    specs: [SymSpec; 3],
    state: Mutex<State>,
}

impl std::fmt::Debug for GpuSym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSym").field("energy", &self.cpu.to_source()).field("adapter", &self.dev.info().name).finish()
    }
}

impl GpuSym {
    /// Puts `model` on `dev`, running its fused programs (the CPU
    /// evaluator's). Errors: a program the kernel cannot express
    /// ([`SymSpec::new`]).
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
        let specs = [
            SymSpec::new(p.energy, [1, 0, 0])?,
            SymSpec::new(p.energy_score, [1, d, 0])?,
            SymSpec::new(p.energy_score_hess, [1, d, d])?,
        ];
        Ok(Self {
            cpu: model,
            dev: dev.clone(),
            specs,
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
        &self.specs
    }

    /// Outputs of program `which` (0, 1, 2: see [`GpuSym::specs`]) at the
    /// checked inputs `x` of `batch` samples.
    fn eval_device(&self, x: &[f32], batch: usize, which: usize) -> Result<Vec<Bytes>> {
        let spec = &self.specs[which];
        check_size(spec, batch)?;
        let d = self.cpu.dim();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
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
        launch(&self.dev, spec, &b.x, &aux, &theta, &b.out, batch)?;
        let n = 1 + (which >= 1) as usize + (which >= 2) as usize;
        c.read(b.out[..n].to_vec()).map_err(|e| self.dev.exec_err(e))
    }
}

fn copy_out(dst: &mut [f32], src: &Bytes) {
    let n = dst.len();
    dst.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(src)[..n]);
}

impl Energy<f32> for GpuSym {
    fn name(&self) -> &'static str {
        self.cpu.name()
    }

    fn dim(&self) -> usize {
        self.cpu.dim()
    }

    /// One launch of the program for the wanted outputs.
    fn eval(&self, x: Batch<'_, f32>, out: Outputs<'_, f32>) -> ebm_core::Result<()> {
        let which = out.wants_score() as usize + out.wants_hess_diag() as usize;
        let res = self.eval_device(&x, x.rows(), which)?;
        let (energy, score, hess_diag) = out.into_parts();
        copy_out(energy, &res[0]);
        if let Some(s) = score {
            copy_out(s, &res[1]);
        }
        if let Some(h) = hess_diag {
            copy_out(h, &res[2]);
        }
        Ok(())
    }
}

impl Trainable<f32> for GpuSym {
    fn params(&self) -> &[f32] {
        self.cpu.params()
    }

    /// Marks the device copy of θ stale; it is uploaded again before the
    /// next kernel.
    fn params_mut(&mut self) -> &mut [f32] {
        self.state.get_mut().unwrap_or_else(|p| p.into_inner()).theta = None;
        self.cpu.params_mut()
    }

    /// Delegates to the CPU twin (see the module docs).
    fn grad_params(
        &self,
        x: Batch<'_, f32>,
        target: Target<'_, f32>,
        w: Weights<'_, f32>,
        grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<()> {
        self.cpu.grad_params(x, target, w, grad)
    }
}

impl Curvature<f32> for GpuSym {
    /// Delegates to the CPU twin (see the module docs).
    fn eval_v_hess_v(&self, x: Batch<'_, f32>, v: Batch<'_, f32>, out: PerSample<'_, f32>) -> ebm_core::Result<()> {
        self.cpu.eval_v_hess_v(x, v, out)
    }

    /// Delegates to the CPU twin (see the module docs).
    fn grad_v_hess_v(
        &self,
        x: Batch<'_, f32>,
        v: Batch<'_, f32>,
        w: Weights<'_, f32>,
        grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<()> {
        self.cpu.grad_v_hess_v(x, v, w, grad)
    }
}

impl Objectives<f32> for GpuSym {}
impl Langevin<f32> for GpuSym {}
