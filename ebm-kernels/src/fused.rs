//! The fused kernels, one thread per sample, generic over the families
//! through the compile-time [`Spec`]:
//!
//! - [`eval_kernel()`]: E, and optionally the score −∇ₓE and the Hessian
//!   diagonal ∂²E/∂xᵢ², in one pass;
//! - [`langevin_kernel()`]: K unadjusted Langevin steps (seed eq 14)
//!   x ← x + (ε²/2)·score(x) + ε z in one launch, z drawn in-kernel from
//!   Philox exactly as `ebm_core::langevin::ula` (stream = first_step + k,
//!   index = b·d + i, b the global chain: [`RngArgs::chain`] plus the row);
//!   or, compiled for MALA, K MALA steps in one launch, with the accept
//!   uniform of `ebm_core::langevin::mala` (stream k | 2⁶³, index b) and
//!   per-chain acceptance counts; the chains are those of a family or of a
//!   symbolic model ([`ChainModel`]).
//!
//! θ is copied once per workgroup into shared memory when [`Spec::shared`].

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use crate::families::{gaussian_eval, ica_eval, mixture_eval, rbm_eval, XDerivs};
use crate::mlp::mlp_eval;
use crate::philox::{block, lane_of, normals_from_block, uniform_at};
use crate::spec::*;
use crate::sym::SymSpec;
use crate::sym_langevin::energy_score;
use cubecl::prelude::*;

/// E at `xin` for the family of `spec`; ∇ₓE into `grad` when `want_grad`,
/// the Hessian diagonal into `hess` when `want_hess` (the MLP computes only
/// the coordinates `h_lo..h_hi`, the other families all of them).
#[cube]
pub fn eval_any<'a>(
    w: &[f32],
    meta: &[u32],
    xin: &Array<f32>,
    grad: &'a mut Array<f32>,
    hess: &'a mut Array<f32>,
    h_lo: usize,
    h_hi: usize,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) -> f32 {
    let o = XDerivs::<'a> { grad, hess, want_grad, want_hess };
    match spec.family {
        Family::Mlp => mlp_eval(w, meta, xin, o, h_lo, h_hi, spec),
        Family::Gaussian => gaussian_eval(w, xin, o, spec),
        Family::Ica => ica_eval(w, xin, o, spec),
        Family::Mixture => mixture_eval(w, xin, o, spec),
        Family::Rbm => rbm_eval(w, xin, o, spec),
    }
}

#[cube]
fn stage_params(theta: &[f32], sh: &mut Shared<[f32]>, #[comptime] n: usize) {
    let step = CUBE_DIM as usize;
    for i in range_stepped(UNIT_POS as usize, n, step) {
        sh[i] = theta[i];
    }
    sync_cube();
}

/// The outputs of an evaluation launch: the energies (B), the scores and
/// the Hessian diagonals (B×d each, or 1-element dummies when not wanted).
#[derive(CubeType, CubeLaunch)]
pub struct EvalOuts {
    pub energy: Box<[f32]>,
    pub score: Box<[f32]>,
    pub hess: Box<[f32]>,
}

#[cube]
fn eval_sample(
    w: &[f32],
    meta: &[u32],
    x: &[f32],
    out: &mut EvalOuts,
    b: usize,
    h_lo: usize,
    h_hi: usize,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) {
    let d = spec.d;
    let mut xs = Array::<f32>::new(d);
    let mut g = Array::<f32>::new(d);
    let mut h = Array::<f32>::new(d);
    for i in 0..d {
        xs[i] = x[b * d + i];
    }
    let e = eval_any(w, meta, &xs, &mut g, &mut h, h_lo, h_hi, spec, want_grad, want_hess);
    out.energy[b] = e;
    if comptime!(want_grad || want_hess) {
        for i in 0..d {
            out.score[b * d + i] = -g[i];
        }
    }
    if comptime!(want_hess) {
        for i in h_lo..h_hi {
            out.hess[b * d + i] = h[i];
        }
    }
}

