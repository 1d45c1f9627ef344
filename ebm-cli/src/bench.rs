//! `ebm bench`: the adapters wgpu finds, and a quick throughput table of
//! the batched primitives on the CPU and (when an adapter is found) on the
//! GPU. For careful numbers use `cargo bench -p ebm-bench`; this is a
//! one-minute sanity check of a machine.

use crate::backend::{self, Backend};
use crate::error::Result;
use crate::model::{Model, ModelSpec};
use ebm_core::EnergyExt;
use std::time::{Duration, Instant};

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Model string.
    pub model: String,
    /// Primitive.
    pub op: &'static str,
    /// Backend.
    pub backend: &'static str,
    /// Samples per second.
    pub samples_per_s: f64,
}

fn time(budget: Duration, mut f: impl FnMut() -> ebm_core::Result<()>) -> ebm_core::Result<f64> {
    f()?; // warm-up (and GPU compilation)
    let t0 = Instant::now();
    let mut reps = 0u32;
    while reps < 3 || (t0.elapsed() < budget && reps < 1000) {
        f()?;
        reps += 1;
    }
    Ok(t0.elapsed().as_secs_f64() / reps as f64)
}

const OPS: [&str; 4] = ["energy", "energy+score", "energy+score+hess_diag", "grad_params_energy"];

/// Measures `models` (model string, d) at batch size `batch` on the CPU and,
/// if `gpu`, on the GPU, spending about `budget` per measurement.
pub fn measure(models: &[(&str, usize)], batch: usize, gpu: bool, budget: Duration) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &(spec, d) in models {
        let model = Model::init(&ModelSpec::parse(spec)?, d, 0)?;
        let x: Vec<f32> = (0..batch * d).map(|i| ((i as f32) * 0.618).sin() * 2.0).collect();
        let backends: &[Backend] = if gpu { &[Backend::Cpu, Backend::Gpu] } else { &[Backend::Cpu] };
        for &b in backends {
            let (m, _) = backend::boxed(&model, b)?;
            let (mut e, mut s, mut h) = (vec![0f32; batch], vec![0f32; batch * d], vec![0f32; batch * d]);
            let w = vec![1f32 / batch as f32; batch];
            let mut g = vec![0f32; m.num_params()];
            for op in OPS {
                let secs = time(budget, || match op {
                    "energy" => m.energy(&x, &mut e),
                    "energy+score" => m.energy_score(&x, &mut e, &mut s),
                    "energy+score+hess_diag" => m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h),
                    _ => m.grad_params_energy(&x, &w, &mut g),
                })?;
                rows.push(Row {
                    model: format!("{spec} d={d}"),
                    op,
                    backend: b.name(),
                    samples_per_s: batch as f64 / secs,
                });
            }
        }
    }
    Ok(rows)
}

/// Runs `ebm bench`.
pub fn run(batch: usize, cpu_only: bool, budget: Duration) -> Result<()> {
    let adapters = ebm_kernels::list_adapters();
    println!("adapters found by wgpu: {}", adapters.len());
    for a in &adapters {
        println!("  {a}");
    }
    let gpu = !cpu_only && !adapters.is_empty();
    if adapters.is_empty() {
        println!("no adapter: GPU rows skipped ({})", ebm_kernels::INSTALL_HINT);
    } else if let Ok(dev) = backend::open_gpu() {
        println!("selected (EBM_ADAPTER): {}", dev.info().label());
    }
    let models = [("mlp:64,64:softplus", 2usize), ("gaussian", 16), ("gmm:8", 2)];
    let rows = measure(&models, batch, gpu, budget)?;
    println!("\nbatch {batch}, samples per second:");
    println!("{:<26} {:<24} {:<4} {:>14}", "model", "primitive", "on", "samples/s");
    for r in &rows {
        println!("{:<26} {:<24} {:<4} {:>14.0}", r.model, r.op, r.backend, r.samples_per_s);
    }
    Ok(())
}
