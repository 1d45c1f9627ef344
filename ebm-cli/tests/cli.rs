//! End-to-end tests of the `ebm` binary: each spawns it as a user would and
//! checks its files and exit codes. Runs are tiny (a few dozen steps on a
//! few hundred points) so the whole file takes seconds.

mod common;

use common::*;
use ebm_cli::checkpoint;
use ebm_cli::npy;
use std::path::Path;

#[test]
fn train_writes_every_output() {
    let d = tmp("train");
    let out = d.join("run");
    let cfg = config(&d, "");
    ok(cfg_out(
        train("8gaussians", "mlp:16,16", "dsm", "30").args([
            "--lr",
            "3e-3",
            "--seed",
            "3",
            "--checkpoint-every",
            "10",
            "-q",
        ]),
        &cfg,
        &out,
    ));
    let m = metrics(&out);
    assert_eq!(m["status"], "done");
    assert_eq!(m["steps_done"], 30);
    assert_eq!(m["loss"].as_array().unwrap().len(), 30);
    assert!(m["eval_loss"].as_array().unwrap().len() >= 3);
    let h = &m["heldout"];
    for k in ["ksd2", "mmd2"] {
        assert!(h[k].as_f64().is_some_and(f64::is_finite), "heldout.{k} missing: {h}");
    }
    // An MLP energy need not be normalisable: the exact NLL is there, or
    // the reason it is not.
    assert!(
        h["nll"].as_f64().is_some_and(f64::is_finite)
            || h["errors"]["nll"].as_str().is_some_and(|e| e.contains("normalisable")),
        "{h}"
    );
    let ck = checkpoint::load(&out).unwrap();
    assert_eq!((ck.step, ck.model.describe().as_str()), (30, "mlp:16,16:softplus"));
    assert!(ck.data_mean.is_some() && ck.data_std.is_some());
    for png in ["density.png", "samples.png"] {
        let b = std::fs::read(out.join(png)).unwrap();
        assert!(b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 1000, "{png} is not a PNG");
    }
    let cfg_back = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        cfg_back.contains("estimator = \"dsm\"")
            && cfg_back.contains("seed = 3")
            && cfg_back.contains("plot_samples = 200"),
        "{cfg_back}"
    );
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_estimator_trains_a_few_steps() {
    let d = tmp("estimators");
    let cfg =
        config(&d, "plot_samples = 0\nmcmc_steps = 3\npcd_buffer = 256\nlsd_hidden = [8]\nlsd_critic_steps = 1\n");
    for (est, model) in [
        ("cd", "mlp:8"),
        ("pcd", "mlp:8"),
        ("icd", "mlp:8"),
        ("esm", "gaussian"),
        ("dsm", "gmm:2"),
        ("ssm", "ica"),
        ("ssm-vr", "rbm:4"),
        ("nce", "mlp:8"),
        ("lsd", "mlp:8"),
    ] {
        let out = d.join(est);
        ok(cfg_out(train("gmm-2d", model, est, "5").args(["--eval-every", "0", "-q"]), &cfg, &out));
        let m = metrics(&out);
        assert_eq!(m["steps_done"], 5, "{est}");
        if est == "nce" {
            assert!(m["nce_log_z"].as_f64().is_some(), "nce without log Z: {m}");
        }
        assert!(checkpoint::load(&out).is_ok(), "{est}");
    }
}

