//! The peers (PyTorch and JAX, `ebm-bench/peers/`) as part of the main job:
//! `cargo bench -p ebm-bench` runs them when the peer environment exists
//! (`ebm-bench/peers/.venv` with torch, jax and numpy importable), or sets it
//! up and runs them when `EBM_BENCH_PEERS=1` (the first set-up downloads
//! PyTorch's wheel, a few GB); otherwise it says in one line that they were
//! not run and why. `EBM_BENCH_PEERS=0` turns them off; the quick mode
//! (`EBM_BENCH_QUICK=1`) runs them only with `EBM_BENCH_PEERS=1`.
//!
//! The peers run on the same weights and inputs as ebm, with the agreement
//! check of `peers/run.py` (a variant that disagrees is reported, not
//! timed into the table); their table (ebm time / peer time) becomes the
//! `peers` section of the summary ([`crate::summary`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether and why the peers run in this main-job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run them (the reason is printed).
    Run(String),
    /// Do not (the reason is printed).
    Skip(String),
}

/// The workspace root, from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ebm-bench sits in the workspace").to_path_buf()
}

/// Whether the peer environment at `venv` imports torch, jax and numpy.
pub fn env_ready(venv: &Path) -> bool {
    let py = venv.join("bin").join("python");
    py.is_file() && Command::new(py).args(["-c", "import torch, jax, numpy"]).output().is_ok_and(|o| o.status.success())
}

/// The decision for `EBM_BENCH_PEERS` = `flag` with the environment
/// `ready` or not (module docs); the quick mode runs them only when asked.
pub fn decide(flag: Option<&str>, ready: bool, quick: bool) -> Decision {
    match (flag, ready) {
        (Some("0"), _) => Decision::Skip("EBM_BENCH_PEERS=0".into()),
        (None, _) if quick => Decision::Skip("quick mode (EBM_BENCH_QUICK=1); EBM_BENCH_PEERS=1 runs them".into()),
        (Some("1"), true) => Decision::Run("EBM_BENCH_PEERS=1, peer environment present".into()),
        (Some("1"), false) => Decision::Run("EBM_BENCH_PEERS=1: setting up the peer environment first".into()),
        (_, true) => Decision::Run("the peer environment ebm-bench/peers/.venv is present".into()),
        (_, false) => Decision::Skip(
            "no peer environment (ebm-bench/peers/.venv); EBM_BENCH_PEERS=1 sets it up (PyTorch's wheel: a few GB) and runs them"
                .into(),
        ),
    }
}

/// Runs `peers/run.sh` with `args` on the `peer_ebm` binary at `peer_ebm`
/// (already built: cargo builds it with the benches); `Ok` with the markdown
/// of its table (`target/peers/table.md`), or why not.
pub fn run(peer_ebm: &Path, args: &[&str]) -> Result<String, String> {
    let root = workspace_root();
    let status = Command::new("bash")
        .arg(root.join("ebm-bench/peers/run.sh"))
        .args(args)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", crate::summary::target_dir())
        .env("PEER_EBM_BIN", peer_ebm)
        .status()
        .map_err(|e| format!("could not start peers/run.sh: {e}"))?;
    let table = std::fs::read_to_string(crate::summary::target_dir().join("peers/table.md"))
        .map_err(|e| format!("peers/run.sh left no target/peers/table.md: {e}"))?;
    if status.success() {
        Ok(format!("{table}\nEvery timed peer variant agreed with ebm's outputs (the check of `peers/run.py`; a disagreement fails the run).\n"))
    } else {
        Err(format!("peers/run.sh exited with {status} (an agreement failure or a crash; its log is above)\n\n{table}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_run_when_asked_or_present_and_say_why_not_otherwise() {
        assert!(matches!(decide(Some("1"), false, false), Decision::Run(_)));
        assert!(matches!(decide(Some("1"), true, true), Decision::Run(_)));
        assert!(matches!(decide(None, true, false), Decision::Run(_)));
        assert!(matches!(decide(None, true, true), Decision::Skip(_)));
        assert!(matches!(decide(Some("0"), true, false), Decision::Skip(_)));
        match decide(None, false, false) {
            Decision::Skip(why) => assert!(why.contains("EBM_BENCH_PEERS=1"), "{why}"),
            d => panic!("{d:?}"),
        }
        assert!(!env_ready(Path::new("/nonexistent/venv")));
    }
}
