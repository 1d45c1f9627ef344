//! Helpers shared by the end-to-end tests: spawning `ebm`, fresh
//! directories, exit-code checks and a small, fast configuration.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn ebm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ebm"));
    c.env_remove("EBM_DEBUG_PAUSE_WRITE");
    c
}

/// `ebm train --data DATA --model MODEL --estimator EST --steps STEPS`.
pub fn train(data: &str, model: &str, est: &str, steps: &str) -> Command {
    let mut c = ebm();
    c.args(["train", "--data", data, "--model", model, "--estimator", est, "--steps", steps]);
    c
}

/// Appends `--config CFG --out OUT` to `c`.
pub fn cfg_out<'a>(c: &'a mut Command, cfg: &Path, out: &Path) -> &'a mut Command {
    c.arg("--config").arg(cfg).arg("--out").arg(out)
}

/// `ebm eval --backend BACKEND --model MODEL --input INPUT --out OUT`.
pub fn eval_on(backend: &str, model: &Path, input: &Path, out: &Path) -> Command {
    let mut c = ebm();
    c.args(["eval", "--backend", backend, "--model"]).arg(model).arg("--input").arg(input).arg("--out").arg(out);
    c
}

/// A fresh directory for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ebm-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn run(c: &mut Command) -> Output {
    c.output().expect("spawn ebm")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn ok(c: &mut Command) -> String {
    let o = run(c);
    assert!(o.status.success(), "ebm failed ({:?}):\n{}", o.status.code(), text(&o));
    text(&o)
}

pub fn fails(c: &mut Command, code: i32, needles: &[&str]) -> String {
    let o = run(c);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(code), "expected exit code {code}:\n{t}");
    for n in needles {
        assert!(t.contains(n), "message lacks {n:?}:\n{t}");
    }
    t
}

pub fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
}

/// A small, fast configuration.
pub const SMALL: &str = "n_data = 512\nbatch = 64\nplot_samples = 200\nplot_sampler_steps = 30\neval_every = 10\n";

/// Writes `SMALL` with the keys of `extra` replaced or added.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
    let overridden: Vec<String> = extra.lines().map(key).collect();
    let base: String = SMALL.lines().filter(|l| !overridden.contains(&key(l))).map(|l| format!("{l}\n")).collect();
    let p = dir.join("run.toml");
    std::fs::write(&p, format!("{base}{extra}")).unwrap();
    p
}

/// A fresh folder `tmp(name)`, its run folder `run` and a config there
/// without sample plots: (folder, run folder, config).
pub fn plotless_run(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = tmp(name);
    let cfg = config(&d, "plot_samples = 0\n");
    (d.clone(), d.join("run"), cfg)
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Spawns `c` with stderr piped (stdout discarded); returns the child and
/// its stderr lines.
pub fn spawn_stderr(c: &mut Command) -> (Child, impl Iterator<Item = String>) {
    let mut child = c.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn ebm");
    let lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(|l| l.ok());
    (child, lines)
}
