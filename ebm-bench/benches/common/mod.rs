//! The criterion loop shared by `primitives.rs` and `estimators.rs`: one
//! group, every case of the size policy (`ebm_bench::policy`), throughput in
//! samples, and one `not run on this backend` line for a case the backend
//! cannot run.

use criterion::{BenchmarkId, Criterion, Throughput};
use ebm_bench::policy::cases;
use ebm_bench::targets::{NotRun, Target};
use ebm_bench::MlpShape;
use std::time::Duration;

/// Benches group `name` on every case of `targets` that the size policy
/// runs; `make(target, b)` returns the closure to time (its warm-up already
/// done) or why the backend cannot run it.
pub fn bench_group<'t>(
    c: &mut Criterion,
    name: &str,
    targets: &'t [(MlpShape, Vec<Target>)],
    mut make: impl FnMut(&'t Target, usize) -> Result<Box<dyn FnMut() + 't>, NotRun>,
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for case in cases(targets) {
        let mut run = match make(case.target, case.b) {
            Ok(run) => run,
            Err(e) => {
                println!("{}", case.not_run_line(name, &e));
                continue;
            }
        };
        group.throughput(Throughput::Elements(case.b as u64));
        group.bench_function(BenchmarkId::new(case.function(), case.parameter()), |bencher| bencher.iter(&mut run));
    }
    group.finish();
}
