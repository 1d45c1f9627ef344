//! The launch sequences of one chunk of samples: forward, energy,
//! backward, Hessian diagonal, and the two parameter gradients
//! (notation of [`super::layer`]).

use super::layer::{Epilogue, F_C, F_LAST, F_LAST_C, F_S1, F_S2, F_SCORE};
use super::run::{GradCall, JacCall, LayerCall, Op, SumTo};
use super::Mlp2;
use crate::error::Result;
use cubecl::server::Handle;

/// What the forward pass keeps.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Keep {
    /// σ′(a_l) of the hidden layers l < L.
    pub s1: bool,
    /// σ″(a_l) of the hidden layers l < L.
    pub s2: bool,
    /// δ_L = w_out ⊙ σ′(a_L).
    pub delta_last: bool,
    /// c_L = w_out ⊙ σ″(a_L).
    pub c_last: bool,
    /// σ′(a_L).
    pub s1_last: bool,
}

/// Per-chunk activation buffers, indexed by layer 1..=L (index 0 is the
/// dummy). Each is chunk × H_l floats, row-major.
pub(super) struct Acts {
    pub z: Vec<Handle>,
    pub s1: Vec<Handle>,
    pub s2: Vec<Handle>,
    pub delta: Vec<Handle>,
    pub c: Vec<Handle>,
    /// vᵀ∇ₓE only: γ̄_l and ā_l.
    pub gbar: Vec<Handle>,
    pub abar: Vec<Handle>,
}

impl Mlp2 {
    /// Buffers for `n` samples: z always, the rest when `flags` says so
    /// (s1, s2, delta, c, tangent).
    pub(super) fn acts(&self, n: usize, keep: Keep, backward: bool, with_c: bool, tangent: bool) -> Acts {
        let per = |want: bool| self.per_layer(n, want);
        Acts {
            z: per(true),
            s1: per(keep.s1 || keep.s1_last),
            s2: per(keep.s2),
            delta: per(backward),
            c: per(with_c),
            gbar: per(tangent),
            abar: per(tangent),
        }
    }

    /// One buffer of `n` × H_l floats per layer l = 1..=L when `want`
    /// (index 0, and every index when not `want`, is the dummy).
    pub(super) fn per_layer(&self, n: usize, want: bool) -> Vec<Handle> {
        let dims = self.shape.dims();
        (0..dims.len()).map(|l| if want && l > 0 { self.alloc(n * dims[l]) } else { self.dummy.clone() }).collect()
    }

