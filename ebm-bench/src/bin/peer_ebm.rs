//! The ebm side of the PyTorch / JAX comparison (`ebm-bench/peers/run.sh`).
//!
//! For every configuration it writes the MLP weights, the inputs and every
//! frozen random draw (raw little-endian f32/f64 files), times each ebm
//! primitive and estimator step (warm-up calls, then `--repeats` timed calls,
//! each timed on its own), writes each operation's outputs for the
//! agreement check, and describes everything in `<out>/ebm.json`.
//!
//! ```text
//! peer_ebm --out DIR [--repeats 21] [--warmup 2] [--configs d64,d16,d2]
//!          [--ops energy,energy_score,hess_diag,exact_sm,dsm,langevin,cd,nce]
//!          [--cd-k 5] [--langevin-steps 20] [--backend cpu|gpu] [--batch B]
//!          [--check-rows N]
//! ```
//!
//! `--backend gpu` runs every operation on `GpuEnergy` (the adapter of
//! `EBM_ADAPTER`, wgpu's default otherwise; the same weights and inputs),
//! for the device comparison with PyTorch on CUDA
//! (`ebm-bench/peers/device_peers.py`). `--batch` replaces every
//! configuration's batch size (1024). `--check-rows N` writes the frozen
//! Langevin and CD normals of the first N chains only (`langevin_z`,
//! `cd_z`: steps × N × d, all chains by default): chains do not interact,
//! so those rows check the chains at any batch size without writing
//! steps × B × d normals. Configurations: `d64` (64, 256-256), `d256`
//! (256, 256-256), `d16` and `d2` (128-128).
//!
//! Exit status: 0 on success; 2 for bad arguments and any failure (no
//! adapter, an operation's error, a file that cannot be written).
//!
//! Operations (B samples, f32, softplus MLP):
//! - `energy`: `Energy::energy`;
//! - `energy_score`: `Energy::energy_score`;
//! - `hess_diag`: `Energy::energy_score_hess_diag` (energy, score and the
//!   exact Hessian diagonal);
//! - `exact_sm`: `ExactSm` prepare + `loss_grad` (loss and θ-gradient);
//! - `dsm`: `Dsm(σ = 0.1)` `loss_grad` with the noise frozen by `prepare`
//!   (written out, so both sides evaluate the same noisy batch);
//! - `langevin`: `Energy::langevin_ula`, `--langevin-steps` steps, ε = 0.1,
//!   Philox noise drawn inside (the normals are written for the check);
//! - `cd`: `Cd(Ula(ε = 0.1, k))` prepare (k ULA steps from the data) +
//!   `loss_grad`;
//! - `nce`: `Nce(N(0, I), ν = 1)` `loss_grad` with the noise frozen by
//!   `prepare` (gradient in θ and in the log-normaliser c, which starts at
//!   the value balancing the classes on the data).
//!
//! No optimizer update is included in any step.

use ebm_core::mlp::Activation;
use ebm_core::prelude::*;
use ebm_core::{rng, Mlp};
use ebm_estimators::seeds::tags;
use ebm_estimators::{Cd, Dsm, Estimator, ExactSm, GaussianNoise, Nce, StepCtx, Ula};
use ebm_kernels::{GpuDevice, GpuEnergy};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The operations, in the order they run.
const OPS: [&str; 8] = ["energy", "energy_score", "hess_diag", "exact_sm", "dsm", "langevin", "cd", "nce"];

const EPS: f64 = 0.1;
const DSM_SIGMA: f64 = 0.1;
const LANGEVIN_SEED: u64 = 0x1a7e;
const STEP_SEED: u64 = 2024;

struct Config {
    name: &'static str,
    dim: usize,
    hidden: [usize; 2],
    batch: usize,
}

const CONFIGS: [Config; 4] = [
    Config { name: "d64", dim: 64, hidden: [256, 256], batch: 1024 },
    Config { name: "d256", dim: 256, hidden: [256, 256], batch: 1024 },
    Config { name: "d16", dim: 16, hidden: [128, 128], batch: 1024 },
    Config { name: "d2", dim: 2, hidden: [128, 128], batch: 1024 },
];

struct Args {
    out: PathBuf,
    repeats: usize,
    warmup: usize,
    configs: Vec<String>,
    cd_k: usize,
    langevin_steps: usize,
    ops: Vec<String>,
    gpu: bool,
    batch: Option<usize>,
    check_rows: Option<usize>,
}

