//! The per-layer product `C = A·B` (M = samples) with a comptime prologue
//! and epilogue, and the output-layer dot product.
//!
//! Notation of `ebm_core::mlp`: z₀ = x, a_l = W_l z_{l−1} + b_l,
//! z_l = σ(a_l), E = w_outᵀ z_L + b_out; γ_l = ∂E/∂z_l, δ_l = γ_l ⊙ σ′(a_l),
//! c_l = γ_l ⊙ σ″(a_l). Row-major B × H buffers, one row per sample.
//!
//! | epilogue | A | B | C | writes |
//! | --- | --- | --- | --- | --- |
//! | [`Epilogue::Fwd`] | Z_{l−1} | W_lᵀ | A_l − b_l | z_l, σ′, σ″ (layer L: z_L, δ_L = w_out⊙σ′, c_L = w_out⊙σ″, σ′) as flagged |
//! | [`Epilogue::Bwd`] | Δ_l | W_l | Γ_{l−1} | δ_{l−1} = γ⊙σ′, c_{l−1} = γ⊙σ″; or the score −γ₀ |
//! | [`Epilogue::Tan`] | Γ̄_{l−1} (Γ̄₀ = v) | W_lᵀ | δ̄_l | γ̄_l = σ′⊙δ̄_l, ā_l = c_l⊙δ̄_l |
//! | [`Epilogue::Adj`] | Ā_{l+1} | W_{l+1} | Ā_{l+1}W_{l+1} | ā_l += σ′⊙C |
//! | [`Epilogue::Store`] | C₁ | W₁∘W₁ (squared when staged) | ∂²E/∂x² (layer-1 term) | C |
//! | [`Epilogue::TanAcc`] | Γ̄_{l−1} | W_lᵀ | δ̄_l | γ̄_l += σ′⊙δ̄_l, ā_l += c_l⊙δ̄_l (backward adjoint with seeds already in place) |
//! | [`Epilogue::Vt`] | Ż_{l−1} (Ż₀ = v) | W_lᵀ | ȧ_l | ż_l = σ′⊙ȧ_l, t_l = c_l⊙ȧ_l² (vᵀ∇ₓ²E v) |
//! | [`Epilogue::Vtg`] | Ż_{l−1} | W_lᵀ | ȧ_l | ż_l, ȧ_l (or ǎ_L = 2c_L⊙ȧ_L), ā_l = e_l⊙ȧ_l² in place of e_l = γ_l⊙σ‴, γ̄_l = σ″⊙ȧ_l² |
//! | [`Epilogue::Vrev`] | Ǎ_{l+1} | W_{l+1} | ż̄_l | ā_l += σ″⊙ȧ_l⊙ż̄_l, ǎ_l = 2c_l⊙ȧ_l + σ′⊙ż̄_l in place of ȧ_l |
//!
//! The second-order epilogues ([`Epilogue::TanAcc`] and after) also read the
//! `out*` buffers (read-modify-write, or inputs beyond the two `aux`), so
//! that no launch binds more than eight buffers.
//!
//! The epilogue kind, the activation, the tile and the operand layouts are
//! comptime (one compiled kernel each); which optional outputs an epilogue
//! writes is a runtime mask (`F_*` in [`LayerArgs::flags`], the same for
//! every thread of a launch, so the branch is uniform), so that one kernel
//! serves the energy, score, Hessian and gradient calls.
//!
//! Output (and auxiliary input) element (m, n) is at `o_off + m·o_ld + n`.
//! One launch covers the whole M × N output with a grid of
//! ⌈N/BN⌉ × ⌈M/BM⌉ workgroups; per invocation one runtime loop of ⌈K/bk⌉
//! iterations.

// `#[cube]` and `#[derive(CubeType)]` generate undocumented items.
#![allow(missing_docs)]

use super::gemm::{mma_synced, stage_a, stage_b, tile_acc, tile_origin, Operand, Tile};
use crate::act::{act3, act_d3};
use cubecl::prelude::*;
use ebm_core::Activation;

