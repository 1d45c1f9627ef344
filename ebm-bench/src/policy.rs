//! What every bench target runs on, and at which sizes: the shared setup of
//! `benches/primitives.rs` and `benches/estimators.rs`.
//!
//! Size policy (printed in one line at the start of every run by [`setup`]):
//! - CPU (cpu-f64 reference, cpu-f32): B = 1024 on every shape of
//!   [`MLP_SHAPES`], and B = 16384 on the shapes with d ≤ 16; set
//!   `EBM_BENCH_FULL=1` for B = 16384 on every shape (long).
//! - GPU: every shape and batch on a hardware adapter; on a software adapter
//!   (lavapipe, the CPU Vulkan driver) only the smallest shape and batch,
//!   labelled `software` in the bench ID: a correctness run, not a speed
//!   figure.
//!
//! - Quick (`EBM_BENCH_QUICK=1`): the two smallest shapes at B = 1024 on
//!   the CPU and on hardware adapters, none on software adapters (one
//!   lavapipe step takes seconds; the tests check them), shorter criterion runs
//!   ([`timing`]) and no plots: the whole main job in a few minutes, for a
//!   first picture before the full run.
//!
//! Every adapter wgpu finds gets one line; a machine without any says so. A
//! case that a backend cannot run (for example a software adapter's loop
//! budget) is reported by the bench in one `not run on this backend` line,
//! never skipped without a word.

use crate::targets::{cpu_targets, gpu_targets, Target};
use crate::{MlpShape, BATCHES, MLP_SHAPES};
use ebm_core::mlp::Activation;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The activation of every bench MLP (it appears in the bench IDs).
pub const ACTIVATION: Activation = Activation::Softplus;

