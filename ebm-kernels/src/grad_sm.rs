//! Σᵦ wᵦ ∇θ 𝒥(xᵦ) on the device for the MLP, with the exact
//! score-matching integrand 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE (seed eq 12), in the
//! two-kernel shape of [`crate::grad`]: [`crate::param_rows::param_rows_kernel()`]
//! with `RowTarget::ScoreMatching` writes one weighted per-sample gradient
//! row per thread, and
//! `crate::grad::reduce_rows_kernel` sums the rows over the batch.
//!
//! The twin of `ebm_core::mlp::grad_sm` (reverse-over-forward; derivation
//! in the module docs of `ebm_core::mlp`). With c_l = γ_l ⊙ σ″(a_l) and
//! the Jacobians J_l = ∂a_l/∂x, 𝒥 = ½‖γ₀‖² − Σ_l Σ_u c_{l,u} Σᵢ (J_l)²_{u,i}.
//! Per sample, one thread:
//!
//! 1. forward z_l, σ′, σ″, σ‴; backward γ_l and γ₀ = ∇ₓE
//!    ([`crate::grad_vdx::mlp_fwd_bwd()`]); the row is zeroed;
//! 2. for each coordinate i of the launch's range, the Jacobian column
//!    j_l = J_l eᵢ forward (j₁ = W₁ eᵢ, j_{l+1} = W_{l+1}(σ′(a_l) ⊙ j_l)),
//!    adding c̄_l −= wᵦ j_l², then in reverse with
//!    j̄_L = −2wᵦ c_L ⊙ j_L: for l = L−1..1, p_l = σ′(a_l) ⊙ j_l,
//!    W̄_{l+1} += j̄_{l+1} p_lᵀ, p̄_l = W_{l+1}ᵀ j̄_{l+1},
//!    ā_l += σ″(a_l) ⊙ p̄_l ⊙ j_l, j̄_l = −2wᵦ c_l ⊙ j_l + σ′(a_l) ⊙ p̄_l;
//!    finally W̄₁ eᵢ += j̄₁;
//! 3. the adjoint of the backward pass seeded with γ̄₀ = wᵦ γ₀ (first
//!    range only) and c̄_l: δ̄_l = W_l γ̄_{l−1}, W̄_l += δ_l γ̄_{l−1}ᵀ,
//!    γ̄_l = σ′ ⊙ δ̄_l + σ″ ⊙ c̄_l, ā_l += γ_l ⊙ (σ″ ⊙ δ̄_l + σ‴ ⊙ c̄_l);
//!    w̄_out = γ̄_L, b̄_out = 0;
//! 4. ā carried down the forward pass ([`crate::grad_vdx::forward_adjoint()`]);
//!    steps 3 and 4 are [`crate::grad_vdx::adjoint_passes()`].
//!
//! Every step is linear in the seeds (γ̄₀, c̄_l, and the j̄ and ā sources
//! of step 2), and the columns i are independent, so the coordinates can
//! be cut into ranges whose rows are summed: under a loop budget each
//! launch handles a range of coordinates ([`sm_loop_cost`]), as the
//! Hessian diagonal of [`crate::plan`] does. The cost per sample is about
//! three Hessian diagonals, as on the CPU.
//!
//! Per-thread state: z_l and γ̄_l (each d + ΣH_l), σ′, σ″, σ‴, γ, ā, c̄ and
//! the Jacobian column of every hidden unit (7·ΣH_l), three vectors of the
//! widest layer. ReLU (σ″ = 0 a.e.) is refused by the caller, as on the
//! CPU.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use crate::grad_vdx::{adjoint_passes, mlp_fwd_bwd, sweep_cost};
use crate::mlp::mlp_tape;
use crate::row_io::RowIo;
use crate::spec::*;
use cubecl::prelude::*;

/// The coordinates a score-matching row covers: 𝒥's `lo..hi`, with the
/// γ̄₀ = wᵦ γ₀ seed on the first range only (`seed_g`).
#[derive(CubeType, Clone, Copy)]
pub struct SmRange {
    pub lo: usize,
    pub hi: usize,
    pub seed_g: bool,
}

