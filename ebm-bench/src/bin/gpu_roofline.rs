//! The GPU roofline: every primitive and estimator step of a softplus MLP on
//! one adapter over a grid of shapes and batch sizes, as time, modelled
//! GFLOP/s, and % of the nominal fp32 peak and of the adapter's measured
//! multiply-add roof ([`ebm_bench::roof`]), under one overall deadline.
//!
//! ```text
//! gpu_roofline [--shapes 2x128-128,16x128-128,64x256-256,256x256-256]
//!              [--batches 1024,16384,65536] [--ops all|NAME,...]
//!              [--first OP@DxH1-H2@B,...] [--deadline-s 300] [--case-s 0.4]
//!              [--roof-s 0.05] [--peak-tflops 67] [--json PATH] [--md PATH]
//!              [--allow-software]
//! ```
//!
//! - Operations (`--ops`, names as in the criterion benches): `energy`,
//!   `energy_score`, `energy_score_hess_diag`, `hess_diag_decomposed`,
//!   `grad_params_energy`, `grad_params_v_dot_grad_x`, `grad_params_sm`,
//!   `langevin_ula_k20_fused`, `langevin_ula_k20_unfused`, `mala_k20`,
//!   `v_hess_v`, `grad_params_v_hess_v`, and one step of every estimator
//!   (`step_cd_k10`, `step_pcd_k10`, `step_exact_sm`, `step_dsm`,
//!   `step_ssm_m1`, `step_nce_nu1`, `step_lsd`; hyperparameters in
//!   `ebm_bench::steps`). Weights: `Mlp::init(seed 42)`, as the benches.
//! - Order: the `--first` cases (default: the issue's bars, the Hessian
//!   diagonal at d = 64 and 20 Langevin steps at d = 256, and the exact-SM
//!   step at d = 64, all at B = 65536 when those sizes are in the grid),
//!   then the rest by batch, shape and operation.
//! - Deadline: a case not started before `--deadline-s` (counted from the
//!   start), or whose time predicted from the same operation at a smaller
//!   batch would overrun it, is reported as `not run: deadline`. Each case
//!   times calls for about `--case-s` seconds (`ebm_bench::roofline`).
//! - FLOP models: `ebm_bench::flops` (a multiply-add counts 2); the FLOPs
//!   and the "where" (`GpuEnergy::placement`) of each case are read off
//!   the calls it makes. A case the model refuses is reported as not run,
//!   with the refusal's reason.
//! - The adapter is `EBM_ADAPTER` (default: wgpu's default). A software
//!   adapter (lavapipe) is refused unless `--allow-software`; its figures
//!   are labelled as meaningless for speed everywhere they appear.
//!
//! Prints one line per case and rewrites the JSON (`--json`) and the
//! markdown table (`--md`) after each.
//!
//! Exit status: 0 when every case was measured or reported as not run;
//! 1 when no adapter could be opened or no case could be measured; 2 for
//! a software adapter without `--allow-software`; 64 for bad arguments.

use ebm_bench::counted::{gpu_place, Counted};
use ebm_bench::exit::or_exit;
use ebm_bench::roof::{measure_copy, measure_fma, Roof};
use ebm_bench::roofline::{run_case, Case, GpuModel, Op, Outcome};
use ebm_bench::{MlpShape, MLP_SHAPES};
use ebm_core::mlp::{Activation, Mlp};
use ebm_kernels::{AdapterKind, DeviceInfo, GpuDevice, GpuEnergy};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

struct Args {
    shapes: Vec<MlpShape>,
    batches: Vec<usize>,
    ops: Vec<Op>,
    first: Vec<(Op, MlpShape, usize)>,
    deadline_s: f64,
    case_s: f64,
    roof_s: f64,
    peak_tflops: f64,
    json: Option<String>,
    md: Option<String>,
    allow_software: bool,
}

/// `64x256-256` → d = 64, hidden 256-256.
fn parse_shape(s: &str) -> Result<MlpShape, String> {
    let bad = || format!("shape `{s}`: expected DxH1-H2, e.g. 64x256-256");
    let (d, h) = s.split_once('x').ok_or_else(bad)?;
    let (h1, h2) = h.split_once('-').ok_or_else(bad)?;
    let n = |v: &str| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
    Ok(MlpShape { dim: n(d)?, hidden: [n(h1)?, n(h2)?] })
}

