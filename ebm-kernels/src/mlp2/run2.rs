//! Host-side launch helpers of the second-order kernels ([`super::seg`],
//! [`super::jsum`]): tile and grid choice, the loop-budget check of
//! [`super::plan`], and the launch count.

use super::jsum::{jac_wgrad_kernel, w1_sum_kernel, JgArgsLaunch, JgCfg, W1ArgsLaunch};
use super::plan::{jgrad_loops, loss_loops, seg_loops, w1_sum_loops};
use super::run::{buf, SumTo};
use super::seg::{loss_kernel, rowsum_kernel, seed_q_kernel, seg_p_kernel, LossArgsLaunch, SegArgsLaunch};
use super::Mlp2;
use crate::error::Result;
use cubecl::prelude::*;
use cubecl::server::Handle;

/// Where the rows of a segment launch live: J_l(u, (b, i)) at
/// `src[off + u·sk + b·sb + i]` for the `ns` samples of a sub-chunk, and
/// the per-unit arrays of sample b at `r_off + b·h + u`.
#[derive(Clone, Copy)]
pub(super) struct Seg<'a> {
    pub src: &'a Handle,
    pub off: usize,
    pub sk: usize,
    pub sb: usize,
    pub ns: usize,
    pub h: usize,
    pub r_off: usize,
}

/// One launch of [`jac_wgrad_kernel()`](super::jsum::jac_wgrad_kernel).
pub(super) struct JgCall<'a> {
    pub jbar: &'a Handle,
    pub src: Seg<'a>,
    pub s1: &'a Handle,
    /// H_{l+1}.
    pub m: usize,
    pub s0: usize,
    pub to: SumTo<'a>,
}

/// Slabs of S samples that meet samples s0..s0+ns of a chunk.
fn slabs(s0: usize, ns: usize, slab: usize) -> usize {
    (s0 + ns - 1) / slab - s0 / slab + 1
}

impl Mlp2 {
    fn seg_args(&self, g: &Seg<'_>, p_ld: usize) -> SegArgsLaunch {
        let a = |v: usize| v as u32;
        SegArgsLaunch::new(a(g.ns), a(self.shape.d), a(g.h), a(g.off), a(g.sk), a(g.sb), a(g.r_off), a(p_ld))
    }

    fn seg_grid(&self, g: &Seg<'_>, what: &str) -> Result<CubeCount> {
        self.check_loops(seg_loops(self.shape.d), what)?;
        self.groups(g.ns.div_ceil(16), g.h, 1, what)
    }

