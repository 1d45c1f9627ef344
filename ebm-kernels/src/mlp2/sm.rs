//! Σ_b w_b ∇θ𝒥(x_b) and Σ_b w_b 𝒥(x_b) for the exact score-matching
//! integrand 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12), the twin of
//! `ebm_core::mlp`'s `grad_sm` (reverse over forward through the
//! Jacobians; derivation in the module docs of `ebm_core::mlp`), with
//! every contraction a tiled product.
//!
//! Per chunk of samples (notation of [`super::layer`]; J_l = ∂a_l/∂x laid
//! out H_l × (ns·d) with column (b, i) = b·d + i, as in [`super::hess`];
//! P_l = σ′(a_l)⊙J_l; per-sample seeds are unweighted and w_b enters
//! every batch sum, as in [`super::grad`]):
//!
//! 1. forward with σ′, σ″, σ‴ and backward to δ_l, c_l = γ_l⊙σ″,
//!    e_l = γ_l⊙σ‴ and γ₀ = ∇ₓE (`second`); the layer-1 Hessian
//!    term C₁·(W₁∘W₁);
//! 2. per Hessian sub-chunk (ns samples), the Jacobian recursion forward:
//!    J_{l+1} = W_{l+1}P_l ([`super::hess::jac_kernel()`], which also adds
//!    Σ_u c J² to ∂²ᵢᵢE) kept for every layer; q_l = Σᵢ J_l² and the
//!    seeds c̄_l = −q_l: γ̄_l = σ″⊙c̄_l, ā_l = e_l⊙c̄_l, and
//!    J̄_L = −2c_L⊙J_L in place ([`super::seg::seed_q_kernel()`]);
//! 3. the recursion in reverse, l = L−1..1: W̄_{l+1} += Σ w J̄_{l+1}P_lᵀ
//!    ([`super::jsum::jac_wgrad_kernel()`], contraction over the slab's
//!    columns), P̄_l = W_{l+1}ᵀJ̄_{l+1} (a per-layer product,
//!    [`super::layer::Epilogue::Store`]), ā_l += σ″⊙Σᵢ P̄_l⊙J_l and
//!    J̄_l = −2c_l⊙J_l + σ′⊙P̄_l ([`super::seg::seg_p_kernel()`]); finally
//!    W̄₁ += Σ_b w J̄₁ ([`super::jsum::w1_sum_kernel()`]);
//! 4. the loss Σ_b w_b Σᵢ (½γ₀² − ∂²ᵢᵢE) of each slab into slot P of its
//!    partial row ([`super::seg::loss_kernel()`]);
//! 5. the backward pass's adjoint from γ̄₀ = γ₀ with the seeds of step 2
//!    (`Mlp2::seeded_adjoint`, [`super::layer::Epilogue::TanAcc`]) and its
//!    batch sums W̄_l += Σ w Δ_lᵀΓ̄_{l−1}, w̄_out += Σ w γ̄_L;
//! 6. the forward adjoint and W̄_l, b̄_l += Σ w Ā_lᵀ[Z_{l−1} | 1];
//! 7. the 3R partial rows (sets of steps 5, 6 and 3–4) summed pairwise
//!    ([`super::grad`]).
//!
//! # Launches, bytes, FLOPs and loops
//!
//! Per chunk with one Hessian sub-chunk: 11L + 1 launches plus
//! ⌈log₄ 3R⌉ pairwise passes (1 zero fill, L forward, L + 1 backward,
//! 1 Hessian layer-1 product, 5L − 3 Jacobian launches — L − 1 forward,
//! L seed, 3(L − 1) reverse, 1 W̄₁ — repeated per further sub-chunk, 1
//! loss, 2L + 1 backward adjoint, 2L − 1 forward adjoint). The exact list
//! with per-sample FLOPs and bytes is [`super::plan::launches`] of
//! [`super::plan::Op::GradSm`]; the three Jacobian products per layer
//! dominate, 6d·Σ_{l<L} H_l H_{l+1} FLOPs per sample (about three Hessian
//! diagonals). Largest loop count per invocation: the Jacobian layer's
//! ⌈H_{l+1}/BM⌉(⌈H_l/bk⌉ + 1) + 1, the weight sum's ⌈S·d/bk⌉ + 1, the
//! W̄₁ sum's S + 1 — none depends on B. At the bench shapes (default
//! tiles; [`super::plan::max_loop_count`] covers every op):
//!
//! | shape | MFLOP/sample | KiB/sample | max loops |
//! | --- | --- | --- | --- |
//! | d = 64, 256-256 | 25.9 | 465 | 1025 (weight sum) |
//! | d = 256, 256-256 | 101.6 | 1822 | 1025 |
//! | d = 16, 1024 | 0.40 | 260 | 65 |
//!
//! The sum over the batch has the bound of [`super::grad`], except that
//! the weight sums over columns run S·d terms per slab in blocks of 256
//! (bk·16) before adding the block sums.

