//! The Hessian quadratic form q = vᵀ∇ₓ²E v and Σ_b w_b ∇θ q_b (sliced
//! score matching), the twins of `ebm_core::mlp`'s `v_hess_v` and
//! `grad_v_hess_v` (derivation in the module docs of `ebm_core::mlp`),
//! every contraction a tiled product over the batch (no Jacobian is
//! formed).
//!
//! **q**: forward (σ′, σ″, and δ_L, c_L at the last layer), backward to
//! c_l = γ_l⊙σ″, then the forward tangent ȧ₁ = W₁v, ż_l = σ′⊙ȧ_l,
//! ȧ_{l+1} = W_{l+1}ż_l whose epilogue ([`super::layer::Epilogue::Vt`]) writes
//! t_l = c_l⊙ȧ_l², and q_b = Σ_l Σ_u t_l[b, u] by a row sum per layer
//! ([`super::seg::rowsum_kernel()`]).
//!
//! **∇θq** (per-sample seeds unweighted, w_b in every batch sum):
//! forward with σ‴ and the backward pass of `second` (δ_l, c_l,
//! e_l = γ_l⊙σ‴); the tangent ([`super::layer::Epilogue::Vtg`]) also writes the
//! seeds c̄_l = ȧ_l² as γ̄_l = σ″⊙ȧ_l² and ā_l = e_l⊙ȧ_l², and
//! ǎ_L = 2c_L⊙ȧ_L; the tangent in reverse, l = L−1..1:
//! W̄_{l+1} += Σ w Ǎ_{l+1}ᵀŻ_l, Ż̄_l = Ǎ_{l+1}W_{l+1} with the epilogue
//! ([`super::layer::Epilogue::Vrev`]) ā_l += σ″⊙ȧ_l⊙ż̄_l,
//! ǎ_l = 2c_l⊙ȧ_l + σ′⊙ż̄_l; W̄₁ += Σ w Ǎ₁ᵀV; the backward pass's adjoint
//! from γ̄₀ = 0 (so it starts at l = 2: γ̄₁ is its seed) and the forward
//! adjoint, each with its batch sums; three sets of partial rows summed
//! pairwise ([`super::grad`]).
//!
//! # Launches, bytes, FLOPs and loops
//!
//! q: 4L − 1 launches per chunk (L forward, L − 1 backward, L tangent,
//! L row sums). ∇θq: 9L − 2 per chunk plus ⌈log₄ 3R⌉ pairwise passes
//! (1 zero fill, L forward, L backward, L tangent, 2(L − 1) reverse
//! tangent, 1 W̄₁ sum, L − 1 + L backward adjoint, 2L − 1 forward
//! adjoint). Per-launch FLOPs and bytes per sample:
//! [`super::plan::launches`] of [`super::plan::Op::VHessV`] and
//! [`super::plan::Op::GradVHessV`]. Largest loop count per invocation:
//! ⌈max width/bk⌉ + 1 (products), S/bk + 1 (batch sums), ⌈H/16⌉ + 1
//! (row sums). At the bench shapes (default tiles):
//!
//! | shape | MFLOP/sample q / ∇θq | KiB/sample q / ∇θq | max loops |
//! | --- | --- | --- | --- |
//! | d = 64, 256-256 | 0.43 / 1.51 | 13.2 / 106 | 17 |
//! | d = 256, 256-256 | 0.69 / 2.29 | 15.2 / 138 | 17 |
//! | d = 16, 1024 | 0.10 / 0.27 | 40.3 / 101 | 65 |

use super::layer::{Epilogue, F_LASTT, F_ZD};
use super::passes::Keep;
use super::plan;
use super::run::{LayerCall, Op};
use super::Mlp2;
use crate::error::{KernelError, Result};
use crate::launch::{read_f32, upload_f32};
use cubecl::server::Handle;
use ebm_core::{check_len, EbmError};