    /// q_l and its seeds ([`super::seg::seed_q_kernel()`]).
    pub(super) fn seed_q(
        &self,
        g: Seg<'_>,
        s2: &Handle,
        c: &Handle,
        e: &Handle,
        gbar: &Handle,
        last: bool,
    ) -> Result<()> {
        let count = self.seg_grid(&g, "q seeds")?;
        seed_q_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(g.src, 1),
            buf(s2, 1),
            buf(c, 1),
            buf(e, 1),
            buf(gbar, 1),
            self.seg_args(&g, 0),
            last,
        );
        self.counted();
        Ok(())
    }

    /// The Jacobian terms of ā_l and J̄_l ([`super::seg::seg_p_kernel()`]);
    /// `pbar` is H_l × ns·d.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn seg_p(
        &self,
        g: Seg<'_>,
        pbar: &Handle,
        s1: &Handle,
        s2: &Handle,
        c: &Handle,
        abar: &Handle,
        write_jbar: bool,
    ) -> Result<()> {
        let count = self.seg_grid(&g, "P̄ segments")?;
        seg_p_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(pbar, 1),
            buf(g.src, 1),
            buf(s1, 1),
            buf(s2, 1),
            buf(c, 1),
            buf(abar, 1),
            self.seg_args(&g, g.ns * self.shape.d),
            write_jbar,
        );
        self.counted();
        Ok(())
    }

    /// `q[q_off + b]` (+)= Σ_u t[b, u] for the n rows of `t` (n × h).
    pub(super) fn rowsum(&self, t: &Handle, q: &Handle, n: usize, h: usize, q_off: usize, acc: bool) -> Result<()> {
        self.check_loops(super::plan::out_dot_loops(h), "row sum")?;
        let count = self.groups(n.div_ceil(16), 1, 1, "row sum")?;
        rowsum_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(t, 1),
            buf(q, 1),
            n as u32,
            h as u32,
            q_off as u32,
            u32::from(acc),
        );
        self.counted();
        Ok(())
    }

    /// The weighted loss of the chunk's n samples into slot `slot` of the
    /// partial rows `row0..` (one per slab).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn loss(
        &self,
        g0: &Handle,
        hess: &Handle,
        w: &Handle,
        part: &Handle,
        n: usize,
        w_off: usize,
        row0: usize,
        row_ld: usize,
        slot: usize,
    ) -> Result<()> {
        let slab = self.tiles.slab;
        self.check_loops(loss_loops(slab, self.shape.d), "loss")?;
        let count = self.groups(n.div_ceil(slab), 1, 1, "loss")?;
        let a = |v: usize| v as u32;
        let args = LossArgsLaunch::new(a(n), a(self.shape.d), a(slab), a(w_off), a(row0), a(row_ld), a(slot));
        loss_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(g0, 1),
            buf(hess, 1),
            buf(w, 1),
            buf(part, 1),
            args,
        );
        self.counted();
        Ok(())
    }

    /// W̄_{l+1} += Σ w J̄_{l+1} P_lᵀ over the sub-chunk's columns.
    pub(super) fn jac_wgrad(&self, c: JgCall<'_>) -> Result<()> {
        let d = self.shape.d;
        let slab = self.tiles.slab;
        let n = c.src.h;
        let tile = self.tiles.for_mn(c.m, n);
        self.check_loops(jgrad_loops(slab, d, &tile), "Jacobian weight sum")?;
        let z = slabs(c.s0, c.src.ns, slab);
        let count = self.groups(n.div_ceil(tile.bn()), c.m.div_ceil(tile.bm()), z, "Jacobian weight sum")?;
        let a = |v: usize| v as u32;
        let args = JgArgsLaunch::new(
            a(c.m),
            a(n),
            a(d),
            a(c.s0),
            a(c.src.ns),
            a(slab),
            a(c.src.ns * d),
            a(c.src.off),
            a(c.src.sk),
            a(c.src.sb),
            a(c.src.r_off),
            a(n),
            a(c.to.w_off),
            a(c.to.row0),
            a(c.to.row_ld),
            a(c.to.t_w),
        );
        jac_wgrad_kernel::launch(
            self.dev.client(),
            count,
            Self::dim(&tile),
            buf(c.jbar, 1),
            buf(c.src.src, 1),
            buf(c.s1, 1),
            buf(c.to.w, 1),
            buf(c.to.part, 1),
            args,
            JgCfg { tile, flush: 16 },
        );
        self.counted();
        Ok(())
    }

    /// W̄₁ += Σ_b w_b J̄₁ over samples s0..s0+ns of the chunk (`pbar` = P̄₁
    /// when `Some`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn w1_sum(
        &self,
        pbar: Option<&Handle>,
        c1: &Handle,
        s1: &Handle,
        w: &Handle,
        part: &Handle,
        s0: usize,
        ns: usize,
        w_off: usize,
        row0: usize,
        row_ld: usize,
    ) -> Result<()> {
        let d = self.shape.d;
        let h1 = self.shape.hidden[0];
        let slab = self.tiles.slab;
        self.check_loops(w1_sum_loops(slab), "W₁ sum")?;
        let count = self.groups((h1 * d).div_ceil(256), 1, slabs(s0, ns, slab), "W₁ sum")?;
        let a = |v: usize| v as u32;
        let t_w = self.offsets[0].w;
        let args =
            W1ArgsLaunch::new(a(h1), a(d), a(s0), a(ns), a(slab), a(ns * d), a(w_off), a(t_w), a(row0), a(row_ld));
        w1_sum_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_1d(256),
            buf(&self.theta, 1),
            buf(pbar.unwrap_or(&self.dummy), 1),
            buf(c1, 1),
            buf(s1, 1),
            buf(w, 1),
            buf(part, 1),
            args,
            pbar.is_some(),
        );
        self.counted();
        Ok(())
    }
}
