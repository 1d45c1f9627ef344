//! The main job shared by `primitives.rs` and `estimators.rs`
//! ([`bench_main`]), and its criterion loop: one group, every case of the
//! size policy (`ebm_bench::policy`), throughput in samples, one `not run
//! on this backend` line for a case the backend cannot run, and every timed
//! case registered for the run's summary (`ebm_bench::summary`).

use criterion::{BenchmarkId, Criterion, Throughput};
use ebm_bench::op::BenchOp;
use ebm_bench::policy::{cases, gpu_roof, progress_line, timing, CASE_OVERHEAD_S};
use ebm_bench::summary::{self, register};
use ebm_bench::targets::{NotRun, Target};
use ebm_bench::MlpShape;

/// The closure to time on a target (its warm-up already done), or why the
/// backend cannot run it.
pub type Prepared<'t> = Result<Box<dyn FnMut() + 't>, NotRun>;

/// The main job of bench target `bench`: every op of `ops`, in order, as
/// its own group ([`bench_group`]) on the targets of the size policy;
/// `make(target, op, b)` prepares the case.
pub fn bench_main<O: BenchOp, const N: usize>(bench: &str, ops: [O; N], make: fn(&Target, O, usize) -> Prepared<'_>) {
    ebm_bench::main_job::main_job(bench, |c| {
        let targets = ebm_bench::policy::setup();
        for (k, op) in ops.into_iter().enumerate() {
            bench_group(c, op, (k, N), &targets, |t, b| make(t, op, b));
        }
    });
}

/// Benches `op`'s group, group `index` of `groups` in this target, on every
/// case of `targets` that the size policy runs, after one progress line;
/// `make(target, b)` prepares the case.
fn bench_group<'t>(
    c: &mut Criterion,
    op: impl BenchOp,
    (index, groups): (usize, usize),
    targets: &'t [(MlpShape, Vec<Target>)],
    mut make: impl FnMut(&'t Target, usize) -> Prepared<'t>,
) {
    let name = op.group_name();
    let (samples, warm_up, measure, resamples) = timing();
    if !summary::timing_disabled() {
        let per_case = (warm_up + measure).as_secs_f64() + CASE_OVERHEAD_S;
        println!("{}", progress_line(name, index, groups, cases(targets).len(), per_case));
    }
    let mut group = c.benchmark_group(name);
    group.sample_size(samples).warm_up_time(warm_up).measurement_time(measure).nresamples(resamples);
    for case in cases(targets) {
        let mut run = match make(case.target, case.b) {
            Ok(run) => run,
            Err(e) => {
                println!("{}", case.not_run_line(name, &e));
                continue;
            }
        };
        register(summary::Case {
            group: name.into(),
            function: case.function(),
            parameter: case.parameter(),
            b: case.b,
            flops: op.flops(case.shape, case.b),
            backend: case.target.backend(),
            gpu_roof: gpu_roof(case.target),
            twin: op.twin().map(|(g, what)| (g.into(), case.function(), case.parameter(), what)),
        });
        group.throughput(Throughput::Elements(case.b as u64));
        group.bench_function(BenchmarkId::new(case.function(), case.parameter()), |bencher| bencher.iter(&mut run));
    }
    group.finish();
}
