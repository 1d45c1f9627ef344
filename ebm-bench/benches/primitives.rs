//! The main job: every primitive of the `Energy` interface on every backend
//! this machine has (cpu-f64 reference, cpu-f32, and the GPU on every wgpu
//! adapter), on the MLP shapes of `ebm_bench::MLP_SHAPES`.
//!
//! Throughput is in samples (`Throughput::Elements(B)`). Every GPU call
//! returns after its results are read back, so the device sync is inside the
//! timed region; one warm-up call runs before timing.
//!
//! Size policy (printed at the start of every run):
//! - CPU: B = 1024 for every shape, and B = 16384 for d ≤ 16; set
//!   `EBM_BENCH_FULL=1` for B = 16384 on every shape (long).
//! - GPU: every shape and batch on a hardware adapter; on a software adapter
//!   (lavapipe) only the smallest shape and batch, labelled as such: a
//!   correctness run, not a speed figure.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ebm_bench::targets::{cpu_targets, gpu_targets, Primitive, Target};
use ebm_bench::{MlpShape, BATCHES, MLP_SHAPES};
use ebm_core::mlp::Activation;
use std::time::Duration;

fn full() -> bool {
    std::env::var("EBM_BENCH_FULL").is_ok_and(|v| v == "1")
}

fn wanted(t: &Target, shape: MlpShape, b: usize) -> bool {
    if t.is_software() {
        return shape == MLP_SHAPES[0] && b == BATCHES[0];
    }
    match t {
        Target::Gpu(..) => true,
        _ => b == BATCHES[0] || shape.dim <= 16 || full(),
    }
}

fn primitives(c: &mut Criterion) {
    let act = Activation::Softplus;
    println!(
        "ebm-bench: CPU sizes: B=1024 on every shape, B=16384 on d<=16{}; GPU: every size on hardware adapters, smallest size only on software ones",
        if full() { " and (EBM_BENCH_FULL=1) on every shape" } else { " (EBM_BENCH_FULL=1 for all)" }
    );
    let mut targets: Vec<(MlpShape, Vec<Target>)> = Vec::new();
    let mut gpu_seen = false;
    for shape in MLP_SHAPES {
        let mut ts = cpu_targets(shape, act);
        let (gpus, notes) = gpu_targets(shape, act);
        if shape == MLP_SHAPES[0] {
            for n in &notes {
                println!("ebm-bench: {n}");
            }
            for g in &gpus {
                if let Target::Gpu(_, info) = g {
                    println!(
                        "ebm-bench: GPU adapter {}{}",
                        info,
                        if g.is_software() { " — software device: correctness run at the smallest size, not a speed figure" } else { "" }
                    );
                }
            }
            if gpus.is_empty() {
                println!("ebm-bench: no wgpu adapter found: GPU benches not run (install mesa-vulkan-drivers for the CPU Vulkan device, or run on a machine with a GPU)");
            }
        }
        gpu_seen |= !gpus.is_empty();
        ts.extend(gpus);
        targets.push((shape, ts));
    }
    let _ = gpu_seen;
    for prim in Primitive::ALL {
        let mut group = c.benchmark_group(prim.group());
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for (shape, ts) in &targets {
            for t in ts {
                for &b in &BATCHES {
                    if !wanted(t, *shape, b) {
                        continue;
                    }
                    let param = format!("{}_softplus_B{}", shape.id(), b);
                    let mut run = match t.primitive(prim, b) {
                        Ok(run) => run,
                        Err(e) => {
                            println!("ebm-bench: {}/{}/{param} not run on this backend: {e}", prim.group(), t.label());
                            continue;
                        }
                    };
                    group.throughput(Throughput::Elements(b as u64));
                    group.bench_function(BenchmarkId::new(t.label(), param), |bencher| bencher.iter(&mut run));
                }
            }
        }
        group.finish();
    }
}

criterion_group!(benches, primitives);
criterion_main!(benches);
