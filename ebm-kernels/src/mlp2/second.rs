//! The passes that the second-order gradients ([`super::sm`],
//! [`super::vhv`]) share: a forward pass that keeps σ′, σ″ and σ‴ at every
//! layer, and a backward pass that starts with the output layer as a
//! product of contraction length 1 (Γ_L = 1·w_out), so that every layer,
//! the last included, gets δ_l = γ_l⊙σ′, c_l = γ_l⊙σ″ and e_l = γ_l⊙σ‴
//! from the same epilogue ([`super::layer::Epilogue::Bwd`] with `F_C | F_E3`).
//! The adjoint sweeps are [`Mlp2::gbar_sums`] and
//! [`Mlp2::forward_adjoint`] of [`super::passes`].

use super::layer::{Epilogue, F_C, F_E3, F_S1, F_S2, F_S3};
use super::run::{LayerCall, Op};
use super::Mlp2;
use crate::error::Result;
use cubecl::server::Handle;

/// Per-chunk buffers of the second-order passes, indexed by layer 1..=L
/// (index 0 is the dummy), each chunk × H_l floats, row-major.
pub(super) struct Acts2 {
    pub z: Vec<Handle>,
    pub s1: Vec<Handle>,
    pub s2: Vec<Handle>,
    /// σ‴, then e = γ⊙σ‴ (backward), then the seed of ā (and ā itself).
    pub e: Vec<Handle>,
    pub delta: Vec<Handle>,
    pub c: Vec<Handle>,
    /// γ̄_l (seeded with σ″⊙c̄_l).
    pub gbar: Vec<Handle>,
    /// vᵀ∇ₓ²E v only: ż_l and ȧ_l (then ǎ_l).
    pub zdot: Vec<Handle>,
    pub adot: Vec<Handle>,
}

impl Mlp2 {
    /// Buffers for `n` samples (ż, ȧ when `tangent`).
    pub(super) fn acts2(&self, n: usize, tangent: bool) -> Acts2 {
        let per = |want: bool| self.per_layer(n, want);
        Acts2 {
            z: per(true),
            s1: per(true),
            s2: per(true),
            e: per(true),
            delta: per(true),
            c: per(true),
            gbar: per(true),
            zdot: per(tangent),
            adot: per(tangent),
        }
    }

    /// z_l, σ′, σ″, σ‴ of samples b0..b0+n of `x` at every layer. L launches.
    pub(super) fn forward2(&self, x: &Handle, b0: usize, n: usize, a: &Acts2) -> Result<()> {
        let dims = self.shape.dims();
        let d = self.shape.d;
        for l in 1..=self.shape.depth() {
            let (k, h) = (dims[l - 1], dims[l]);
            let ain = if l == 1 { (x, Op::new(b0 * d, d, 1), true) } else { (&a.z[l - 1], Op::new(0, k, 1), true) };
            let o = self.offsets[l - 1];
            self.layer(LayerCall {
                epi: Epilogue::Fwd,
                flags: F_S1 | F_S2 | F_S3,
                square_b: false,
                m: n,
                n: h,
                k,
                a: ain,
                b: (&self.theta, Op::new(o.w, k, 1), true),
                aux: [&self.dummy, &self.dummy],
                out: [&a.z[l], &a.s1[l], &a.s2[l], &a.e[l]],
                o_off: 0,
                o_ld: h,
                e_off: o.b,
                e_off2: 0,
            })?;
        }
        Ok(())
    }

    /// δ_l, c_l and e_l = γ_l⊙σ‴ (in place of σ‴) for l = L..1: the output
    /// layer's product of contraction 1, then Γ_{l−1} = Δ_l W_l for
    /// l = L..2; then γ₀ = ∇ₓE into `gamma0` (n × d) when given.
    /// L launches (+1).
    pub(super) fn backward2(&self, n: usize, a: &Acts2, gamma0: Option<&Handle>) -> Result<()> {
        let dims = self.shape.dims();
        let l_max = self.shape.depth();
        let dm = &self.dummy;
        for l in (1..=l_max + 1).rev() {
            let h_prev = dims[l - 1];
            let (ain, bin, k) = if l > l_max {
                let w_out = self.offsets[l_max].w;
                ((&self.one, Op::new(0, 0, 0), true), (&self.theta, Op::new(w_out, 1, 0), false), 1)
            } else {
                let h = dims[l];
                (
                    (&a.delta[l], Op::new(0, h, 1), true),
                    (&self.theta, Op::new(self.offsets[l - 1].w, 1, h_prev), false),
                    h,
                )
            };
            let (epi, flags, aux, out) = if l > 1 {
                let j = l - 1;
                (Epilogue::Bwd, F_C | F_E3, [&a.s1[j], &a.s2[j]], [&a.delta[j], &a.c[j], &a.e[j], dm])
            } else if let Some(g) = gamma0 {
                (Epilogue::Store, 0, [dm, dm], [g, dm, dm, dm])
            } else {
                continue;
            };
            self.layer(LayerCall {
                epi,
                flags,
                square_b: false,
                m: n,
                n: h_prev,
                k,
                a: ain,
                b: bin,
                aux,
                out,
                o_off: 0,
                o_ld: h_prev,
                e_off: 0,
                e_off2: 0,
            })?;
        }
        Ok(())
    }

    /// The backward pass's adjoint with its seeds already in `gbar`
    /// (σ″⊙c̄_l) and `e` (e⊙c̄_l, the start of ā): for l = `l0`..L,
    /// δ̄_l = Γ̄_{l−1}W_lᵀ, γ̄_l += σ′⊙δ̄_l, ā_l += c_l⊙δ̄_l (Γ̄₀ = `g0`,
    /// n × d, when l0 = 1). L − l0 + 1 launches.
    pub(super) fn seeded_adjoint(&self, g0: Option<&Handle>, l0: usize, n: usize, a: &Acts2) -> Result<()> {
        let dims = self.shape.dims();
        let dm = &self.dummy;
        for l in l0..=self.shape.depth() {
            let (k, h) = (dims[l - 1], dims[l]);
            let ain = match (l, g0) {
                (1, Some(g)) => (g, Op::new(0, k, 1), true),
                _ => (&a.gbar[l - 1], Op::new(0, k, 1), true),
            };
            self.layer(LayerCall {
                epi: Epilogue::TanAcc,
                flags: 0,
                square_b: false,
                m: n,
                n: h,
                k,
                a: ain,
                b: (&self.theta, Op::new(self.offsets[l - 1].w, k, 1), true),
                aux: [&a.s1[l], &a.c[l]],
                out: [&a.gbar[l], &a.e[l], dm, dm],
                o_off: 0,
                o_ld: h,
                e_off: 0,
                e_off2: 0,
            })?;
        }
        Ok(())
    }
}
