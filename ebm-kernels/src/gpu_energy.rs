//! [`GpuEnergy`]: a model whose parameters stay on the device and whose
//! `Energy<f32>` methods run the fused kernels, so estimator code written
//! against `ebm_core::Energy` runs unchanged on the GPU.
//!
//! - `energy`, `energy_score`, `energy_score_hess_diag`: one launch of
//!   [`crate::fused::eval_kernel()`] each;
//! - `langevin_ula`, `langevin_mala`: all K steps in one launch of
//!   [`crate::fused::ula_kernel()`] / [`crate::fused::mala_kernel()`], with the
//!   noise of `ebm_core::langevin` drawn in-kernel;
//! - `grad_params_energy` (Σᵦ wᵦ∇θE, seed eq 2–3): per-sample gradient rows
//!   and a reduction over the batch on the device ([`crate::grad`]); on the
//!   CPU twin when one sample's gradient exceeds the adapter's loop budget;
//! - `grad_params_v_dot_grad_x` (Σᵦ wᵦ∇θ vᵦᵀ∇ₓE, seed eq 13) and
//!   `grad_params_sm` (Σᵦ wᵦ∇θ of the score-matching integrand, seed
//!   eq 12): for the MLP, per-sample rows and the same reduction on the
//!   device for every family ([`crate::grad_vdx`], [`crate::grad_sm`],
//!   [`crate::grad_families`], [`crate::grad_mixture`], driven by
//!   `param_grads`); for a sample that does not fit the loop budget they
//!   **delegate to the CPU twin** (same θ, same results as the CPU model);
//! - `v_hess_v` (the Hessian quadratic form vᵀ∇ₓ²E v): for the MLP and
//!   the Gaussian one launch of [`crate::vhv::vhv_kernel()`]
//!   (forward-over-reverse along v for the MLP); on the CPU twin for the
//!   other families, for ReLU MLPs (which the twin refuses) and for a
//!   sample that does not fit the loop budget;
//! - `grad_params_v_hess_v` (its θ-gradient) **delegates to the CPU twin**.
//!
//! On an adapter with a loop budget (Mesa's llvmpipe stops an invocation's
//! loops after 65 536 iterations in total, silently) the calls are split
//! into several launches that each fit ([`crate::plan`]): the MLP Hessian
//! diagonal by coordinate ranges, Langevin chains by groups of steps (the
//! same draws, the chains staying on the device). A sample that cannot fit
//! even so is refused with an error instead of computed wrong.
//!
//! θ is uploaded when first needed and again after every `params_mut` /
//! `set_params` (which mark it stale). Batch buffers are allocated once per
//! batch size and reused while the size stays the same.
//!
//! Errors: input errors are the CPU twin's [`EbmError`]s (checked on the
//! host before any launch); device failures become
//! [`EbmError::InvalidConfig`] with the adapter's name.

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use crate::family::GpuFamily;
use crate::fused::{eval_kernel, mala_kernel, ula_kernel, RngArgsLaunch};
use crate::grad::{grad_rows_kernel, reduce_rows_kernel};
use crate::launch::{arg, grid, WORKGROUP};
use crate::nce::nce_kernel;
use crate::plan::{eval_ranges, fixed_cost, loop_cost, steps_per_launch, LoopCost};
use crate::spec::Spec;
use cubecl::bytes::Bytes;
use cubecl::server::Handle;
use ebm_core::prelude::*;
use ebm_core::{
    check_batch, check_finite, check_len, Batch, Chains, Curvature, EbmError, Energy, Langevin, Objectives, Outputs,
    ParamGrad, PerSample, Target, Trainable, Weights,
};
use std::sync::Mutex;

mod param_grads;

/// What [`GpuEnergy::nce_loss_grad`] returns besides ∇θL.
#[derive(Clone, Debug, PartialEq)]
pub struct NceOut {
    /// The NCE loss L (mean over the (1 + ν)B points).
    pub loss: f64,
    /// ∂L/∂c.
    pub dloss_dc: f64,
    /// The logits G of every point.
    pub logits: Vec<f32>,
    /// The gradient weights (σ(−G)/N on data, −σ(G)/N on noise).
    pub weights: Vec<f32>,
}

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
}

/// A model held on a GPU (see the module docs). `M` is the CPU twin that
/// owns θ on the host and serves the parameter gradients.
pub struct GpuEnergy<M: GpuFamily> {
    cpu: M,
    dev: GpuDevice,
    spec: Spec,
    meta: Handle,
    meta_len: usize,
    cost: LoopCost,
    loop_budget: Option<u64>,
    state: Mutex<State>,
}

