//! Pure planning for the `mlp2` kernels: shapes, tile choice, chunk sizes,
//! and the cost model of every launch — loop iterations per invocation
//! (what Mesa's llvmpipe budgets, [`crate::probe`]), FLOPs per sample (a
//! multiply-add counts 2) and compulsory global-memory bytes per sample
//! (each per-sample activation array written once and read once per use;
//! θ, which every workgroup re-reads from cache, and the tiles' re-reads
//! of the same activation are not counted).
//!
//! The host code of [`super::Mlp2`] computes the loop count of each launch
//! with the same functions ([`layer_loops`], [`jac_loops`],
//! [`grad_loops`], [`out_dot_loops`]) and refuses a launch over the
//! adapter's budget, so [`max_loop_count`] is what a call can need.

use super::gemm::Tile;

/// An MLP's widths: input dimension d and hidden widths H₁..H_L.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Input dimension d.
    pub d: usize,
    /// Hidden widths H₁..H_L (L ≥ 1).
    pub hidden: Vec<usize>,
}

impl Shape {
    /// A shape from d and the hidden widths.
    pub fn new(d: usize, hidden: &[usize]) -> Self {
        Self { d, hidden: hidden.to_vec() }
    }

    /// `[d, H₁, …, H_L]`.
    pub fn dims(&self) -> Vec<usize> {
        let mut v = vec![self.d];
        v.extend_from_slice(&self.hidden);
        v
    }

    /// Depth L.
    pub fn depth(&self) -> usize {
        self.hidden.len()
    }

    /// Length of θ.
    pub fn n_params(&self) -> usize {
        let dims = self.dims();
        dims.windows(2).map(|w| w[1] * (w[0] + 1)).sum::<usize>() + dims[dims.len() - 1] + 1
    }

    /// The widest of d and the hidden widths.
    pub fn max_width(&self) -> usize {
        self.dims().into_iter().max().unwrap_or(1)
    }
}

/// Tile sizes shared by every product (see [`super::gemm`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tiles {
    /// Threads along M.
    pub tm: usize,
    /// Threads along N.
    pub tn: usize,
    /// Register rows / columns per thread along a dimension longer than
    /// the thread count (1 otherwise, so narrow products waste no lanes).
    pub reg: usize,
    /// k values per shared-memory tile.
    pub bk: usize,
    /// Samples per slab of the batch sums ([`super::grad`]).
    pub slab: usize,
}

impl Default for Tiles {
    /// 16 × 16 threads, 4 × 4 registers (64 × 64 tiles), bk = 16, slabs of 64.
    fn default() -> Self {
        Self { tm: 16, tn: 16, reg: 4, bk: 16, slab: 64 }
    }
}

impl Tiles {
    /// The tile of an M × N product: `reg` registers along a dimension
    /// longer than its thread count, 1 along a shorter one.
    pub fn for_mn(&self, m: usize, n: usize) -> Tile {
        let rm = if m > self.tm { self.reg } else { 1 };
        let rn = if n > self.tn { self.reg } else { 1 };
        Tile { tm: self.tm, tn: self.tn, rm, rn, bk: self.bk }
    }

    /// Whether every tile this makes stages exactly (see [`Tile::valid`]),
    /// the thread rows form a power of two ≤ 16 (the Hessian's tree) and the
    /// slab is a multiple of bk.
    pub fn valid(&self) -> bool {
        [1, self.reg]
            .iter()
            .all(|&rm| [1, self.reg].iter().all(|&rn| Tile { tm: self.tm, tn: self.tn, rm, rn, bk: self.bk }.valid()))
            && self.tm.is_power_of_two()
            && self.tm <= 16
            && self.slab > 0
            && self.slab.is_multiple_of(self.bk)
    }
}

/// Loop iterations per invocation of the per-layer product with
/// contraction length `k` (the k-tile loop, counted with its exit test).
pub fn layer_loops(k: usize, tile: &Tile) -> u64 {
    k.div_ceil(tile.bk) as u64 + 1
}

/// Loop iterations per invocation of the output-layer dot product.
pub fn out_dot_loops(h: usize) -> u64 {
    h.div_ceil(16) as u64 + 1
}

