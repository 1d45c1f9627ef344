//! Host-side launch helpers of [`super::Mlp2`]: one function per kernel,
//! each choosing the tile, checking the invocation's loop count against the
//! adapter's budget, sizing the grid and counting the launch.

use super::gemm::{vec4_ok, OperandLaunch, Tile};
use super::grad::{grad_kernel, reduce4_kernel, zero_kernel, GradArgsLaunch, GradCfg};
use super::hess::{jac_kernel, JacArgsLaunch, JacCfg};
use super::layer::{layer_kernel, out_dot_kernel, EpiBufsLaunch, Epilogue, LayerArgsLaunch, LayerCfg};
use super::plan::{grad_loops, jac_loops, layer_loops, out_dot_loops};
use super::Mlp2;
use crate::error::{KernelError, Result};
use cubecl::prelude::*;
use cubecl::server::Handle;
use std::sync::atomic::Ordering;

/// A buffer argument over all of `h` (f32, or vectors of `vec` f32).
pub(super) fn buf(h: &Handle, vec: usize) -> BufferArg {
    let len = (h.size_in_used() as usize / (4 * vec)).max(1);
    // SAFETY: the length is the handle's own size in elements.
    unsafe { BufferArg::from_raw_parts(h.clone(), len) }
}

/// An operand `x[off + i·s_mn + k·s_k]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Op {
    pub off: usize,
    pub s_mn: usize,
    pub s_k: usize,
}

impl Op {
    pub fn new(off: usize, s_mn: usize, s_k: usize) -> Self {
        Self { off, s_mn, s_k }
    }

    pub(super) fn launch(self) -> OperandLaunch {
        OperandLaunch::new(self.off as u32, self.s_mn as u32, self.s_k as u32)
    }
}