impl<M: GpuFamily> std::fmt::Debug for GpuEnergy<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEnergy")
            .field("model", &self.cpu.name())
            .field("spec", &self.spec)
            .field("adapter", &self.dev.info().name)
            .finish()
    }
}

impl<M: GpuFamily> GpuEnergy<M> {
    /// Puts `model` on `dev`. θ is staged in shared memory by the kernels
    /// when it fits the adapter's workgroup storage.
    pub fn new(dev: &GpuDevice, model: M) -> Result<Self> {
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
            state: Mutex::new(State { theta: None, bufs: None }),
        })
    }

    /// Like [`GpuEnergy::new`] but never stages θ in shared memory (for
    /// tests of both paths and for comparisons).
    pub fn new_global_params(dev: &GpuDevice, model: M) -> Result<Self> {
        let mut g = Self::new(dev, model)?;
        g.spec.shared = false;
        Ok(g)
    }

    /// Plans launches for a loop budget of `budget` iterations per
    /// invocation instead of the adapter's own ([`GpuDevice::loop_budget`]);
    /// `None` means one launch per call. Smaller budgets split launches
    /// more finely (tests use this to exercise the split paths on any
    /// adapter); a budget above the adapter's gives wrong results there.
    pub fn with_loop_budget(mut self, budget: Option<u64>) -> Self {
        self.loop_budget = budget;
        self
    }

    /// Whether `v_hess_v` runs on the device for this model (a smooth MLP
    /// or a Gaussian whose samples fit the kernel's per-thread state and
    /// the loop budget); otherwise it runs on the CPU twin (module docs).
    pub fn v_hess_v_on_device(&self) -> bool {
        self.cpu.hess_error().is_none() && self.vhv_fits().unwrap_or(false)
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn theta(&self, st: &mut State) -> Handle {
        if st.theta.is_none() {
            st.theta = Some(crate::launch::upload_f32(&self.dev, self.cpu.params()));
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

    /// E (and score, Hessian diagonal) on the device; the inputs are
    /// already checked. One launch, or several under a loop budget
    /// ([`crate::plan`]).
    fn eval_device(&self, x: &[f32], batch: usize, want_grad: bool, want_hess: bool) -> Result<Vec<Bytes>> {
        self.check_size(batch)?;
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64);
        let ranges = eval_ranges(&self.spec, &self.cost, fixed, self.loop_budget, want_grad, want_hess)
            .map_err(KernelError::Unsupported)?;
        let d = self.spec.d;
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let b = self.buffers(&mut st, batch);
        self.write(&b.x, bytemuck::cast_slice(x));
        let (count, dim) = grid(&self.dev, batch)?;
        let np = self.spec.n_params;
        for (lo, hi) in ranges {
            // SAFETY: every handle was allocated with the length passed with
            // it (`buffers`, `theta`, `meta` from the same shapes).
            unsafe {
                eval_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&theta, np),
                    arg(&self.meta, self.meta_len()),
                    arg(&b.energy, batch),
                    arg(&b.score, batch * d),
                    arg(&b.hess, batch * d),
                    batch as u32,
                    lo,
                    hi,
                    self.spec,
                    want_grad,
                    want_hess,
                );
            }
        }
        let mut hs = vec![b.energy.clone()];
        if want_grad || want_hess {
            hs.push(b.score.clone());
        }
        if want_hess {
            hs.push(b.hess.clone());
        }
        self.read(hs)
    }

    /// Σᵦ wᵦ ∇θE(xᵦ) with the [`crate::grad`] kernels, or `None` when one
    /// sample's gradient does not fit the adapter's loop budget.
    fn grad_energy_device(&self, x: &[f32], weights: &[f32], batch: usize) -> Result<Option<Vec<f32>>> {
        self.check_size(batch)?;
        let p = self.spec.n_params;
        let d = self.spec.d;
        let row_cost = 3 * p as u64 + self.cost.energy + self.cost.grad + 4 * d as u64 + 16;
        if self.planned_budget().is_some_and(|b| row_cost > b) {
            return Ok(None);
        }
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let bufs = self.buffers(&mut st, batch);
        self.write(&bufs.x, bytemuck::cast_slice(x));
        let hw = crate::launch::upload_f32(&self.dev, weights);
        let chunk = self.rows_chunk(batch);
        let grad = self.sum_rows(batch, 1, |b0, n, _, count, dim, rows| {
            // SAFETY: every handle was allocated with the length passed with it.
            unsafe {
                grad_rows_kernel::launch(
                    self.dev.client(),
                    count,
                    dim,
                    arg(&bufs.x, batch * d),
                    arg(&hw, batch),
                    arg(&theta, p),
                    arg(&self.meta, self.meta_len()),
                    arg(rows, chunk * p),
                    b0 as u32,
                    n as u32,
                    self.spec,
                );
            }
        })?;
        drop(st);
        Ok(Some(grad))
    }

    /// The fused NCE loss and gradient ([`crate::nce`]): `x` holds the B
    /// data points then the νB noise points (row-major, d per row),
    /// `log_pn` the noise log-density at each of them, `c` the
    /// log-normaliser and `nu` the noise ratio ν. Writes ∇θL into `grad`.
    ///
    /// Errors: shapes, non-finite inputs, `nu == 0`, and a model whose
    /// energy does not fit the adapter's loop budget.
    pub fn nce_loss_grad(
        &self,
        x: &[f32],
        log_pn: &[f32],
        n_data: usize,
        c: f64,
        nu: usize,
        grad: &mut [f32],
    ) -> Result<NceOut> {
        let d = self.spec.d;
        let n = check_batch("x", x, d)?;
        check_len("log_pn", log_pn, n)?;
        check_finite("log_pn", log_pn, 1)?;
        check_len("grad", grad, self.num_params())?;
        if nu == 0 || n_data == 0 || n != n_data * (1 + nu) {
            return Err(KernelError::Model(EbmError::InvalidConfig(format!(
                "NCE needs B ≥ 1 data points followed by ν·B ≥ 1 noise points; got {n} points, B = {n_data}, ν = {nu}"
            ))));
        }
        self.check_size(n)?;
        let p = self.spec.n_params;
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64);
        eval_ranges(&self.spec, &self.cost, fixed, self.loop_budget, false, false).map_err(KernelError::Unsupported)?;
        let row_cost = 3 * p as u64 + self.cost.energy + self.cost.grad + 4 * d as u64 + 16;
        let budget = self.loop_budget.map(|b| b / 10 * 9);
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let bufs = self.buffers(&mut st, n);
        self.write(&bufs.x, bytemuck::cast_slice(x));
        let c32 = (c + (nu as f64).ln()) as f32;
        let inv_n = (1.0 / n as f64) as f32;
        let cl = self.dev.client();
        let hl = crate::launch::upload_f32(&self.dev, log_pn);
        let logits = cl.empty(n * 4);
        let (count, dim) = grid(&self.dev, n)?;
        // SAFETY: every handle was allocated with the length passed with it.
        unsafe {
            nce_kernel::launch(
                cl,
                count,
                dim,
                arg(&bufs.x, n * d),
                arg(&hl, n),
                arg(&theta, p),
                arg(&self.meta, self.meta_len()),
                arg(&logits, n),
                arg(&bufs.score, n),
                arg(&bufs.energy, n),
                n as u32,
                n_data as u32,
                c32,
                inv_n,
                self.spec,
            );
        }
        let weights_dev = bufs.energy.clone();
        let terms_dev = bufs.score.clone();
        let on_device = budget.is_none_or(|b| row_cost <= b);
        let gout = cl.empty(p * 4);
        if on_device {
            let mut chunk = n.min((16 << 20) / p.max(1)).max(1);
            if let Some(b) = budget {
                chunk = chunk.min((b as usize).saturating_sub(16).max(1));
            }
            let rows = cl.empty(chunk * p * 4);
            let (pc, pd) = grid(&self.dev, p)?;
            let mut b0 = 0usize;
            while b0 < n {
                let m = chunk.min(n - b0);
                let (count, dim) = grid(&self.dev, m)?;
                // SAFETY: as above.
                unsafe {
                    grad_rows_kernel::launch(
                        cl,
                        count,
                        dim,
                        arg(&bufs.x, n * d),
                        arg(&weights_dev, n),
                        arg(&theta, p),
                        arg(&self.meta, self.meta_len()),
                        arg(&rows, chunk * p),
                        b0 as u32,
                        m as u32,
                        self.spec,
                    );
                    reduce_rows_kernel::launch(
                        cl,
                        pc.clone(),
                        pd,
                        arg(&rows, chunk * p),
                        arg(&gout, p),
                        m as u32,
                        (b0 > 0) as u32,
                        p,
                    );
                }
                b0 += m;
            }
        }
        let out = self.read(vec![logits, terms_dev, weights_dev, gout])?;
        let logits: Vec<f32> = bytemuck::cast_slice::<u8, f32>(&out[0])[..n].to_vec();
        let terms: &[f32] = &bytemuck::cast_slice::<u8, f32>(&out[1])[..n];
        let weights: Vec<f32> = bytemuck::cast_slice::<u8, f32>(&out[2])[..n].to_vec();
        let loss = terms.iter().map(|&t| t as f64).sum::<f64>() / n as f64;
        let dloss_dc = weights.iter().map(|&w| w as f64).sum::<f64>();
        drop(st);
        if on_device {
            grad.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[3])[..p]);
        } else {
            self.cpu.grad_params_energy(x, &weights, grad)?;
        }
        Ok(NceOut { loss, dloss_dc, logits, weights })
    }

    /// Steps per launch for ULA (`mala = false`) or MALA.
    fn langevin_chunk(&self, steps: usize, mala: bool) -> Result<u64> {
        let d = self.spec.d as u64;
        let eval = self.cost.energy + self.cost.grad;
        let per_step = if mala { 1 + 4 * d + eval } else { 1 + 2 * d + eval };
        let fixed = fixed_cost(&self.spec, WORKGROUP as u64) + if mala { eval } else { 0 };
        steps_per_launch(steps as u64, per_step, fixed, self.loop_budget).map_err(KernelError::Unsupported)
    }

    fn meta_len(&self) -> usize {
        self.meta_len
    }

    fn rng(seed: u64, first_step: u64) -> RngArgsLaunch {
        RngArgsLaunch::new(seed as u32, (seed >> 32) as u32, first_step as u32, (first_step >> 32) as u32)
    }

    fn check_eps(eps: f32) -> ebm_core::Result<()> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(EbmError::InvalidConfig(format!("Langevin step size must be positive and finite, got {eps}")));
        }
        Ok(())
    }

    fn check_steps(steps: usize) -> Result<u32> {
        u32::try_from(steps).map_err(|_| KernelError::Unsupported(format!("{steps} Langevin steps in one launch")))
    }

    fn ula_device(&self, x: &mut [f32], eps: f32, steps: usize, seed: u64, first_step: u64) -> Result<()> {
        let d = self.spec.d;
        let batch = x.len() / d;
        self.check_size(batch)?;
        let k = Self::check_steps(steps)?;
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let b = self.buffers(&mut st, batch);
        self.write(&b.x, bytemuck::cast_slice(x));
        let (count, dim) = grid(&self.dev, batch)?;
        let half_eps2 = eps * eps * 0.5;
        let chunk = self.langevin_chunk(steps, false)?;
        let mut done = 0u64;
        while done < k as u64 {
            let n = chunk.min(k as u64 - done);
            // SAFETY: as in `eval`.
            unsafe {
                ula_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&theta, self.spec.n_params),
                    arg(&self.meta, self.meta_len()),
                    batch as u32,
                    n as u32,
                    eps,
                    half_eps2,
                    Self::rng(seed, first_step.wrapping_add(done)),
                    self.spec,
                );
            }
            done += n;
        }
        let out = self.read(vec![b.x.clone()])?;
        x.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[0])[..batch * d]);
        Ok(())
    }

    fn mala_device(
        &self,
        x: &mut [f32],
        eps: f32,
        steps: usize,
        seed: u64,
        first_step: u64,
        accepts: &mut [u32],
    ) -> Result<f64> {
        let d = self.spec.d;
        let batch = x.len() / d;
        self.check_size(batch)?;
        let k = Self::check_steps(steps)?;
        let mut st = self.lock();
        let theta = self.theta(&mut st);
        let b = self.buffers(&mut st, batch);
        self.write(&b.x, bytemuck::cast_slice(x));
        self.write(&b.accepts, bytemuck::cast_slice(accepts));
        let (count, dim) = grid(&self.dev, batch)?;
        let half_eps2 = eps * eps * 0.5;
        let inv_2eps2 = 1.0 / (2.0 * eps * eps);
        let chunk = self.langevin_chunk(steps, true)?;
        let mut done = 0u64;
        while done < k as u64 {
            let n = chunk.min(k as u64 - done);
            // SAFETY: as in `eval`.
            unsafe {
                mala_kernel::launch(
                    self.dev.client(),
                    count.clone(),
                    dim,
                    arg(&b.x, batch * d),
                    arg(&b.accepts, batch),
                    arg(&theta, self.spec.n_params),
                    arg(&self.meta, self.meta_len()),
                    batch as u32,
                    n as u32,
                    eps,
                    half_eps2,
                    inv_2eps2,
                    Self::rng(seed, first_step.wrapping_add(done)),
                    self.spec,
                );
            }
            done += n;
        }
        let out = self.read(vec![b.x.clone(), b.accepts.clone()])?;
        x.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(&out[0])[..batch * d]);
        let new: &[u32] = &bytemuck::cast_slice::<u8, u32>(&out[1])[..batch];
        let total: u64 = new.iter().zip(accepts.iter()).map(|(&n, &o)| n.wrapping_sub(o) as u64).sum();
        accepts.copy_from_slice(new);
        Ok(if steps == 0 { 0.0 } else { total as f64 / (steps * batch) as f64 })
    }
}

