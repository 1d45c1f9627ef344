//! Regenerates the measured tables of `ebm-bench/RESULTS.md` from the last
//! main-job run (`ebm_bench::results`):
//!
//! `cargo bench -p ebm-bench && cargo run --release -p ebm-bench --bin results`

use ebm_bench::results::splice;
use ebm_bench::summary::out_dir;

fn main() {
    let summary_path = out_dir().join("summary.md");
    let summary = match std::fs::read_to_string(&summary_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "results: no main-job summary at {} ({e}); run `cargo bench -p ebm-bench` first",
                summary_path.display()
            );
            std::process::exit(2);
        }
    };
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let block = format!(
        "_Generated from `{}` at commit {commit}._\n\n{}",
        summary_path.display(),
        summary.replacen("# ebm main job: summary", "## Main job: summary", 1)
    );
    let results = ebm_bench::peers::workspace_root().join("ebm-bench/RESULTS.md");
    let doc = std::fs::read_to_string(&results).unwrap_or_else(|e| {
        eprintln!("results: could not read {}: {e}", results.display());
        std::process::exit(1);
    });
    match splice(&doc, &block) {
        Ok(new) => {
            let tmp = results.with_extension("md.tmp");
            std::fs::write(&tmp, new).and_then(|()| std::fs::rename(&tmp, &results)).unwrap_or_else(|e| {
                eprintln!("results: could not write {}: {e}", results.display());
                std::process::exit(1);
            });
            println!("results: {} updated from {}", results.display(), summary_path.display());
        }
        Err(e) => {
            eprintln!("results: {e}");
            std::process::exit(1);
        }
    }
}