impl Mlp2 {
    /// `out[b] = v_bᵀ∇ₓ²E(x_b)v_b` (`x`, `v` row-major B × d). Launches,
    /// bytes, FLOPs and loops: module docs of [`self`](super::vhv).
    ///
    /// Errors: shapes, non-finite inputs, ReLU (as the CPU twin), device
    /// failures.
    pub fn v_hess_v(&self, x: &[f32], v: &[f32], out: &mut [f32]) -> Result<()> {
        let b = self.check_xv(x, v)?;
        check_len("out", out, b)?;
        self.require_smooth("v_hess_v")?;
        let (hx, hv) = (upload_f32(&self.dev, x), upload_f32(&self.dev, v));
        out.copy_from_slice(&read_f32(&self.dev, self.v_hess_v_device(&hx, &hv, b)?, b)?);
        Ok(())
    }

    /// [`Mlp2::v_hess_v`] on device buffers; returns B values.
    pub fn v_hess_v_device(&self, x: &Handle, v: &Handle, batch: usize) -> Result<Handle> {
        let d = self.shape.d;
        self.check_pair(x, v, batch)?;
        self.require_smooth("v_hess_v")?;
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let keep = Keep { s1: true, s2: true, delta_last: true, c_last: true, s1_last: false };
        let chunk = self.eval_chunk();
        let acts = self.acts(chunk.min(batch), keep, true, true, true);
        let q = self.alloc(batch);
        let dm = &self.dummy;
        let mut b0 = 0;
        while b0 < batch {
            let n = chunk.min(batch - b0);
            self.forward(x, b0, n, &acts, keep)?;
            self.backward(n, &acts, true, None)?;
            for l in 1..=l_max {
                let (k, h) = (dims[l - 1], dims[l]);
                let a =
                    if l == 1 { (v, Op::new(b0 * d, d, 1), true) } else { (&acts.gbar[l - 1], Op::new(0, k, 1), true) };
                self.layer(LayerCall {
                    epi: Epilogue::Vt,
                    flags: if l < l_max { F_ZD } else { 0 },
                    square_b: false,
                    m: n,
                    n: h,
                    k,
                    a,
                    b: (&self.theta, Op::new(self.offsets[l - 1].w, k, 1), true),
                    aux: [&acts.s1[l], &acts.c[l]],
                    out: [if l < l_max { &acts.gbar[l] } else { dm }, &acts.abar[l], dm, dm],
                    o_off: 0,
                    o_ld: h,
                    e_off: 0,
                    e_off2: 0,
                })?;
                self.rowsum(&acts.abar[l], &q, n, h, b0, l > 1)?;
            }
            b0 += n;
        }
        Ok(q)
    }

    /// `grad ← Σ_b w_b ∇θ(v_bᵀ∇ₓ²E(x_b)v_b)` (θ layout, P values).
    /// Launches, bytes, FLOPs and loops: module docs of
    /// [`self`](super::vhv); the batch sums' error bound: [`super::grad`].
    pub fn grad_v_hess_v(&self, x: &[f32], v: &[f32], weights: &[f32], grad: &mut [f32]) -> Result<()> {
        let b = self.check_v_grad(x, v, weights, grad)?;
        self.require_smooth("grad_params_v_hess_v")?;
        let (hx, hv, hw) = (upload_f32(&self.dev, x), upload_f32(&self.dev, v), upload_f32(&self.dev, weights));
        grad.copy_from_slice(&read_f32(&self.dev, self.grad_v_hess_v_device(&hx, &hv, &hw, b)?, self.n_params)?);
        Ok(())
    }

