//! The main job: every primitive of the `Energy` interface on every backend
//! this machine has (cpu-f64 reference, cpu-f32, and the GPU on every wgpu
//! adapter), on the MLP shapes of `ebm_bench::MLP_SHAPES`.
//!
//! Throughput is in samples (`Throughput::Elements(B)`). Every GPU call
//! returns after its results are read back, so the device sync is inside the
//! timed region; one warm-up call runs before timing.
//!
//! Fused against decomposed: `energy_score_hess_diag` (one fused pass) next
//! to `hess_diag_decomposed` (`energy_score` then d separate `v_hess_v`
//! passes with v = eᵢ; on a GPU target through the MLP `v_hess_v` kernel,
//! and refused where that would run on the CPU twin), and `langevin_ula_k20_fused` (one call of 20 ULA steps) next to
//! `langevin_ula_k20_unfused` (20 calls of one step).
//!
//! Size policy (printed at the start of every run, see
//! `ebm_bench::policy`):
//! - CPU: B = 1024 for every shape, and B = 16384 for d ≤ 16; set
//!   `EBM_BENCH_FULL=1` for B = 16384 on every shape (long).
//! - GPU: every shape and batch on a hardware adapter; on a software adapter
//!   (lavapipe) only the smallest shape and batch, labelled as such: a
//!   correctness run, not a speed figure.

mod common;

use ebm_bench::targets::Primitive;
use ebm_bench::targets::Target;

fn main() {
    common::bench_main("primitives", Primitive::ALL, Target::primitive);
}
