//! Loading a truncated or corrupted checkpoint returns a typed error and
//! never panics: proptest over truncations, random byte overwrites and
//! digit edits inside the JSON header (which keep the header parseable and
//! so reach the shape, offset and metadata checks).
//!
//! And a training run killed (SIGKILL) at any instant resumes bit for bit:
//! kills at random instants of a run that commits after every step, and at
//! the three instants inside one commit (mid-write of the state file, of
//! the model file, of metrics.json).

mod common;

use common::*;
use ebm_cli::checkpoint::{self, Checkpoint};
use ebm_cli::model::{Model, ModelSpec};
use ebm_cli::state::{self, TrainState};
use ebm_core::EnergyExt;
use proptest::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn base(spec: &str) -> Vec<u8> {
    let mut ck = Checkpoint::new(Model::init(&ModelSpec::parse(spec).unwrap(), 2, 1).unwrap());
    ck.step = 12;
    ck.aux = vec![0.5];
    ck.data_mean = Some(vec![0.0, 1.0]);
    checkpoint::to_bytes(&ck)
}

fn check(bytes: &[u8]) {
    // Any outcome but a panic is fine; an Ok must be a usable model.
    if let Ok(ck) = checkpoint::from_bytes(Path::new("fuzz.safetensors"), bytes) {
        let m = ck.model.energy();
        let mut e = vec![0f32; 1];
        let _ = m.energy(&vec![0.1; m.dim()], &mut e);
    }
}

const SPECS: [&str; 4] = ["mlp:6,5:softplus", "gmm:2", "rbm:3", "gaussian"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn truncations(which in 0..SPECS.len(), cut in 0.0f64..1.0) {
        let b = base(SPECS[which]);
        let n = (cut * b.len() as f64) as usize;
        let r = checkpoint::from_bytes(Path::new("t"), &b[..n]);
        prop_assert!(r.is_err(), "a truncated file loaded");
    }

    #[test]
    fn byte_overwrites(which in 0..SPECS.len(), edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8)) {
        let mut b = base(SPECS[which]);
        let len = b.len();
        for (pos, byte) in edits {
            b[((pos * len as f64) as usize).min(len - 1)] = byte;
        }
        check(&b);
    }

    #[test]
    fn header_digit_edits(which in 0..SPECS.len(), edits in proptest::collection::vec((0.0f64..1.0, 0u8..10), 1..4)) {
        let mut b = base(SPECS[which]);
        let hlen = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let digits: Vec<usize> = (8..8 + hlen).filter(|&i| b[i].is_ascii_digit()).collect();
        for (pos, d) in edits {
            let i = digits[((pos * digits.len() as f64) as usize).min(digits.len() - 1)];
            b[i] = b'0' + d;
        }
        check(&b);
    }
}

/// Hand-picked corruptions with the error kind they must give.
#[test]
fn specific_corruptions_are_typed() {
    use ebm_cli::error::CheckpointError;
    let b = base("mlp:6,5:softplus");
    let p = Path::new("c");
    assert!(matches!(checkpoint::from_bytes(p, &[]), Err(CheckpointError::Format { .. })));
    assert!(matches!(checkpoint::from_bytes(p, &u64::MAX.to_le_bytes()), Err(CheckpointError::Format { .. })));
    let text = String::from_utf8_lossy(&b).into_owned();
    for (from, to) in [
        ("\"activation\":\"softplus\"", "\"activation\":\"softmax!\""),
        ("\"ebm.family\":\"mlp\"", "\"ebm.family\":\"xyz\""),
        ("\"F32\"", "\"I32\""),
    ] {
        let mutated = text.replacen(from, to, 1);
        assert_eq!(mutated.len(), text.len());
        // Only the header is text; splice the edited header onto the data.
        let hlen = 8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let mut m = mutated.as_bytes()[..hlen].to_vec();
        m.extend_from_slice(&b[hlen..]);
        match checkpoint::from_bytes(p, &m) {
            Err(CheckpointError::Content { .. }) => {}
            other => panic!("{from} → {to}: {other:?}"),
        }
    }
    let missing = checkpoint::load(Path::new("/nonexistent/model.safetensors")).unwrap_err();
    assert!(matches!(missing, CheckpointError::Io { .. }) && missing.to_string().contains("/nonexistent"));
}

/// Steps of the killed runs.
const STEPS: usize = 30;