/// The MLP row of 𝒥's coordinates `range` (module docs) times `io.wb` at
/// `io.out[io.row ..]`. With `dir`, the one "coordinate" is the direction
/// `io.v` instead of eᵢ (call with the range `0..1` without `seed_g` and
/// the weight negated): the row of ∇θ(vᵀ∇ₓ²E v), as [`crate::grad_vhv`]
/// uses it. Without `dir`, `io.v` is unread.
#[cube]
pub fn mlp_sm<'a>(
    w: &[f32],
    dims: &[u32],
    io: RowIo<'a>,
    range: SmRange,
    #[comptime] spec: Spec,
    #[comptime] dir: bool,
) {
    let layers = spec.a;
    let d = spec.d;
    let wb = io.wb;
    let row = io.row;
    let mut tape = mlp_tape(spec, true, true);
    let mut gb = Array::<f32>::new(comptime!(spec.d + spec.wsum));
    let mut ab = Array::<f32>::new(spec.wsum);
    let mut cb = Array::<f32>::new(spec.wsum);
    let mut jc = Array::<f32>::new(spec.wsum);
    let mut jb = Array::<f32>::new(spec.wmax);
    let mut pb = Array::<f32>::new(spec.wmax);
    mlp_fwd_bwd(w, dims, io.x, &mut tape, spec);
    for p in 0..spec.n_params {
        io.out[row + p] = 0.0f32;
    }
    for u in 0..spec.wsum {
        ab[u] = 0.0f32;
        cb[u] = 0.0f32;
    }
    let m2 = -2.0f32 * wb;
    let h1 = dims[1] as usize;
    // Step 2: the Jacobian columns of the range.
    for i in range.lo..range.hi {
        for u in 0..h1 {
            let mut j = 0.0f32;
            if comptime!(dir) {
                for c in 0..d {
                    j += w[u * d + c] * io.v[c];
                }
            } else {
                j = w[u * d + i];
            }
            jc[u] = j;
            cb[u] -= wb * j * j;
        }
        let mut off = h1 * d + h1;
        let mut aprev = 0usize;
        let mut n_in = h1;
        for l in 1..layers {
            let n_out = dims[l + 1] as usize;
            let anext = aprev + n_in;
            for k in 0..n_out {
                let r = off + k * n_in;
                let mut acc = 0.0f32;
                for j in 0..n_in {
                    acc += w[r + j] * tape.s1[aprev + j] * jc[aprev + j];
                }
                jc[anext + k] = acc;
                cb[anext + k] -= wb * acc * acc;
            }
            off += n_out * n_in + n_out;
            aprev = anext;
            n_in = n_out;
        }
        for u in 0..n_in {
            let q = aprev + u;
            jb[u] = m2 * tape.gam[q] * tape.s2[q] * jc[q];
        }
        for t in 1..layers {
            let l = layers - t;
            let n_out = dims[l + 1] as usize;
            let n_prv = dims[l] as usize;
            off -= n_out * n_prv + n_out;
            let ap = aprev - n_prv;
            for u in 0..n_prv {
                pb[u] = 0.0f32;
            }
            for k in 0..n_out {
                let jk = jb[k];
                let r = off + k * n_prv;
                for u in 0..n_prv {
                    io.out[row + r + u] += jk * tape.s1[ap + u] * jc[ap + u];
                    pb[u] += w[r + u] * jk;
                }
            }
            for u in 0..n_prv {
                let q = ap + u;
                ab[q] += tape.s2[q] * pb[u] * jc[q];
                jb[u] = m2 * tape.gam[q] * tape.s2[q] * jc[q] + tape.s1[q] * pb[u];
            }
            aprev = ap;
        }
        for u in 0..h1 {
            if comptime!(dir) {
                for c in 0..d {
                    io.out[row + u * d + c] += jb[u] * io.v[c];
                }
            } else {
                io.out[row + u * d + i] += jb[u];
            }
        }
    }
    // Steps 3 and 4: γ̄₀ = wᵦ γ₀ on the first range.
    for i in 0..d {
        let mut g = 0.0f32;
        if range.seed_g {
            g = wb * tape.g0[i];
        }
        gb[i] = g;
    }
    adjoint_passes(w, dims, &tape, &cb, &mut gb, &mut ab, io.out, row, spec, true);
}

/// Upper bounds on the loop iterations of one MLP invocation of
/// [`crate::param_rows::param_rows_kernel()`] with `RowTarget::ScoreMatching` (`meta` holds the MLP widths d, H₁ … H_L, 1, `n_params` the
/// length of θ): `(base, per_coordinate)`, so a launch over a range of r
/// coordinates runs at most base + r·per_coordinate (each padded by a
/// quarter).
pub fn sm_loop_cost(meta: &[u32], n_params: usize) -> (u64, u64) {
    let units: u64 = meta.iter().map(|&v| v as u64).sum();
    let layers = meta.len() as u64;
    let sweep = sweep_cost(meta);
    let base = n_params as u64 + 5 * sweep + 10 * units + 8 * layers + 16;
    let per = 2 * sweep + 6 * units + 4 * layers + 8;
    (base + base / 4, per + per / 4)
}
