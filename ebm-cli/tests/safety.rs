//! Results are never lost (issue 16, items 2–4): runs are not replaced by
//! accident, failed starts leave nothing behind, `metrics.json` tells how
//! every run ended, Ctrl-C checkpoints, exploding runs stop as diverged,
//! absurd sizes are typed errors, and the rough edges of the command line.

mod common;

use common::*;
use ebm_cli::{checkpoint, npy, state};
use std::path::Path;
use std::process::Command;

/// `ebm train` of a tiny DSM run into `out` with `extra` flags.
fn train(d: &Path, out: &Path, extra: &[&str]) -> Command {
    let cfg =
        // The cosine's horizon is the 9 steps the resume tests reach.
        config(d, "plot_samples = 0\nmodel = \"mlp:8,8\"\nestimator = \"dsm\"\nsteps = 6\ncheckpoint_every = 3\nlr_decay_steps = 9\n");
    let mut c = ebm();
    c.args(["train", "--config"]).arg(cfg).arg("--out").arg(out);
    c.args(extra);
    c
}

/// The model, state and metrics files of a run, as bytes.
fn run_bytes(out: &Path) -> Vec<Vec<u8>> {
    ["model.safetensors", "state.safetensors", "metrics.json"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect()
}

#[test]
fn a_run_is_never_replaced_by_accident() {
    let d = tmp("replace");
    let out = d.join("run");
    ok(&mut train(&d, &out, &[]));
    let before = run_bytes(&out);
    fails(&mut train(&d, &out, &["--steps", "9"]), 1, &["already holds a training run", "--force", "--resume"]);
    assert!(run_bytes(&out) == before, "a refused train changed the run");
    // eval never writes into a run (its metrics.json would replace the run's).
    let input = fixture("mlp_softplus_x.npy");
    fails(
        ebm().args(["eval", "--metrics", "--model"]).arg(&out).arg("--input").arg(&input).arg("--out").arg(&out),
        1,
        &["already holds a training run", "choose another --out"],
    );
    assert!(run_bytes(&out) == before, "eval changed the run");
    assert!(!out.join("energy.npy").exists());
    // An eval's own output directory is not a run: eval may write it again.
    let e = d.join("eval");
    for _ in 0..2 {
        ok(ebm().args(["eval", "--metrics", "--model"]).arg(&out).arg("--input").arg(&input).arg("--out").arg(&e));
    }
    // --force replaces it.
    ok(&mut train(&d, &out, &["--steps", "9", "--force"]));
    assert_eq!(checkpoint::load(&out).unwrap().step, 9);
    assert_eq!(metrics(&out)["loss"].as_array().unwrap().len(), 9);
}

#[test]
fn failed_starts_leave_nothing_behind() {
    let d = tmp("failed");
    let cases: [(&[&str], &str); 5] = [
        (&["--model", "mlp:0"], "positive integer"),
        (&["--estimator", "mle"], "unknown estimator"),
        (&["--data", "/nonexistent/x.npy"], "cannot read"),
        (&["--batch", "100000"], "larger than the training split"),
        (&["--n-data", "1000000000000"], "needs about"),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let out = d.join(format!("out{i}"));
        fails(&mut train(&d, &out, args), 1, &[needle]);
        assert!(!out.exists(), "{args:?} left {}", out.display());
    }
    let out = d.join("eval");
    let model = fixture("mlp_softplus.safetensors");
    fails(
        ebm()
            .args(["eval", "--model"])
            .arg(&model)
            .arg("--input")
            .arg(fixture("gaussian_x.npy"))
            .arg("--out")
            .arg(&out),
        1,
        &["dimension"],
    );
    assert!(!out.exists(), "a failed eval left its --out");
}

#[test]
fn absurd_sizes_say_how_much_memory_they_need() {
    let d = tmp("sizes");
    let t = fails(&mut train(&d, &d.join("t"), &["--n-data", "1000000000000"]), 1, &["--n-data", "needs about"]);
    assert!(t.contains("80.0 TB") && t.contains("available") && !t.contains("panicked"), "{t}");
    let out = d.join("s.npy");
    let model = fixture("mlp_softplus.safetensors");
    let t = fails(
        ebm().args(["sample", "--n", "1000000000000", "--model"]).arg(&model).arg("--out").arg(&out),
        1,
        &["--n 1000000000000", "needs about 96.0 TB"],
    );
    assert!(!t.contains("panicked") && !out.exists(), "{t}");
}

/// CD at learning rate 1 (default settings otherwise) sends the energy of its own samples to −∞ while
/// every number stays finite; the loss bound stops it as diverged and the
/// checkpoint on disk is the last one written before.
#[test]
fn an_exploding_finite_loss_is_a_divergence() {
    let d = tmp("explode");
    let out = d.join("run");
    let t = fails(
        ebm()
            .args(["train", "--estimator", "cd", "--lr", "1", "--steps", "300", "--checkpoint-every", "1", "--out"])
            .arg(&out),
        2,
        &["diverged", "beyond the bound", "last good checkpoint"],
    );
    let m = metrics(&out);
    assert_eq!(m["status"], "diverged", "{t}");
    let at = m["diverged"]["step"].as_u64().unwrap();
    let kept = m["diverged"]["checkpoint_step"].as_u64().unwrap();
    assert!(kept <= at && at < 300, "{m}");
    let (ck, st) = (checkpoint::load(&out).unwrap(), state::load(&out.join("state.safetensors")).unwrap());
    assert_eq!((ck.step as u64, st.step as u64), (kept, kept));
    // The committed loss history stays below the bound 1e8·max(1, |L₀|).
    let hist = st.loss.unwrap();
    let bound = 1e8 * hist[0].1.abs().max(1.0);
    assert!(hist.iter().all(|l| l.1.abs() <= bound), "{hist:?}");
    assert_eq!(m["steps_done"].as_u64(), Some(kept));
}

/// A run that fails after its directory exists says `error` (the state
/// file's path is a directory here, so the first commit cannot write it).
#[test]
fn a_runtime_error_is_recorded_in_metrics_json() {
    let d = tmp("error");
    let out = d.join("run");
    std::fs::create_dir_all(out.join("state.safetensors")).unwrap();
    fails(&mut train(&d, &out, &[]), 1, &["state.safetensors"]);
    let m = metrics(&out);
    assert_eq!(m["status"], "error", "{m}");
    assert!(m["error"].as_str().unwrap().contains("state.safetensors"), "{m}");
}

/// Ctrl-C: a final checkpoint, `interrupted`, exit 130; the resumed run
/// ends bit for bit where an uninterrupted one does.
#[test]
fn sigint_checkpoints_and_exits_130() {
    let d = tmp("sigint");
    let (a, b) = (d.join("a"), d.join("b"));
    let steps = ["--steps", "3000", "--checkpoint-every", "50"];
    let (mut child, mut lines) = spawn_stderr(train(&d, &b, &steps).args(["--estimator", "pcd"]));
    let first = lines.by_ref().find(|l| l.contains("checkpoint written"));
    assert!(first.is_some(), "no checkpoint line");
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted") && l.contains("--resume")), "{rest:?}");
    let m = metrics(&b);
    let step = m["steps_done"].as_u64().unwrap();
    assert_eq!(m["status"], "interrupted");
    assert!((50..3000).contains(&step), "{step}");
    assert_eq!(checkpoint::load(&b).unwrap().step as u64, step);
    assert_eq!(state::load(&b.join("state.safetensors")).unwrap().step as u64, step);
    ok(ebm().args(["train", "-q", "--resume"]).arg(&b));
    ok(train(&d, &a, &steps).args(["--estimator", "pcd"]));
    let (ca, cb) = (checkpoint::load(&a).unwrap(), checkpoint::load(&b).unwrap());
    assert_eq!(checkpoint::tensors(&ca.model), checkpoint::tensors(&cb.model), "θ differs after Ctrl-C + resume");
    assert_eq!(metrics(&a)["loss"], metrics(&b)["loss"]);
    assert_eq!(metrics(&b)["status"], "done");
}

/// A run folder of an older ebm (a state file without θ and history, the
/// model file of the same step) still resumes bit for bit.
#[test]
fn a_state_file_of_an_older_ebm_still_resumes_exactly() {
    let d = tmp("older");
    let (a, b) = (d.join("a"), d.join("b"));
    ok(&mut train(&d, &a, &["--steps", "9"]));
    ok(&mut train(&d, &b, &[]));
    let path = b.join("state.safetensors");
    let st = state::load(&path).unwrap();
    assert!(st.params.is_some() && st.loss.is_some());
    state::save(&path, &state::TrainState { params: None, loss: None, eval_loss: None, ..st }).unwrap();
    ok(ebm().args(["train", "-q", "--steps", "9", "--resume"]).arg(&b));
    let (ca, cb) = (checkpoint::load(&a).unwrap(), checkpoint::load(&b).unwrap());
    assert_eq!(checkpoint::tensors(&ca.model), checkpoint::tensors(&cb.model));
    assert_eq!(metrics(&a)["loss"], metrics(&b)["loss"]);
}

#[test]
fn resume_accepts_flags_whose_value_is_unchanged() {
    let d = tmp("same");
    let out = d.join("run");
    ok(&mut train(&d, &out, &["--lr", "0.002", "--seed", "4", "--data", "rings"]));
    let same = ["--lr", "0.002", "--seed", "4", "--data", "rings", "--model", "mlp:8,8", "--estimator", "dsm"];
    ok(ebm().args(["train", "-q", "--steps", "9"]).args(same).arg("--resume").arg(&out));
    assert_eq!(checkpoint::load(&out).unwrap().step, 9);
    fails(
        ebm().args(["train", "-q", "--steps", "12", "--lr", "0.003", "--resume"]).arg(&out),
        1,
        &["--lr cannot change"],
    );
    fails(ebm().args(["train", "-q", "--data", "moons", "--resume"]).arg(&out), 1, &["--data cannot change"]);
}

#[test]
fn eval_input_takes_a_builtin_data_set() {
    let d = tmp("evalname");
    let out = d.join("e");
    ok(ebm()
        .args(["eval", "--input", "moons", "--seed", "2", "--model"])
        .arg(fixture("mlp_softplus.safetensors"))
        .arg("--out")
        .arg(&out));
    let e = npy::read(&out.join("energy.npy")).unwrap();
    assert_eq!(e.data.len(), 4096);
    assert!(e.data.iter().all(|v| v.is_finite()));
}

#[test]
fn help_documents_every_exit_code() {
    let t = ok(ebm().arg("--help"));
    for needle in
        ["0 success", "1 runtime error", "2 a training run that diverged", "64 usage error", "130 interrupted"]
    {
        assert!(t.contains(needle), "--help lacks {needle:?}:\n{t}");
    }
}

/// Mesa prints `XDG_RUNTIME_DIR is invalid` when the variable is unset;
/// `ebm` points it at a private directory first.
#[test]
fn mesa_noise_stays_off_the_terminal() {
    if ebm_kernels::list_adapters().is_empty() {
        panic!("no GPU adapter: {}", ebm_kernels::INSTALL_HINT);
    }
    let d = tmp("mesa");
    for (i, value) in [None, Some("/nonexistent-runtime-dir")].into_iter().enumerate() {
        let mut c = ebm();
        c.args(["eval", "--backend", "gpu", "--input", "moons", "--model"])
            .arg(fixture("mlp_softplus.safetensors"))
            .arg("--out")
            .arg(d.join(format!("e{i}")));
        match value {
            None => c.env_remove("XDG_RUNTIME_DIR"),
            Some(v) => c.env("XDG_RUNTIME_DIR", v),
        };
        let t = ok(&mut c);
        assert!(!t.contains("XDG_RUNTIME_DIR"), "{t}");
    }
}

/// On a terminal the progress bar is cleared before the summary: no line
/// shows the bar and the `done:` or `note:` text together. The terminal is
/// a pseudo-terminal from util-linux `script`.
#[test]
fn summary_lines_do_not_print_onto_the_progress_bar() {
    let d = tmp("tty");
    let out = d.join("run");
    let cmd = format!("{} train --steps 300 --model mlp:8 --out {}", env!("CARGO_BIN_EXE_ebm"), out.display());
    let o = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .output()
        .expect("this test needs util-linux `script` for a pseudo-terminal");
    let raw = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success() && raw.contains("done:") && raw.contains("steps/s"), "{raw}");
    for line in raw.split('\n') {
        // What stays visible: the text after the last carriage return or
        // line erase, without escape sequences.
        let tail = line.trim_end_matches('\r').rsplit('\r').next().unwrap_or("");
        let tail = tail.rsplit("\x1b[2K").next().unwrap_or("");
        let bar = tail.contains("steps/s");
        assert!(!(bar && (tail.contains("done:") || tail.contains("note:"))), "text printed onto the bar: {tail:?}");
    }
}
