//! MLP kernels shaped for a GPU: every layer is a tiled product.
//!
//! The twin of `ebm_core::mlp::Mlp` (same θ layout, PyTorch `state_dict`
//! order: per linear layer W (out × in, row-major) then b; the hidden
//! layers, then the output layer 1 × H_L and its bias). Per sample,
//! z₀ = x, a_l = W_l z_{l−1} + b_l, z_l = σ(a_l), E = w_outᵀ z_L + b_out;
//! backward γ_L = w_out, δ_l = γ_l ⊙ σ′(a_l), γ_{l−1} = W_lᵀ δ_l, ∇ₓE = γ₀.
//!
//! Unlike the one-thread-per-sample kernels ([`crate::mlp`]), a batch is a
//! sequence of products over the whole batch ([`gemm`]): a workgroup owns a
//! tile of samples × units, stages tiles of the operands in shared memory
//! and each thread keeps a 4 × 4 register block. Activations go to global
//! memory between launches (row-major chunk × H_l buffers).
//!
//! - [`layer`]: the per-layer product with its forward (bias + σ, σ′, σ″),
//!   backward (δ = γ⊙σ′, c = γ⊙σ″, score), tangent and adjoint epilogues;
//! - [`hess`]: the Hessian diagonal (eq 12's second term) as products over
//!   the column index (b, i), reduced over units inside each workgroup;
//! - [`grad`]: Σ_b w_b ∇θE (eq 2–3's phases) and Σ_b w_b ∇θ(v_bᵀ∇ₓE) as
//!   products over the batch, summed in slabs and then pairwise;
//! - [`langevin`]: ULA and MALA, 2L + 1 or 2L + 3 launches per step;
//!   [`persist`]: K steps per launch with each workgroup's chains kept in
//!   shared memory ([`Mlp2::langevin_path`] says which a model takes);
//! - [`plan`]: shapes, tiles, chunk sizes, and the cost model —
//!   [`plan::max_loop_count`], [`plan::flops_per_sample`],
//!   [`plan::bytes_per_sample`] — which every method's docs refer to.
//!
//! # Launches, bytes, FLOPs and loops per call
//!
//! With L hidden layers, per chunk of samples (chunks keep every buffer
//! ≤ [`plan::Limits::max_buffer_bytes`], 64 MiB by default; R = ⌈chunk/S⌉
//! slab rows, S = 64):
//!
//! | call | launches per chunk | FLOPs per sample (multiply-add = 2) |
//! | --- | --- | --- |
//! | energy | L + 1 | 2 Σ_l H_l H_{l−1} + 2H_L |
//! | + score | 2L + 1 | + 2 Σ_l H_l H_{l−1} |
//! | + Hessian | 2L + 2 + (L − 1)·(Hessian sub-chunks) | + 2H₁d + 2d Σ_{l<L} H_l H_{l+1} |
//! | ∇θE | 3L + ⌈log₄ R⌉ | forward + backward + 2 Σ_l H_l(H_{l−1} + 1) + 2(H_L + 1) |
//! | ∇θ vᵀ∇ₓE | 6L + ⌈log₄ 2R⌉ | ≈ 2 × ∇θE |
//!
//! The exact list for a shape — name, loop iterations per invocation,
//! FLOPs and bytes per sample of every launch — is [`plan::launches`]
//! (bytes: the compulsory activation traffic defined in [`plan`]); a test
//! checks that the calls make exactly those launches. The largest loop
//! count per invocation is ⌈K/bk⌉ + 1 for a layer product with contraction
//! K, ⌈H_{l+1}/BM⌉(⌈H_l/bk⌉ + 1) + 1 for a Jacobian layer, S/bk + 1 = 5 for
//! a batch sum and ⌈H_L/16⌉ + 1 for the output dot product: none depends on
//! the batch size. At the bench shapes ([`plan::max_loop_count`], default
//! tiles):
//!
//! | shape | max loops | MFLOP/sample: E / +score / +Hessian / ∇θE / ∇θvᵀ∇ₓE | KiB/sample (same order) |
//! | --- | --- | --- | --- |
//! | d = 64, 256-256 | 69 | 0.16 / 0.33 / 8.75 / 0.46 / 0.92 | 4.3 / 10.5 / 18.3 / 26.0 / 71.0 |
//! | d = 256, 256-256 | 69 | 0.26 / 0.53 / 34.2 / 0.66 / 1.31 | 5.0 / 12.0 / 22.0 / 35.5 / 96.0 |
//! | d = 16, 1024 | 65 | 0.035 / 0.068 / 0.10 / 0.070 / 0.135 | 8.1 / 16.1 / 24.2 / 19.1 / 52.4 |
//!
//! (The gradients' bytes are dominated by the slab partial rows, P/S
//! floats per sample per set; a larger S trades them against the error
//! bound of [`grad`].)
//!
//! # Device-resident use
//!
//! [`Mlp2::eval_device`], [`Mlp2::grad_energy_device`] and
//! [`Mlp2::grad_v_dot_grad_x_device`] take and return [`Handle`]s (f32,
//! row-major), so calls chain without host round trips; the slice methods
//! upload, call them and read back.