fn parse_list<T>(v: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    v.split(',').filter(|s| !s.is_empty()).map(f).collect()
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        shapes: MLP_SHAPES.to_vec(),
        batches: vec![1024, 16384, 65536],
        ops: Op::all(),
        first: Vec::new(),
        deadline_s: 300.0,
        case_s: 0.4,
        roof_s: 0.05,
        peak_tflops: 67.0,
        json: None,
        md: None,
        allow_software: false,
    };
    let mut first: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        let num = |v: String, k: &str| v.parse::<f64>().map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "--shapes" => a.shapes = parse_list(&val()?, parse_shape)?,
            "--batches" => {
                a.batches = parse_list(&val()?, |s| s.parse::<usize>().map_err(|e| format!("--batches: {e}")))?
            }
            "--ops" => {
                let v = val()?;
                if v != "all" {
                    a.ops = parse_list(&v, |s| Op::parse(s).ok_or(format!("unknown op `{s}`")))?;
                }
            }
            "--first" => first = Some(val()?),
            "--deadline-s" => a.deadline_s = num(val()?, &k)?,
            "--case-s" => a.case_s = num(val()?, &k)?,
            "--roof-s" => a.roof_s = num(val()?, &k)?,
            "--peak-tflops" => a.peak_tflops = num(val()?, &k)?,
            "--json" => a.json = Some(val()?),
            "--md" => a.md = Some(val()?),
            "--allow-software" => a.allow_software = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if a.shapes.is_empty() || a.batches.is_empty() || a.ops.is_empty() || a.batches.contains(&0) {
        return Err("--shapes, --batches and --ops must be non-empty, batches positive".into());
    }
    if !(positive(a.deadline_s) && positive(a.case_s) && positive(a.roof_s) && positive(a.peak_tflops)) {
        return Err("--deadline-s, --case-s, --roof-s and --peak-tflops must be > 0".into());
    }
    let default_first = "energy_score_hess_diag@64x256-256@65536,langevin_ula_k20_fused@256x256-256@65536,step_exact_sm@64x256-256@65536";
    let explicit = first.is_some();
    for item in parse_list(first.as_deref().unwrap_or(default_first), |s| Ok(s.to_string()))? {
        let parts: Vec<&str> = item.split('@').collect();
        let [op, shape, b] = parts[..] else {
            return Err(format!("--first `{item}`: expected OP@DxH1-H2@B"));
        };
        let op = Op::parse(op).ok_or(format!("--first: unknown op `{op}`"))?;
        let shape = parse_shape(shape)?;
        let b = b.parse::<usize>().map_err(|e| format!("--first: {e}"))?;
        let in_grid = a.ops.contains(&op) && a.shapes.contains(&shape) && a.batches.contains(&b);
        if in_grid {
            a.first.push((op, shape, b));
        } else if explicit {
            return Err(format!("--first `{item}` is not in the grid of --ops, --shapes and --batches"));
        }
    }
    Ok(a)
}

