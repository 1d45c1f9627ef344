//! One training step of every estimator (CD-k, PCD, exact SM, DSM, SSM, NCE,
//! LSD) on every backend this machine has (cpu-f64 reference, cpu-f32, and
//! the GPU on every wgpu adapter), on the MLP shapes of
//! `ebm_bench::MLP_SHAPES`.
//!
//! A step is `prepare` + `loss_grad`, the full training step minus the
//! optimizer update; the groups and every hyperparameter are documented in
//! `ebm_bench::steps`. Bench IDs: group `step_<estimator>` (e.g.
//! `step_cd_k10`), function the target label, parameter
//! `d64_h256-256_softplus_B1024`. Throughput is in samples
//! (`Throughput::Elements(B)`); one warm-up step runs before timing.
//!
//! Size policy: that of the primitives (`ebm_bench::policy`), printed at
//! the start of every run.

mod common;

use ebm_bench::steps::EstimatorStep;
use ebm_bench::targets::Target;

fn main() {
    common::bench_main("estimators", EstimatorStep::ALL, Target::estimator_step);
}