    /// The forward pass of samples b0..b0+n of `x`: z_l = σ(W_l z_{l−1} + b_l)
    /// and what `keep` asks for. L launches.
    pub(super) fn forward(&self, x: &Handle, b0: usize, n: usize, acts: &Acts, keep: Keep) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let d = self.shape.d;
        for l in 1..=l_max {
            let (k, h) = (dims[l - 1], dims[l]);
            let a = if l == 1 { (x, Op::new(b0 * d, d, 1), true) } else { (&acts.z[l - 1], Op::new(0, k, 1), true) };
            let o = self.offsets[l - 1];
            let last = l == l_max;
            let mut flags = 0;
            let out = if last {
                if keep.delta_last {
                    flags |= F_LAST;
                }
                if keep.c_last {
                    flags |= F_LAST_C;
                }
                if keep.s1_last {
                    flags |= F_S1;
                }
                [&acts.z[l], &acts.delta[l], &acts.c[l], &acts.s1[l]]
            } else {
                if keep.s1 {
                    flags |= F_S1;
                }
                if keep.s2 {
                    flags |= F_S2;
                }
                [&acts.z[l], &acts.s1[l], &acts.s2[l], &self.dummy]
            };
            let e_off2 = self.offsets[l_max].w;
            self.layer(LayerCall {
                epi: Epilogue::Fwd,
                flags,
                square_b: false,
                m: n,
                n: h,
                k,
                a,
                b: (&self.theta, Op::new(o.w, k, 1), true),
                aux: [&self.dummy, &self.dummy],
                out,
                o_off: 0,
                o_ld: h,
                e_off: o.b,
                e_off2,
            })?;
        }
        Ok(())
    }

    /// Γ_{l−1} = Δ_l W_l for l = L..2 (δ_{l−1} = γ⊙σ′, and c_{l−1} = γ⊙σ″ when
    /// `with_c`), then the score −γ₀ into `score` rows b0.. when given.
    /// L − 1 launches, plus one for the score.
    pub(super) fn backward(&self, n: usize, acts: &Acts, with_c: bool, score: Option<(&Handle, usize)>) -> Result<()> {
        let dims = self.shape.dims();
        let d = self.shape.d;
        for l in (1..=self.shape.depth()).rev() {
            let (h_prev, h) = (dims[l - 1], dims[l]);
            let o = self.offsets[l - 1];
            let b = (&self.theta, Op::new(o.w, 1, h_prev), false);
            let a = (&acts.delta[l], Op::new(0, h, 1), true);
            let dm = &self.dummy;
            let (flags, aux, out, o_off) = if l > 1 {
                let flags = if with_c { F_C } else { 0 };
                (flags, [&acts.s1[l - 1], &acts.s2[l - 1]], [&acts.delta[l - 1], &acts.c[l - 1], dm, dm], 0)
            } else if let Some((s, b0)) = score {
                (F_SCORE, [dm, dm], [s, dm, dm, dm], b0 * d)
            } else {
                continue;
            };
            self.layer(LayerCall {
                epi: Epilogue::Bwd,
                flags,
                square_b: false,
                m: n,
                n: h_prev,
                k: h,
                a,
                b,
                aux,
                out,
                o_off,
                o_ld: h_prev,
                e_off: 0,
                e_off2: 0,
            })?;
        }
        Ok(())
    }

    /// ∂²E/∂xᵢ² ← C₁·(W₁∘W₁) for the chunk's n samples (the layer-1
    /// term) into `hess` from `o_off`.
    pub(super) fn hess_first(&self, n: usize, c1: &Handle, hess: &Handle, o_off: usize) -> Result<()> {
        let d = self.shape.d;
        let h1 = self.shape.hidden[0];
        let dm = &self.dummy;
        self.layer(LayerCall {
            epi: Epilogue::Store,
            flags: 0,
            square_b: true,
            m: n,
            n: d,
            k: h1,
            a: (c1, Op::new(0, h1, 1), true),
            b: (&self.theta, Op::new(self.offsets[0].w, 1, d), false),
            aux: [dm, dm],
            out: [hess, dm, dm, dm],
            o_off,
            o_ld: d,
            e_off: 0,
            e_off2: 0,
        })
    }

    /// ∂²E/∂xᵢ² of the chunk into `hess` rows b0.. ([`super::hess`]): the
    /// layer-1 product, then per Hessian sub-chunk one Jacobian launch per
    /// layer 2..L.
    pub(super) fn hess(&self, n: usize, acts: &Acts, hess: &Handle, b0: usize) -> Result<()> {
        let dims = self.shape.dims();
        let d = self.shape.d;
        let l_max = self.shape.depth();
        let dm = &self.dummy;
        self.hess_first(n, &acts.c[1], hess, b0 * d)?;
        if l_max < 2 {
            return Ok(());
        }
        let w1 = self.offsets[0].w;
        let step = self.hess_chunk();
        let jmax = if l_max >= 3 { dims[2..l_max].iter().copied().max().unwrap_or(1) } else { 0 };
        let (mut jin, mut jout) = if jmax > 0 {
            (self.alloc(jmax * step * d), self.alloc(jmax * step * d))
        } else {
            (dm.clone(), dm.clone())
        };
        let mut s0 = 0;
        while s0 < n {
            let ns = step.min(n - s0);
            let cols = ns * d;
            for l in 1..l_max {
                let (k, m) = (dims[l], dims[l + 1]);
                let store = l + 1 < l_max;
                let first = l == 1;
                let (src, src_off, src_sk, src_sb) = if first { (&self.theta, w1, d, 0) } else { (&jin, 0, cols, d) };
                self.jac(JacCall {
                    store,
                    src,
                    s1: &acts.s1[l],
                    c: &acts.c[l + 1],
                    hess,
                    jout: if store { &jout } else { dm },
                    wa: Op::new(self.offsets[l].w, k, 1),
                    args: [m, cols, k, d, src_off, src_sk, src_sb, s0 * k, k, s0 * m, m, (b0 + s0) * d],
                })?;
                if store {
                    std::mem::swap(&mut jin, &mut jout);
                }
            }
            s0 += ns;
        }
        Ok(())
    }

    /// Set 0 of Σ w_b ∇θE for the chunk b0..b0+n into partial rows
    /// `row0..`: W_l, b_l (l = 1..L) and w_out, b_out. L + 1 launches.
    pub(super) fn grad_energy_sums(
        &self,
        x: &Handle,
        w: &Handle,
        b0: usize,
        n: usize,
        acts: &Acts,
        part: &Handle,
        row0: usize,
    ) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        for l in 1..=l_max + 1 {
            let (a, a_ones) = if l <= l_max {
                ((&acts.delta[l], Op::new(0, 1, dims[l]), false), false)
            } else {
                ((&self.dummy, Op::new(0, 0, 0), false), true)
            };
            let m = if l <= l_max { dims[l] } else { 1 };
            self.grad(self.sum_call(
                a,
                a_ones,
                self.input(x, &acts.z, l, b0),
                true,
                w,
                (part, row0, self.row_len()),
                m,
                dims[l - 1],
                n,
                b0,
                l,
            ))?;
        }
        Ok(())
    }

    /// The B operand Z_{l−1} of layer l (x for l = 1).
    pub(super) fn input<'a>(&'a self, x: &'a Handle, z: &'a [Handle], l: usize, b0: usize) -> (&'a Handle, Op, bool) {
        let d = self.shape.d;
        if l == 1 {
            (x, Op::new(b0 * d, 1, d), false)
        } else {
            let h = self.shape.dims()[l - 1];
            (&z[l - 1], Op::new(0, 1, h), false)
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn sum_call<'a>(
        &'a self,
        a: (&'a Handle, Op, bool),
        a_ones: bool,
        b: (&'a Handle, Op, bool),
        ones_col: bool,
        w: &'a Handle,
        (part, row0, row_ld): (&'a Handle, usize, usize),
        m: usize,
        n: usize,
        k: usize,
        b0: usize,
        l: usize,
    ) -> GradCall<'a> {
        let o = self.offsets[l - 1];
        let to = SumTo { w, part, w_off: b0, row0, row_ld, t_w: o.w };
        GradCall { a, a_ones, b, ones_col, m, n, k, to, t_b: o.b }
    }

    /// Σ w_b ∇θ(v_bᵀ∇ₓE) of the chunk (reverse over forward, `ebm_core`'s
    /// `grad_v_dot_grad_x`): tangent δ̄_l = W_l γ̄_{l−1} (γ̄₀ = v) with
    /// γ̄_l = σ′⊙δ̄_l and ā_l = c_l⊙δ̄_l; set 0 (rows row0..row0+R):
    /// W̄_l += Σ w δ_l ⊗ γ̄_{l−1}, w̄_out += Σ w γ̄_L; the forward adjoint
    /// ā_l += σ′⊙(Ā_{l+1}W_{l+1}); set 1 (rows row0+R..): W̄_l += Σ w ā_l ⊗ z_{l−1},
    /// b̄_l += Σ w ā_l. The partial rows must be zero beforehand.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn grad_vdx_sums(
        &self,
        x: &Handle,
        v: &Handle,
        w: &Handle,
        b0: usize,
        n: usize,
        acts: &Acts,
        part: &Handle,
        row0: usize,
        rows: usize,
    ) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let d = self.shape.d;
        let dm = &self.dummy;
        // Tangent.
        for l in 1..=l_max {
            let (k, h) = (dims[l - 1], dims[l]);
            let a = if l == 1 { (v, Op::new(b0 * d, d, 1), true) } else { (&acts.gbar[l - 1], Op::new(0, k, 1), true) };
            self.layer(LayerCall {
                epi: Epilogue::Tan,
                flags: 0,
                square_b: false,
                m: n,
                n: h,
                k,
                a,
                b: (&self.theta, Op::new(self.offsets[l - 1].w, k, 1), true),
                aux: [&acts.s1[l], &acts.c[l]],
                out: [&acts.gbar[l], &acts.abar[l], dm, dm],
                o_off: 0,
                o_ld: h,
                e_off: 0,
                e_off2: 0,
            })?;
        }
        // Set 0: Δ_lᵀ Γ̄_{l−1} and Σ γ̄_L.
        let g0 = (v, Op::new(b0 * d, 1, d), false);
        let rows0 = (part, row0, self.row_len());
        self.gbar_sums(g0, 1, &acts.delta, &acts.gbar, w, b0, n, rows0)?;
        // Forward adjoint and set 1: Ā_lᵀ [Z_{l−1} | 1].
        self.forward_adjoint(x, w, b0, n, &acts.z, &acts.s1, &acts.abar, (part, row0 + rows, self.row_len()))
    }

    /// Batch sums of the backward pass's adjoint into the partial rows
    /// `rows` = (buffer, first row, floats per row):
    /// W̄_l += Σ w Δ_lᵀ Γ̄_{l−1} for l = `l0`..L (Γ̄₀ is `g0`, B × d) and
    /// w̄_out += Σ w γ̄_L. L − l0 + 2 launches.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gbar_sums(
        &self,
        g0: (&Handle, Op, bool),
        l0: usize,
        delta: &[Handle],
        gbar: &[Handle],
        w: &Handle,
        b0: usize,
        n: usize,
        rows: (&Handle, usize, usize),
    ) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let dm = &self.dummy;
        for l in l0..=l_max + 1 {
            let (a, a_ones, m) = if l <= l_max {
                ((&delta[l], Op::new(0, 1, dims[l]), false), false, dims[l])
            } else {
                ((dm, Op::new(0, 0, 0), false), true, 1)
            };
            let bop = if l == 1 { g0 } else { (&gbar[l - 1], Op::new(0, 1, dims[l - 1]), false) };
            self.grad(self.sum_call(a, a_ones, bop, false, w, rows, m, dims[l - 1], n, b0, l))?;
        }
        Ok(())
    }

    /// The forward adjoint ā_l += σ′⊙(Ā_{l+1}W_{l+1}) (l = L−1..1, in place
    /// in `abar`), then W̄_l += Σ w ā_l ⊗ z_{l−1}, b̄_l += Σ w ā_l into the
    /// partial rows `rows` = (buffer, first row, floats per row) (l = 1..L).
    /// 2L − 1 launches.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_adjoint(
        &self,
        x: &Handle,
        w: &Handle,
        b0: usize,
        n: usize,
        z: &[Handle],
        s1: &[Handle],
        abar: &[Handle],
        rows: (&Handle, usize, usize),
    ) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let dm = &self.dummy;
        for l in (1..l_max).rev() {
            let (h, h_next) = (dims[l], dims[l + 1]);
            self.layer(LayerCall {
                epi: Epilogue::Adj,
                flags: 0,
                square_b: false,
                m: n,
                n: h,
                k: h_next,
                a: (&abar[l + 1], Op::new(0, h_next, 1), true),
                b: (&self.theta, Op::new(self.offsets[l].w, 1, h), false),
                aux: [&s1[l], dm],
                out: [&abar[l], dm, dm, dm],
                o_off: 0,
                o_ld: h,
                e_off: 0,
                e_off2: 0,
            })?;
        }
        for l in 1..=l_max {
            let a = (&abar[l], Op::new(0, 1, dims[l]), false);
            self.grad(self.sum_call(a, false, self.input(x, z, l, b0), true, w, rows, dims[l], dims[l - 1], n, b0, l))?;
        }
        Ok(())
    }
}
