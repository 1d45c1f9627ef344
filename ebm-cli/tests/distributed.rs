//! `ebm train --distributed` under `mpirun` (feature `mpi`): N = 1, 2 and
//! 4 ranks (oversubscribed) give the parameters of the plain
//! single-process run for every estimator (1 rank bit for bit, 2 and 4
//! within 1e-6 relative: the rank-ordered sum rounds differently from one
//! process's sum); a divergence stops every rank with exit code 2; a rank
//! killed mid-run takes the job down within a bounded time, naming the
//! rank, and the last checkpoint resumes, also on another number of ranks
//! (PCD's replay buffer included).
#![cfg(feature = "mpi")]

mod common;

use common::{config, ebm, metrics, ok, text, tmp};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `mpirun -np n ebm …` (as root, oversubscribed, shared memory only),
/// with its own session directory: jobs started at the same instant by
/// parallel tests race to create a shared one.
fn mpirun(n: usize) -> Command {
    static JOBS: AtomicUsize = AtomicUsize::new(0);
    let session =
        std::env::temp_dir().join(format!("ebm-mpi-{}-{}", std::process::id(), JOBS.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&session).unwrap();
    let mut c = Command::new("mpirun");
    c.env("OMPI_MCA_orte_tmpdir_base", &session).env("TMPDIR", &session);
    c.args(["--oversubscribe", "--allow-run-as-root", "--mca", "btl", "self,vader", "-np"]);
    c.arg(n.to_string()).arg(env!("CARGO_BIN_EXE_ebm"));
    c.env_remove("EBM_DEBUG_PAUSE_WRITE");
    c
}

/// The settings of the equivalence runs: B = 22 splits 11/11 and 5/6/5/6.
/// (The cosine decays over 4 steps also where a test stops at 2 and resumes.)
/// The contrastive estimators (cd, icd, pcd) take an L2 energy penalty:
/// without it the energy's offset has a gradient that is 0 in exact
/// arithmetic, which Adam turns into a step of up to lr whose sign is
/// rounding (`docs/scale.md`). A small model (the final exact NLL of a
/// large one takes seconds), short chains, a small buffer and critic keep
/// the runs quick.
const TINY: &str = "n_data = 200\nbatch = 22\nsteps = 4\nlr_decay_steps = 4\nplot_samples = 0\neval_every = 2\n\
                    checkpoint_every = 2\nmodel = \"mlp:16,16:softplus\"\nl2_energy = 0.1\nmcmc_steps = 3\n\
                    pcd_buffer = 64\nlsd_hidden = [8]\nlsd_critic_steps = 2\n";

/// θ of the run's last commit, and NCE's log Z.
fn params(out: &Path) -> (Vec<f64>, Option<f64>) {
    let st = ebm_cli::state::load(&out.join(ebm_cli::state::FILE_NAME)).unwrap();
    (st.params.expect("the state file holds θ"), metrics(out)["nce_log_z"].as_f64())
}

/// The estimator's state of the run's last commit, flat (PCD's buffer,
/// LSD's critic and its Adam state, NCE's log Z; empty for the others).
fn estimator_state(out: &Path) -> Vec<f64> {
    let st = ebm_cli::state::load(&out.join(ebm_cli::state::FILE_NAME)).unwrap();
    st.entries.into_iter().filter(|(k, _)| k.starts_with("estimator.")).flat_map(|(_, v)| v).collect()
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    if a == b {
        return 0.0;
    }
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (num / b.iter().map(|y| y * y).sum::<f64>()).sqrt()
}

fn train_args(c: &mut Command, cfg: &Path, estimator: &str, out: &Path) {
    c.args(["train", "-q", "--estimator", estimator, "--config"]).arg(cfg).arg("--out").arg(out);
}

#[test]
fn one_two_and_four_ranks_give_the_single_process_parameters() {
    let d = tmp("dist-equal");
    let cfg = config(&d, TINY);
    // Whether some split run rounded differently from one process: the
    // shares were computed apart (not N copies of the whole batch).
    let mut split_seen = false;
    for est in ["esm", "dsm", "ssm", "ssm-vr", "nce", "cd", "icd", "pcd", "lsd"] {
        let plain = d.join(format!("{est}-plain"));
        let mut c = ebm();
        train_args(&mut c, &cfg, est, &plain);
        ok(&mut c);
        let (want, want_z) = params(&plain);
        let want_state = estimator_state(&plain);
        if ["pcd", "lsd"].contains(&est) {
            assert!(!want_state.is_empty(), "{est}: its state is saved");
        }
        for n in [1, 2, 4] {
            let out = d.join(format!("{est}-{n}"));
            let mut c = mpirun(n);
            train_args(&mut c, &cfg, est, &out);
            ok(c.arg("--distributed"));
            let (got, got_z) = params(&out);
            if n == 1 {
                assert_eq!(got, want, "{est}: one rank is the plain run bit for bit");
                assert_eq!(estimator_state(&out), want_state, "{est}: one rank's state is the plain run's");
            }
            split_seen |= n > 1 && got != want;
            let e = rel_diff(&got, &want);
            assert!(e <= 1e-6, "{est}, {n} ranks: relative difference {e:e} from one process");
            let e = rel_diff(&estimator_state(&out), &want_state);
            assert!(e <= 1e-6, "{est}, {n} ranks: estimator state {e:e} from one process");
            assert_eq!(got_z.is_some(), want_z.is_some(), "{est}");
            if let (Some(a), Some(b)) = (got_z, want_z) {
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{est}, {n} ranks: log Z {a} vs {b}");
            }
            let m = metrics(&out);
            assert_eq!(m["status"], "done", "{est}, {n} ranks");
            assert_eq!(m["ranks"].as_u64(), (n > 1).then_some(n as u64), "{est}, {n} ranks");
            assert_eq!(m["collective_seconds"].is_f64(), n > 1, "{est}, {n} ranks");
        }
    }
    assert!(split_seen, "no run on 2 or 4 ranks differed in a bit from one process: were the batches split?");
}

#[test]
fn a_divergence_stops_every_rank_with_exit_code_2() {
    let d = tmp("dist-diverge");
    let cfg = config(&d, &format!("{}lr = 1e9\n", TINY.replace("steps = 4", "steps = 50")));
    let out = d.join("run");
    let mut c = mpirun(2);
    train_args(&mut c, &cfg, "dsm", &out);
    let o = c.arg("--distributed").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(metrics(&out)["status"], "diverged");
}

/// The pid of rank `rank` of the `ebm` processes writing to `out`.
fn rank_pid(out: &Path, rank: usize) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let env = std::fs::read(e.path().join("environ")).ok()?;
        let has = |hay: &[u8], s: &str| hay.split(|&b| b == 0).any(|w| w == s.as_bytes());
        let is_ebm = cmd.split(|&b| b == 0).next().is_some_and(|a| a.ends_with(b"/ebm"));
        (is_ebm && has(&cmd, &out.display().to_string()) && has(&env, &want)).then_some(pid)
    })
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_killed_or_hung_rank_stops_the_job_and_the_checkpoint_resumes() {
    let d = tmp("dist-kill");
    let cfg = config(&d, "n_data = 200\nbatch = 22\nsteps = 1000000\nplot_samples = 0\ncheckpoint_every = 5\n");
    // Kill instants spread over the run (after the first periodic commit),
    // from a fixed seed so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    // Two ranks killed (SIGKILL), one hung (SIGSTOP: MPI sees nothing, the
    // other rank's exchange times out).
    for (round, signal) in ["KILL", "KILL", "STOP"].into_iter().enumerate() {
        let out = d.join(format!("run{round}"));
        let mut c = mpirun(2);
        train_args(&mut c, &cfg, "dsm", &out);
        c.args(["--collective-timeout", "3"]);
        let log = d.join(format!("stderr{round}"));
        let mut child =
            c.arg("--distributed").stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
        let t0 = Instant::now();
        while !out.join("metrics.json").exists() || metrics(&out)["steps_done"].as_u64().unwrap_or(0) < 5 {
            assert!(t0.elapsed() < Duration::from_secs(60), "no checkpoint after 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(state >> 54)); // 0..1023 ms
        let pid = rank_pid(&out, 1).expect("rank 1 is running");
        assert!(Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap().success());
        let status = wait_with_timeout(&mut child, Duration::from_secs(30));
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
        let Some(status) = status else {
            let _ = child.kill();
            panic!("the job did not stop within 30 s of SIG{signal} to rank 1");
        };
        let err = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{err}");
        if signal == "KILL" {
            assert!(err.contains("rank 1"), "the message names the rank that died:\n{err}");
        } else {
            let want = "ebm rank 0 of 2: exchange";
            assert!(err.contains(want) && err.contains("hung or died"), "the waiting rank names itself:\n{err}");
            // Stopped before the exchange, or inside it (waiting there).
            let named = err.contains("rank 1 did not reach it") || err.contains("rank 1 reached it and is hung");
            assert!(named, "and the rank that hangs:\n{err}");
        }
        // The last commit resumes (here on one process) and finishes.
        let step = ebm_cli::state::load(&out.join(ebm_cli::state::FILE_NAME)).unwrap().step;
        assert!(step >= 5, "step {step}");
        let o: Output = ebm()
            .args(["train", "-q", "--steps"])
            .arg((step + 3).to_string())
            .arg("--resume")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(metrics(&out)["status"], "done");
        assert_eq!(metrics(&out)["steps_done"].as_u64(), Some(step as u64 + 3));
    }
}

#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    let d = tmp("dist-resume");
    let cfg = config(&d, TINY);
    // NCE's log Z, PCD's replay buffer: estimator state every rank holds.
    for est in ["nce", "pcd"] {
        let plain = d.join(format!("{est}-plain"));
        let mut c = ebm();
        train_args(&mut c, &cfg, est, &plain);
        ok(&mut c);
        // 2 of the 4 steps on 4 ranks, the rest on 2.
        let out = d.join(format!("{est}-run"));
        let mut c = mpirun(4);
        train_args(&mut c, &cfg, est, &out);
        ok(c.args(["--steps", "2", "--distributed"]));
        assert_eq!(metrics(&out)["steps_done"], 2);
        ok(mpirun(2).args(["train", "-q", "--distributed", "--resume"]).arg(&out).args(["--steps", "4"]));
        let ((got, got_z), (want, want_z)) = (params(&out), params(&plain));
        let e = rel_diff(&got, &want);
        assert!(e <= 1e-6, "{est}: relative difference {e:e} from one process");
        if let (Some(a), Some(b)) = (got_z, want_z) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{est}: log Z {a} vs {b}");
        }
        assert_eq!(got_z.is_some(), est == "nce");
        assert_eq!(metrics(&out)["ranks"], 2);
        let (got, want) = (estimator_state(&out), estimator_state(&plain));
        if est == "pcd" {
            assert_eq!(got.len(), 64 * 2, "the buffer is saved");
        }
        let e = rel_diff(&got, &want);
        assert!(e <= 1e-6, "{est}: estimator state {e:e} from one process");
    }
}
