//! The `gpu_roofline` binary (the GPU speed bars) runs end to end:
//! on a software adapter it refuses to report speed without
//! `--allow-software`, and with it (at a size inside llvmpipe's loop
//! budget) prints both measurements; bad arguments exit with 64.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu_roofline")).args(args).output().expect("spawn gpu_roofline");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn gpu_roofline_measures_both_bars_on_default_adapter() {
    let adapters = ebm_kernels::list_adapters();
    assert!(!adapters.is_empty(), "no wgpu adapter: {}", ebm_kernels::INSTALL_HINT);
    let (code, text) = run(&["--batch", "37", "--hidden", "6", "--reps", "2", "--allow-software"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("energy_score_hess_diag d64_h6-6_softplus B37: median"), "{text}");
    assert!(text.contains("langevin_ula k20 d256_h6-6_softplus B37: median"), "{text}");
    assert!(text.matches("GFLOP/s").count() >= 2, "{text}");
    let default_is_software = text.contains("[cpu on");
    if default_is_software {
        let (code, text) = run(&["--batch", "37", "--hidden", "6"]);
        assert_eq!(code, 2, "a software adapter must be refused without --allow-software: {text}");
    }
    let (code, text) = run(&["--batch", "0"]);
    assert_eq!(code, 64, "{text}");
    let (code, text) = run(&["--frobnicate"]);
    assert_eq!(code, 64, "{text}");
}
