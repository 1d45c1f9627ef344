//! Parameter gradients of E and of vᵀ∇ₓE (module docs of [`super`] for the
//! derivation), and the two reverse sweeps they share with the
//! score-matching gradient:
//!
//! - [`backward_adjoint`]: the adjoint of the backward pass, from γ̄₀ up to
//!   γ̄_L (δ̄_l = W_l γ̄_{l−1} is the forward tangent ȧ_l = J_l v);
//! - [`forward_adjoint`]: ā carried down through the forward pass.
//!
//! Every product is a GEMM over the chunk: W̄_l += Δ_lᵀ Γ̄_{l−1},
//! Δ̄_l = Γ̄_{l−1} W_lᵀ, W̄_l += Āᵀ Z_{l−1}.

use super::forward::{Fwd, Order};
use super::linalg::{acc_colsum, acc_dt_z, d_w, x_wt};
use super::par::{samples_per_chunk, sum_over_chunks, FWD_ROWS};
use super::Mlp;
use crate::real::Real;

/// Scratch of the reverse sweeps for up to `cap` samples (1-based by layer,
/// except `gbar` which starts at γ̄₀).
pub(super) struct Adj<T> {
    /// γ̄_l, l = 0..=L, n × dims[l].
    pub gbar: Vec<Vec<T>>,
    /// c̄_l (score matching only), n × H_l.
    pub cbar: Vec<Vec<T>>,
    /// ā_l, n × H_l.
    pub abar: Vec<Vec<T>>,
    tmp: Vec<T>,
}

impl<T: Real> Adj<T> {
    pub fn new(m: &Mlp<T>, cap: usize, with_c: bool) -> Self {
        let dims = m.dims();
        let l_max = m.depth();
        let layers = |keep: bool, from: usize| -> Vec<Vec<T>> {
            (0..=l_max).map(|l| if keep && l >= from { vec![T::zero(); cap * dims[l]] } else { Vec::new() }).collect()
        };
        Self {
            gbar: layers(true, 0),
            cbar: layers(with_c, 1),
            abar: layers(true, 1),
            tmp: vec![T::zero(); cap * m.max_width()],
        }
    }

    /// ā_l ← 0 for the first n samples of every layer.
    pub fn zero_abar(&mut self, m: &Mlp<T>, n: usize) {
        for l in 1..=m.depth() {
            self.abar[l][..n * m.dims()[l]].fill(T::zero());
        }
    }
}

/// The adjoint of the backward pass, given γ̄₀ in `adj.gbar[0]` (and c̄_l in
/// `adj.cbar` when `with_c`): for l = 1..=L,
/// δ̄_l = Γ̄_{l−1} W_lᵀ, W̄_l += Δ_lᵀ Γ̄_{l−1},
/// γ̄_l = σ′ ⊙ δ̄_l [+ σ″ ⊙ c̄_l], ā_l = γ_l ⊙ (σ″ ⊙ δ̄_l [+ σ‴ ⊙ c̄_l]),
/// then w̄_out += Σ_b γ̄_L. Adds these direct terms to `adj.abar` (which the
/// caller zeroes or has already filled with other direct terms).
pub(super) fn backward_adjoint<T: Real>(m: &Mlp<T>, fw: &Fwd<T>, adj: &mut Adj<T>, with_c: bool, g: &mut [T]) {
    let n = fw.n;
    let l_max = m.depth();
    let offs = m.layer_offsets();
    for l in 1..=l_max {
        let layer = m.layer(l);
        let o = offs[l - 1];
        let len = n * layer.out;
        let (lo, hi) = adj.gbar.split_at_mut(l);
        let gprev = &lo[l - 1][..n * layer.inp];
        let dbar = &mut adj.tmp[..len];
        x_wt(n, layer.inp, layer.out, gprev, layer.w, T::zero(), dbar);
        acc_dt_z(n, layer.out, layer.inp, &fw.delta[l][..len], gprev, &mut g[o.w..o.b]);
        let gbar = &mut hi[0][..len];
        let abar = &mut adj.abar[l][..len];
        let (s1, s2, gam) = (&fw.s1[l][..len], &fw.s2[l][..len], &fw.gamma[l][..len]);
        if with_c {
            let (s3, cbar) = (&fw.s3[l][..len], &adj.cbar[l][..len]);
            for k in 0..len {
                gbar[k] = s1[k] * dbar[k] + s2[k] * cbar[k];
                abar[k] += gam[k] * (s2[k] * dbar[k] + s3[k] * cbar[k]);
            }
        } else {
            for k in 0..len {
                gbar[k] = s1[k] * dbar[k];
                abar[k] += gam[k] * s2[k] * dbar[k];
            }
        }
    }
    let o = offs[l_max];
    acc_colsum(&adj.gbar[l_max][..n * o.inp], &mut g[o.w..o.b]);
}