/// Loop iterations per invocation of a Jacobian layer (H_{l+1} = `m`,
/// H_l = `k`): ⌈m/BM⌉ M-tiles of ⌈k/bk⌉ k tiles.
pub fn jac_loops(m: usize, k: usize, tile: &Tile) -> u64 {
    let mt = m.div_ceil(tile.bm()) as u64;
    mt * (k.div_ceil(tile.bk) as u64 + 1) + 1
}

/// Loop iterations per invocation of a batch-sum product: one slab.
pub fn grad_loops(tiles: &Tiles) -> u64 {
    (tiles.slab / tiles.bk) as u64 + 1
}

/// Loop iterations per invocation of a segment kernel ([`super::seg`]):
/// 16 lanes over d.
pub fn seg_loops(d: usize) -> u64 {
    d.div_ceil(16) as u64 + 1
}

/// Loop iterations per invocation of the Jacobian weight sum
/// ([`super::jsum::jac_wgrad_kernel()`]): the k tiles of a slab's S·d columns.
pub fn jgrad_loops(slab: usize, d: usize, tile: &Tile) -> u64 {
    (slab * d).div_ceil(tile.bk) as u64 + 1
}

/// Loop iterations per invocation of the W̄₁ sum ([`super::jsum::w1_sum_kernel()`]).
pub fn w1_sum_loops(slab: usize) -> u64 {
    slab as u64 + 1
}

/// Loop iterations per invocation of the score-matching loss
/// ([`super::seg::loss_kernel()`]).
pub fn loss_loops(slab: usize, d: usize) -> u64 {
    slab.div_ceil(16) as u64 * seg_loops(d) + 1
}

/// Loop iterations per invocation of MALA's accept test
/// ([`super::langevin::accept_kernel()`]): the norms, then the copy.
pub fn accept_loops(d: usize) -> u64 {
    2 * seg_loops(d)
}

/// What a call computes: the seam's operations ([`crate::Op`]), planned
/// here for one chunk; [`Op::Ula`] and [`Op::Mala`] are one step each, and
/// [`Op::Mala`] leaves out the evaluation at the start of a call
/// ([`Op::EnergyScore`]).
pub use crate::fallback::Op;

/// The cost of one launch of a call (per sample where it says so).
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchCost {
    /// Kernel and layer, e.g. `fwd l=2`.
    pub name: String,
    /// Loop iterations per invocation.
    pub loops: u64,
    /// FLOPs per sample (multiply-add = 2).
    pub flops: f64,
    /// Compulsory global-memory bytes per sample.
    pub bytes: f64,
}