use super::plan;
use super::run::{Op, SumTo};
use super::run2::{JgCall, Seg};
use super::second::Acts2;
use super::Mlp2;
use crate::error::{KernelError, Result};
use crate::launch::{read_f32, upload_f32};
use cubecl::server::Handle;
use ebm_core::{check_batch, EbmError};

/// The Jacobian buffers of one sub-chunk: J_l (l = 2..=L, index l) and
/// the two P̄/J̄ ping-pong buffers.
struct JacBufs {
    j: Vec<Handle>,
    x: [Handle; 2],
}

impl Mlp2 {
    /// `grad ← Σ_b w_b ∇θ𝒥(x_b)` and returns Σ_b w_b 𝒥(x_b), with
    /// 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12): one call of exact score
    /// matching, as `ebm_core`'s `sm_loss_grad_params`. Launches, bytes,
    /// FLOPs and loops: module docs of [`self`](super::sm).
    ///
    /// Errors: shapes, non-finite x or weights, ReLU (as the CPU twin:
    /// `EbmError::Activation`), device failures.
    pub fn grad_sm(&self, x: &[f32], weights: &[f32], grad: &mut [f32]) -> Result<f64> {
        let b = check_batch("x", x, self.shape.d)?;
        self.check_weighted(weights, grad, b)?;
        self.require_smooth("sm_loss_grad_params")?;
        let hx = upload_f32(&self.dev, x);
        let hw = upload_f32(&self.dev, weights);
        let g = read_f32(&self.dev, self.grad_sm_device(&hx, &hw, b)?, self.n_params + 1)?;
        grad.copy_from_slice(&g[..self.n_params]);
        Ok(g[self.n_params] as f64)
    }

    /// [`Mlp2::grad_sm`] on device buffers: returns a handle of
    /// P + 1 values rounded up to a multiple of 4 — ∇θ in the first P, the
    /// loss Σ_b w_b 𝒥(x_b) at index P.
    pub fn grad_sm_device(&self, x: &Handle, weights: &Handle, batch: usize) -> Result<Handle> {
        let d = self.shape.d;
        if batch == 0 {
            return Err(KernelError::Model(EbmError::EmptyBatch { what: "x" }));
        }
        Self::need(x, "x", batch * d)?;
        Self::need(weights, "weights", batch)?;
        self.require_smooth("sm_loss_grad_params")?;
        let sub_max = plan::sm_sub_chunk(&self.shape, &self.tiles, &self.limits);
        super::run::check_index_range(batch * self.shape.max_width(), "score matching")?;
        super::run::check_index_range(sub_max * d * self.shape.max_width(), "score matching")?;
        let len = plan::row_len(self.n_params + 1);
        let chunk = plan::sm_chunk(&self.shape, &self.tiles, &self.limits);
        let nmax = chunk.min(batch);
        let a = self.acts2(nmax, false);
        let (g0, hess) = (self.alloc(nmax * d), self.alloc(nmax * d));
        let sub = sub_max.min(nmax);
        let jb = self.jac_bufs(sub);
        self.batch_sums(batch, chunk, 3, len, |part, b0, n, rows| {
            self.zero(part, 3 * rows * len)?;
            self.forward2(x, b0, n, &a)?;
            self.backward2(n, &a, Some(&g0))?;
            self.hess_first(n, &a.c[1], &hess, 0)?;
            let mut s0 = 0;
            while s0 < n {
                let ns = sub.min(n - s0);
                self.sm_sweeps(weights, b0, s0, ns, &a, &hess, &jb, part, 2 * rows, len)?;
                s0 += ns;
            }
            self.loss(&g0, &hess, weights, part, n, b0, 2 * rows, len, self.n_params)?;
            self.seeded_adjoint(Some(&g0), 1, n, &a)?;
            self.gbar_sums((&g0, Op::new(0, 1, d), false), 1, &a.delta, &a.gbar, weights, b0, n, (part, 0, len))?;
            self.forward_adjoint(x, weights, b0, n, &a.z, &a.s1, &a.e, (part, rows, len))
        })
    }

