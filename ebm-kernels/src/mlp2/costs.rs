//! The launch lists of the second-order and sampling ops of
//! [`super::plan::launches`] — score-matching gradient
//! ([`super::sm`]), vᵀ∇ₓ²E v and its gradient ([`super::vhv`]), one
//! ULA or MALA step ([`super::langevin`]) — with the same conventions:
//! loop iterations per invocation, FLOPs per sample (multiply-add = 2),
//! compulsory floats per sample (each per-sample array read or written
//! once per use; partial rows P/S floats per sample per set).

use super::plan::{
    accept_loops, grad_loops, jac_loops, jgrad_loops, layer_loops, loss_loops, out_dot_loops, seg_loops, w1_sum_loops,
    LaunchCost, Op, Shape, Tiles,
};

/// M of a batch-sized product (registers along M).
const BIG: usize = 1 << 20;

struct List<'a> {
    v: Vec<LaunchCost>,
    dims: Vec<usize>,
    tiles: &'a Tiles,
}

impl List<'_> {
    fn push(&mut self, name: String, loops: u64, flops: f64, floats: f64) {
        self.v.push(LaunchCost { name, loops, flops, bytes: 4.0 * floats });
    }

    /// A product over the batch: M = samples, N = `n`, contraction `k`.
    fn product(&mut self, name: String, k: usize, n: usize, extra_flops: f64, floats: f64) {
        let t = self.tiles.for_mn(BIG, n);
        self.push(name, layer_loops(k, &t), 2.0 * (k * n) as f64 + extra_flops, floats);
    }

    /// A batch sum into partial rows: M = `m`, N = `n` (+1 with the bias).
    fn sum(&mut self, name: String, m: usize, n: usize, bias: bool) {
        let cols = n + usize::from(bias);
        let s = self.tiles.slab as f64;
        let gl = grad_loops(self.tiles);
        self.push(name, gl, 2.0 * (m * cols) as f64, (m + n + 1) as f64 + (m * cols) as f64 / s);
    }

    /// Floats per sample of `sets` sets of partial rows of `len` floats.
    fn rows_floats(&self, sets: usize, len: usize) -> f64 {
        (sets * len) as f64 / self.tiles.slab as f64
    }

    /// The zero fill of the partial rows.
    fn zero(&mut self, sets: usize, len: usize) {
        let f = self.rows_floats(sets, len);
        self.push("zero".into(), 0, 0.0, f);
    }

    /// The pairwise reduction (passes of 4 → 1 rows, counted as one entry).
    fn reduce(&mut self, sets: usize, len: usize) {
        let f = self.rows_floats(sets, len);
        self.push("reduce".into(), 0, f * 4.0 / 3.0 * 0.25, f * 4.0 / 3.0 * 1.25);
    }

    /// The forward pass keeping z, σ′, σ″, σ‴ (`s3`) at every layer.
    fn forward(&mut self, derivs: usize) {
        for l in 1..self.dims.len() {
            let (k, h) = (self.dims[l - 1], self.dims[l]);
            self.product(format!("fwd l={l}"), k, h, 0.0, (k + h * (1 + derivs)) as f64);
        }
    }

    /// The backward pass of `second`: δ_l, c_l, e_l from the
    /// output layer down.
    fn backward2(&mut self) {
        let l_max = self.dims.len() - 1;
        let hl = self.dims[l_max];
        self.product("bwd l=out".into(), 1, hl, 0.0, 6.0 * hl as f64);
        for l in (2..=l_max).rev() {
            let (k, n) = (self.dims[l], self.dims[l - 1]);
            self.product(format!("bwd l={l}"), k, n, 0.0, (k + 6 * n) as f64);
        }
    }

    /// `second`'s seeded adjoint for l = l0..L and its sums, then
    /// the forward adjoint and its sums.
    fn adjoints(&mut self, l0: usize) {
        let l_max = self.dims.len() - 1;
        for l in l0..=l_max {
            let (k, h) = (self.dims[l - 1], self.dims[l]);
            self.product(format!("adjb l={l}"), k, h, 0.0, (k + 6 * h) as f64);
        }
        for l in l0..=l_max + 1 {
            let (m, n) = (if l <= l_max { self.dims[l] } else { 1 }, self.dims[l - 1]);
            self.sum(format!("grad1 l={l}"), m, n, false);
        }
        for l in (1..l_max).rev() {
            let (h, k) = (self.dims[l], self.dims[l + 1]);
            self.product(format!("adj l={l}"), k, h, 0.0, (k + 3 * h) as f64);
        }
        for l in 1..=l_max {
            self.sum(format!("grad2 l={l}"), self.dims[l], self.dims[l - 1], true);
        }
    }
}

