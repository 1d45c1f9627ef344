//! The `gpu_roofline` binary runs end to end on the default adapter: with
//! `--allow-software` (at sizes inside llvmpipe's loop budget) it measures
//! primitives and estimator steps, reports the CPU-twin-only method as not
//! run with its reason, writes parseable JSON and a markdown table; past
//! its deadline it reports every case as `not run: deadline` and exits 1
//! (nothing measured); a software adapter without `--allow-software` exits
//! 2; bad arguments exit 64.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu_roofline")).args(args).output().expect("spawn gpu_roofline");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

const SMALL: [&str; 10] =
    ["--shapes", "2x6-6", "--batches", "37", "--case-s", "0.01", "--roof-s", "0.01", "--allow-software", "--ops"];

#[test]
fn gpu_roofline_measures_reports_and_keeps_its_deadline_on_default_adapter() {
    let adapters = ebm_kernels::list_adapters();
    assert!(!adapters.is_empty(), "no wgpu adapter: {}", ebm_kernels::INSTALL_HINT);
    let dir = std::env::temp_dir().join(format!("gpu_roofline_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, md) = (dir.join("r.json"), dir.join("r.md"));
    let mut args = SMALL.to_vec();
    args.extend([
        "energy,energy_score_hess_diag,langevin_ula_k20_fused,grad_params_sm,grad_params_v_hess_v,step_exact_sm,step_nce_nu1",
        "--json",
        json.to_str().unwrap(),
        "--md",
        md.to_str().unwrap(),
    ]);
    let (code, text) = run(&args);
    assert_eq!(code, 0, "{text}");
    for op in [
        "energy",
        "energy_score_hess_diag",
        "langevin_ula_k20_fused",
        "grad_params_sm",
        "step_exact_sm",
        "step_nce_nu1",
        "grad_params_v_hess_v",
    ] {
        assert!(text.contains(&format!("case {op} d2_h6-6 B37: median")), "{op}: {text}");
    }
    // Every method ran on the device: nothing on the CPU twin, nothing refused.
    assert!(text.contains("grad_params_v_hess_v×1@device"), "{text}");
    assert!(!text.contains("CPU twin") && !text.contains("@refused"), "{text}");
    assert!(text.contains("measured multiply-add roof") && text.contains("measured copy bandwidth"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    let step = cases.iter().find(|c| c["op"] == "step_nce_nu1").unwrap();
    assert!(
        step["flops"].as_f64().unwrap() > 0.0 && step["methods"].as_str().unwrap().contains("grad_params_energy_with"),
        "{step}"
    );
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert!(md_text.contains("| energy | d2_h6-6 | 37 |"), "{md_text}");
    if v["software"] == true {
        assert!(md_text.contains("not a speed figure"), "{md_text}");
        let (code, text) = run(&["--shapes", "2x6-6", "--batches", "37"]);
        assert_eq!(code, 2, "a software adapter must be refused without --allow-software: {text}");
    }

    let mut late = SMALL.to_vec();
    late.extend(["energy,mala_k20", "--batches", "37,64", "--deadline-s", "0.000001"]);
    let (code, text) = run(&late);
    assert_eq!(code, 1, "{text}");
    assert_eq!(text.matches(": not run: deadline").count(), 4, "{text}");

    assert_eq!(run(&["--batches", "0"]).0, 64);
    assert_eq!(run(&["--frobnicate"]).0, 64);
    assert_eq!(run(&["--ops", "nope"]).0, 64);
    assert_eq!(run(&["--first", "energy@64x256-256@3", "--batches", "1024"]).0, 64);
    std::fs::remove_dir_all(&dir).ok();
}