#[test]
fn formula_model_trains_and_rejects_wrong_dimension() {
    let d = tmp("formula");
    let f = d.join("gauss.txt");
    std::fs::write(&f, "# isotropic Gaussian\nenergy(x[2]; mu[2], log_s) = 0.5 * sum(i, 0..2, (x[i] - mu[i])^2) * exp(-2*log_s)\n#! theta = 0, 0, 0\n").unwrap();
    let cfg = config(&d, "plot_samples = 0\n");
    let out = d.join("run");
    ok(cfg_out(
        ebm()
            .args(["train", "--data", "gmm-2d", "--estimator", "esm", "--steps", "20", "--lr", "0.05", "-q", "--model"])
            .arg(format!("formula:{}", f.display())),
        &cfg,
        &out,
    ));
    let ck = checkpoint::load(&out).unwrap();
    assert_eq!(ck.model.family(), "formula");
    // The formula travels in the checkpoint: evaluating needs no formula file.
    std::fs::remove_file(&f).unwrap();
    let x = d.join("x.npy");
    std::fs::write(&x, npy::to_bytes(&[0.0, 0.0, 1.0, 1.0], &[2, 2])).unwrap();
    ok(ebm().args(["eval", "--model"]).arg(&out).arg("--input").arg(&x).arg("--out").arg(d.join("ev")));
    // 3-column data against the 2-D formula.
    let f3 = d.join("g2.txt");
    std::fs::write(&f3, "energy(x[2]) = 0.5 * (x[0]^2 + x[1]^2)\n").unwrap();
    let csv = d.join("three.csv");
    std::fs::write(&csv, "a,b,c\n1,2,3\n4,5,6\n7,8,9\n").unwrap();
    fails(
        ebm()
            .args(["train", "--estimator", "esm", "--steps", "2", "--batch", "1", "--model"])
            .arg(format!("formula:{}", f3.display()))
            .arg("--data")
            .arg(&csv)
            .arg("--out")
            .arg(d.join("bad")),
        1,
        &["three.csv", "3 columns", "dimension 2"],
    );
}

#[test]
fn resume_continues_from_the_checkpoint() {
    let (_, out, cfg) = plotless_run("resume");
    ok(cfg_out(train("moons", "mlp:8,8", "ssm-vr", "20").args(["--checkpoint-every", "10", "-q"]), &cfg, &out));
    assert_eq!(checkpoint::load(&out).unwrap().step, 20);
    ok(ebm().args(["train", "--steps", "35", "-q", "--resume"]).arg(&out));
    let m = metrics(&out);
    assert_eq!((m["status"].as_str(), m["steps_done"].as_u64()), (Some("done"), Some(35)));
    let steps: Vec<u64> = m["loss"].as_array().unwrap().iter().map(|p| p[0].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..35).collect::<Vec<_>>());
    assert_eq!(checkpoint::load(&out).unwrap().step, 35);
    assert!(std::fs::read_to_string(out.join("config.toml")).unwrap().contains("steps = 35"));
    fails(ebm().args(["train", "--lr", "1", "--resume"]).arg(&out), 1, &["--lr cannot change"]);
}

/// The estimators of the bit-for-bit resume tests, with small settings.
const RESUMABLE: [(&str, &str); 6] = [
    ("dsm", ""),
    ("cd", "mcmc_steps = 3\n"),
    ("pcd", "mcmc_steps = 3\npcd_buffer = 200\n"),
    ("nce", ""),
    ("lsd", "lsd_hidden = [8]\nlsd_critic_steps = 2\n"),
    ("esm", ""),
];