mod costs;
pub mod gemm;
pub mod grad;
pub mod hess;
pub mod jsum;
pub mod langevin;
pub mod layer;
mod passes;
pub mod persist;
mod persist_run;
pub mod plan;
mod run;
mod run2;
mod second;
pub mod seg;
pub mod sm;
pub mod vhv;

use crate::device::GpuDevice;
use crate::error::{KernelError, Result};
use crate::launch::{read_f32, upload_f32};
use cubecl::server::Handle;
use ebm_core::mlp::{Activation, LayerOffset, Mlp};
use ebm_core::{check_batch, check_finite, check_len, EbmError, Trainable};
use passes::Keep;
pub use persist_run::{LangevinPath, PersistPlan};
use plan::{Limits, Shape, Tiles};
use std::sync::atomic::{AtomicU64, Ordering};

/// An MLP energy on the device, evaluated with tiled products (module docs).
pub struct Mlp2 {
    dev: GpuDevice,
    shape: Shape,
    act: Activation,
    offsets: Vec<LayerOffset>,
    n_params: usize,
    theta: Handle,
    dummy: Handle,
    /// [1.0]: the A operand of the output layer as a product.
    one: Handle,
    tiles: Tiles,
    limits: Limits,
    launches: AtomicU64,
    /// Cap on the steps of one persistent launch ([`Mlp2::set_max_steps_per_launch`]).
    persist_cap: Option<u64>,
    /// Whether layer products may stage A with 128-bit loads
    /// ([`Mlp2::set_vector_loads`]).
    vec_loads: bool,
    /// Layer products launched with 128-bit loads of A.
    vec_launches: AtomicU64,
}

/// The device outputs of [`Mlp2::eval_device`]: energy (B), score and
/// Hessian diagonal (B × d) when asked for.
pub struct EvalOut {
    /// E(x_b).
    pub energy: Handle,
    /// −∇ₓE(x_b), row-major B × d.
    pub score: Option<Handle>,
    /// ∂²E/∂xᵢ²(x_b), row-major B × d.
    pub hess: Option<Handle>,
}

impl Mlp2 {
    /// Uploads θ of `m` to `dev` with the default tiles and limits.
    pub fn new(dev: &GpuDevice, m: &Mlp<f32>) -> Result<Self> {
        Self::with_config(dev, m, Tiles::default(), Limits::default())
    }