/// Energy (and score, Hessian diagonal) of every sample of `x` (B×d) into
/// `out`: `out.score` and `out.hess` may be 1-element dummies when not
/// wanted; only the Hessian coordinates `h_lo..h_hi` are written (see
/// `GpuEnergy`'s launch planning for adapters with a loop budget).
#[cube(launch)]
pub fn eval_kernel(
    x: &[f32],
    theta: &[f32],
    meta: &[u32],
    out: &mut EvalOuts,
    batch: u32,
    h_lo: u32,
    h_hi: u32,
    #[comptime] spec: Spec,
    #[comptime] want_grad: bool,
    #[comptime] want_hess: bool,
) {
    let b = ABSOLUTE_POS;
    let lo = h_lo as usize;
    let hi = h_hi as usize;
    if comptime!(spec.shared) {
        let mut sh = Shared::<[f32]>::new_slice(spec.n_params);
        stage_params(theta, &mut sh, spec.n_params);
        if b < batch as usize {
            eval_sample(&sh, meta, x, out, b, lo, hi, spec, want_grad, want_hess);
        }
    } else {
        if b < batch as usize {
            eval_sample(theta, meta, x, out, b, lo, hi, spec, want_grad, want_hess);
        }
    }
}

/// Random-number addressing of one launch: seed and first step as (lo, hi).
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct RngArgs {
    /// seed mod 2³².
    pub seed_lo: u32,
    /// seed ≫ 32.
    pub seed_hi: u32,
    /// first_step mod 2³².
    pub step_lo: u32,
    /// first_step ≫ 32.
    pub step_hi: u32,
    /// The global index of the batch's first chain
    /// (`ebm_core::langevin::NoiseAt::first_chain`): chain b of the batch
    /// draws the noise of global chain `chain + b`.
    pub chain: u32,
}

/// The step scalars of a Langevin launch, the same for every chain.
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct StepArgs {
    /// Chains B: the threads from B on do nothing.
    pub batch: u32,
    /// Steps of this launch.
    pub steps: u32,
    /// ε.
    pub eps: f32,
    /// ε²/2, the drift factor.
    pub half_eps2: f32,
    /// 1/(2ε²), the scale of MALA's proposal log-density (unused by ULA).
    pub inv_2eps2: f32,
}

/// Standard normals for chain `b` at stream (`st_lo`, `st_hi`) into `z`
/// (index b·d + i, Philox blocks computed once per 4 draws).
#[cube]
pub fn fill_normals(
    z: &mut Array<f32>,
    b: usize,
    st_lo: u32,
    st_hi: u32,
    seed_lo: u32,
    seed_hi: u32,
    #[comptime] d: usize,
) {
    let base = (b * d) as u32;
    let mut q0 = 0.0f32;
    let mut q1 = 0.0f32;
    let mut q2 = 0.0f32;
    let mut q3 = 0.0f32;
    for i in 0..d {
        let idx = base + i as u32;
        let lane = idx & 3u32;
        if i == 0 || lane == 0u32 {
            let q = normals_from_block(block(seed_lo, seed_hi, st_lo, st_hi, idx >> 2u32, 0u32));
            q0 = q.v0;
            q1 = q.v1;
            q2 = q.v2;
            q3 = q.v3;
        }
        z[i] = lane_of::<f32>(q0, q1, q2, q3, lane);
    }
}

/// Stream of step `k` counted from (`lo`, `hi`): the 64-bit sum as (lo, hi).
#[cube]
pub fn stream_lo(lo: u32, k: u32) -> u32 {
    lo + k
}

#[cube]
pub fn stream_hi(lo: u32, hi: u32, k: u32) -> u32 {
    let s = lo + k;
    let mut h = hi;
    if s < lo {
        h += 1u32;
    }
    h
}

/// `xs ← x[b·d ..]`: sample `b` of the row-major B×d `x`.
#[cube]
pub fn load_row(x: &[f32], b: usize, xs: &mut Array<f32>, #[comptime] d: usize) {
    for i in 0..d {
        xs[i] = x[b * d + i];
    }
}

/// `x[b·d ..] ← xs`.
#[cube]
pub fn store_row(xs: &Array<f32>, b: usize, x: &mut [f32], #[comptime] d: usize) {
    for i in 0..d {
        x[b * d + i] = xs[i];
    }
}

/// The drift's score at coordinate i: −g[i] when `neg` (g holds ∇ₓE),
/// g[i] otherwise (g holds the score).
#[cube]
fn score_at(g: &Array<f32>, i: usize, #[comptime] neg: bool) -> f32 {
    if comptime!(neg) {
        -g[i]
    } else {
        g[i]
    }
}

/// The standard normals of step `k` of a launch for the batch's chain `b`
/// into `z` (stream first_step + k, index (chain + b)·d + i: the global
/// chain, [`RngArgs::chain`]).
#[cube]
pub fn step_normals(z: &mut Array<f32>, b: usize, k: u32, rng: &RngArgs, #[comptime] d: usize) {
    let slo = stream_lo(rng.step_lo, k);
    let shi = stream_hi(rng.step_lo, rng.step_hi, k);
    fill_normals(z, b + rng.chain as usize, slo, shi, rng.seed_lo, rng.seed_hi, d);
}