/// The launches of one chunk of `op` (one call on a batch that fits one
/// chunk; the pairwise reduction of the gradients counts as one entry;
/// one step of ULA and MALA). The Jacobian layers of the Hessian and of
/// the score-matching gradient repeat per Hessian sub-chunk; the loop
/// count does not depend on the batch.
pub fn launches(shape: &Shape, tiles: &Tiles, op: Op) -> Vec<LaunchCost> {
    if let Some(v) = super::costs::launches(shape, tiles, op) {
        return v;
    }
    let dims = shape.dims();
    let l_max = shape.depth();
    let d = shape.d as f64;
    let big = 1 << 20; // M of a batch-sized product: registers along M
    let mut v = Vec::new();
    let mut push = |name: String, loops: u64, flops: f64, floats: f64| {
        v.push(LaunchCost { name, loops, flops, bytes: 4.0 * floats });
    };
    let grad = matches!(op, Op::GradEnergy | Op::GradVDotGradX);
    let vdx = op == Op::GradVDotGradX;
    let score = matches!(op, Op::EnergyScore | Op::HessDiag);
    let hess = op == Op::HessDiag;
    let backward = score || hess || grad;
    // Forward: read z_{l−1}, write z_l and the kept derivatives.
    for l in 1..=l_max {
        let (k, n) = (dims[l - 1], dims[l]);
        let kept = if !backward {
            0
        } else if l < l_max {
            1 + usize::from(hess || vdx)
        } else {
            1 + usize::from(hess || vdx) + usize::from(vdx)
        };
        let t = tiles.for_mn(big, n);
        push(format!("fwd l={l}"), layer_loops(k, &t), 2.0 * (k * n) as f64, (k + n * (1 + kept)) as f64);
    }
    if !grad {
        let h = dims[l_max];
        push("out_dot".into(), out_dot_loops(h), 2.0 * h as f64, h as f64 + 1.0);
    }
    // Backward: Γ_{l−1} = Δ_l W_l, l = L..2 (and l = 1 for the score).
    if backward {
        for l in (1..=l_max).rev() {
            if l == 1 && !score {
                continue;
            }
            let (n, k) = (dims[l - 1], dims[l]);
            let floats = if l == 1 { k + n } else { k + n * (2 + 2 * usize::from(hess || vdx)) };
            let t = tiles.for_mn(big, n);
            push(format!("bwd l={l}"), layer_loops(k, &t), 2.0 * (k * n) as f64, floats as f64);
        }
    }
    if hess {
        let h1 = dims[1];
        let t = tiles.for_mn(big, shape.d);
        push("hess l=1".into(), layer_loops(h1, &t), 2.0 * h1 as f64 * d, (h1 + shape.d) as f64);
        for l in 1..l_max {
            let (k, m) = (dims[l], dims[l + 1]);
            let t = tiles.for_mn(m, big);
            let src = if l == 1 { 0.0 } else { k as f64 * d };
            let store = if l + 1 < l_max { m as f64 * d } else { 0.0 };
            let floats = k as f64 + m as f64 + 2.0 * d + src + store;
            push(format!("jac l={}", l + 1), jac_loops(m, k, &t), 2.0 * (m * k) as f64 * d, floats);
        }
    }
    if grad {
        let p = shape.n_params() as f64;
        let sets = if vdx { 2.0 } else { 1.0 };
        let slab = tiles.slab as f64;
        if vdx {
            for l in 1..=l_max {
                let (k, n) = (dims[l - 1], dims[l]);
                let t = tiles.for_mn(big, n);
                let floats = k + n * 4;
                push(format!("tan l={l}"), layer_loops(k, &t), 2.0 * (k * n) as f64, floats as f64);
            }
            for l in (1..l_max).rev() {
                let (n, k) = (dims[l], dims[l + 1]);
                let t = tiles.for_mn(big, n);
                push(format!("adj l={l}"), layer_loops(k, &t), 2.0 * (k * n) as f64, (k + 3 * n) as f64);
            }
        }
        let gl = grad_loops(tiles);
        for set in 0..(sets as usize) {
            // ∇θE: every layer and the output layer with the bias column;
            // vᵀ∇ₓE: set 0 is Δ_lᵀΓ̄_{l−1} and Σ γ̄_L (no bias), set 1 is Ā_lᵀZ_{l−1}.
            let last = if set == 1 { l_max } else { l_max + 1 };
            for l in 1..=last {
                let (n, m) = (dims[l - 1], if l <= l_max { dims[l] } else { 1 });
                let ones = if set == 0 && vdx { 0 } else { 1 };
                let cols = n + ones;
                let floats = (m + n + 1) as f64 + (m * cols) as f64 / slab;
                push(format!("grad{set} l={l}"), gl, 2.0 * (m * cols) as f64, floats);
            }
        }
        // Zero fill (vdx), then passes of 4 → 1 rows: ≤ (1 + 1/4 + …)·(read + ¼ write).
        let rows_floats = sets * p / slab;
        if vdx {
            push("zero".into(), 0, 0.0, rows_floats);
        }
        push("reduce".into(), 0, rows_floats * 4.0 / 3.0 * 0.25, rows_floats * 4.0 / 3.0 * 1.25);
    }
    v
}

/// The largest loop count of one invocation over every launch of every op.
pub fn max_loop_count(shape: &Shape, tiles: &Tiles) -> u64 {
    Op::ALL.iter().flat_map(|&op| launches(shape, tiles, op)).map(|l| l.loops).max().unwrap_or(0)
}