    /// As [`Mlp2::new`] with explicit tiles and buffer limits (small limits
    /// force many chunks; tests use that to cover the chunked paths).
    pub fn with_config(dev: &GpuDevice, m: &Mlp<f32>, tiles: Tiles, limits: Limits) -> Result<Self> {
        if !tiles.valid() {
            return Err(KernelError::Unsupported(format!("mlp2: invalid tiles {tiles:?}")));
        }
        let shape = Shape::new(m.dims()[0], m.hidden());
        let wg = (tiles.tm * tiles.tn) as u32;
        let lim = &dev.info().limits;
        if wg > lim.max_invocations_per_workgroup || tiles.tn as u32 > lim.max_workgroup_size_x {
            return Err(KernelError::Unsupported(format!(
                "mlp2: workgroups of {wg} threads exceed {}",
                dev.info().name
            )));
        }
        let shared = 4 * tiles.bk * 2 * tiles.reg * tiles.tm.max(tiles.tn) + 4 * tiles.tm * tiles.reg * tiles.tn;
        if shared > lim.max_workgroup_storage_bytes as usize {
            return Err(KernelError::Unsupported(format!(
                "mlp2: {shared} B of shared memory exceed {}",
                dev.info().name
            )));
        }
        let n_params = m.params().len();
        debug_assert_eq!(n_params, shape.n_params());
        Ok(Self {
            dev: dev.clone(),
            act: m.activation(),
            offsets: m.layer_offsets().to_vec(),
            n_params,
            theta: upload_f32(dev, m.params()),
            dummy: upload_f32(dev, &[0.0]),
            one: upload_f32(dev, &[1.0]),
            shape,
            tiles,
            limits,
            launches: AtomicU64::new(0),
            persist_cap: None,
            vec_loads: true,
            vec_launches: AtomicU64::new(0),
        })
    }

    /// Replaces θ (same layout and length as the model's).
    pub fn set_params(&mut self, theta: &[f32]) -> Result<()> {
        check_len("theta", theta, self.n_params)?;
        check_finite("theta", theta, theta.len())?;
        self.theta = upload_f32(&self.dev, theta);
        Ok(())
    }

    /// The model's shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The tiles in use.
    pub fn tiles(&self) -> &Tiles {
        &self.tiles
    }

    /// Number of parameters P.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// The device θ.
    pub fn theta(&self) -> &Handle {
        &self.theta
    }

    /// Kernel launches made so far (all calls).
    pub fn launch_count(&self) -> u64 {
        self.launches.load(Ordering::Relaxed)
    }

    /// The device.
    pub fn device(&self) -> &GpuDevice {
        &self.dev
    }

    fn eval_chunk(&self) -> usize {
        plan::eval_chunk(&self.shape, &self.tiles, &self.limits)
    }

    fn hess_chunk(&self) -> usize {
        plan::hess_chunk(&self.shape, &self.tiles, &self.limits)
    }

    fn row_len(&self) -> usize {
        plan::row_len(self.n_params)
    }

    fn need(h: &Handle, what: &'static str, floats: usize) -> Result<()> {
        let got = h.size_in_used() as usize / 4;
        if got < floats {
            return Err(KernelError::Model(EbmError::DimMismatch { what, expected: floats, got }));
        }
        Ok(())
    }

    fn require_smooth(&self, objective: &'static str) -> Result<()> {
        if self.act.is_smooth() {
            Ok(())
        } else {
            Err(KernelError::Model(EbmError::Activation { activation: self.act.name(), objective }))
        }
    }

    /// E, and the score and Hessian diagonal when given, of the B samples
    /// of `x` (row-major B × d).
    ///
    /// Launches per chunk: L + 1 (energy), + L (score: L − 1 backward
    /// products and the score product), + 1 + (L − 1)·(Hessian chunks)
    /// (Hessian; it needs the backward products but not the score one).
    /// Bytes and FLOPs per sample: [`plan::bytes_per_sample`] and
    /// [`plan::flops_per_sample`] of [`plan::Op::Energy`],
    /// [`plan::Op::EnergyScore`], [`plan::Op::HessDiag`]; the largest
    /// loop count per invocation is ⌈max width/bk⌉ + 1 for the layer
    /// products and ⌈H_{l+1}/BM⌉·(⌈H_l/bk⌉ + 1) + 1 for the Jacobian layers.
    ///
    /// Errors: shapes, non-finite x, a Hessian with ReLU (as the CPU), and
    /// device failures.
    pub fn eval(
        &self,
        x: &[f32],
        energy: &mut [f32],
        score: Option<&mut [f32]>,
        hess: Option<&mut [f32]>,
    ) -> Result<()> {
        let d = self.shape.d;
        let b = check_batch("x", x, d)?;
        check_len("energy", energy, b)?;
        if let Some(s) = &score {
            check_len("score", s, b * d)?;
        }
        if let Some(h) = &hess {
            check_len("hess_diag", h, b * d)?;
            self.require_smooth("hess_diag")?;
        }
        let hx = upload_f32(&self.dev, x);
        let out = self.eval_device(&hx, b, score.is_some(), hess.is_some())?;
        energy.copy_from_slice(&read_f32(&self.dev, out.energy, b)?);
        if let (Some(s), Some(h)) = (score, out.score) {
            s.copy_from_slice(&read_f32(&self.dev, h, b * d)?);
        }
        if let (Some(dst), Some(h)) = (hess, out.hess) {
            dst.copy_from_slice(&read_f32(&self.dev, h, b * d)?);
        }
        Ok(())
    }