    fn jac_bufs(&self, sub: usize) -> JacBufs {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let cols = sub * self.shape.d;
        let j = (0..=l_max).map(|l| if l >= 2 { self.alloc(dims[l] * cols) } else { self.dummy.clone() }).collect();
        let x = if l_max >= 2 {
            let h = self.shape.hidden[..l_max - 1].iter().copied().max().unwrap_or(1);
            [self.alloc(h * cols), self.alloc(h * cols)]
        } else {
            [self.dummy.clone(), self.dummy.clone()]
        };
        JacBufs { j, x }
    }

    /// J_l of sub-chunk sample b, column i: W₁ for l = 1, else `jb.j[l]`.
    fn jac_src<'a>(&'a self, jb: &'a JacBufs, l: usize, s0: usize, ns: usize) -> Seg<'a> {
        let d = self.shape.d;
        let h = self.shape.dims()[l];
        let (src, off, sk, sb) = if l == 1 { (&self.theta, self.offsets[0].w, d, 0) } else { (&jb.j[l], 0, ns * d, d) };
        Seg { src, off, sk, sb, ns, h, r_off: s0 * h }
    }

    /// Steps 2–3 of the module docs for samples s0..s0+ns of the chunk
    /// (set-2 rows from `row0`).
    #[allow(clippy::too_many_arguments)]
    fn sm_sweeps(
        &self,
        w: &Handle,
        b0: usize,
        s0: usize,
        ns: usize,
        a: &Acts2,
        hess: &Handle,
        jb: &JacBufs,
        part: &Handle,
        row0: usize,
        row_ld: usize,
    ) -> Result<()> {
        let dims = self.shape.dims();
        let d = self.shape.d;
        let l_max = self.shape.depth();
        let cols = ns * d;
        let dm = &self.dummy;
        // Forward: J_{l+1} = W_{l+1}(σ′⊙J_l), and ∂²E/∂xᵢ² += Σ_u c J².
        for l in 1..l_max {
            let (k, m) = (dims[l], dims[l + 1]);
            let src = self.jac_src(jb, l, s0, ns);
            self.jac(super::run::JacCall {
                store: true,
                src: src.src,
                s1: &a.s1[l],
                c: &a.c[l + 1],
                hess,
                jout: &jb.j[l + 1],
                wa: Op::new(self.offsets[l].w, k, 1),
                args: [m, cols, k, d, src.off, src.sk, src.sb, s0 * k, k, s0 * m, m, s0 * d],
            })?;
        }
        // Seeds from q_l (and J̄_L in place).
        for l in 1..=l_max {
            let last = l == l_max && l_max >= 2;
            self.seed_q(self.jac_src(jb, l, s0, ns), &a.s2[l], &a.c[l], &a.e[l], &a.gbar[l], last)?;
        }
        // Reverse.
        let mut cur = &jb.j[l_max];
        let mut next = 0;
        for l in (1..l_max).rev() {
            let (h, h_next) = (dims[l], dims[l + 1]);
            let src = self.jac_src(jb, l, s0, ns);
            self.jac_wgrad(JgCall {
                jbar: cur,
                src,
                s1: &a.s1[l],
                m: h_next,
                s0,
                to: SumTo { w, part, w_off: b0 + s0, row0, row_ld, t_w: self.offsets[l].w },
            })?;
            let pbar = &jb.x[next];
            self.layer(super::run::LayerCall {
                epi: super::layer::Epilogue::Store,
                flags: 0,
                square_b: false,
                m: h,
                n: cols,
                k: h_next,
                a: (&self.theta, Op::new(self.offsets[l].w, 1, h), false),
                b: (cur, Op::new(0, 1, cols), false),
                aux: [dm, dm],
                out: [pbar, dm, dm, dm],
                o_off: 0,
                o_ld: cols,
                e_off: 0,
                e_off2: 0,
            })?;
            self.seg_p(src, pbar, &a.s1[l], &a.s2[l], &a.c[l], &a.e[l], l >= 2)?;
            cur = pbar;
            next = 1 - next;
        }
        let pbar = (l_max >= 2).then_some(cur);
        self.w1_sum(pbar, &a.c[1], &a.s1[1], w, part, s0, ns, b0, row0, row_ld)
    }
}