    /// [`Mlp2::grad_v_hess_v`] on device buffers (P values rounded up to a
    /// multiple of 4).
    pub fn grad_v_hess_v_device(&self, x: &Handle, v: &Handle, weights: &Handle, batch: usize) -> Result<Handle> {
        let d = self.shape.d;
        self.check_pair(x, v, batch)?;
        Self::need(weights, "weights", batch)?;
        self.require_smooth("grad_params_v_hess_v")?;
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let len = self.row_len();
        let chunk = plan::grad_chunk(&self.shape, &self.tiles, &self.limits, 3);
        let nmax = chunk.min(batch);
        let a = self.acts2(nmax, true);
        let dm = &self.dummy;
        self.batch_sums(batch, chunk, 3, len, |part, b0, n, rows| {
            self.zero(part, 3 * rows * len)?;
            self.forward2(x, b0, n, &a)?;
            self.backward2(n, &a, None)?;
            // Tangent with the seeds.
            for l in 1..=l_max {
                let (k, h) = (dims[l - 1], dims[l]);
                let last = l == l_max;
                let ain =
                    if l == 1 { (v, Op::new(b0 * d, d, 1), true) } else { (&a.zdot[l - 1], Op::new(0, k, 1), true) };
                let (aux0, out01) =
                    if last { (&a.c[l], [&a.adot[l], dm]) } else { (&a.s1[l], [&a.zdot[l], &a.adot[l]]) };
                self.layer(LayerCall {
                    epi: Epilogue::Vtg,
                    flags: if last { F_LASTT } else { 0 },
                    square_b: false,
                    m: n,
                    n: h,
                    k,
                    a: ain,
                    b: (&self.theta, Op::new(self.offsets[l - 1].w, k, 1), true),
                    aux: [aux0, &a.s2[l]],
                    out: [out01[0], out01[1], &a.e[l], &a.gbar[l]],
                    o_off: 0,
                    o_ld: h,
                    e_off: 0,
                    e_off2: 0,
                })?;
            }
            // The tangent in reverse (set 0).
            for l in (1..l_max).rev() {
                let (h, h_next) = (dims[l], dims[l + 1]);
                let ach = (&a.adot[l + 1], Op::new(0, 1, h_next), false);
                let zd = (&a.zdot[l], Op::new(0, 1, h), false);
                self.grad(self.sum_call(ach, false, zd, false, weights, (part, 0, len), h_next, h, n, b0, l + 1))?;
                self.layer(LayerCall {
                    epi: Epilogue::Vrev,
                    flags: 0,
                    square_b: false,
                    m: n,
                    n: h,
                    k: h_next,
                    a: (&a.adot[l + 1], Op::new(0, h_next, 1), true),
                    b: (&self.theta, Op::new(self.offsets[l].w, 1, h), false),
                    aux: [&a.s1[l], &a.s2[l]],
                    out: [&a.adot[l], &a.e[l], &a.c[l], dm],
                    o_off: 0,
                    o_ld: h,
                    e_off: 0,
                    e_off2: 0,
                })?;
            }
            let ach = (&a.adot[1], Op::new(0, 1, dims[1]), false);
            let vop = (v, Op::new(b0 * d, 1, d), false);
            self.grad(self.sum_call(ach, false, vop, false, weights, (part, 0, len), dims[1], d, n, b0, 1))?;
            // The backward pass's adjoint (set 1) and the forward adjoint (set 2).
            self.seeded_adjoint(None, 2, n, &a)?;
            self.gbar_sums((dm, Op::new(0, 0, 0), false), 2, &a.delta, &a.gbar, weights, b0, n, (part, rows, len))?;
            self.forward_adjoint(x, weights, b0, n, &a.z, &a.s1, &a.e, (part, 2 * rows, len))
        })
    }

    fn check_pair(&self, x: &Handle, v: &Handle, batch: usize) -> Result<()> {
        if batch == 0 {
            return Err(KernelError::Model(EbmError::EmptyBatch { what: "x" }));
        }
        Self::need(x, "x", batch * self.shape.d)?;
        Self::need(v, "v", batch * self.shape.d)?;
        super::run::check_index_range(batch * self.shape.max_width(), "vᵀ∇ₓ²E v")
    }
}