/// ā carried down the forward pass, l = L..1:
/// ā_l += σ′(a_l) ⊙ Ā_{l+1} W_{l+1}, W̄_l += Ā_lᵀ Z_{l−1}, b̄_l += Σ_b ā_l,
/// with Z₀ = x.
pub(super) fn forward_adjoint<T: Real>(m: &Mlp<T>, fw: &Fwd<T>, adj: &mut Adj<T>, x: &[T], g: &mut [T]) {
    let n = fw.n;
    let l_max = m.depth();
    let offs = m.layer_offsets();
    for l in (1..=l_max).rev() {
        let layer = m.layer(l);
        let o = offs[l - 1];
        let len = n * layer.out;
        let (lo, hi) = adj.abar.split_at_mut(l + 1);
        let abar = &mut lo[l][..len];
        if l < l_max {
            let next = m.layer(l + 1);
            let tmp = &mut adj.tmp[..len];
            d_w(n, next.out, next.inp, &hi[0][..n * next.out], next.w, T::zero(), tmp);
            for ((a, &t), &s) in abar.iter_mut().zip(tmp.iter()).zip(&fw.s1[l][..len]) {
                *a += s * t;
            }
        }
        let input: &[T] = if l == 1 { x } else { &fw.z[l - 1][..n * layer.inp] };
        acc_dt_z(n, layer.out, layer.inp, abar, input, &mut g[o.w..o.b]);
        acc_colsum(abar, &mut g[o.b..o.b + o.out]);
    }
}