/// FLOPs per sample of `op` (a multiply-add counts 2).
pub fn flops_per_sample(shape: &Shape, tiles: &Tiles, op: Op) -> f64 {
    launches(shape, tiles, op).iter().map(|l| l.flops).sum()
}

/// Compulsory global-memory bytes per sample of `op` (module docs).
pub fn bytes_per_sample(shape: &Shape, tiles: &Tiles, op: Op) -> f64 {
    launches(shape, tiles, op).iter().map(|l| l.bytes).sum()
}

/// Buffer-size limits that set the chunk sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest device buffer one call allocates, in bytes (default 64 MiB;
    /// lavapipe binds at most 128 MiB per storage buffer).
    pub max_buffer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_buffer_bytes: 64 << 20 }
    }
}

/// Largest workgroup count per grid dimension assumed (WebGPU's minimum).
pub const MAX_GROUPS: usize = 65_535;

/// Samples per forward/backward chunk: every per-layer buffer (chunk ×
/// width floats) fits the limit, and the grid's M dimension fits.
pub fn eval_chunk(shape: &Shape, tiles: &Tiles, lim: &Limits) -> usize {
    let per = 4 * shape.max_width();
    let n = (lim.max_buffer_bytes / per).max(1);
    n.min(MAX_GROUPS * tiles.tm)
}

/// Samples per Hessian chunk: J (H × chunk·d floats, two of them when
/// L ≥ 3) fits the limit, and the column grid fits.
pub fn hess_chunk(shape: &Shape, tiles: &Tiles, lim: &Limits) -> usize {
    let d = shape.d;
    let cols_max = MAX_GROUPS * tiles.tn;
    let mut n = (cols_max / d).max(1);
    if shape.depth() >= 3 {
        let h = shape.hidden[1..shape.depth() - 1].iter().copied().max().unwrap_or(1);
        n = n.min((lim.max_buffer_bytes / (4 * h * d)).max(1));
    }
    n.min(eval_chunk(shape, tiles, lim))
}

/// Floats per partial row: P rounded up to a multiple of 4.
pub fn row_len(n_params: usize) -> usize {
    n_params.div_ceil(4) * 4
}

/// Samples per gradient chunk: a whole number of slabs whose partial rows
/// (`sets` of them per slab) fit the limit, within the eval chunk.
pub fn grad_chunk(shape: &Shape, tiles: &Tiles, lim: &Limits, sets: usize) -> usize {
    grad_chunk_rows(shape, tiles, lim, sets * row_len(shape.n_params()))
}

/// Samples per chunk of the score-matching gradient: three sets of
/// partial rows of P + 1 floats (the loss in the last slot).
pub fn sm_chunk(shape: &Shape, tiles: &Tiles, lim: &Limits) -> usize {
    grad_chunk_rows(shape, tiles, lim, 3 * row_len(shape.n_params() + 1))
}

/// Samples per Jacobian sub-chunk of the score-matching gradient: every
/// Jacobian buffer (H_l × ns·d floats) fits the limit and the column grid
/// fits; a whole number of slabs when that is at least one slab.
pub fn sm_sub_chunk(shape: &Shape, tiles: &Tiles, lim: &Limits) -> usize {
    let d = shape.d;
    let mut n = (MAX_GROUPS * tiles.tn / d).max(1);
    if shape.depth() >= 2 {
        let h = shape.hidden.iter().copied().max().unwrap_or(1);
        n = n.min((lim.max_buffer_bytes / (4 * h * d)).max(1));
    }
    n = n.min(eval_chunk(shape, tiles, lim));
    if n >= tiles.slab {
        n - n % tiles.slab
    } else {
        n
    }
}

/// Samples per chunk whose partial rows (`floats` per slab) fit the limit:
/// a whole number of slabs, within the eval chunk.
fn grad_chunk_rows(shape: &Shape, tiles: &Tiles, lim: &Limits, floats: usize) -> usize {
    let row = 4 * floats;
    let rows = (lim.max_buffer_bytes / row).clamp(1, MAX_GROUPS);
    let by_eval = (eval_chunk(shape, tiles, lim) / tiles.slab).max(1);
    rows.min(by_eval) * tiles.slab
}