/// A tiny PCD run (replay buffer, Adam, held-out evaluations) that commits
/// after every step, printing a line per commit.
fn killable(d: &Path, out: &Path) -> Command {
    let cfg = config(
        d,
        &format!(
            "plot_samples = 0\nmodel = \"mlp:8,8\"\nestimator = \"pcd\"\nmcmc_steps = 3\npcd_buffer = 200\nsteps = {STEPS}\ncheckpoint_every = 1\neval_every = 5\nseed = 9\n"
        ),
    );
    let mut c = ebm();
    c.args(["train", "--config"]).arg(cfg).arg("--out").arg(out);
    c
}

/// Everything a resumed run must reproduce: θ, aux, the state file (with
/// its loss history) and the curves of metrics.json.
type Outcome = (Vec<(String, Vec<usize>, Vec<f32>)>, Vec<f32>, TrainState, String);

fn outcome(out: &Path) -> Outcome {
    let ck = checkpoint::load(out).unwrap();
    let st = state::load(&out.join(state::FILE_NAME)).unwrap();
    let m = metrics(out);
    (checkpoint::tensors(&ck.model), ck.aux, st, format!("{} {}", m["loss"], m["eval_loss"]))
}

/// Resumes a killed run to the end (or starts it again when the kill came
/// before it wrote anything) and checks it against the reference.
fn finish_and_compare(d: &Path, out: &Path, reference: &Outcome, what: &str) {
    if out.join("config.toml").exists() {
        ok(ebm().args(["train", "-q", "--resume"]).arg(out));
    } else {
        ok(killable(d, out).arg("-q"));
    }
    let got = outcome(out);
    assert!(got == *reference, "{what}: the resumed run differs from the uninterrupted one");
}

/// A fresh directory and the outcome of the uninterrupted run.
fn reference(name: &str) -> (std::path::PathBuf, Outcome) {
    let d = tmp(name);
    let a = d.join("reference");
    ok(killable(&d, &a).arg("-q"));
    (d, outcome(&a))
}

/// xorshift64: the test's own reproducible randomness.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn sigkill_at_random_instants_resumes_bit_for_bit() {
    let (d, reference) = reference("kills");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed_at = Vec::new();
    for i in 0..14 {
        let out = d.join(format!("k{i}"));
        // Wait for the k-th commit line (k = 0: none), then a random delay
        // of up to 3 ms, which lands anywhere in the next steps' commits.
        let k = (next(&mut rng) % (STEPS as u64 - 2)) as usize;
        let delay = Duration::from_micros(next(&mut rng) % 3000);
        let (mut child, lines) = spawn_stderr(&mut killable(&d, &out));
        let seen = lines.filter(|l| l.contains("checkpoint written")).take(k).count();
        assert_eq!(seen, k, "kill {i}: the run ended before commit {k}");
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed_at.push(state::load(&out.join(state::FILE_NAME)).map_or(0, |s| s.step));
        finish_and_compare(&d, &out, &reference, &format!("kill {i} (after commit {k} + {delay:?})"));
    }
    killed_at.sort();
    killed_at.dedup();
    assert!(killed_at.len() >= 5, "the kills landed at too few steps: {killed_at:?}");
}

/// SIGKILL at the three instants inside one commit, held open by the
/// `EBM_DEBUG_PAUSE_WRITE` hook: half of the state file written (the
/// previous commit stands), the state committed but the model file half
/// written (the state is one step ahead of model.safetensors), and
/// metrics.json half written.
#[test]
fn sigkill_inside_a_commit_resumes_bit_for_bit() {
    let (d, reference) = reference("commit-kills");
    // Write 1 is the commit of step 0, write K that of step K − 1.
    for (file, k, ahead) in [("state.safetensors", 6, 0), ("model.safetensors", 6, 1), ("metrics.json", 6, 0)] {
        let out = d.join(file);
        let (mut child, mut lines) =
            spawn_stderr(killable(&d, &out).env("EBM_DEBUG_PAUSE_WRITE", format!("{file}:{k}")));
        let paused = lines.any(|l| l.contains("EBM_DEBUG: paused mid-write"));
        assert!(paused, "{file}: the child never reached the pause");
        child.kill().unwrap();
        child.wait().unwrap();
        let st = state::load(&out.join(state::FILE_NAME)).unwrap();
        let ck = checkpoint::load(&out).unwrap();
        assert_eq!((st.step, ck.step + ahead), (k - 1 - usize::from(file == "state.safetensors"), st.step), "{file}");
        finish_and_compare(&d, &out, &reference, file);
    }
}