    /// [`Mlp2::eval`] on device buffers: `x` holds at least `batch × d`
    /// floats; returns new handles. Same launches, bytes, FLOPs and loop
    /// counts as [`Mlp2::eval`].
    pub fn eval_device(&self, x: &Handle, batch: usize, want_score: bool, want_hess: bool) -> Result<EvalOut> {
        let d = self.shape.d;
        if batch == 0 {
            return Err(KernelError::Model(EbmError::EmptyBatch { what: "x" }));
        }
        Self::need(x, "x", batch * d)?;
        if want_hess {
            self.require_smooth("hess_diag")?;
        }
        run::check_index_range(batch * self.shape.max_width(), "eval")?;
        let energy = self.alloc(batch);
        let score = want_score.then(|| self.alloc(batch * d));
        let hess = want_hess.then(|| self.alloc(batch * d));
        let backward = want_score || want_hess;
        let keep = Keep { s1: backward, s2: want_hess, delta_last: backward, c_last: want_hess, s1_last: false };
        let chunk = self.eval_chunk();
        let acts = self.acts(chunk.min(batch), keep, backward, want_hess, false);
        let mut b0 = 0;
        while b0 < batch {
            let n = chunk.min(batch - b0);
            self.forward(x, b0, n, &acts, keep)?;
            self.out_dot(&acts.z[self.shape.depth()], n, &energy, b0)?;
            if backward {
                self.backward(n, &acts, want_hess, score.as_ref().map(|s| (s, b0)))?;
            }
            if let Some(h) = &hess {
                self.hess(n, &acts, h, b0)?;
            }
            b0 += n;
        }
        Ok(EvalOut { energy, score, hess })
    }

    /// `grad ← Σ_b w_b ∇θE(x_b)` (θ layout, P values).
    ///
    /// Launches per gradient chunk (a whole number of 64-sample slabs whose
    /// partial rows fit the buffer limit): L forward, L − 1 backward, L + 1
    /// batch-sum products, then ⌈log₄ R⌉ pairwise passes over the R slab
    /// rows (and one more level over the chunks when there are several).
    /// Bytes and FLOPs per sample: [`plan::Op::GradEnergy`]. Largest loop
    /// count per invocation: S/bk + 1 = 5 for the batch sums (independent
    /// of B), ⌈max width/bk⌉ + 1 for the layer products. Error bound of the
    /// batch sum: [`grad`] module docs.
    pub fn grad_energy(&self, x: &[f32], weights: &[f32], grad: &mut [f32]) -> Result<()> {
        let b = check_batch("x", x, self.shape.d)?;
        self.check_weighted(weights, grad, b)?;
        let hx = upload_f32(&self.dev, x);
        let hw = upload_f32(&self.dev, weights);
        let g = self.grad_energy_device(&hx, &hw, b)?;
        grad.copy_from_slice(&read_f32(&self.dev, g, self.n_params)?);
        Ok(())
    }

    /// [`Mlp2::grad_energy`] on device buffers; returns a handle of P
    /// values rounded up to a multiple of 4 (the first P are ∇θ).
    pub fn grad_energy_device(&self, x: &Handle, weights: &Handle, batch: usize) -> Result<Handle> {
        self.grad_device(x, None, weights, batch)
    }

