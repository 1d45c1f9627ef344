//! The main job's report: one table of every bench case, printed at the end
//! of each bench target and written as markdown and JSON under
//! `target/ebm-bench/` (`summary.md`, `summary.json`).
//!
//! For each case (group, backend, size) the table gives
//! - the time per call: criterion's estimate (the slope of its linear
//!   sampling, else the mean), read from `target/criterion/…/new/estimates.json`
//!   right after the run and only if written by this run;
//! - samples/s = B / time;
//! - GFLOP/s = the modelled FLOPs of the call ([`crate::flops`],
//!   `BenchOp::flops` of [`crate::steps::EstimatorStep`]) / time;
//! - % of the roof measured in the same run: the CPU's all-core fp32
//!   multiply-add peak ([`crate::cpu_roof`]; halved for f64) for a CPU
//!   backend, the adapter's own multiply-add roof ([`crate::roof`]) for a
//!   hardware GPU;
//! - the speed-up over the case's twin where it has one (fused against
//!   decomposed, symbolic against hand-written): twin time / time.
//!
//! A software adapter (lavapipe) is a correctness run: its rows say so and
//! carry no roof fraction, and no speed claim reads from them.
//!
//! Each bench target writes its own rows (`target/ebm-bench/<bench>.json`,
//! with the time of the run and the roof it was read against); the summary
//! is re-made from every such file present, one section per bench target,
//! so a run of one target (`--bench estimators`) keeps the others' last
//! figures, each labelled with the time of its run. `cargo bench -- --test`
//! (CI's smoke run) times nothing and writes no summary.

use crate::cpu_roof::CpuRoof;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// What a row's time is read against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// The CPU in f64.
    CpuF64,
    /// The CPU in f32.
    CpuF32,
    /// A hardware GPU adapter.
    Gpu,
    /// A software GPU adapter (lavapipe): correctness only.
    SoftwareGpu,
}

/// One bench case, registered before criterion times it.
#[derive(Debug, Clone)]
pub struct Case {
    /// Criterion group.
    pub group: String,
    /// Criterion function (the backend label).
    pub function: String,
    /// Criterion parameter (shape and size).
    pub parameter: String,
    /// Samples per call.
    pub b: usize,
    /// Modelled FLOPs of one call, where the op documents a model.
    pub flops: Option<f64>,
    /// The backend.
    pub backend: Backend,
    /// The adapter's measured multiply-add roof in GFLOP/s (hardware GPUs).
    pub gpu_roof: Option<f64>,
    /// The twin this case is compared with: (group, function, parameter,
    /// what the comparison is called).
    pub twin: Option<(String, String, String, &'static str)>,
}

/// One row of the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Criterion group.
    pub group: String,
    /// Backend label.
    pub target: String,
    /// Shape and size.
    pub size: String,
    /// The backend kind.
    pub backend: Backend,
    /// Seconds per call.
    pub seconds: f64,
    /// Samples per second.
    pub samples_per_s: f64,
    /// Modelled GFLOP/s, where the op has a FLOP model.
    pub gflops: Option<f64>,
    /// Percent of the roof measured in the same run (not for software adapters).
    pub roof_pct: Option<f64>,
    /// Twin time / this time, and what the twin is.
    pub speedup_over_twin: Option<(f64, String)>,
}

/// One bench target's rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Section {
    /// The bench target (`primitives`, `estimators`, `symbolic`).
    pub bench: String,
    /// When it ran, seconds since the Unix epoch.
    pub unix_time: u64,
    /// The CPU roof it was read against (none for the peers' section).
    pub cpu_roof: Option<CpuRoofRecord>,
    /// Whether the sizes were the reduced ones of `EBM_BENCH_QUICK=1`.
    pub quick: bool,
    /// The rows.
    pub rows: Vec<Row>,
    /// Cases with no fresh estimate (not timed by this run).
    pub missing: Vec<String>,
    /// Markdown of its own (the peers' table, [`crate::peers`]).
    #[serde(default)]
    pub extra: Option<String>,
}

/// The figures of a [`CpuRoof`] that the summary keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuRoofRecord {
    /// One-line description.
    pub text: String,
    /// All-core fp32 peak, GFLOP/s.
    pub peak_all_cores: f64,
    /// The widest vector at full rate.
    pub full_rate_isa: String,
    /// sgemm GFLOP/s on every core.
    pub sgemm_all_cores: f64,
}