/// The per-sample weights of the ∇θE sum: given, or computed from each
/// sample's energy.
#[derive(Clone, Copy)]
pub(super) enum Weights<'a, T> {
    /// w, length B.
    Given(&'a [T]),
    /// w_b = f(b, E(x_b)).
    OfEnergy(&'a (dyn Fn(usize, T) -> T + Sync)),
}

/// `grad ← Σ_b w_b ∇_θ E(x_b)`.
pub(super) fn grad_energy<T: Real>(m: &Mlp<T>, x: &[T], weights: &[T], grad: &mut [T]) {
    let p = grad.len();
    let mut acc = vec![T::zero(); p + weights.len()];
    energy_sweeps(m, x, Weights::Given(weights), &mut acc);
    grad.copy_from_slice(&acc[..p]);
}

/// `energy ← E(x)` and `grad ← Σ_b f(b, E(x_b)) ∇_θ E(x_b)` in one pass:
/// the forward pass that the gradient needs gives E first.
pub(super) fn grad_energy_with<T: Real>(
    m: &Mlp<T>,
    x: &[T],
    weight: &(dyn Fn(usize, T) -> T + Sync),
    energy: &mut [T],
    grad: &mut [T],
) {
    let p = grad.len();
    let mut acc = vec![T::zero(); p + energy.len()];
    energy_sweeps(m, x, Weights::OfEnergy(weight), &mut acc);
    grad.copy_from_slice(&acc[..p]);
    energy.copy_from_slice(&acc[p..]);
}

/// Chunks whose largest |w_b| is below this (2⁻²⁰) accumulate through
/// [`rescaled`]: with weights that small, the products w_b·δ_l can fall
/// into the subnormal range, where every multiply-add of the gradient GEMM
/// costs a microcode assist (NCE from c = 0 at d = 64 puts the data-class
/// weights near e⁻⁹⁰: the pass took 170 ms instead of 10 ms).
const SMALL_WEIGHT: f64 = 1.0 / 1_048_576.0;

/// The largest power-of-two exponent [`rescaled`] scales weights by; 2¹⁰⁰
/// is far inside both precisions' range, and lifts even the smallest f32
/// subnormal (2⁻¹⁴⁹) to 2⁻⁴⁹.
const MAX_RESCALE: i32 = 100;

/// The chunked pass behind [`grad_energy`] and [`grad_energy_with`]. `acc`
/// is [gradient, E(x_0), …, E(x_{B−1})]: each chunk writes its own
/// energies into slots that are zero in every other chunk's buffer, so the
/// deterministic sum of [`sum_over_chunks`] carries them out exactly.
fn energy_sweeps<T: Real>(m: &Mlp<T>, x: &[T], weights: Weights<'_, T>, acc: &mut [T]) {
    let d = m.dim_in();
    let b = x.len() / d;
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    sum_over_chunks(
        b,
        n,
        acc,
        || (Fwd::new(m, n, Order::D1, true), vec![T::zero(); n], Vec::new()),
        |(fw, wbuf, scratch), r, g| {
            let (g, energies) = g.split_at_mut(g.len() - b);
            let xc = &x[r.start * d..r.end * d];
            fw.forward(m, xc);
            let w: &[T] = match weights {
                Weights::Given(w) => &w[r.clone()],
                Weights::OfEnergy(f) => {
                    let e = &mut energies[r.clone()];
                    fw.energy_into(m, e);
                    let wc = &mut wbuf[..r.len()];
                    for ((wj, &ej), j) in wc.iter_mut().zip(e.iter()).zip(r.clone()) {
                        *wj = f(j, ej);
                    }
                    wc
                }
            };
            fw.backward(m, false);
            let w_max = w.iter().fold(0.0f64, |a, &v| a.max(v.to_f64().abs()));
            if w_max >= SMALL_WEIGHT || w_max == 0.0 || !w_max.is_finite() {
                add_weighted(m, fw, xc, w, T::one(), g);
            } else {
                rescaled(m, fw, xc, w, w_max, scratch, g);
            }
        },
    );
}

/// `g += Σ_b (scale·w_b) ∇_θ E(x_b)` for the chunk held by `fw` (after its
/// backward pass; δ_l is overwritten by scale·w_b δ_l). `scale` is 1 or
/// [`rescaled`]'s power of two, so scale·w_b is exact.
fn add_weighted<T: Real>(m: &Mlp<T>, fw: &mut Fwd<T>, xc: &[T], w: &[T], scale: T, g: &mut [T]) {
    let l_max = m.depth();
    let offs = m.layer_offsets();
    for l in 1..=l_max {
        let layer = m.layer(l);
        let o = offs[l - 1];
        let delta = &mut fw.delta[l][..fw.n * layer.out];
        for (row, &wb) in delta.chunks_exact_mut(layer.out).zip(w) {
            let wb = scale * wb;
            row.iter_mut().for_each(|v| *v *= wb);
        }
        let input: &[T] = if l == 1 { xc } else { &fw.z[l - 1][..fw.n * layer.inp] };
        acc_dt_z(fw.n, layer.out, layer.inp, delta, input, &mut g[o.w..o.b]);
        acc_colsum(delta, &mut g[o.b..o.b + o.out]);
    }
    let o = offs[l_max];
    for (zb, &wb) in fw.z[l_max].chunks_exact(o.inp).zip(w) {
        let wb = scale * wb;
        for (gu, &z) in g[o.w..o.b].iter_mut().zip(zb) {
            *gu += wb * z;
        }
        g[o.b] += wb;
    }
}

/// [`add_weighted`] for a chunk of tiny weights (largest |w_b| = `w_max`
/// below [`SMALL_WEIGHT`]): the weights are taken times a power of two
/// 2ᵏ that brings `w_max` to [1, 2) (k ≤ [`MAX_RESCALE`]), the chunk's
/// gradient is summed at that scale into `scratch`, and 2⁻ᵏ times it is
/// added to `g`. Scaling by a power of two is exact wherever no value is
/// subnormal, so the result is the direct path's up to rounding (the
/// chunk's sum is added to `g` once instead of accumulated into it; the
/// two differ by a few ulps), at full speed.
fn rescaled<T: Real>(m: &Mlp<T>, fw: &mut Fwd<T>, xc: &[T], w: &[T], w_max: f64, scratch: &mut Vec<T>, g: &mut [T]) {
    let k = (-w_max.log2().floor() as i32).min(MAX_RESCALE);
    let (up, down) = (T::from_f64(2f64.powi(k)), T::from_f64(2f64.powi(-k)));
    scratch.clear();
    scratch.resize(g.len(), T::zero());
    add_weighted(m, fw, xc, w, up, scratch);
    for (gi, &s) in g.iter_mut().zip(scratch.iter()) {
        *gi += s * down;
    }
}

/// The direction of the vᵀ∇ₓE gradient: given, or the residual of a score
/// regression.
#[derive(Clone, Copy)]
enum Direction<'a, T> {
    /// v, B×d.
    Given(&'a [T]),
    /// v_b = ∇ₓE(x_b) − t_b for the target t (B×d).
    Residual(&'a [T]),
}

/// `grad ← Σ_b w_b ∇_θ (v_bᵀ ∇ₓE(x_b))`: seeds γ̄₀ = w_b v_b, then the two
/// reverse sweeps.
pub(super) fn grad_v_dot_grad_x<T: Real>(m: &Mlp<T>, x: &[T], v: &[T], weights: &[T], grad: &mut [T]) {
    let p = grad.len();
    let mut acc = vec![T::zero(); p + 1];
    v_dot_sweeps(m, x, Direction::Given(v), weights, &mut acc);
    grad.copy_from_slice(&acc[..p]);
}

/// Score regression to a fixed target t: returns
/// L = Σ_b w_b ½‖∇ₓE(x_b) − t_b‖² and sets `grad ← ∇_θ L`.
///
/// With r_b = ∇ₓE(x_b) − t_b, ∇_θ L = Σ_b w_b (∂∇ₓE/∂θ)ᵀ r_b
/// = Σ_b w_b ∇_θ (r_bᵀ ∇ₓE(x_b)) with r held fixed: the vᵀ∇ₓE gradient with
/// v = r. The forward and backward passes that give ∇ₓE are the ones the
/// gradient needs anyway, so the residual, the loss and the gradient come
/// from one pass. Denoising score matching (seed eq 13) is this at the
/// noisy batch x̃ with t = (x̃ − x)/σ², since ½‖s_θ(x̃) + (x̃ − x)/σ²‖² =
/// ½‖∇ₓE(x̃) − (x̃ − x)/σ²‖².
pub(super) fn score_regression<T: Real>(m: &Mlp<T>, x: &[T], target: &[T], weights: &[T], grad: &mut [T]) -> T {
    let p = grad.len();
    let mut acc = vec![T::zero(); p + 1];
    v_dot_sweeps(m, x, Direction::Residual(target), weights, &mut acc);
    grad.copy_from_slice(&acc[..p]);
    acc[p]
}

/// The chunked sweeps behind [`grad_v_dot_grad_x`] and [`score_regression`];
/// `acc` is [gradient, loss] (the loss stays 0 for a given direction).
fn v_dot_sweeps<T: Real>(m: &Mlp<T>, x: &[T], dir: Direction<'_, T>, weights: &[T], acc: &mut [T]) {
    let d = m.dim_in();
    let n = samples_per_chunk(1, m.max_width(), FWD_ROWS);
    let residual = matches!(dir, Direction::Residual(_));
    let half = T::from_f64(0.5);
    sum_over_chunks(
        weights.len(),
        n,
        acc,
        || (Fwd::new(m, n, Order::D2, true), Adj::new(m, n, false)),
        |(fw, adj), r, g| {
            let (g, loss_out) = g.split_at_mut(g.len() - 1);
            let xc = &x[r.start * d..r.end * d];
            fw.forward(m, xc);
            fw.backward(m, residual);
            let rows = r.start * d..r.end * d;
            let seed = &mut adj.gbar[0][..fw.n * d];
            match dir {
                Direction::Given(v) => {
                    for ((row, vb), &wb) in seed.chunks_exact_mut(d).zip(v[rows].chunks_exact(d)).zip(&weights[r]) {
                        for (s, &vi) in row.iter_mut().zip(vb) {
                            *s = wb * vi;
                        }
                    }
                }
                Direction::Residual(t) => {
                    let mut loss = T::zero();
                    let grad_x = fw.gamma[0][..fw.n * d].chunks_exact(d);
                    for (((row, gb), tb), &wb) in
                        seed.chunks_exact_mut(d).zip(grad_x).zip(t[rows].chunks_exact(d)).zip(&weights[r])
                    {
                        let mut sq = T::zero();
                        for ((s, &gi), &ti) in row.iter_mut().zip(gb).zip(tb) {
                            let ri = gi - ti;
                            sq += ri * ri;
                            *s = wb * ri;
                        }
                        loss += half * wb * sq;
                    }
                    loss_out[0] += loss;
                }
            }
            adj.zero_abar(m, fw.n);
            backward_adjoint(m, fw, adj, false, g);
            forward_adjoint(m, fw, adj, xc, g);
        },
    );
}