fn parse_args() -> Args {
    let mut a = Args {
        out: PathBuf::from("target/peers"),
        repeats: 21,
        warmup: 2,
        configs: CONFIGS.iter().map(|c| c.name.to_string()).collect(),
        cd_k: 5,
        langevin_steps: 20,
        ops: OPS.iter().map(|o| o.to_string()).collect(),
        gpu: false,
        batch: None,
        check_rows: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = || argv.get(i + 1).cloned().unwrap_or_else(|| die(&format!("{} needs a value", argv[i])));
        match argv[i].as_str() {
            "--out" => a.out = PathBuf::from(val()),
            "--repeats" => a.repeats = val().parse().unwrap_or_else(|_| die("--repeats: not a number")),
            "--warmup" => a.warmup = val().parse().unwrap_or_else(|_| die("--warmup: not a number")),
            "--configs" => a.configs = val().split(',').map(str::to_string).collect(),
            "--ops" => {
                a.ops = val().split(',').filter(|o| !o.is_empty()).map(str::to_string).collect();
                if let Some(bad) = a.ops.iter().find(|o| !OPS.contains(&o.as_str())) {
                    die(&format!("unknown op {bad} (one of {})", OPS.join(", ")));
                }
            }
            "--cd-k" => a.cd_k = val().parse().unwrap_or_else(|_| die("--cd-k: not a number")),
            "--langevin-steps" => {
                a.langevin_steps = val().parse().unwrap_or_else(|_| die("--langevin-steps: not a number"))
            }
            "--backend" => {
                a.gpu = match val().as_str() {
                    "cpu" => false,
                    "gpu" => true,
                    other => die(&format!("--backend: cpu or gpu, not {other}")),
                }
            }
            "--batch" => a.batch = Some(positive(&val(), "--batch")),
            "--check-rows" => a.check_rows = Some(positive(&val(), "--check-rows")),
            "-h" | "--help" => {
                println!("peer_ebm --out DIR [--repeats N] [--warmup N] [--configs d64,d256,d16,d2] [--ops energy,...] [--cd-k K] [--langevin-steps S] [--backend cpu|gpu] [--batch B] [--check-rows N]");
                std::process::exit(0);
            }
            other => die(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if a.repeats == 0 {
        die("--repeats must be at least 1");
    }
    a
}

fn positive(v: &str, what: &str) -> usize {
    v.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| die(&format!("{what}: a positive number")))
}

fn die(msg: &str) -> ! {
    eprintln!("peer_ebm: {msg}");
    std::process::exit(2)
}

/// Runs `f` `warmup` times untimed, then `repeats` times, each timed alone;
/// returns the times in ms.
fn time(warmup: usize, repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

fn write_f32(dir: &Path, name: &str, v: &[f32]) -> String {
    write_raw(dir, format!("{name}.f32"), v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn write_f64(dir: &Path, name: &str, v: &[f64]) -> String {
    write_raw(dir, format!("{name}.f64"), v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes `bytes` to `dir/file` (or dies) and returns `file`.
fn write_raw(dir: &Path, file: String, bytes: Vec<u8>) -> String {
    std::fs::write(dir.join(&file), bytes).unwrap_or_else(|e| die(&format!("writing {file}: {e}")));
    file
}

/// A JSON object built by hand (`{"k": v, ...}`), values already encoded.
#[derive(Default)]
struct Obj(Vec<(String, String)>);

impl Obj {
    fn raw(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.0.push((k.to_string(), v.into()));
        self
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.raw(k, format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
    }
    fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.raw(k, if v.is_finite() { format!("{v:e}") } else { "null".to_string() })
    }
    fn encode(&self) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "\"{k}\": {v}");
        }
        s.push('}');
        s
    }
}

fn arr(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
    format!("[{}]", items.join(", "))
}

fn shape(s: &[usize]) -> String {
    let items: Vec<String> = s.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| die(&format!("{what}: {e:?}")))
}

enum Data<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

fn run_config(c: &Config, args: &Args, dev: Option<&GpuDevice>) -> String {
    let dir = args.out.join(c.name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("creating {}: {e}", dir.display())));
    let (d, b) = (c.dim, args.batch.unwrap_or(c.batch));
    let mlp = ok(Mlp::<f32>::init(d, &c.hidden, Activation::Softplus, 7 + d as u64), "Mlp::init");
    let gpu = dev.map(|dev| ok(GpuEnergy::new(dev, mlp.clone()), "GpuEnergy::new"));
    let model: &dyn Model<f32> = match &gpu {
        Some(g) => g,
        None => &mlp,
    };
    let zrows = args.check_rows.unwrap_or(b).min(b);
    let p = model.num_params();
    let x: Vec<f32> = ebm_bench::normal_batch(11 + d as u64, b, d);
    let (w, r) = (args.warmup, args.repeats);

    let mut files = Obj::default();
    let mut shapes = Obj::default();
    let mut times = Obj::default();
    let mut scalars = Obj::default();
    let mut put_any = |name: &str, v: Data<'_>, s: &[usize]| {
        let file = match v {
            Data::F32(v) => write_f32(&dir, name, v),
            Data::F64(v) => write_f64(&dir, name, v),
        };
        files.str(name, &file);
        shapes.raw(name, shape(s));
    };
    macro_rules! put {
        ($name:expr, $v:expr, $s:expr) => {
            put_any($name, Data::F32($v), $s)
        };
    }
    put!("params", model.params(), &[p]);
    put!("x", &x, &[b, d]);
    let mut record = |name: &str, t: &[f64]| {
        let mut o = Obj::default();
        o.num("median_ms", median(t))
            .num("min_ms", t.iter().copied().fold(f64::INFINITY, f64::min))
            .raw("samples_ms", arr(t));
        times.raw(name, o.encode());
        eprintln!("peer_ebm: {:>4} {:<13} median {:9.3} ms", c.name, name, median(t));
    };

    let mut e = vec![0f32; b];
    let mut s = vec![0f32; b * d];
    let want = |op: &str| args.ops.iter().any(|o| o == op);

    if want("energy") {
        // energy
        record("energy", &time(w, r, || ok(model.energy(&x, &mut e), "energy")));
        put!("out_energy", &e, &[b]);
    }

    if want("energy_score") {
        // energy + score
        record("energy_score", &time(w, r, || ok(model.energy_score(&x, &mut e, &mut s), "energy_score")));
        put!("out_es_energy", &e, &[b]);
        put!("out_es_score", &s, &[b, d]);
    }

    if want("hess_diag") {
        // energy + score + Hessian diagonal
        let mut h = vec![0f32; b * d];
        record("hess_diag", &time(w, r, || ok(model.energy_score_hess_diag(&x, &mut e, &mut s, &mut h), "hess_diag")));
        put!("out_hd_energy", &e, &[b]);
        put!("out_hd_score", &s, &[b, d]);
        put!("out_hd_hess", &h, &[b, d]);
    }

    let ctx = StepCtx::new(STEP_SEED, 0);
    let mut g = vec![0f32; p];
    let mut loss = 0.0;

    if want("exact_sm") {
        // exact score matching: prepare + loss + gradient
        let mut sm = ExactSm::new();
        record(
            "exact_sm",
            &time(w, r, || {
                ok(Estimator::<f32>::prepare(&mut sm, model, &x, ctx), "exact-sm prepare");
                loss = ok(sm.loss_grad(model, &x, &mut g), "exact-sm loss_grad");
            }),
        );
        scalars.num("exact_sm_loss", loss);
        put!("out_sm_grad", &g, &[p]);
    }

    if want("dsm") {
        // DSM: noise frozen by prepare, loss + gradient timed
        let mut dsm = Dsm::<f32>::new(DSM_SIGMA);
        ok(dsm.prepare(model, &x, ctx), "dsm prepare");
        let st = dsm.state().expect("prepared").clone();
        put!("dsm_noisy", &st.noisy, &[b, d]);
        put!("dsm_target", &st.target, &[b, d]);
        record("dsm", &time(w, r, || loss = ok(dsm.loss_grad(model, &x, &mut g), "dsm loss_grad")));
        scalars.num("dsm_loss", loss);
        put!("out_dsm_grad", &g, &[p]);
    }

    if want("langevin") {
        // Langevin: steps of ULA from x, Philox noise drawn inside
        let steps = args.langevin_steps;
        let mut xs = x.clone();
        record(
            "langevin",
            &time(w, r, || {
                xs.copy_from_slice(&x);
                ok(model.langevin_ula(&mut xs, EPS as f32, steps, LANGEVIN_SEED, 0), "langevin_ula");
            }),
        );
        put!("out_langevin", &xs, &[b, d]);
        let mut z = vec![0f32; steps * zrows * d];
        for (k, zk) in z.chunks_exact_mut(zrows * d).enumerate() {
            rng::fill_normal(LANGEVIN_SEED, k as u64, 0, zk);
        }
        put!("langevin_z", &z, &[steps, zrows, d]);
    }

    if want("cd") {
        // CD-k: prepare (k ULA steps from the data) + loss + gradient
        let k = args.cd_k;
        let mut cd = Cd::<f32, Ula>::new(Ula::new(EPS, k));
        record(
            "cd",
            &time(w, r, || {
                ok(cd.prepare(model, &x, ctx), "cd prepare");
                loss = ok(cd.loss_grad(model, &x, &mut g), "cd loss_grad");
            }),
        );
        scalars.num("cd_loss", loss);
        put!("out_cd_grad", &g, &[p]);
        put!("out_cd_neg", cd.negatives().expect("prepared"), &[b, d]);
        let key = ctx.key(tags::SAMPLER);
        let mut z = vec![0f32; k * zrows * d];
        for (j, zj) in z.chunks_exact_mut(zrows * d).enumerate() {
            rng::fill_normal(key, j as u64, 0, zj);
        }
        put!("cd_z", &z, &[k, zrows, d]);
    }

    if want("nce") {
        // NCE: noise frozen by prepare, loss + gradient (θ and c) timed
        let mut eye = vec![0f64; d * d];
        for i in 0..d {
            eye[i * d + i] = 1.0;
        }
        let noise = ok(GaussianNoise::new(vec![0.0; d], &eye), "GaussianNoise");
        // Start c at the value that balances the two classes on the data,
        // c₀ = mean(−E(x) − log p_n(x)) (an NCE run reaches this scale within a
        // few steps). With c = 0 the data-class weights σ(−G) ≈ e^−90 at d = 64
        // are f32 denormals, which time the FPU's slow path rather than NCE.
        let mut lpn = vec![0f64; b];
        noise.log_density(&x, &mut lpn);
        ok(model.energy(&x, &mut e), "energy");
        let c0 = e.iter().zip(&lpn).map(|(&ei, &l)| -(ei as f64) - l).sum::<f64>() / b as f64;
        let mut nce = Nce::<f32>::new(noise, 1).with_log_z(c0);
        let nst = ok(nce.draw(&x, d, ctx), "nce draw");
        ok(nce.prepare(model, &x, ctx), "nce prepare");
        put!("nce_noise", &nst.noise, &[b, d]);
        put_any("nce_lpn_data", Data::F64(&nst.log_pn_data), &[b]);
        put_any("nce_lpn_noise", Data::F64(&nst.log_pn_noise), &[b]);
        let mut gc = vec![0f32; p + 1];
        record("nce", &time(w, r, || loss = ok(nce.loss_grad(model, &x, &mut gc), "nce loss_grad")));
        scalars.num("nce_loss", loss);
        scalars.num("nce_c", nce.c());
        put!("out_nce_grad", &gc, &[p + 1]);
    }

    let mut o = Obj::default();
    o.str("name", c.name)
        .raw("dim", d.to_string())
        .raw("hidden", shape(&c.hidden))
        .raw("batch", b.to_string())
        .raw("check_rows", zrows.to_string())
        .raw("num_params", p.to_string())
        .str("dir", c.name)
        .raw("files", files.encode())
        .raw("shapes", shapes.encode())
        .raw("times", times.encode())
        .raw("scalars", scalars.encode());
    o.encode()
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.out).unwrap_or_else(|e| die(&format!("creating {}: {e}", args.out.display())));
    let dev = args.gpu.then(|| {
        let dev = ok(GpuDevice::from_env(), "GPU adapter");
        eprintln!("peer_ebm: adapter {}", dev.info());
        dev
    });
    let mut cfgs = Vec::new();
    for name in &args.configs {
        let c = CONFIGS
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| die(&format!("unknown config {name} (d64, d256, d16, d2)")));
        cfgs.push(run_config(c, &args, dev.as_ref()));
    }
    let mut top = Obj::default();
    top.str("activation", "softplus")
        .str("backend", if args.gpu { "gpu" } else { "cpu" })
        .str("adapter", &dev.as_ref().map_or("cpu".to_string(), |d| d.info().to_string()))
        .str("dtype", "f32")
        .raw("repeats", args.repeats.to_string())
        .raw("warmup", args.warmup.to_string())
        .num("eps", EPS)
        .num("dsm_sigma", DSM_SIGMA)
        .raw("cd_k", args.cd_k.to_string())
        .raw("langevin_steps", args.langevin_steps.to_string())
        .raw("nce_nu", "1".to_string())
        .str("rayon_threads", &std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into()))
        .raw("configs", format!("[{}]", cfgs.join(",\n")));
    let path = args.out.join("ebm.json");
    let mut f = std::fs::File::create(&path).unwrap_or_else(|e| die(&format!("creating {}: {e}", path.display())));
    writeln!(f, "{}", top.encode()).unwrap_or_else(|e| die(&format!("writing {}: {e}", path.display())));
}