/// The launches of one chunk of a second-order or sampling op (one
/// Hessian sub-chunk; one step for ULA and MALA); `None` for the ops of
/// [`super::plan::launches`] itself.
pub(super) fn launches(shape: &Shape, tiles: &Tiles, op: Op) -> Option<Vec<LaunchCost>> {
    let dims = shape.dims();
    let l_max = shape.depth();
    let d = shape.d;
    let fd = d as f64;
    let mut v = List { v: Vec::new(), dims: dims.clone(), tiles };
    let p = shape.n_params();
    let row = |len: usize| len.div_ceil(4) * 4;
    match op {
        Op::GradSm => {
            let s = tiles.slab;
            v.zero(3, row(p + 1));
            v.forward(3);
            v.backward2();
            let h1 = dims[1];
            v.product("bwd l=1".into(), h1, d, 0.0, (h1 + d) as f64);
            v.product("hess l=1".into(), h1, d, 0.0, (h1 + d) as f64);
            for l in 1..l_max {
                let (k, m) = (dims[l], dims[l + 1]);
                let t = tiles.for_mn(m, BIG);
                let src = if l == 1 { 0.0 } else { (k * d) as f64 };
                let floats = (k + m + 2 * d) as f64 + src + (m * d) as f64;
                v.push(format!("jac l={}", l + 1), jac_loops(m, k, &t), 2.0 * (m * k * d) as f64, floats);
            }
            for l in 1..=l_max {
                let h = dims[l];
                let last = l == l_max && l_max >= 2;
                let j = if l >= 2 { (h * d) as f64 } else { 0.0 };
                let flops = 2.0 * (h * d) as f64 + if last { (h * d) as f64 } else { 0.0 };
                v.push(
                    format!("seed l={l}"),
                    seg_loops(d),
                    flops,
                    j * (1.0 + f64::from(u8::from(last))) + 5.0 * h as f64,
                );
            }
            for l in (1..l_max).rev() {
                let (h, hn) = (dims[l], dims[l + 1]);
                let j = if l >= 2 { (h * d) as f64 } else { 0.0 };
                let t = tiles.for_mn(hn, h);
                let floats = (hn * d) as f64 + j + h as f64 + 1.0 + 2.0 * (hn * h) as f64 / s as f64;
                v.push(format!("jgrad l={}", l + 1), jgrad_loops(s, d, &t), 2.0 * (hn * h * d) as f64, floats);
                let t = tiles.for_mn(h, BIG);
                let floats = ((hn + h) * d) as f64;
                v.push(format!("pbar l={l}"), layer_loops(hn, &t), 2.0 * (h * hn * d) as f64, floats);
                let flops = 2.0 * (h * d) as f64 + if l >= 2 { 3.0 * (h * d) as f64 } else { 0.0 };
                v.push(format!("segp l={l}"), seg_loops(d), flops, (h * d) as f64 + 2.0 * j + 5.0 * h as f64);
            }
            let hp = l_max >= 2;
            let p_floats = if hp { (h1 * d) as f64 } else { 0.0 };
            let flops = (2 + if hp { 3 } else { 0 }) as f64 * (h1 * d) as f64;
            let floats = p_floats + 2.0 * h1 as f64 + 1.0 + 2.0 * (h1 * d) as f64 / s as f64;
            v.push("w1sum".into(), w1_sum_loops(s), flops, floats);
            v.push("loss".into(), loss_loops(s, d), 4.0 * fd, 2.0 * fd + 1.0);
            v.adjoints(1);
            v.reduce(3, row(p + 1));
        }
        Op::VHessV => {
            // Forward keeping σ′, σ″ (δ_L, c_L at the last layer).
            v.forward(2);
            for l in (2..=l_max).rev() {
                let (k, n) = (dims[l], dims[l - 1]);
                v.product(format!("bwd l={l}"), k, n, 0.0, (k + 4 * n) as f64);
            }
            for l in 1..=l_max {
                let (k, h) = (dims[l - 1], dims[l]);
                let zd = if l < l_max { 2 * h } else { 0 };
                v.product(format!("vt l={l}"), k, h, 3.0 * h as f64, (k + zd + 2 * h) as f64);
                v.push(format!("rowsum l={l}"), out_dot_loops(h), h as f64, h as f64 + 2.0);
            }
        }
        Op::GradVHessV => {
            v.zero(3, row(p));
            v.forward(3);
            v.backward2();
            for l in 1..=l_max {
                let (k, h) = (dims[l - 1], dims[l]);
                v.product(format!("vtg l={l}"), k, h, 5.0 * h as f64, (k + 7 * h) as f64);
            }
            for l in (1..l_max).rev() {
                let (h, hn) = (dims[l], dims[l + 1]);
                v.sum(format!("grad0 l={}", l + 1), hn, h, false);
                v.product(format!("vrev l={l}"), hn, h, 5.0 * h as f64, (hn + 7 * h) as f64);
            }
            v.sum("grad0 l=1".into(), dims[1], d, false);
            v.adjoints(2);
            v.reduce(3, row(p));
        }
        Op::Ula | Op::Mala => {
            let mala = op == Op::Mala;
            if mala {
                v.push("propose".into(), 0, 4.0 * fd + 10.0 * fd, 3.0 * fd);
            }
            for l in 1..=l_max {
                let (k, h) = (dims[l - 1], dims[l]);
                let kept = if l < l_max { 1 } else { 2 };
                v.product(format!("fwd l={l}"), k, h, 0.0, (k + h * (1 + kept)) as f64);
            }
            if mala {
                let h = dims[l_max];
                v.push("out_dot".into(), out_dot_loops(h), 2.0 * h as f64, h as f64 + 1.0);
            }
            for l in (1..=l_max).rev() {
                let (n, k) = (dims[l - 1], dims[l]);
                let floats = if l == 1 { k + n } else { k + 2 * n };
                v.product(format!("bwd l={l}"), k, n, 0.0, floats as f64);
            }
            if mala {
                v.push("accept".into(), accept_loops(d), 8.0 * fd + 10.0, 7.0 * fd + 4.0);
            } else {
                v.push("update".into(), 0, 4.0 * fd + 10.0 * fd, 3.0 * fd);
            }
        }
        _ => return None,
    }
    Some(v.v)
}