static CASES: Mutex<Vec<Case>> = Mutex::new(Vec::new());

/// Registers a case that criterion is about to time.
pub fn register(case: Case) {
    CASES.lock().expect("summary lock").push(case);
}

/// Whether this process only checks the benches (`--test`, `--list`):
/// criterion then times nothing.
pub fn timing_disabled() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list" || a == "--profile-time")
}

/// Criterion's output directory, found as criterion finds it: `CRITERION_HOME`,
/// else `$CARGO_TARGET_DIR/criterion`, else the target dir of `cargo metadata`,
/// else `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(v);
    }
    if let Some(v) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(v).join("criterion");
    }
    let meta = std::env::var_os("CARGO").and_then(|cargo| {
        let out =
            std::process::Command::new(cargo).args(["metadata", "--format-version", "1", "--no-deps"]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(PathBuf::from(v.get("target_directory")?.as_str()?))
    });
    meta.unwrap_or_else(|| PathBuf::from("target")).join("criterion")
}

/// The cargo target directory: the parent of criterion's folder.
pub fn target_dir() -> PathBuf {
    criterion_dir().parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where the summary goes: `target/ebm-bench/`.
pub fn out_dir() -> PathBuf {
    target_dir().join("ebm-bench")
}

/// Criterion's time per call in seconds for one case, if this run wrote it
/// (modified at or after `since`).
fn estimate(dir: &Path, group: &str, function: &str, parameter: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(function).join(parameter).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    let ns = v.get("slope").and_then(|s| s.get("point_estimate")).and_then(|p| p.as_f64());
    let ns = ns.or_else(|| v.get("mean")?.get("point_estimate")?.as_f64())?;
    Some(ns * 1e-9)
}

/// The rows of the `cases` that criterion timed (in `dir`) since `since`,
/// and the IDs of those it did not.
pub fn collect(cases: &[Case], dir: &Path, roof: &CpuRoof, since: SystemTime) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for c in cases {
        let Some(t) = estimate(dir, &c.group, &c.function, &c.parameter, since) else {
            missing.push(format!("{}/{}/{}", c.group, c.function, c.parameter));
            continue;
        };
        let gflops = c.flops.map(|f| f / t / 1e9);
        let roof = match c.backend {
            Backend::CpuF64 => Some(roof.peak_for(true)),
            Backend::CpuF32 => Some(roof.peak_for(false)),
            Backend::Gpu => c.gpu_roof,
            Backend::SoftwareGpu => None,
        };
        let speedup = c
            .twin
            .as_ref()
            .and_then(|(g, f, p, what)| estimate(dir, g, f, p, since).map(|tt| (tt / t, format!("{what} ({g})"))));
        rows.push(Row {
            group: c.group.clone(),
            target: c.function.clone(),
            size: c.parameter.clone(),
            backend: c.backend,
            seconds: t,
            samples_per_s: c.b as f64 / t,
            gflops,
            roof_pct: gflops.zip(roof).map(|(g, r)| 100.0 * g / r),
            speedup_over_twin: speedup,
        });
    }
    (rows, missing)
}