    /// Checks a batch `x` and its directions `v` (B × d each, v finite);
    /// returns B.
    fn check_xv(&self, x: &[f32], v: &[f32]) -> Result<usize> {
        let d = self.shape.d;
        let b = check_batch("x", x, d)?;
        check_len("v", v, b * d)?;
        check_finite("v", v, d)?;
        Ok(b)
    }

    /// Checks the weights of a θ-gradient over `b` samples (B values,
    /// finite) and its output `grad` (P values).
    fn check_weighted(&self, weights: &[f32], grad: &[f32], b: usize) -> Result<()> {
        check_len("weights", weights, b)?;
        check_finite("weights", weights, 1)?;
        check_len("grad", grad, self.n_params)?;
        Ok(())
    }

    /// Checks the inputs of a weighted θ-gradient along directions: `x`
    /// and `v` ([`Mlp2::check_xv`]), the weights and `grad`
    /// ([`Mlp2::check_weighted`]); returns B.
    fn check_v_grad(&self, x: &[f32], v: &[f32], weights: &[f32], grad: &[f32]) -> Result<usize> {
        let b = self.check_xv(x, v)?;
        self.check_weighted(weights, grad, b)?;
        Ok(b)
    }

    /// `grad ← Σ_b w_b ∇θ(v_bᵀ∇ₓE(x_b))` (denoising score matching; `v`
    /// row-major B × d), reverse over forward as `ebm_core`'s
    /// `grad_v_dot_grad_x`.
    ///
    /// Launches per gradient chunk: 1 zero fill, L forward, L − 1 backward,
    /// L tangent, L − 1 adjoint, 2L + 1 batch-sum products and ⌈log₄ 2R⌉
    /// pairwise passes. Bytes and FLOPs per sample:
    /// [`plan::Op::GradVDotGradX`]. Largest loop count per invocation as for
    /// [`Mlp2::grad_energy`].
    pub fn grad_v_dot_grad_x(&self, x: &[f32], v: &[f32], weights: &[f32], grad: &mut [f32]) -> Result<()> {
        let b = self.check_v_grad(x, v, weights, grad)?;
        let hx = upload_f32(&self.dev, x);
        let hv = upload_f32(&self.dev, v);
        let hw = upload_f32(&self.dev, weights);
        let g = self.grad_v_dot_grad_x_device(&hx, &hv, &hw, b)?;
        grad.copy_from_slice(&read_f32(&self.dev, g, self.n_params)?);
        Ok(())
    }

    /// [`Mlp2::grad_v_dot_grad_x`] on device buffers (P values rounded up
    /// to a multiple of 4).
    pub fn grad_v_dot_grad_x_device(&self, x: &Handle, v: &Handle, weights: &Handle, batch: usize) -> Result<Handle> {
        self.grad_device(x, Some(v), weights, batch)
    }

    fn grad_device(&self, x: &Handle, v: Option<&Handle>, w: &Handle, batch: usize) -> Result<Handle> {
        let d = self.shape.d;
        if batch == 0 {
            return Err(KernelError::Model(EbmError::EmptyBatch { what: "x" }));
        }
        Self::need(x, "x", batch * d)?;
        Self::need(w, "weights", batch)?;
        if let Some(v) = v {
            Self::need(v, "v", batch * d)?;
        }
        run::check_index_range(batch * self.shape.max_width(), "gradient")?;
        let vdx = v.is_some();
        let sets = if vdx { 2 } else { 1 };
        let len = self.row_len();
        let chunk = plan::grad_chunk(&self.shape, &self.tiles, &self.limits, sets);
        let nmax = chunk.min(batch);
        let keep = Keep { s1: true, s2: vdx, delta_last: true, c_last: vdx, s1_last: vdx };
        let acts = self.acts(nmax, keep, true, vdx, vdx);
        self.batch_sums(batch, chunk, sets, len, |part, b0, n, rows| {
            self.forward(x, b0, n, &acts, keep)?;
            self.backward(n, &acts, vdx, None)?;
            match v {
                Some(v) => {
                    self.zero(part, sets * rows * len)?;
                    self.grad_vdx_sums(x, v, w, b0, n, &acts, part, 0, rows)
                }
                None => self.grad_energy_sums(x, w, b0, n, &acts, part, 0),
            }
        })
    }
}