/// Trains `est` to `steps` in `out` (checkpoint every 4).
fn train_small(d: &Path, est: &str, extra: &str, steps: usize, out: &Path) {
    // The cosine's horizon is the full run's, as for a run interrupted at
    // `steps` and resumed (a run started with a smaller --steps decays over
    // that, by design).
    let cfg = config(d, &format!("plot_samples = 0\ndata = \"moons\"\nmodel = \"mlp:8,8\"\noptimizer = \"adam\"\nestimator = \"{est}\"\nlr_decay_steps = 18\n{extra}"));
    ok(ebm()
        .args(["train", "--steps", &steps.to_string(), "--checkpoint-every", "4", "-q", "--seed", "5", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(out));
}

/// Training S steps in one go, and S/2 steps then `--resume` to S, give the
/// same θ (and NCE c) for every estimator with persistent state or noise.
#[test]
fn resume_is_a_bit_for_bit_continuation() {
    let d = tmp("exact");
    for (est, extra) in RESUMABLE {
        let (a, b) = (d.join(format!("{est}-a")), d.join(format!("{est}-b")));
        train_small(&d, est, extra, 18, &a);
        train_small(&d, est, extra, 10, &b); // stops off the checkpoint grid's end: 4, 8, 10
        ok(ebm().args(["train", "--steps", "18", "-q", "--resume"]).arg(&b));
        let (ca, cb) = (checkpoint::load(&a).unwrap(), checkpoint::load(&b).unwrap());
        assert_eq!((ca.step, cb.step), (18, 18), "{est}");
        assert_eq!(checkpoint::tensors(&ca.model), checkpoint::tensors(&cb.model), "{est}: θ differs after resume");
        assert_eq!(ca.aux, cb.aux, "{est}: auxiliary parameters differ after resume");
        let (la, lb) = (metrics(&a)["loss"].clone(), metrics(&b)["loss"].clone());
        assert_eq!(la, lb, "{est}: loss curves differ");
    }
}

/// The state files of the two runs agree too, and a missing, corrupted or
/// foreign state file is a typed error (exit 1) unless --inexact-resume.
#[test]
fn resume_state_file_errors_are_typed() {
    let d = tmp("state");
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    train_small(&d, "pcd", "mcmc_steps = 3\npcd_buffer = 200\n", 8, &a);
    train_small(&d, "lsd", "lsd_hidden = [8]\nlsd_critic_steps = 2\n", 8, &b);
    train_small(&d, "lsd", "lsd_hidden = [8]\nlsd_critic_steps = 2\n", 4, &c);
    ok(ebm().args(["train", "--steps", "8", "-q", "--resume"]).arg(&c));
    let (sb, sc) = (
        ebm_cli::state::load(&b.join("state.safetensors")).unwrap(),
        ebm_cli::state::load(&c.join("state.safetensors")).unwrap(),
    );
    assert_eq!(sb, sc, "LSD critic / Adam state differs after resume");
    assert!(sb.entries.iter().any(|(n, v)| n == "estimator.critic" && !v.is_empty()));
    assert!(sb.entries.iter().any(|(n, v)| n == "optimizer.m" && !v.is_empty()));
    let state = b.join("state.safetensors");
    let good = std::fs::read(&state).unwrap();
    // another estimator's state at the same step
    std::fs::copy(a.join("state.safetensors"), &state).unwrap();
    fails(
        ebm().args(["train", "--steps", "12", "-q", "--resume"]).arg(&b),
        1,
        &["state.safetensors", "cannot resume exactly", "estimator `pcd`", "--inexact-resume"],
    );
    // corrupted
    std::fs::write(&state, &good[..good.len() / 2]).unwrap();
    fails(
        ebm().args(["train", "--steps", "12", "-q", "--resume"]).arg(&b),
        1,
        &["cannot resume exactly", "not a valid safetensors file"],
    );
    // a state of another step
    let mut st = sb.clone();
    st.step = 4;
    ebm_cli::state::save(&state, &st).unwrap();
    fails(
        ebm().args(["train", "--steps", "12", "-q", "--resume"]).arg(&b),
        1,
        &["cannot resume exactly", "after 4 steps", "after 8"],
    );
    // a state whose critic has the wrong size
    let mut st = sb.clone();
    st.entries.iter_mut().filter(|(n, _)| n == "estimator.critic").for_each(|(_, v)| v.push(0.0));
    ebm_cli::state::save(&state, &st).unwrap();
    fails(
        ebm().args(["train", "--steps", "12", "-q", "--resume"]).arg(&b),
        1,
        &["cannot resume exactly", "estimator.critic"],
    );
    // missing; nothing was written by the failed attempts
    std::fs::remove_file(&state).unwrap();
    fails(ebm().args(["train", "--steps", "12", "-q", "--resume"]).arg(&b), 1, &["cannot resume exactly", "missing"]);
    assert_eq!(checkpoint::load(&b).unwrap().step, 8);
    let t = ok(ebm().args(["train", "--steps", "12", "-q", "--inexact-resume", "--resume"]).arg(&b));
    assert!(t.contains("warning") && t.contains("not a bit-for-bit"), "{t}");
    assert_eq!(checkpoint::load(&b).unwrap().step, 12);
    assert_eq!(ebm_cli::state::load(&state).unwrap().step, 12);
}

#[test]
fn divergence_exits_with_code_2_and_keeps_the_last_good_checkpoint() {
    let d = tmp("diverge");
    let out = d.join("run");
    let cfg = config(&d, "data = \"gmm-2d\"\nmodel = \"mlp:16,16\"\nestimator = \"esm\"\noptimizer = \"sgd\"\nlr = 1.0\nsteps = 500\ncheckpoint_every = 2\nplot_samples = 0\n");
    let t = fails(
        ebm().args(["train", "-q", "--config"]).arg(&cfg).arg("--out").arg(&out),
        2,
        &["diverged", "last good checkpoint"],
    );
    let m = metrics(&out);
    assert_eq!(m["status"], "diverged", "{t}");
    let at = m["diverged"]["step"].as_u64().unwrap();
    let kept = m["diverged"]["checkpoint_step"].as_u64().unwrap();
    let ck = checkpoint::load(&out).unwrap();
    assert_eq!(ck.step as u64, kept);
    assert!(kept <= at && kept >= 2, "checkpoint {kept}, divergence {at}");
    assert!(ck.model.energy().params().iter().all(|v| v.is_finite()));
}

/// SIGKILL in the middle of a checkpoint write leaves the previous
/// checkpoint loadable, and a resumed run cleans up and finishes.
#[test]
fn killed_mid_checkpoint_write_leaves_a_loadable_checkpoint() {
    let (_, out, cfg) = plotless_run("kill");
    // Writes: step 0, step 10, then the third (step 20) pauses half-way.
    let mut c = ebm();
    c.args(["train", "--data", "rings", "--model", "mlp:32,32", "--estimator", "dsm", "-q"]).args([
        "--steps",
        "40",
        "--checkpoint-every",
        "10",
    ]);
    cfg_out(&mut c, &cfg, &out).env("EBM_DEBUG_PAUSE_WRITE", "model.safetensors:3");
    let (mut child, mut lines) = spawn_stderr(&mut c);
    let paused = lines.find(|l| l.contains("EBM_DEBUG: paused mid-write"));
    assert!(paused.is_some(), "the child never reached the pause");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let temps: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".model.safetensors.tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "the half-written temporary file should be there");
    let full = checkpoint::to_bytes(&checkpoint::load(&out).unwrap()).len() as u64;
    assert!(temps[0].metadata().unwrap().len() < full, "the temporary file is not partial");
    let ck = checkpoint::load(&out).expect("the checkpoint must load after SIGKILL");
    assert_eq!(ck.step, 10);
    ok(ebm().args(["train", "-q", "--resume"]).arg(&out));
    assert_eq!(checkpoint::load(&out).unwrap().step, 40);
    let left = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    assert_eq!(left, 0, "resume should remove stale temporary files");
}

#[test]
fn bad_data_files_give_typed_errors_with_location() {
    let d = tmp("baddata");
    let cases: [(&str, &[u8], &[&str]); 5] = [
        ("ragged.csv", b"x,y\n1,2\n3,4\n5\n", &["ragged.csv", "ragged row", "line 4", "expected 2"]),
        ("text.csv", b"1,2\n3,abc\n", &["text.csv", "non-numeric", "\"abc\"", "line 2", "column 2"]),
        ("nan.csv", b"1,2\n3,4\nNaN,1\n", &["nan.csv", "non-finite", "line 3", "column 1"]),
        ("empty.csv", b"", &["empty.csv", "empty file"]),
        ("header_only.csv", b"x,y\n", &["header_only.csv", "empty file"]),
    ];
    for (name, content, needles) in cases {
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        fails(ebm().args(["train", "--steps", "1", "--data"]).arg(&p).arg("--out").arg(d.join("o")), 1, needles);
    }
    let inf = d.join("inf.npy");
    std::fs::write(&inf, npy::to_bytes(&[0.0, 1.0, 2.0, f32::INFINITY], &[2, 2])).unwrap();
    fails(
        ebm().args(["train", "--steps", "1", "--data"]).arg(&inf).arg("--out").arg(d.join("o")),
        1,
        &["inf.npy", "non-finite", "row 1", "column 1"],
    );
    let trunc = d.join("trunc.npy");
    let mut b = npy::to_bytes(&[0.0; 8], &[4, 2]);
    b.truncate(b.len() - 5);
    std::fs::write(&trunc, b).unwrap();
    fails(
        ebm().args(["train", "--steps", "1", "--data"]).arg(&trunc).arg("--out").arg(d.join("o")),
        1,
        &["trunc.npy", "data bytes"],
    );
    fails(
        ebm().args(["train", "--steps", "1", "--data", "nosuchset", "--out"]).arg(d.join("o")),
        1,
        &["unknown data set", "8gaussians"],
    );
    fails(
        ebm().args(["train", "--steps", "1", "--data", "missing.csv", "--out"]).arg(d.join("o")),
        1,
        &["missing.csv", "cannot read"],
    );
    // Dimension mismatch between an input file and a model.
    let model = fixture("mlp_tanh.safetensors"); // d = 3
    let x2 = d.join("x2.npy");
    std::fs::write(&x2, npy::to_bytes(&[0.0; 4], &[2, 2])).unwrap();
    fails(
        ebm().args(["eval", "--model"]).arg(&model).arg("--input").arg(&x2).arg("--out").arg(d.join("e")),
        1,
        &["x2.npy", "2 columns", "dimension 3"],
    );
}

#[test]
fn usage_errors() {
    let d = tmp("usage");
    fails(
        ebm().args(["train", "--estimator", "mle", "--steps", "1", "--out"]).arg(d.join("a")),
        1,
        &["unknown estimator", "ssm-vr"],
    );
    fails(
        ebm().args(["train", "--model", "mlp:0", "--steps", "1", "--out"]).arg(d.join("b")),
        1,
        &["positive integer"],
    );
    fails(ebm().args(["train", "--model", "mlp:8:bogus", "--out"]).arg(d.join("c")), 1, &["unknown activation"]);
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "stepz = 3\n").unwrap();
    fails(ebm().args(["train", "--config"]).arg(&bad).arg("--out").arg(d.join("e")), 1, &["bad.toml", "stepz"]);
    fails(ebm().args(["train", "--frobnicate"]), 64, &["--frobnicate"]);
    fails(ebm().args(["sample", "--model", "x", "--out", "y.txt"]), 1, &[".npy or .csv"]);
    // A truncated checkpoint is an error message, not a panic.
    let good = std::fs::read(fixture("mlp_softplus.safetensors")).unwrap();
    let cut = d.join("cut.safetensors");
    std::fs::write(&cut, &good[..good.len() - 7]).unwrap();
    let t = fails(
        ebm().args(["sample", "--out", "s.npy", "--model"]).arg(&cut),
        1,
        &["cut.safetensors", "not a valid safetensors file"],
    );
    assert!(!t.contains("panicked"), "{t}");
    let printed = ok(ebm().args(["train", "--print-config", "--steps", "7"]));
    assert!(printed.contains("steps = 7") && printed.contains("optimizer = \"adam\""), "{printed}");
    let o = run(ebm().arg("--help"));
    assert!(o.status.success() && text(&o).contains("train"));
}

#[test]
fn sample_with_every_sampler() {
    let (d, out, cfg) = plotless_run("sample");
    ok(cfg_out(train("gmm-2d", "gmm:3", "dsm", "20").args(["--lr", "0.02", "-q"]), &cfg, &out));
    for s in ["ula", "mala", "hmc", "annealed"] {
        let f = d.join(format!("{s}.npy"));
        let t = ok(ebm()
            .args(["sample", "--n", "64", "--steps", "20", "--sampler", s, "--model"])
            .arg(&out)
            .arg("--out")
            .arg(&f));
        if s == "mala" || s == "hmc" {
            assert!(t.contains("acceptance rate"), "{t}");
        }
        let a = npy::read(&f).unwrap();
        assert_eq!((a.rows, a.cols), (64, 2), "{s}");
    }
    let f = d.join("s.csv");
    ok(ebm()
        .args(["sample", "--n", "10", "--steps", "5", "--model"])
        .arg(out.join("model.safetensors"))
        .arg("--out")
        .arg(&f));
    let a = ebm_cli::csv::read(&f).unwrap();
    assert_eq!((a.rows, a.cols), (10, 2));
    // The same seed gives the same samples.
    let g = d.join("s2.csv");
    ok(ebm().args(["sample", "--n", "10", "--steps", "5", "--model"]).arg(&out).arg("--out").arg(&g));
    assert_eq!(std::fs::read(&f).unwrap(), std::fs::read(&g).unwrap());
}

#[test]
fn eval_writes_derivatives_and_exact_metrics() {
    let d = tmp("eval");
    // A 2-D Gaussian with a known log Z.
    let ck = checkpoint::Checkpoint::new(ebm_cli::model::Model::Gaussian(
        ebm_core::Gaussian::from_mean_precision(&[0.5f32, -1.0], &[2.0, 0.5, 0.5, 1.0]).unwrap(),
    ));
    let model = d.join("g.safetensors");
    checkpoint::save(&model, &ck).unwrap();
    let x: Vec<f32> = (0..400).map(|i| ((i as f32) * 0.7).sin() * 1.5).collect();
    let input = d.join("x.npy");
    std::fs::write(&input, npy::to_bytes(&x, &[200, 2])).unwrap();
    let out = d.join("out");
    ok(ebm().args(["eval", "--metrics", "--model"]).arg(&model).arg("--input").arg(&input).arg("--out").arg(&out));
    let e = npy::read(&out.join("energy.npy")).unwrap();
    let s = npy::read(&out.join("score.npy")).unwrap();
    let h = npy::read(&out.join("hess_diag.npy")).unwrap();
    assert_eq!((e.rows, e.cols, s.rows, s.cols, h.rows, h.cols), (200, 1, 200, 2, 200, 2));
    let (px, py) = (x[0] - 0.5, x[1] + 1.0);
    let want_e = 0.5 * (2.0 * px * px + px * py + py * py);
    assert!((e.data[0] - want_e).abs() < 1e-5, "{} vs {want_e}", e.data[0]);
    assert!((s.data[0] + (2.0 * px + 0.5 * py)).abs() < 1e-5);
    assert!((h.data[0] - 2.0).abs() < 1e-6 && (h.data[1] - 1.0).abs() < 1e-6);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let det: f64 = 2.0 * 1.0 - 0.25;
    let log_z = (2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln();
    assert!((m["log_z"].as_f64().unwrap() - log_z).abs() < 1e-5, "{m}");
    let ais = m["ais_log_z"].as_f64().unwrap();
    let se = m["ais_log_z_std_err"].as_f64().unwrap();
    assert!((ais - log_z).abs() < 5.0 * se + 0.02, "AIS {ais} ± {se} vs {log_z}");
    let mean_e: f64 = e.data.iter().map(|&v| v as f64).sum::<f64>() / 200.0;
    assert!((m["nll"].as_f64().unwrap() - (mean_e + log_z)).abs() < 1e-4);
    for k in ["ksd2", "mmd2"] {
        assert!(m[k].as_f64().is_some(), "{k}: {m}");
    }
}

#[test]
fn eval_of_a_relu_mlp_says_why_there_is_no_hessian() {
    let d = tmp("relu");
    let model = ebm_cli::model::Model::init(&ebm_cli::model::ModelSpec::parse("mlp:4:relu").unwrap(), 2, 0).unwrap();
    let p = d.join("relu.safetensors");
    checkpoint::save(&p, &checkpoint::Checkpoint::new(model)).unwrap();
    let x = d.join("x.csv");
    std::fs::write(&x, "1,2\n3,4\n").unwrap();
    let t = ok(ebm().args(["eval", "--model"]).arg(&p).arg("--input").arg(&x).arg("--out").arg(d.join("o")));
    assert!(t.contains("hess_diag.npy not written"), "{t}");
    assert!(d.join("o/energy.npy").exists() && !d.join("o/hess_diag.npy").exists());
}

#[test]
fn bench_lists_adapters_and_prints_a_table() {
    let t = ok(ebm().args(["bench", "--cpu-only", "--batch", "128", "--time-ms", "5"]));
    assert!(t.contains("adapters found by wgpu"), "{t}");
    assert!(t.contains("energy+score+hess_diag") && t.contains("mlp:64,64:softplus d=2"), "{t}");
}

/// `--backend gpu` gives the CPU's energies and training losses (fails
/// loudly without an adapter).
#[test]
fn eval_on_the_gpu_matches_the_cpu() {
    if ebm_kernels::list_adapters().is_empty() {
        panic!("no GPU adapter: {}", ebm_kernels::INSTALL_HINT);
    }
    let d = tmp("gpu");
    let model = fixture("mlp_softplus.safetensors");
    let input = fixture("mlp_softplus_x.npy");
    for b in ["cpu", "gpu"] {
        ok(&mut eval_on(b, &model, &input, &d.join(b)));
    }
    // A few training steps on each backend follow the same loss curve.
    let cfg = config(&d, "plot_samples = 0\neval_every = 0\n");
    for b in ["cpu", "gpu"] {
        ok(cfg_out(
            train("moons", "mlp:16,16", "dsm", "5").args(["-q", "--backend", b]),
            &cfg,
            &d.join(format!("train-{b}")),
        ));
    }
    let (mc, mg) = (metrics(&d.join("train-cpu")), metrics(&d.join("train-gpu")));
    assert!(mg["adapter"].as_str().is_some(), "{mg}");
    for (a, b) in mc["loss"].as_array().unwrap().iter().zip(mg["loss"].as_array().unwrap()) {
        let (a, b) = (a[1].as_f64().unwrap(), b[1].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-3 * (1.0 + a.abs()), "loss cpu {a} gpu {b}");
    }
    for f in ["energy.npy", "score.npy", "hess_diag.npy"] {
        let (c, g) = (npy::read(&d.join("cpu").join(f)).unwrap(), npy::read(&d.join("gpu").join(f)).unwrap());
        for (a, b) in c.data.iter().zip(&g.data) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{f}: cpu {a} gpu {b}");
        }
    }
}

#[test]
fn redwine_trains_in_eleven_dimensions() {
    let d = tmp("redwine");
    let out = d.join("run");
    let cfg = config(&d, "plot_samples = 100\n");
    ok(cfg_out(train("redwine", "gaussian", "esm", "10").args(["--lr", "0.01", "-q"]), &cfg, &out));
    let m = metrics(&out);
    assert_eq!(m["n_train"].as_u64().unwrap() + m["n_heldout"].as_u64().unwrap(), 1599);
    assert_eq!(checkpoint::load(&out).unwrap().model.dim(), 11);
    // d > 2: no pictures, and the exact NLL says why it is missing.
    assert!(!out.join("density.png").exists());
    assert!(m["heldout"]["errors"]["nll"].as_str().unwrap().contains("d ≤ 2"), "{m}");
    assert!(m["heldout"]["ais_log_z"].as_f64().is_some_and(f64::is_finite), "{m}");
}

/// `--backend gpu` runs a model of a width users train (d = 48, hidden
/// 192-160, which the one-thread-per-sample kernels refused on a software
/// adapter) and a formula model, with the CPU's results.
#[test]
fn eval_of_a_wide_mlp_and_a_formula_on_the_gpu_matches_the_cpu() {
    if ebm_kernels::list_adapters().is_empty() {
        panic!("no GPU adapter: {}", ebm_kernels::INSTALL_HINT);
    }
    let d = tmp("gpu-wide");
    let spec = ebm_cli::model::ModelSpec::parse("mlp:192,160:softplus").unwrap();
    let wide = d.join("wide.safetensors");
    checkpoint::save(&wide, &checkpoint::Checkpoint::new(ebm_cli::model::Model::init(&spec, 48, 3).unwrap())).unwrap();
    let rows: Vec<String> = (0..37)
        .map(|r| (0..48).map(|c| format!("{:.3}", ((r * 48 + c) as f64 * 0.37).sin())).collect::<Vec<_>>().join(","))
        .collect();
    let x48 = d.join("x48.csv");
    std::fs::write(&x48, rows.join("\n") + "\n").unwrap();

    let f = d.join("e.txt");
    std::fs::write(
        &f,
        "energy(x[2]; mu[2], log_s) = 0.5 * sum(i, 0..2, (x[i] - mu[i])^2) * exp(-2*log_s) + log(1 + x[0]^2 * x[1]^2)\n\
         #! theta = 0.25, -0.5, 0.1\n",
    )
    .unwrap();
    let formula = d.join("formula.safetensors");
    let fspec = ebm_cli::model::ModelSpec::parse(&format!("formula:{}", f.display())).unwrap();
    checkpoint::save(&formula, &checkpoint::Checkpoint::new(ebm_cli::model::Model::init(&fspec, 2, 0).unwrap()))
        .unwrap();
    let x2 = d.join("x2.csv");
    std::fs::write(&x2, "0.5,-1\n1.5,0.25\n-0.75,2\n").unwrap();

    for (name, model, input) in [("wide", &wide, &x48), ("formula", &formula, &x2)] {
        for b in ["cpu", "gpu"] {
            let t = ok(&mut eval_on(b, model, input, &d.join(format!("{name}-{b}"))));
            assert!(!t.contains("CPU twin"), "{name} on {b}: {t}");
        }
        for f in ["energy.npy", "score.npy", "hess_diag.npy"] {
            let c = npy::read(&d.join(format!("{name}-cpu")).join(f)).unwrap();
            let g = npy::read(&d.join(format!("{name}-gpu")).join(f)).unwrap();
            assert_eq!(c.data.len(), g.data.len());
            let scale = c.data.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
            for (&a, &b) in c.data.iter().zip(&g.data) {
                let (a, b) = (a as f64, b as f64);
                assert!((a - b).abs() <= 1e-4 * (scale + a.abs()), "{name} {f}: cpu {a} gpu {b}");
            }
        }
    }
}

/// `--backend gpu` refuses what the kernels cannot hold for a model on the
/// adapter, naming the way out; `--backend gpu-fallback` runs it on the CPU
/// twin, says so on stderr, and gives the CPU's numbers. (A Gaussian with
/// d = 400: one sample's energy loops about 81 000 times, past a software
/// adapter's budget. On a hardware GPU it runs on the device under both.)
#[test]
fn gpu_backend_refuses_and_gpu_fallback_says_what_runs_on_the_cpu() {
    let dev = ebm_kernels::GpuDevice::from_env().unwrap_or_else(|e| panic!("no GPU adapter: {e}"));
    let d = tmp("gpu-fallback");
    let spec = ebm_cli::model::ModelSpec::parse("gaussian").unwrap();
    let model = ebm_cli::model::Model::init(&spec, 400, 1).unwrap();
    let ebm_cli::model::Model::Gaussian(g) = &model else { panic!("a Gaussian") };
    let placed = ebm_kernels::GpuEnergy::new(&dev, g.clone()).unwrap().placement(ebm_kernels::Op::Energy);
    let p = d.join("g.safetensors");
    checkpoint::save(&p, &checkpoint::Checkpoint::new(model)).unwrap();
    let rows: Vec<String> = (0..5)
        .map(|r| (0..400).map(|c| format!("{:.3}", ((r * 400 + c) as f64 * 0.11).cos())).collect::<Vec<_>>().join(","))
        .collect();
    let x = d.join("x.csv");
    std::fs::write(&x, rows.join("\n") + "\n").unwrap();
    let eval = |b: &str| {
        let mut c = ebm();
        c.args(["eval", "--backend", b, "--model"]).arg(&p).arg("--input").arg(&x).arg("--out").arg(d.join(b));
        c
    };
    ok(&mut eval("cpu"));
    eprintln!("energy on {}: {}", dev.info().label(), placed.label());
    if placed.on_device() {
        let t = ok(&mut eval("gpu"));
        assert!(!t.contains("CPU twin"), "{t}");
        let t = ok(&mut eval("gpu-fallback"));
        assert!(!t.contains("CPU twin"), "{t}");
    } else {
        fails(&mut eval("gpu"), 1, &["of this gaussian model does not run on the device", "--backend gpu-fallback"]);
        let t = ok(&mut eval("gpu-fallback"));
        assert!(t.contains("warning: --backend gpu-fallback: energy runs on the CPU twin"), "{t}");
        let c = npy::read(&d.join("cpu").join("energy.npy")).unwrap();
        let g = npy::read(&d.join("gpu-fallback").join("energy.npy")).unwrap();
        assert_eq!(c.data, g.data, "the CPU twin's energies are the CPU backend's");
    }
}

/// A 2-D run reports the held-out NLL at every checkpoint (a fixed-grid
/// quadrature, in data units), and the last one agrees with the final
/// adaptive `heldout.nll`.
#[test]
fn the_heldout_nll_is_reported_at_every_checkpoint() {
    let d = tmp("progress-nll");
    let cfg = config(&d, "steps = 200\ncheckpoint_every = 50\nmodel = \"mlp:16,16\"\n");
    let out = d.join("run");
    let text = ok(ebm().args(["train", "--data", "moons", "--config"]).arg(&cfg).arg("--out").arg(&out));
    let m = metrics(&out);
    let hist = m["heldout_nll"].as_array().unwrap_or_else(|| panic!("no heldout_nll: {m}"));
    let steps: Vec<u64> = hist.iter().map(|h| h[0].as_u64().unwrap()).collect();
    assert_eq!(steps.last(), Some(&200), "{hist:?}");
    assert!(steps.iter().all(|s| s % 50 == 0), "{hist:?}");
    let (last, exact) = (hist.last().unwrap()[1].as_f64().unwrap(), m["heldout"]["nll"].as_f64().unwrap());
    assert!((last - exact).abs() < 0.01, "progress NLL {last} vs final {exact}");
    assert!(text.contains("held-out NLL ≈"), "the progress lines do not show it:\n{text}");
    std::fs::remove_dir_all(&d).unwrap();
}
