//! The main of every bench target: the CPU roof measured first, the
//! criterion run, then the summary ([`crate::summary`]).

use crate::summary;
use criterion::Criterion;
use std::time::{Duration, SystemTime};

/// The main of a bench target: measures the CPU roof, runs `benches`,
/// measures the roof again (keeping each figure's best), then writes the
/// summary (`crate::summary::finish`). Plots are off under
/// `EBM_BENCH_QUICK=1`.
pub fn main_job(bench: &str, benches: impl FnOnce(&mut Criterion)) {
    let since = SystemTime::now();
    let target = if summary::timing_disabled() { 5 } else { 50 };
    let roof = crate::cpu_roof::measure(Duration::from_millis(target));
    println!("ebm-bench: {}", crate::cpu_roof::describe(&roof));
    let mut c = Criterion::default().configure_from_args();
    if crate::policy::quick() {
        c = c.without_plots();
    }
    benches(&mut c);
    c.final_summary();
    // Measured again at the end, the roof keeps each figure's best: a
    // measurement taken while the machine was busy is too low.
    let roof = roof.max(&crate::cpu_roof::measure(Duration::from_millis(target)));
    if let Err(e) = summary::finish(bench, &roof, since) {
        eprintln!("ebm-bench: summary not written: {e}");
        std::process::exit(1);
    }
}