/// MALA's accept uniform of step `k` for the batch's chain `b` (stream
/// (first_step + k) | 2⁶³, index chain + b).
#[cube]
pub fn accept_uniform(b: usize, k: u32, rng: &RngArgs) -> f32 {
    let slo = stream_lo(rng.step_lo, k);
    let shi = stream_hi(rng.step_lo, rng.step_hi, k);
    uniform_at(rng.seed_lo, rng.seed_hi, slo, shi | 0x8000_0000u32, b as u32 + rng.chain, 0u32)
}

/// One ULA step in place, in the CPU's order: x += (ε²/2)·s + ε z, s the
/// score (−g when `neg`, g holding ∇ₓE; g otherwise).
#[cube]
pub fn ula_update(
    xs: &mut Array<f32>,
    g: &Array<f32>,
    z: &Array<f32>,
    half_eps2: f32,
    eps: f32,
    #[comptime] d: usize,
    #[comptime] neg: bool,
) {
    for i in 0..d {
        xs[i] += half_eps2 * score_at(g, i, neg) + eps * z[i];
    }
}

/// MALA's proposal in place of the normals in `xp`:
/// x′ = x + (ε²/2)·s(x) + ε z.
#[cube]
pub fn mala_propose(
    xs: &Array<f32>,
    g: &Array<f32>,
    xp: &mut Array<f32>,
    half_eps2: f32,
    eps: f32,
    #[comptime] d: usize,
    #[comptime] neg: bool,
) {
    for i in 0..d {
        xp[i] = xs[i] + half_eps2 * score_at(g, i, neg) + eps * xp[i];
    }
}

/// log α of a MALA move from x (energy `e`, score from `g`) to x′ (`ep`,
/// `gp`): E(x) − E(x′) + (‖x′ − x − (ε²/2)s(x)‖² − ‖x − x′ − (ε²/2)s(x′)‖²)/(2ε²).
#[cube]
pub fn mala_log_alpha(
    xs: &Array<f32>,
    g: &Array<f32>,
    xp: &Array<f32>,
    gp: &Array<f32>,
    e: f32,
    ep: f32,
    half_eps2: f32,
    inv_2eps2: f32,
    #[comptime] d: usize,
    #[comptime] neg: bool,
) -> f32 {
    let mut fwd = 0.0f32;
    let mut bwd = 0.0f32;
    for i in 0..d {
        let a = xp[i] - xs[i] - half_eps2 * score_at(g, i, neg);
        let c = xs[i] - xp[i] - half_eps2 * score_at(gp, i, neg);
        fwd += a * a;
        bwd += c * c;
    }
    e - ep + (fwd - bwd) * inv_2eps2
}

/// An accepted MALA move: x ← x′ and its score (or gradient) with it.
#[cube]
pub fn mala_accept(xs: &mut Array<f32>, g: &mut Array<f32>, xp: &Array<f32>, gp: &Array<f32>, #[comptime] d: usize) {
    for i in 0..d {
        xs[i] = xp[i];
        g[i] = gp[i];
    }
}

/// What the chains of [`langevin_kernel()`] evaluate: a family of the
/// fused kernels (θ and `meta`, see [`eval_any()`]) or a symbolic model's
/// `[E, score]` program (θ and `aux`, [`crate::sym_langevin`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChainModel {
    /// A family; its gradient ∇ₓE gives the drift.
    Family(Spec),
    /// A symbolic program (widths `[1, d, 0]`); its score is the drift.
    Sym(SymSpec),
}

impl ChainModel {
    /// The data dimension d.
    pub fn dim(&self) -> usize {
        match self {
            Self::Family(spec) => spec.d,
            Self::Sym(spec) => spec.program.num_inputs as usize,
        }
    }

    /// The family's spec; `None` for a symbolic program.
    pub fn family(&self) -> Option<Spec> {
        match self {
            Self::Family(spec) => Some(*spec),
            Self::Sym(_) => None,
        }
    }

    /// The symbolic program's spec; `None` for a family.
    pub fn program(&self) -> Option<SymSpec> {
        match self {
            Self::Family(_) => None,
            Self::Sym(spec) => Some(spec.clone()),
        }
    }