/// The epilogue of [`layer_kernel()`], a comptime value of [`LayerCfg`]
/// (one compiled kernel each; see the module table).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Epilogue {
    /// Forward: bias + activation.
    Fwd,
    /// Backward: δ = γ⊙σ′ (and c = γ⊙σ″), or the score.
    Bwd,
    /// Tangent of the vᵀ∇ₓE gradient.
    Tan,
    /// Forward adjoint of the vᵀ∇ₓE gradient (accumulates in place).
    Adj,
    /// Plain store.
    Store,
    /// Backward adjoint with seeds in place: `out0 += C·aux0`, `out1 += C·aux1`
    /// (γ̄_l += σ′⊙δ̄_l, ā_l += c_l⊙δ̄_l).
    TanAcc,
    /// Tangent of vᵀ∇ₓ²E v: `out0 = C·aux0` (ż = σ′⊙ȧ, when [`F_ZD`]),
    /// `out1 = aux1·C²` (t = c⊙ȧ²).
    Vt,
    /// Tangent of the vᵀ∇ₓ²E v gradient (aux0 = σ′, or c_L with [`F_LASTT`];
    /// aux1 = σ″): `out0 = aux0·C` (ż) and `out1 = C` (ȧ), or with
    /// [`F_LASTT`] `out0 = 2·aux0·C` (ǎ_L); always `out2 ← out2·C²`
    /// (e = γ⊙σ‴ becomes the seed e⊙ȧ² of ā) and `out3 = aux1·C²` (γ̄ seed σ″⊙ȧ²).
    Vtg,
    /// Reverse tangent of the vᵀ∇ₓ²E v gradient (aux0 = σ′, aux1 = σ″,
    /// out0 = ȧ in / ǎ out, out1 = ā, out2 = c): `out1 += aux1·ȧ·C`,
    /// `out0 = 2·c·ȧ + aux0·C`.
    Vrev,
}

/// [`Epilogue::Fwd`]: store σ′ in `out1` (hidden layers) or `out3` (layer L).
pub const F_S1: u32 = 1;
/// [`Epilogue::Fwd`]: store σ″ in `out2` (hidden layers).
pub const F_S2: u32 = 2;
/// [`Epilogue::Fwd`]: layer L — store δ_L = w_out ⊙ σ′ in `out1` (w_out read
/// from `b` at `e_off2`).
pub const F_LAST: u32 = 4;
/// [`Epilogue::Fwd`] with [`F_LAST`]: also store c_L = w_out ⊙ σ″ in `out2`.
pub const F_LAST_C: u32 = 32;
/// [`Epilogue::Bwd`]: write c_{l−1} = γ⊙σ″ (`aux1`) into `out1`.
pub const F_C: u32 = 8;
/// [`Epilogue::Bwd`]: write −γ (the score) into `out0`.
pub const F_SCORE: u32 = 16;
/// [`Epilogue::Fwd`] (hidden-layer outputs): store σ‴ in `out3`.
pub const F_S3: u32 = 64;
/// [`Epilogue::Bwd`]: `out2 ← γ·out2` (σ‴ becomes e = γ⊙σ‴ in place).
pub const F_E3: u32 = 128;
/// [`Epilogue::Vt`]: write ż.
pub const F_ZD: u32 = 256;
/// [`Epilogue::Vtg`]: layer L (write ǎ_L instead of ż and ȧ).
pub const F_LASTT: u32 = 512;

/// The comptime configuration of [`layer_kernel()`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LayerCfg {
    /// Workgroup tile.
    pub tile: Tile,
    /// A is contiguous along K.
    pub a_kc: bool,
    /// B is contiguous along K.
    pub b_kc: bool,
    /// Stage B∘B instead of B.
    pub square_b: bool,
    /// The epilogue.
    pub epi: Epilogue,
    /// The activation of [`Epilogue::Fwd`] (`None` for the other epilogues, so
    /// they compile once for every activation).
    pub act: Option<Activation>,
    /// A is bound as vectors of 4 floats and staged with 128-bit loads
    /// ([`super::gemm::vec4_ok`]).
    pub a_vec4: bool,
}

