//! The peers (PyTorch and JAX on the same MLP, `ebm-bench/peers/`) as part
//! of the main job: run when their environment exists or
//! `EBM_BENCH_PEERS=1` asks for it, otherwise one line says why not
//! (`ebm_bench::peers`). Their table is the summary's `peers` section.
//! `--test` (CI's check run) does not run them.

use ebm_bench::peers::{decide, env_ready, run, workspace_root, Decision};
use ebm_bench::summary::{timing_disabled, unix, write_section, Section};
use std::time::SystemTime;

fn main() {
    if timing_disabled() {
        println!("ebm-bench: peers: check run (--test/--list): peers not run");
        return;
    }
    let since = SystemTime::now();
    let venv = workspace_root().join("ebm-bench/peers/.venv");
    let flag = std::env::var("EBM_BENCH_PEERS").ok();
    let (extra, failed) = match decide(flag.as_deref(), env_ready(&venv), ebm_bench::policy::quick()) {
        Decision::Skip(why) => {
            println!("ebm-bench: peers (PyTorch, JAX) not run: {why}");
            (format!("Peers not run: {why}.\n"), false)
        }
        Decision::Run(why) => {
            println!("ebm-bench: peers (PyTorch, JAX): running ({why})");
            let args: &[&str] =
                if ebm_bench::policy::quick() { &["--repeats", "5", "--configs", "d16,d2"] } else { &[] };
            match run(std::path::Path::new(env!("CARGO_BIN_EXE_peer_ebm")), args) {
                Ok(table) => (table, false),
                Err(e) => (format!("Peers failed: {e}\n"), true),
            }
        }
    };
    let section = Section {
        bench: "peers".into(),
        unix_time: unix(since),
        cpu_roof: None,
        quick: ebm_bench::policy::quick(),
        rows: Vec::new(),
        missing: Vec::new(),
        extra: Some(extra),
    };
    if let Err(e) = write_section(section) {
        eprintln!("ebm-bench: summary not written: {e}");
        std::process::exit(1);
    }
    if failed {
        std::process::exit(1);
    }
}