fn seconds(t: f64) -> String {
    match t {
        t if t < 1e-3 => format!("{:.1} µs", t * 1e6),
        t if t < 1.0 => format!("{:.2} ms", t * 1e3),
        t => format!("{t:.2} s"),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// The markdown of every section, newest figures of each bench target.
pub fn markdown(sections: &[Section]) -> String {
    let mut s = String::from(
        "# ebm main job: summary\n\nTime per call (criterion), samples/s, modelled GFLOP/s (FLOP models: `ebm-bench/src/flops.rs`, `ebm-bench/src/steps.rs`), \
         % of the roof measured in the same run (CPU: all-core fp32 multiply-add peak, halved for f64; hardware GPU: the adapter's multiply-add roof), \
         and the speed-up over the twin where a case has one (fused against decomposed, symbolic against hand-written). \
         Rows of a software adapter are correctness runs, not speed figures.\n",
    );
    for sec in sections {
        s.push_str(&format!(
            "\n## {}{} (run at Unix time {})\n\n{}\n\n",
            sec.bench,
            if sec.quick { ", quick sizes (EBM_BENCH_QUICK=1)" } else { "" },
            sec.unix_time,
            sec.cpu_roof.as_ref().map_or_else(String::new, |r| r.text.replace("\n  ", "\n- "))
        ));
        if let Some(extra) = &sec.extra {
            s.push_str(extra);
            s.push('\n');
        }
        if sec.rows.is_empty() {
            continue;
        }
        s.push_str("| group | backend | size | time | samples/s | GFLOP/s | % roof | speed-up over twin |\n|---|---|---|---|---|---|---|---|\n");
        for r in &sec.rows {
            let kind = if r.backend == Backend::SoftwareGpu { " (software: correctness run)" } else { "" };
            let twin = r.speedup_over_twin.as_ref().map_or_else(|| "—".into(), |(x, w)| format!("{x:.2}× {w}"));
            s.push_str(&format!(
                "| {} | {}{} | {} | {} | {:.3e} | {} | {} | {} |\n",
                r.group,
                r.target,
                kind,
                r.size,
                seconds(r.seconds),
                r.samples_per_s,
                opt(r.gflops, 1),
                r.roof_pct.map_or_else(|| "—".into(), |p| format!("{p:.1}{}", if p > 100.0 { " ‡" } else { "" })),
                twin
            ));
        }
        if sec.rows.iter().any(|r| r.roof_pct.is_some_and(|p| p > 100.0)) {
            s.push_str("\n‡ Above the measured roof: the roof was measured while the machine was busy (a shared machine: it is the best of a measurement at the start and one at the end of the run), or the op's FLOP model counts more than the code does. Read such a row's time, not its fraction.\n");
        }
        if !sec.missing.is_empty() {
            s.push_str(&format!("\nNot timed in this run: {}\n", sec.missing.join(", ")));
        }
    }
    s
}

/// Ends a bench target: collects its rows, writes `<bench>.json`, re-makes
/// `summary.md` and `summary.json` from every bench target's file, and prints
/// this target's section. Does nothing but say so under `--test`.
pub fn finish(bench: &str, roof: &CpuRoof, since: SystemTime) -> std::io::Result<()> {
    if timing_disabled() {
        println!("ebm-bench: {bench}: check run (--test/--list): nothing timed, no summary written");
        return Ok(());
    }
    let cases = CASES.lock().expect("summary lock").clone();
    let (rows, missing) = collect(&cases, &criterion_dir(), roof, since);
    write_section(Section {
        bench: bench.into(),
        unix_time: unix(since),
        cpu_roof: Some(CpuRoofRecord {
            text: crate::cpu_roof::describe(roof),
            peak_all_cores: roof.peak_all_cores,
            full_rate_isa: roof.full_rate_isa.into(),
            sgemm_all_cores: roof.sgemm_all_cores,
        }),
        quick: crate::policy::quick(),
        rows,
        missing,
        extra: None,
    })
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The bench targets whose sections make the summary, in its order.
pub const SECTIONS: [&str; 4] = ["primitives", "estimators", "symbolic", "peers"];

/// Writes `section` as `<bench>.json`, prints it, and re-makes
/// `summary.md` and `summary.json` from every bench target's file.
pub fn write_section(section: Section) -> std::io::Result<()> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let bench = section.bench.clone();
    write_atomic(&dir.join(format!("{bench}.json")), &serde_json::to_string_pretty(&section)?)?;
    println!("{}", markdown(std::slice::from_ref(&section)));
    let mut all = Vec::new();
    for name in SECTIONS {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{name}.json"))) {
            match serde_json::from_str::<Section>(&text) {
                Ok(s) => all.push(s),
                Err(e) => println!("ebm-bench: ignoring {name}.json of an older layout: {e}"),
            }
        }
    }
    write_atomic(&dir.join("summary.json"), &serde_json::to_string_pretty(&all)?)?;
    write_atomic(&dir.join("summary.md"), &markdown(&all))?;
    println!(
        "ebm-bench: summary written to {} (and summary.json); criterion's HTML report with plots: {}",
        dir.join("summary.md").display(),
        criterion_dir().join("report").join("index.html").display()
    );
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_roof::{CpuRoof, WidthRate};
    use std::time::Duration;

    fn roof() -> CpuRoof {
        CpuRoof {
            widths: vec![WidthRate { isa: "avx2", bits: 256, one_core: 50.0, all_cores: 100.0 }],
            full_rate_isa: "avx2",
            threads: 2,
            peak_one_core: 50.0,
            peak_all_cores: 100.0,
            sgemm_one_core: 40.0,
            sgemm_all_cores: 80.0,
        }
    }

    fn case(group: &str, function: &str, backend: Backend, twin: Option<&str>) -> Case {
        Case {
            group: group.into(),
            function: function.into(),
            parameter: "d2_B10".into(),
            b: 10,
            flops: Some(2.0e9),
            backend,
            gpu_roof: Some(1000.0),
            twin: twin.map(|g| (g.into(), function.into(), "d2_B10".into(), "fused vs decomposed")),
        }
    }

    fn write_estimate(dir: &Path, group: &str, function: &str, slope_ns: Option<f64>, mean_ns: f64) {
        let d = dir.join(group).join(function).join("d2_B10").join("new");
        std::fs::create_dir_all(&d).unwrap();
        let slope = slope_ns.map_or("null".to_string(), |s| format!("{{\"point_estimate\": {s}}}"));
        std::fs::write(
            d.join("estimates.json"),
            format!("{{\"mean\": {{\"point_estimate\": {mean_ns}}}, \"slope\": {slope}}}"),
        )
        .unwrap();
    }

    /// Rows read criterion's slope (else its mean), turn it into samples/s,
    /// GFLOP/s and the roof fraction of the right roof, compute the twin's
    /// speed-up, and leave out (as missing) an estimate older than the run.
    #[test]
    fn rows_come_from_fresh_estimates_against_the_right_roof() {
        let dir = std::env::temp_dir().join(format!("ebm-bench-summary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_estimate(&dir, "stale", "cpu-f32", Some(1.0e6), 2.0e6);
        std::thread::sleep(Duration::from_millis(20));
        let since = SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        write_estimate(&dir, "fused", "cpu-f64", Some(1.0e8), 3.0e8); // 0.1 s by the slope
        write_estimate(&dir, "decomposed", "cpu-f64", None, 4.0e8); // 0.4 s by the mean
        write_estimate(&dir, "fused", "gpu0-vulkan-discrete", Some(1.0e7), 1.0e7);
        write_estimate(&dir, "fused", "gpu1-vulkan-software", Some(1.0e7), 1.0e7);
        let cases = [
            case("fused", "cpu-f64", Backend::CpuF64, Some("decomposed")),
            case("decomposed", "cpu-f64", Backend::CpuF64, None),
            case("fused", "gpu0-vulkan-discrete", Backend::Gpu, None),
            case("fused", "gpu1-vulkan-software", Backend::SoftwareGpu, None),
            case("stale", "cpu-f32", Backend::CpuF32, None),
        ];
        let (rows, missing) = collect(&cases, &dir, &roof(), since);
        assert_eq!(missing, vec!["stale/cpu-f32/d2_B10".to_string()]);
        assert_eq!(rows.len(), 4);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        // cpu-f64: 2 GFLOP in 0.1 s = 20 GFLOP/s against the f64 roof of 50.
        assert!(close(rows[0].seconds, 0.1) && close(rows[0].samples_per_s, 100.0));
        assert!(close(rows[0].gflops.unwrap(), 20.0) && close(rows[0].roof_pct.unwrap(), 40.0), "{:?}", rows[0]);
        assert!(close(rows[0].speedup_over_twin.as_ref().unwrap().0, 4.0), "{:?}", rows[0]);
        assert!(close(rows[1].seconds, 0.4) && rows[1].speedup_over_twin.is_none());
        // hardware GPU: 200 GFLOP/s against its own roof of 1000.
        assert!(close(rows[2].roof_pct.unwrap(), 20.0), "{:?}", rows[2]);
        // software GPU: no roof fraction.
        assert!(rows[3].roof_pct.is_none() && rows[3].gflops.is_some());
        let md = markdown(&[Section {
            bench: "t".into(),
            unix_time: 0,
            cpu_roof: Some(CpuRoofRecord {
                text: "roof".into(),
                peak_all_cores: 100.0,
                full_rate_isa: "avx2".into(),
                sgemm_all_cores: 80.0,
            }),
            quick: false,
            rows,
            missing,
            extra: Some("peer table".into()),
        }]);
        assert!(md.contains("| fused | cpu-f64 | d2_B10 | 100.00 ms |"), "{md}");
        assert!(md.contains("4.00× fused vs decomposed (decomposed)"), "{md}");
        assert!(md.contains("gpu1-vulkan-software (software: correctness run)"), "{md}");
        assert!(md.contains("Not timed in this run: stale/cpu-f32/d2_B10"), "{md}");
        assert!(md.contains("peer table"), "{md}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