/// Runtime sizes and offsets of [`layer_kernel()`].
#[derive(CubeType, CubeLaunch, Clone, Copy)]
pub struct LayerArgs {
    /// Rows (samples).
    pub m: u32,
    /// Columns.
    pub n: u32,
    /// Contraction length.
    pub k: u32,
    /// Offset of output / auxiliary element (0, 0).
    pub o_off: u32,
    /// Leading dimension of outputs / auxiliaries.
    pub o_ld: u32,
    /// [`Epilogue::Fwd`]: offset of b_l in `b` (θ).
    pub e_off: u32,
    /// [`Epilogue::Fwd`] with [`F_LAST`]: offset of w_out in `b` (θ).
    pub e_off2: u32,
    /// `F_*` flags: which optional outputs to write (uniform over the launch).
    pub flags: u32,
}

/// The buffers the epilogue of [`layer_kernel()`] reads and writes (the
/// module table): two auxiliary inputs and four outputs, the dummy where an
/// epilogue does not use one.
#[derive(CubeType, CubeLaunch)]
pub struct EpiBufs {
    pub aux0: Box<[f32]>,
    pub aux1: Box<[f32]>,
    pub out0: Box<[f32]>,
    pub out1: Box<[f32]>,
    pub out2: Box<[f32]>,
    pub out3: Box<[f32]>,
}

#[cube(launch)]
pub fn layer_kernel<N: Size>(
    a: &[Vector<f32, N>],
    b: &[f32],
    bufs: &mut EpiBufs,
    opa: Operand,
    opb: Operand,
    args: LayerArgs,
    #[comptime] cfg: LayerCfg,
) {
    let tile = cfg.tile;
    let mut t = tile_acc(tile);
    let org = tile_origin(tile);
    let m_end = args.m as usize;
    let n_end = args.n as usize;
    let k_end = args.k as usize;
    let tiles = k_end.div_ceil(tile.bk);
    for kt in 0..tiles {
        let k0 = kt * tile.bk;
        stage_a(a, b, &mut t.sa, &opa, org.m0, m_end, k0, k_end, 0, tile, cfg.a_kc, false, false, cfg.a_vec4);
        stage_b(b, &mut t.sb, &opb, org.n0, n_end, k0, k_end, tile, cfg.b_kc, cfg.square_b, false);
        mma_synced(&mut t, tile);
    }
    let ty = UNIT_POS_Y as usize;
    let tx = UNIT_POS_X as usize;
    #[unroll]
    for i in 0..tile.rm {
        let m = org.m0 + ty * tile.rm + i;
        #[unroll]
        for j in 0..tile.rn {
            let n = org.n0 + tx * tile.rn + j;
            if m < m_end && n < n_end {
                let o = args.o_off as usize + m * args.o_ld as usize + n;
                let c = t.acc[i * tile.rn + j];
                epilogue(b, bufs, c, o, n, &args, cfg);
            }
        }
    }
}