fn copy_out(dst: &mut [f32], src: &Bytes) {
    let n = dst.len();
    dst.copy_from_slice(&bytemuck::cast_slice::<u8, f32>(src)[..n]);
}

impl<M: GpuFamily> Energy<f32> for GpuEnergy<M> {
    fn name(&self) -> &'static str {
        self.cpu.name()
    }

    fn dim(&self) -> usize {
        self.cpu.dim()
    }

    /// One launch of the fused kernel (several under a loop budget).
    fn eval(&self, x: Batch<'_, f32>, out: Outputs<'_, f32>) -> ebm_core::Result<()> {
        let (want_grad, want_hess) = (out.wants_score(), out.wants_hess_diag());
        if want_hess {
            if let Some(e) = self.cpu.hess_error() {
                return Err(e);
            }
        }
        let res = self.eval_device(&x, x.rows(), want_grad, want_hess)?;
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

impl<M: GpuFamily> Trainable<f32> for GpuEnergy<M> {
    fn params(&self) -> &[f32] {
        self.cpu.params()
    }

    /// Marks the device copy of θ stale; it is uploaded again before the
    /// next kernel.
    fn params_mut(&mut self) -> &mut [f32] {
        self.state.get_mut().unwrap_or_else(|p| p.into_inner()).theta = None;
        self.cpu.params_mut()
    }

    /// On the device ([`crate::grad`], [`crate::grad_vdx`],
    /// [`crate::grad_sm`]); on the CPU twin when one sample's gradient does
    /// not fit the adapter's loop budget, and for the score-matching
    /// gradient of a ReLU MLP (which the twin refuses) (module docs).
    fn grad_params(
        &self,
        x: Batch<'_, f32>,
        target: Target<'_, f32>,
        w: Weights<'_, f32>,
        mut grad: ParamGrad<'_, f32>,
    ) -> ebm_core::Result<()> {
        let b = x.rows();
        let on_device = match target {
            Target::Energy => self.grad_energy_device(&x, &w, b)?,
            Target::VDotGradX(v) => self.grad_vdx_device(&x, &v, &w, b)?,
            Target::ScoreMatching => {
                let relu = self.spec.family == crate::spec::FAM_MLP
                    && self.spec.variant == crate::act::code(ebm_core::mlp::Activation::Relu);
                if relu {
                    None
                } else {
                    self.grad_sm_device(&x, &w, b)?
                }
            }
        };
        match on_device {
            Some(g) => grad.copy_from_slice(&g),
            None => self.cpu.grad_params(x, target, w, grad)?,
        }
        Ok(())
    }
}

impl<M: GpuFamily> Curvature<f32> for GpuEnergy<M> {
    /// On the device for the MLP and the Gaussian ([`crate::vhv`]); on
    /// the CPU twin for ReLU MLPs (which it refuses), the other families,
    /// and a sample beyond the loop budget (module docs).
    fn eval_v_hess_v(&self, x: Batch<'_, f32>, v: Batch<'_, f32>, mut out: PerSample<'_, f32>) -> ebm_core::Result<()> {
        if self.v_hess_v_on_device() {
            if let Some(q) = self.vhv_device(&x, &v, x.rows())? {
                out.copy_from_slice(&q);
                return Ok(());
            }
        }
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

/// The two-pass defaults, each pass on the device.
impl<M: GpuFamily> Objectives<f32> for GpuEnergy<M> {}

impl<M: GpuFamily> Langevin<f32> for GpuEnergy<M> {
    /// All `steps` ULA steps in one launch (module docs).
    fn ula(&self, mut x: Chains<'_, f32>, eps: f32, steps: usize, seed: u64, first_step: u64) -> ebm_core::Result<()> {
        Self::check_eps(eps)?;
        self.ula_device(&mut x, eps, steps, seed, first_step)?;
        Ok(())
    }

    /// All `steps` MALA steps in one launch (module docs).
    fn mala(
        &self,
        mut x: Chains<'_, f32>,
        eps: f32,
        steps: usize,
        seed: u64,
        first_step: u64,
        mut accepts: PerSample<'_, u32>,
    ) -> ebm_core::Result<f64> {
        Self::check_eps(eps)?;
        Ok(self.mala_device(&mut x, eps, steps, seed, first_step, &mut accepts)?)
    }
}