/// Whether `EBM_BENCH_FULL=1` asks for B = 16384 on every CPU shape.
pub fn full() -> bool {
    std::env::var("EBM_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// Whether `EBM_BENCH_QUICK=1` asks for the reduced sizes (module docs).
pub fn quick() -> bool {
    std::env::var("EBM_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Criterion's timing of one group: (samples, warm-up, measurement,
/// bootstrap resamples); shorter under [`quick`].
pub fn timing() -> (usize, Duration, Duration, usize) {
    if quick() {
        (10, Duration::from_millis(100), Duration::from_millis(300), 2_000)
    } else {
        (10, Duration::from_millis(500), Duration::from_secs(2), 100_000)
    }
}

/// Whether the size policy (module docs) runs `shape` at batch `b` on `t`.
pub fn wanted(t: &Target, shape: MlpShape, b: usize) -> bool {
    if t.is_software() {
        return !quick() && shape == MLP_SHAPES[0] && b == BATCHES[0];
    }
    if quick() {
        return shape.dim <= 16 && b == BATCHES[0];
    }
    match t {
        Target::Gpu(..) => true,
        _ => b == BATCHES[0] || shape.dim <= 16 || full(),
    }
}

/// The one-line statement of the size policy printed at the start of a run.
pub fn policy_line() -> String {
    if quick() {
        return "ebm-bench: quick sizes (EBM_BENCH_QUICK=1): d<=16 at B=1024 on the CPU and hardware GPUs, software adapters not run, short criterion runs, no plots".into();
    }
    format!(
        "ebm-bench: CPU sizes: B=1024 on every shape, B=16384 on d<=16{}; GPU: every size on hardware adapters, smallest size only on software ones",
        if full() { " and (EBM_BENCH_FULL=1) on every shape" } else { " (EBM_BENCH_FULL=1 for all)" }
    )
}

/// Every shape of [`MLP_SHAPES`] with its targets (cpu-f64, cpu-f32, then
/// one per GPU adapter), all holding the same weights. Prints the policy
/// line, one line per adapter (a software one is labelled as such), one per
/// adapter that could not be opened, and one when there is no adapter.
pub fn setup() -> Vec<(MlpShape, Vec<Target>)> {
    println!("{}", policy_line());
    let mut out = Vec::new();
    for shape in MLP_SHAPES {
        let mut ts = cpu_targets(shape, ACTIVATION);
        let (gpus, notes) = gpu_targets(shape, ACTIVATION);
        if shape == MLP_SHAPES[0] {
            for n in &notes {
                println!("ebm-bench: {n}");
            }
            for g in &gpus {
                if let Target::Gpu(_, info) = g {
                    println!(
                        "ebm-bench: GPU adapter {}{}",
                        info,
                        if g.is_software() {
                            " — software device: correctness run at the smallest size, not a speed figure"
                        } else {
                            ""
                        }
                    );
                }
            }
            if gpus.is_empty() {
                println!("ebm-bench: no wgpu adapter found: GPU benches not run (install mesa-vulkan-drivers for the CPU Vulkan device, or run on a machine with a GPU)");
            }
        }
        ts.extend(gpus);
        out.push((shape, ts));
    }
    out
}

/// One (shape, target, batch) case of a bench group.
#[derive(Clone, Copy)]
pub struct Case<'a> {
    /// The MLP shape.
    pub shape: MlpShape,
    /// The backend.
    pub target: &'a Target,
    /// The batch size B.
    pub b: usize,
}

impl Case<'_> {
    /// The bench-ID function part: the target label (`cpu-f64`, ...).
    pub fn function(&self) -> String {
        self.target.label()
    }

    /// The bench-ID parameter part, e.g. `d64_h256-256_softplus_B1024`.
    pub fn parameter(&self) -> String {
        format!("{}_{}_B{}", self.shape.id(), ACTIVATION.name(), self.b)
    }

    /// The line printed when the backend cannot run this case of `group`.
    pub fn not_run_line(&self, group: &str, why: &dyn std::fmt::Display) -> String {
        format!("ebm-bench: {group}/{}/{} not run on this backend: {why}", self.function(), self.parameter())
    }
}

/// The cases the size policy runs, in bench order: shape, then target, then
/// batch.
pub fn cases(targets: &[(MlpShape, Vec<Target>)]) -> Vec<Case<'_>> {
    let mut out = Vec::new();
    for (shape, ts) in targets {
        for t in ts {
            for &b in &BATCHES {
                if wanted(t, *shape, b) {
                    out.push(Case { shape: *shape, target: t, b });
                }
            }
        }
    }
    out
}

static GPU_ROOFS: Mutex<Option<HashMap<String, Option<f64>>>> = Mutex::new(None);

/// The multiply-add roof of a hardware GPU target in GFLOP/s
/// ([`crate::roof::measure_fma`], measured once per adapter and run, and
/// printed with its copy bandwidth, [`crate::roof::measure_copy`]); `None`
/// for CPU and software targets, or when the measurement fails (said once).
pub fn gpu_roof(t: &Target) -> Option<f64> {
    let Target::Gpu(m, _) = t else { return None };
    if t.is_software() {
        return None;
    }
    let mut guard = GPU_ROOFS.lock().expect("gpu roof lock");
    let map = guard.get_or_insert_with(HashMap::new);
    *map.entry(t.label()).or_insert_with(|| match crate::roof::measure_fma(m.device(), 0.05) {
        Ok(r) => {
            let bw = crate::roof::measure_copy(m.device(), 0.05, 256 << 20)
                .map_or_else(|e| format!("not measured ({e})"), |c| format!("{:.0} GB/s", c.rate / 1e9));
            println!(
                "ebm-bench: {} roof (measured now): multiply-add {:.0} GFLOP/s, copy bandwidth {bw}",
                t.label(),
                r.rate / 1e9
            );
            Some(r.rate / 1e9)
        }
        Err(e) => {
            println!("ebm-bench: {}: roof not measured ({e}); its rows carry no roof fraction", t.label());
            None
        }
    })
}

/// Seconds criterion spends on one case beyond its warm-up and measurement
/// (analysis, bootstrap, report), a rough figure for [`progress_line`].
pub const CASE_OVERHEAD_S: f64 = 0.5;

/// The line printed before group `index` (0-based) of `groups` in a bench
/// target: how many benches it has, and roughly how long it and the groups
/// after it will take, at `per_case_s` seconds a case and the same number
/// of cases in every group. A case whose single call outlasts the
/// measurement time (a software adapter's) takes longer, so the figure is a
/// floor there.
pub fn progress_line(group: &str, index: usize, groups: usize, cases: usize, per_case_s: f64) -> String {
    let this = cases as f64 * per_case_s;
    let left = this * (groups - index) as f64;
    let fmt = |s: f64| if s < 90.0 { format!("{s:.0} s") } else { format!("{:.0} min", s / 60.0) };
    format!(
        "ebm-bench: group {}/{groups} {group}: {cases} benches, about {}; about {} for this group and the {} after it (longer where a software adapter runs)",
        index + 1,
        fmt(this),
        fmt(left),
        groups - index - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_counts_what_is_left() {
        let l = progress_line("energy", 2, 10, 8, 3.0);
        assert!(l.contains("group 3/10 energy: 8 benches, about 24 s"), "{l}");
        assert!(l.contains("about 3 min for this group and the 7 after it"), "{l}");
        let last = progress_line("mala_k20", 9, 10, 4, 2.5);
        assert!(last.contains("about 10 s for this group and the 0 after it"), "{last}");
    }
}