#[cube]
fn epilogue(b: &[f32], bufs: &mut EpiBufs, c: f32, o: usize, n: usize, args: &LayerArgs, #[comptime] cfg: LayerCfg) {
    match cfg.epi {
        Epilogue::Fwd => {
            let pre = c + b[args.e_off as usize + n];
            let act = comptime!(cfg.act.expect("an Epilogue::Fwd layer carries its activation"));
            let r = act3(pre, act);
            bufs.out0[o] = r.v;
            if args.flags & F_LAST != 0u32 {
                let w = b[args.e_off2 as usize + n];
                bufs.out1[o] = w * r.d1;
                if args.flags & F_LAST_C != 0u32 {
                    bufs.out2[o] = w * r.d2;
                }
                if args.flags & F_S1 != 0u32 {
                    bufs.out3[o] = r.d1;
                }
            } else {
                if args.flags & F_S1 != 0u32 {
                    bufs.out1[o] = r.d1;
                }
                if args.flags & F_S2 != 0u32 {
                    bufs.out2[o] = r.d2;
                }
                if args.flags & F_S3 != 0u32 {
                    bufs.out3[o] = act_d3(pre, act);
                }
            }
        }
        Epilogue::Bwd => {
            if args.flags & F_SCORE != 0u32 {
                bufs.out0[o] = -c;
            } else {
                bufs.out0[o] = c * bufs.aux0[o];
                if args.flags & F_C != 0u32 {
                    bufs.out1[o] = c * bufs.aux1[o];
                }
                if args.flags & F_E3 != 0u32 {
                    bufs.out2[o] *= c;
                }
            }
        }
        Epilogue::Tan => {
            bufs.out0[o] = c * bufs.aux0[o];
            bufs.out1[o] = c * bufs.aux1[o];
        }
        Epilogue::Adj => {
            bufs.out0[o] += c * bufs.aux0[o];
        }
        Epilogue::TanAcc => {
            bufs.out0[o] += c * bufs.aux0[o];
            bufs.out1[o] += c * bufs.aux1[o];
        }
        Epilogue::Vt => {
            if args.flags & F_ZD != 0u32 {
                bufs.out0[o] = c * bufs.aux0[o];
            }
            bufs.out1[o] = bufs.aux1[o] * c * c;
        }
        Epilogue::Vtg => {
            if args.flags & F_LASTT != 0u32 {
                bufs.out0[o] = 2.0f32 * bufs.aux0[o] * c;
            } else {
                bufs.out0[o] = bufs.aux0[o] * c;
                bufs.out1[o] = c;
            }
            bufs.out2[o] = bufs.out2[o] * c * c;
            bufs.out3[o] = bufs.aux1[o] * c * c;
        }
        Epilogue::Vrev => {
            let ad = bufs.out0[o];
            bufs.out1[o] += bufs.aux1[o] * ad * c;
            bufs.out0[o] = 2.0f32 * bufs.out2[o] * ad + bufs.aux0[o] * c;
        }
        Epilogue::Store => {
            bufs.out0[o] = c;
        }
    }
}

/// `E[e_off + b] = Σ_k z[b·h + k]·θ[w_off + k] + θ[w_off + h]` for b < n:
/// workgroups of 16 samples × 16 lanes; lane t sums k ≡ t (mod 16), then a
/// shared-memory tree over the lanes (⌈h/16⌉ loop iterations per
/// invocation).
#[cube(launch)]
pub fn out_dot_kernel(z: &[f32], theta: &[f32], energy: &mut [f32], n: u32, h: u32, w_off: u32, e_off: u32) {
    let lanes = 16usize;
    let mut red = Shared::<[f32]>::new_slice(256usize);
    let tx = UNIT_POS_X as usize;
    let ty = UNIT_POS_Y as usize;
    let b = CUBE_POS_X as usize * 16usize + ty;
    let hh = h as usize;
    let wo = w_off as usize;
    let mut acc = 0.0f32;
    if b < n as usize {
        for k in range_stepped(tx, hh, lanes) {
            acc += z[b * hh + k] * theta[wo + k];
        }
    }
    red[ty * lanes + tx] = acc;
    sync_cube();
    tree_step(&mut red, ty * lanes, tx, 8usize);
    tree_step(&mut red, ty * lanes, tx, 4usize);
    tree_step(&mut red, ty * lanes, tx, 2usize);
    tree_step(&mut red, ty * lanes, tx, 1usize);
    if tx == 0 && b < n as usize {
        energy[e_off as usize + b] = red[ty * lanes] + theta[wo + hh];
    }
}

/// One level of a pairwise tree over 2·`half` lanes of `red[base..]`.
#[cube]
pub fn tree_step(red: &mut Shared<[f32]>, base: usize, lane: usize, half: usize) {
    if lane < half {
        red[base + lane] += red[base + lane + half];
    }
    sync_cube();
}
