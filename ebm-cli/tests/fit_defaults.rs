//! The defaults fit: `ebm train --data X --out D`, with no other flag, on
//! every built-in 2-D set and on data the project has never seen (shifted
//! and rescaled by factors of 10⁻³ to 10³), must
//!
//! - reach a held-out NLL within 0.2 nats of `reference_nll`, the held-out
//!   NLL of a 32-component full-covariance Gaussian mixture fitted by EM on
//!   the same training split (both in data units);
//! - finish within 60 s (two cores; the runs go one at a time).
//!
//! And standardisation must be exact bookkeeping: the same data scaled by a
//! and shifted gives the same fit, its NLL moved by exactly d·log a.

mod common;
use common::*;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// How far above the mixture's held-out NLL the default fit may land.
const BAR_NATS: f64 = 0.2;
/// The wall-clock budget of one default run.
const BUDGET_S: f64 = 60.0;

/// One run at a time, so that each has both cores (the budget's premise).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Fit {
    nll: f64,
    reference: f64,
    secs: f64,
}

fn default_fit(data: &str, out: &Path) -> Fit {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let t0 = Instant::now();
    ok(ebm().args(["train", "--data", data, "--out"]).arg(out));
    let secs = t0.elapsed().as_secs_f64();
    let h = &metrics(out)["heldout"];
    let num = |k: &str| h[k].as_f64().unwrap_or_else(|| panic!("metrics.json of {data} lacks heldout.{k}: {h}"));
    Fit { nll: num("nll"), reference: num("reference_nll"), secs }
}

/// Every failure of the bar or the budget, as lines (empty when all pass).
fn judge(name: &str, f: &Fit) -> Option<String> {
    eprintln!(
        "{name:>14}: NLL {:.3}, mixture {:.3}, gap {:+.3}, {:.1} s",
        f.nll,
        f.reference,
        f.nll - f.reference,
        f.secs
    );
    let bad_fit = f.nll > f.reference + BAR_NATS;
    let slow = f.secs > BUDGET_S;
    (bad_fit || slow).then(|| {
        format!(
            "{name}: NLL {:.3} vs mixture {:.3} (bar +{BAR_NATS}), {:.1} s (budget {BUDGET_S} s)",
            f.nll, f.reference, f.secs
        )
    })
}

fn write_npy(path: &Path, x: &[f32], d: usize) {
    std::fs::write(path, ebm_cli::npy::to_bytes(x, &[x.len() / d, d])).unwrap();
}

#[test]
fn defaults_fit_every_builtin_2d_set() {
    let dir = tmp("fit-builtin");
    let failures: Vec<String> =
        ebm_cli::toy::NAMES.iter().filter_map(|name| judge(name, &default_fit(name, &dir.join(name)))).collect();
    assert!(failures.is_empty(), "the defaults miss:\n{}", failures.join("\n"));
}

/// A banana the project never uses: x₁ ~ N(0, 1), x₂ = x₁²/2 + 0.3·z, then
/// scaled by (2000, 0.002) and shifted by (−3·10⁴, 7): the two coordinates
/// differ in scale by 10⁶.
fn banana(n: usize) -> Vec<f32> {
    let mut z = vec![0f64; 2 * n];
    ebm_core::rng::fill_normal(2024, 9, 0, &mut z);
    z.chunks_exact(2)
        .flat_map(|p| [(2000.0 * p[0] - 3e4) as f32, (0.002 * (0.5 * p[0] * p[0] + 0.3 * p[1]) + 7.0) as f32])
        .collect()
}

#[test]
fn defaults_fit_unseen_data_shifted_and_scaled() {
    let dir = tmp("fit-unseen");
    let mut failures = Vec::new();
    let banana_file = dir.join("banana.npy");
    write_npy(&banana_file, &banana(4096), 2);
    failures.extend(judge("banana", &default_fit(banana_file.to_str().unwrap(), &dir.join("banana"))));

    // The same pinwheel at three scales: the fits agree, NLL moved by d·log a.
    let x = ebm_cli::toy::generate("pinwheel", 4096, 11).unwrap();
    let mut nlls = Vec::new();
    for (a, b) in [(1.0f64, 0.0f64), (1e3, 5e3), (1e-3, -2.0)] {
        let name = format!("pinwheel×{a:e}");
        let f = dir.join(format!("{name}.npy"));
        write_npy(&f, &x.iter().map(|&v| (a * v as f64 + b) as f32).collect::<Vec<_>>(), 2);
        let fit = default_fit(f.to_str().unwrap(), &dir.join(&name));
        failures.extend(judge(&name, &fit));
        nlls.push((a, fit.nll));
    }
    let (_, base) = nlls[0];
    for &(a, nll) in &nlls[1..] {
        let expected = base + 2.0 * a.ln();
        // f32 rounding of the scaled data changes z in the 7th digit, so the
        // two trainings are not bit-identical, only close.
        assert!(
            (nll - expected).abs() < 0.05,
            "pinwheel ×{a:e}: NLL {nll:.4}, expected {expected:.4} (= {base:.4} + 2·ln a)"
        );
    }
    assert!(failures.is_empty(), "the defaults miss:\n{}", failures.join("\n"));
}