/// The cases in run order: `first`, then by batch, shape and operation.
fn cases(a: &Args) -> Vec<Case> {
    let mut out: Vec<Case> = a.first.iter().map(|&(op, shape, batch)| Case { op, shape, batch }).collect();
    let mut batches = a.batches.clone();
    batches.sort_unstable();
    batches.dedup();
    for &batch in &batches {
        for &shape in &a.shapes {
            for &op in &a.ops {
                let c = Case { op, shape, batch };
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn gpu_model(dev: &GpuDevice, shape: MlpShape) -> Result<GpuModel, String> {
    let m =
        Mlp::<f64>::init(shape.dim, &shape.hidden, Activation::Softplus, 42).map_err(|e| e.to_string())?.cast::<f32>();
    let g = GpuEnergy::new(dev, m).map_err(|e| format!("GPU upload: {e}"))?;
    Ok(Counted::new(g, shape, gpu_place))
}

struct Report {
    info: DeviceInfo,
    software: bool,
    peak_tflops: f64,
    fma: Result<Roof, String>,
    copy: Result<Roof, String>,
    rows: Vec<(Case, Outcome)>,
    wall_s: f64,
}

impl Report {
    fn measured_peak(&self) -> Option<f64> {
        self.fma.as_ref().ok().map(|r| r.rate)
    }

    fn pct(&self, gflops: f64) -> (f64, Option<f64>) {
        let nominal = 100.0 * gflops * 1e9 / (self.peak_tflops * 1e12);
        (nominal, self.measured_peak().map(|p| 100.0 * gflops * 1e9 / p))
    }

    fn line(&self, case: &Case, o: &Outcome) -> String {
        let tag = if self.software { " [software adapter: not a speed figure]" } else { "" };
        match o {
            Outcome::NotRun(why) => format!("case {}: not run: {why}", case.id()),
            Outcome::Ran(t) => {
                let (nom, meas) = self.pct(t.gflops());
                format!(
                    "case {}: median {:.3} ms (min {:.3} ms, {} calls, warm-up {:.2} s), {:.1} GFLOP/s, {:.2} % of {} TFLOP/s nominal, {} of measured; on {}: {}{tag}",
                    case.id(),
                    t.median_s * 1e3,
                    t.min_s * 1e3,
                    t.reps,
                    t.warmup_s,
                    t.gflops(),
                    nom,
                    self.peak_tflops,
                    meas.map_or("-".into(), |m| format!("{m:.2} %")),
                    t.places(),
                    t.tally.summary()
                )
            }
        }
    }

    fn roof_json(r: &Result<Roof, String>, unit: &str) -> Value {
        match r {
            Ok(r) => {
                json!({ unit: r.rate, "seconds": r.seconds, "launches": r.launches, "work_per_launch": r.work_per_launch })
            }
            Err(e) => json!({ "error": e }),
        }
    }

    fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|(c, o)| {
                let mut v = json!({
                    "op": c.op.name(), "kind": if c.op.is_step() { "estimator_step" } else { "primitive" },
                    "shape": c.shape.id(), "dim": c.shape.dim, "hidden": c.shape.hidden, "batch": c.batch,
                });
                match o {
                    Outcome::NotRun(why) => v["not_run"] = json!(why),
                    Outcome::Ran(t) => {
                        let (nom, meas) = self.pct(t.gflops());
                        v["median_ms"] = json!(t.median_s * 1e3);
                        v["min_ms"] = json!(t.min_s * 1e3);
                        v["calls"] = json!(t.reps);
                        v["warmup_s"] = json!(t.warmup_s);
                        v["flops"] = json!(t.tally.total_flops());
                        v["gflops"] = json!(t.gflops());
                        v["pct_nominal_peak"] = json!(nom);
                        v["pct_measured_fma"] = json!(meas);
                        v["where"] = json!(t.places());
                        v["methods"] = json!(t.tally.summary());
                    }
                }
                v
            })
            .collect();
        json!({
            "adapter": self.info.to_string(),
            "adapter_name": self.info.name,
            "adapter_kind": self.info.kind.label(),
            "software": self.software,
            "speed_figures_meaningful": !self.software,
            "nominal_peak_tflops": self.peak_tflops,
            "measured_fma": Self::roof_json(&self.fma, "flops_per_s"),
            "measured_copy": Self::roof_json(&self.copy, "bytes_per_s"),
            "wall_s": self.wall_s,
            "cases": rows,
        })
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        if self.software {
            s += "**Software adapter: every figure below is a correctness smoke run, not a speed figure.**\n\n";
        }
        s += &format!("Adapter: {}\n\n", self.info);
        let fma = self
            .fma
            .as_ref()
            .map_or_else(|e| format!("not measured ({e})"), |r| format!("{:.1} GFLOP/s", r.rate * 1e-9));
        let copy =
            self.copy.as_ref().map_or_else(|e| format!("not measured ({e})"), |r| format!("{:.1} GB/s", r.rate * 1e-9));
        s += &format!(
            "Roof: nominal fp32 peak {} TFLOP/s; measured multiply-add kernel {fma}; measured copy kernel {copy} (read + write).\n\n",
            self.peak_tflops
        );
        s += "| op | shape | B | median ms | GFLOP/s | % nominal | % measured | where | calls per op |\n";
        s += "|---|---|---:|---:|---:|---:|---:|---|---|\n";
        for (c, o) in &self.rows {
            let head = format!("| {} | {} | {} ", c.op.name(), c.shape.id(), c.batch);
            match o {
                Outcome::NotRun(why) => s += &format!("{head}| not run: {} | | | | | |\n", why.replace('|', "/")),
                Outcome::Ran(t) => {
                    let (nom, meas) = self.pct(t.gflops());
                    s += &format!(
                        "{head}| {:.3} | {:.1} | {:.2} | {} | {} | {} |\n",
                        t.median_s * 1e3,
                        t.gflops(),
                        nom,
                        meas.map_or("-".into(), |m| format!("{m:.2}")),
                        t.places(),
                        t.tally.summary()
                    );
                }
            }
        }
        s += &format!(
            "\nFLOP models: `ebm_bench::flops` (a multiply-add counts 2; upload and read-back inside every timed call). \
             where: as `GpuEnergy::placement` says (device; refused cases are not run). \
             Wall time {:.0} s.\n",
            self.wall_s
        );
        s
    }
}

/// Writes the JSON and the markdown (after every case, so that a run stopped
/// from outside leaves what it measured).
fn write_report(args: &Args, report: &Report) {
    let write = |path: &Option<String>, text: String| {
        if let Some(p) = path {
            if let Err(e) = std::fs::write(p, text) {
                eprintln!("gpu_roofline: writing {p}: {e}");
                std::process::exit(1);
            }
        }
    };
    write(&args.json, serde_json::to_string_pretty(&report.json()).expect("json"));
    write(&args.md, report.markdown());
}

/// Prints a measured roof (`rate` in units of 10⁹ `unit`, `work` the name
/// of a launch's work) or why it was not measured.
fn say_roof(what: &str, unit: &str, work: &str, roof: &Result<Roof, String>) {
    match roof {
        Ok(r) => println!(
            "gpu_roofline: measured {what} {:.1} {unit} ({} launches of {:.3e} {work} in {:.3} s)",
            r.rate * 1e-9,
            r.launches,
            r.work_per_launch,
            r.seconds
        ),
        Err(e) => println!("gpu_roofline: {what} not measured: {e}"),
    }
}

fn main() {
    let start = Instant::now();
    let args = or_exit("gpu_roofline", 64, parse());
    let dev = or_exit("gpu_roofline", 1, GpuDevice::from_env());
    let info = dev.info().clone();
    let software = info.kind == AdapterKind::Cpu;
    println!("gpu_roofline: adapter {info}");
    if software && !args.allow_software {
        eprintln!(
            "gpu_roofline: {} is a software adapter; its speed means nothing (pass --allow-software for a smoke run)",
            info.name
        );
        std::process::exit(2);
    }
    let fma = measure_fma(&dev, args.roof_s);
    let copy = measure_copy(&dev, args.roof_s, 1 << 30);
    say_roof("multiply-add roof", "GFLOP/s", "FLOPs", &fma);
    say_roof("copy bandwidth", "GB/s", "bytes", &copy);
    let mut report = Report { info, software, peak_tflops: args.peak_tflops, fma, copy, rows: Vec::new(), wall_s: 0.0 };
    let mut models: HashMap<String, Result<GpuModel, String>> = HashMap::new();
    // Seconds per sample of each (op, shape) measured so far, for the deadline's prediction.
    let mut per_sample: HashMap<(String, String), f64> = HashMap::new();
    for case in cases(&args) {
        let left = args.deadline_s - start.elapsed().as_secs_f64();
        let key = (case.op.name().to_string(), case.shape.id());
        // A case runs a warm-up call, then timed calls for the case budget
        // (3 at least); compilation happened at the smaller batch.
        let predicted = per_sample.get(&key).map(|s| {
            let call = s * case.batch as f64;
            (4.0 * call).max(call + args.case_s)
        });
        let outcome = if left <= 0.0 {
            Outcome::NotRun("deadline".into())
        } else if let Some(p) = predicted.filter(|&p| p > left) {
            Outcome::NotRun(format!("deadline (predicted {p:.1} s from the smaller batch, {left:.1} s left)"))
        } else {
            match models.entry(case.shape.id()).or_insert_with(|| gpu_model(&dev, case.shape)) {
                Err(e) => Outcome::NotRun(e.clone()),
                Ok(m) => run_case(m, case, args.case_s.min(left)),
            }
        };
        if let Outcome::Ran(t) = &outcome {
            per_sample.insert(key, t.median_s / case.batch as f64);
        }
        println!("{}", report.line(&case, &outcome));
        report.rows.push((case, outcome));
        report.wall_s = start.elapsed().as_secs_f64();
        write_report(&args, &report);
    }
    report.wall_s = start.elapsed().as_secs_f64();
    let ran = report.rows.iter().filter(|(_, o)| matches!(o, Outcome::Ran(_))).count();
    println!("gpu_roofline: {ran} of {} cases measured in {:.1} s", report.rows.len(), report.wall_s);
    write_report(&args, &report);
    if ran == 0 {
        eprintln!("gpu_roofline: no case could be measured");
        std::process::exit(1);
    }
}