/// One per-layer product (see [`super::layer`]).
pub(super) struct LayerCall<'a> {
    pub epi: Epilogue,
    pub flags: u32,
    pub square_b: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: (&'a Handle, Op, bool),
    pub b: (&'a Handle, Op, bool),
    pub aux: [&'a Handle; 2],
    pub out: [&'a Handle; 4],
    pub o_off: usize,
    pub o_ld: usize,
    pub e_off: usize,
    pub e_off2: usize,
}

/// One Jacobian layer (see [`super::hess`]).
pub(super) struct JacCall<'a> {
    pub store: bool,
    pub src: &'a Handle,
    pub s1: &'a Handle,
    pub c: &'a Handle,
    pub hess: &'a Handle,
    pub jout: &'a Handle,
    pub wa: Op,
    /// m, n, k, d, src_off, src_sk, src_sb, s_off, s_ld, c_off, c_ld, h_off.
    pub args: [usize; 12],
}

/// One batch-sum product (see [`super::grad`]).
pub(super) struct GradCall<'a> {
    pub a: (&'a Handle, Op, bool),
    pub a_ones: bool,
    pub b: (&'a Handle, Op, bool),
    pub ones_col: bool,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub to: SumTo<'a>,
    /// Offset of b (m) in θ.
    pub t_b: usize,
}

/// Where a weighted batch sum goes ([`super::grad`], [`super::jsum`]):
/// sample k's weight at `w[w_off + k]`, slab s's partial row at
/// `part[(row0 + s)·row_ld ..]`, the weight matrix at `t_w` within the
/// row (θ layout).
#[derive(Clone, Copy)]
pub(super) struct SumTo<'a> {
    pub w: &'a Handle,
    pub part: &'a Handle,
    pub w_off: usize,
    pub row0: usize,
    pub row_ld: usize,
    pub t_w: usize,
}

impl Mlp2 {
    /// Refuses a launch whose invocations would run more loop iterations
    /// than 90% of the adapter's budget.
    pub(super) fn check_loops(&self, loops: u64, what: &str) -> Result<()> {
        if let Some(b) = self.dev.loop_budget() {
            if loops > b / 10 * 9 {
                return Err(KernelError::Unsupported(format!(
                    "mlp2 {what}: {loops} loop iterations per invocation exceed this adapter's budget of {b}"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn groups(&self, x: usize, y: usize, z: usize, what: &str) -> Result<CubeCount> {
        let max = (self.dev.info().limits.max_workgroups_per_dimension as usize).max(1);
        if x > max || y > max || z > max {
            return Err(KernelError::Unsupported(format!("mlp2 {what}: grid {x}×{y}×{z} exceeds {max} per dimension")));
        }
        Ok(CubeCount::Static(x.max(1) as u32, y.max(1) as u32, z.max(1) as u32))
    }

    pub(super) fn counted(&self) {
        self.launches.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn dim(tile: &Tile) -> CubeDim {
        CubeDim::new_2d(tile.tn as u32, tile.tm as u32)
    }

    /// A fresh device buffer of `n` f32 (at least one).
    pub(super) fn alloc(&self, n: usize) -> Handle {
        self.dev.client().empty(4 * n.max(1))
    }

    pub(super) fn layer(&self, c: LayerCall<'_>) -> Result<()> {
        if c.m == 0 || c.n == 0 {
            return Ok(());
        }
        let tile = self.tiles.for_mn(c.m, c.n);
        self.check_loops(layer_loops(c.k, &tile), "layer product")?;
        let count = self.groups(c.n.div_ceil(tile.bn()), c.m.div_ceil(tile.bm()), 1, "layer product")?;
        let a_width = self.a_width(&tile, &c.a, false, c.m, c.k);
        let a_vec4 = a_width == 4;
        let cfg = LayerCfg {
            tile,
            a_kc: c.a.2,
            b_kc: c.b.2,
            square_b: c.square_b,
            epi: c.epi,
            act: (c.epi == Epilogue::Fwd).then_some(self.act),
            a_vec4,
        };
        let args = LayerArgsLaunch::new(
            c.m as u32,
            c.n as u32,
            c.k as u32,
            c.o_off as u32,
            c.o_ld as u32,
            c.e_off as u32,
            c.e_off2 as u32,
            c.flags,
        );
        let [aux0, aux1] = c.aux.map(|h| buf(h, 1));
        let [out0, out1, out2, out3] = c.out.map(|h| buf(h, 1));
        layer_kernel::launch(
            self.dev.client(),
            count,
            Self::dim(&tile),
            a_width,
            buf(c.a.0, a_width),
            buf(c.b.0, 1),
            EpiBufsLaunch::new(aux0, aux1, out0, out1, out2, out3),
            c.a.1.launch(),
            c.b.1.launch(),
            args,
            cfg,
        );
        self.counted();
        Ok(())
    }

    /// The vector width A of a product is bound with: 4 where its staging
    /// can use 128-bit loads ([`vec4_ok`]) and they are on, counting the
    /// launch; else 1.
    fn a_width(&self, tile: &Tile, a: &(&Handle, Op, bool), ones: bool, m: usize, k: usize) -> usize {
        let (op, kc) = (a.1, a.2);
        if self.vec_loads && !ones && vec4_ok(tile, kc, op.off, op.s_mn, op.s_k, m, k) {
            self.vec_launches.fetch_add(1, Ordering::Relaxed);
            4
        } else {
            1
        }
    }

    /// Whether the layer products and batch sums may stage their A operand
    /// with 128-bit `Vector<f32, 4>` loads where the addresses allow
    /// ([`super::gemm::vec4_ok`]; on by default). Results are bit-identical
    /// either way; tests switch it off to compare the two paths.
    pub fn set_vector_loads(&mut self, on: bool) {
        self.vec_loads = on;
    }

    /// Products (layer products and batch sums) launched so far with
    /// 128-bit loads of A.
    pub fn vector_load_launches(&self) -> u64 {
        self.vec_launches.load(Ordering::Relaxed)
    }

    /// E[e_off + b] = z_L[b]·w_out + b_out for the `n` samples of `z`.
    pub(super) fn out_dot(&self, z: &Handle, n: usize, energy: &Handle, e_off: usize) -> Result<()> {
        let h = *self.shape.hidden.last().expect("depth ≥ 1");
        self.check_loops(out_dot_loops(h), "output layer")?;
        let count = self.groups(n.div_ceil(16), 1, 1, "output layer")?;
        let o = self.offsets[self.shape.depth()];
        out_dot_kernel::launch(
            self.dev.client(),
            count,
            CubeDim::new_2d(16, 16),
            buf(z, 1),
            buf(&self.theta, 1),
            buf(energy, 1),
            n as u32,
            h as u32,
            o.w as u32,
            e_off as u32,
        );
        self.counted();
        Ok(())
    }

    pub(super) fn jac(&self, c: JacCall<'_>) -> Result<()> {
        let [m, n, k, d, src_off, src_sk, src_sb, s_off, s_ld, c_off, c_ld, h_off] = c.args;
        if n == 0 {
            return Ok(());
        }
        let tile = self.tiles.for_mn(m, n);
        self.check_loops(jac_loops(m, k, &tile), "Jacobian layer")?;
        let count = self.groups(n.div_ceil(tile.bn()), 1, 1, "Jacobian layer")?;
        let a = |v: usize| v as u32;
        let args = JacArgsLaunch::new(
            a(m),
            a(n),
            a(k),
            a(d),
            a(src_off),
            a(src_sk),
            a(src_sb),
            a(s_off),
            a(s_ld),
            a(c_off),
            a(c_ld),
            a(h_off),
        );
        jac_kernel::launch(
            self.dev.client(),
            count,
            Self::dim(&tile),
            buf(&self.theta, 1),
            buf(c.src, 1),
            buf(c.s1, 1),
            buf(c.c, 1),
            buf(c.hess, 1),
            buf(c.jout, 1),
            c.wa.launch(),
            args,
            JacCfg { tile, store: c.store },
        );
        self.counted();
        Ok(())
    }

    pub(super) fn grad(&self, c: GradCall<'_>) -> Result<()> {
        let cols = c.n + usize::from(c.ones_col);
        let tile = self.tiles.for_mn(c.m, cols);
        self.check_loops(grad_loops(&self.tiles), "batch sum")?;
        let slabs = c.k.div_ceil(self.tiles.slab);
        let count = self.groups(cols.div_ceil(tile.bn()), c.m.div_ceil(tile.bm()), slabs, "batch sum")?;
        let a_width = self.a_width(&tile, &c.a, c.a_ones, c.m, c.k);
        let cfg = GradCfg {
            tile,
            a_kc: c.a.2,
            b_kc: c.b.2,
            a_ones: c.a_ones,
            ones_col: c.ones_col,
            slab: self.tiles.slab,
            a_vec4: a_width == 4,
        };
        let args = GradArgsLaunch::new(
            c.m as u32,
            c.n as u32,
            c.k as u32,
            c.to.w_off as u32,
            c.to.row0 as u32,
            c.to.row_ld as u32,
            c.to.t_w as u32,
            c.t_b as u32,
        );
        grad_kernel::launch(
            self.dev.client(),
            count,
            Self::dim(&tile),
            a_width,
            buf(c.a.0, a_width),
            buf(c.b.0, 1),
            buf(c.to.w, 1),
            buf(c.to.part, 1),
            c.a.1.launch(),
            c.b.1.launch(),
            args,
            cfg,
        );
        self.counted();
        Ok(())
    }

    /// `out[0..n)` ← 0 (`n` a multiple of 4).
    pub(super) fn zero(&self, out: &Handle, n: usize) -> Result<()> {
        let vecs = n / 4;
        let (count, dim) = crate::launch::grid(&self.dev, vecs)?;
        zero_kernel::launch(self.dev.client(), count, dim, 4, buf(out, 4), vecs as u32);
        self.counted();
        Ok(())
    }

    /// Sums `rows` rows of `len` floats (a multiple of 4) of `src` pairwise
    /// (passes of 4 → 1, [`super::grad`]) into row `dst_row` of `dst`.
    pub(super) fn reduce_rows(
        &self,
        src: &Handle,
        rows: usize,
        len: usize,
        dst: &Handle,
        dst_row: usize,
    ) -> Result<()> {
        debug_assert!(len.is_multiple_of(4));
        let vecs = len / 4;
        let mut cur = src.clone();
        let mut r = rows.max(1);
        loop {
            let out_rows = r.div_ceil(4);
            let last = out_rows == 1;
            let (target, off) = if last { (dst.clone(), dst_row * vecs) } else { (self.alloc(out_rows * len), 0) };
            let (count, dim) = crate::launch::grid(&self.dev, out_rows * vecs)?;
            reduce4_kernel::launch(
                self.dev.client(),
                count,
                dim,
                4,
                buf(&cur, 4),
                buf(&target, 4),
                r as u32,
                vecs as u32,
                off as u32,
            );
            self.counted();
            if last {
                return Ok(());
            }
            cur = target;
            r = out_rows;
        }
    }
}

impl Mlp2 {
    /// A batch sum over chunks of `chunk` samples: `chunk_sums(part, b0, n,
    /// rows)` writes the `sets · rows` partial rows (`rows` = the chunk's
    /// slabs, `len` floats each) of samples b0..b0+n into `part`; each
    /// chunk's rows are summed pairwise into one row per chunk, then those
    /// rows into the total (`len` floats; [`super::grad`]).
    pub(super) fn batch_sums(
        &self,
        batch: usize,
        chunk: usize,
        sets: usize,
        len: usize,
        mut chunk_sums: impl FnMut(&Handle, usize, usize, usize) -> Result<()>,
    ) -> Result<Handle> {
        let chunks = batch.div_ceil(chunk);
        let out = self.alloc(len);
        let groups = if chunks > 1 { Some(self.alloc(chunks * len)) } else { None };
        let part = self.alloc(sets * chunk.min(batch).div_ceil(self.tiles.slab) * len);
        for g in 0..chunks {
            let b0 = g * chunk;
            let n = chunk.min(batch - b0);
            let rows = n.div_ceil(self.tiles.slab);
            chunk_sums(&part, b0, n, rows)?;
            match &groups {
                Some(gb) => self.reduce_rows(&part, sets * rows, len, gb, g)?,
                None => self.reduce_rows(&part, sets * rows, len, &out, 0)?,
            }
        }
        if let Some(gb) = &groups {
            self.reduce_rows(gb, chunks, len, &out, 0)?;
        }
        Ok(out)
    }
}

/// Rejects sizes whose indices would not fit the kernels' u32 arguments.
pub(super) fn check_index_range(floats: usize, what: &str) -> Result<()> {
    if floats >= (1usize << 31) {
        return Err(KernelError::Unsupported(format!("mlp2 {what}: {floats} values exceed 2³¹")));
    }
    Ok(())
}
