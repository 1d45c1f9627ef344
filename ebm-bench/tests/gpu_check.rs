//! The `gpu_check` binary runs every check on the default adapter at small
//! shapes (batches that are not multiples of the workgroup, and more rows
//! than it compares), prints one PASS line per check and the exact counts,
//! and exits 0; bad arguments exit 64.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu_check")).args(args).output().expect("spawn gpu_check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn gpu_check_passes_every_check_at_small_shapes_on_default_adapter() {
    let (code, text) = run(&["--case", "3x6-5:7,130", "--rows", "40", "--steps", "4"]);
    assert_eq!(code, 0, "{text}");
    // Per shape and batch: energy 1, energy_score 2, hess 3, v_hess_v 1,
    // three gradients, ULA 1, MALA 1, NCE 5.
    let per = 1 + 2 + 3 + 1 + 3 + 1 + 1 + 5;
    assert!(text.contains(&format!("gpu_check: {} passed, 0 failed", 2 * per)), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("PASS ")).count(), 2 * per, "{text}");
    assert!(text.contains("PASS d3_h6-5 B=130 grad_params_sm (40 weighted rows)"), "{text}");
    assert!(text.contains("PASS d3_h6-5 B=130 langevin_mala k4 eps=1:"), "{text}");
    assert_eq!(run(&["--case", "3x6:7"]).0, 64);
    assert_eq!(run(&["--rows", "0"]).0, 64);
}