    /// The length of θ when it is staged in shared memory
    /// ([`Spec::shared`]), 0 when it is not.
    pub fn staged(&self) -> usize {
        match self {
            Self::Family(spec) if spec.shared => spec.n_params,
            _ => 0,
        }
    }
}

/// E at `xs`, and into `g` what the drift is made of: ∇ₓE for a family,
/// the score for a symbolic program (`h` is the family's scratch).
#[cube]
fn chain_eval(
    w: &[f32],
    meta: &[u32],
    aux: &[f32],
    xs: &Array<f32>,
    g: &mut Array<f32>,
    h: &mut Array<f32>,
    #[comptime] model: ChainModel,
) -> f32 {
    if comptime!(model.family().is_some()) {
        eval_any(w, meta, xs, g, h, 0usize, 0usize, comptime!(model.family().unwrap()), true, false)
    } else {
        energy_score(xs, aux, w, g, comptime!(model.program().unwrap()))
    }
}

/// `args.steps` ULA steps on chain `b` of `x` (in place), or MALA steps
/// when `mala`, counting the accepted moves in `accepts[b]`; θ is `w`.
#[cube]
fn langevin_chain(
    w: &[f32],
    meta: &[u32],
    aux: &[f32],
    x: &mut [f32],
    accepts: &mut [u32],
    b: usize,
    args: &StepArgs,
    rng: &RngArgs,
    #[comptime] model: ChainModel,
    #[comptime] mala: bool,
) {
    let d = comptime!(model.dim());
    // g holds ∇ₓE for a family (the score is −g), the score otherwise.
    let neg = comptime!(model.family().is_some());
    let mut xs = Array::<f32>::new(d);
    let mut g = Array::<f32>::new(d);
    let mut h = Array::<f32>::new(d);
    // A step's normals z; MALA's proposal x′ is formed in their place.
    let mut xp = Array::<f32>::new(d);
    for i in 0..d {
        xs[i] = x[b * d + i];
    }
    if comptime!(mala) {
        let mut gp = Array::<f32>::new(d);
        let mut e = chain_eval(w, meta, aux, &xs, &mut g, &mut h, comptime!(model.clone()));
        let mut acc = accepts[b];
        for k in 0..args.steps {
            step_normals(&mut xp, b, k, rng, d);
            mala_propose(&xs, &g, &mut xp, args.half_eps2, args.eps, d, neg);
            let ep = chain_eval(w, meta, aux, &xp, &mut gp, &mut h, comptime!(model.clone()));
            let log_alpha = mala_log_alpha(&xs, &g, &xp, &gp, e, ep, args.half_eps2, args.inv_2eps2, d, neg);
            if f32::ln(accept_uniform(b, k, rng)) < log_alpha {
                acc += 1u32;
                e = ep;
                mala_accept(&mut xs, &mut g, &xp, &gp, d);
            }
        }
        accepts[b] = acc;
    } else {
        for k in 0..args.steps {
            let _e = chain_eval(w, meta, aux, &xs, &mut g, &mut h, comptime!(model.clone()));
            step_normals(&mut xp, b, k, rng, d);
            ula_update(&mut xs, &g, &xp, args.half_eps2, args.eps, d, neg);
        }
    }
    store_row(&xs, b, x, d);
}

/// `args.steps` ULA steps on every chain of `x` (B×d, in place), or MALA
/// steps when `mala`: then `accepts[b]` is incremented per accepted move
/// (ULA leaves `accepts`, a 1-element dummy at least, alone). `meta` is
/// read for a family and `aux` (B × `num_aux`) for a symbolic program;
/// the other one is a 1-element dummy.
#[cube(launch)]
pub fn langevin_kernel(
    x: &mut [f32],
    accepts: &mut [u32],
    theta: &[f32],
    meta: &[u32],
    aux: &[f32],
    args: StepArgs,
    rng: RngArgs,
    #[comptime] model: ChainModel,
    #[comptime] mala: bool,
) {
    let b = ABSOLUTE_POS;
    let staged = comptime!(model.staged());
    if comptime!(staged > 0) {
        let mut sh = Shared::<[f32]>::new_slice(staged);
        stage_params(theta, &mut sh, staged);
        if b < args.batch as usize {
            langevin_chain(&sh, meta, aux, x, accepts, b, &args, &rng, model, mala);
        }
    } else {
        if b < args.batch as usize {
            langevin_chain(theta, meta, aux, x, accepts, b, &args, &rng, model, mala);
        }
    }
}
