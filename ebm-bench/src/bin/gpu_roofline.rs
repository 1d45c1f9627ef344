//! The issue's GPU speed bars, measured in one short run on a hardware
//! adapter (the `device` machine): the fused energy + score + Hessian
//! diagonal (d = 64, 256-256 softplus, B = 65536) and 20 fused Langevin
//! steps (d = 256, 256-256, B = 65536), each as time, GFLOP/s and the
//! fraction of the given fp32 FMA peak.
//!
//! ```text
//! gpu_roofline [--peak-tflops 67] [--batch 65536] [--reps 10] [--hidden 256] [--allow-software]
//! ```
//!
//! The adapter is `EBM_ADAPTER` (default: wgpu's default). A software
//! adapter (lavapipe) is refused unless `--allow-software` (a smoke run at
//! a small `--batch` and `--hidden`: its figures mean nothing, and the
//! issue's sizes exceed llvmpipe's loop budget). The peak defaults to the
//! H100/H200 SXM fp32 figure (67 TFLOP/s, non-tensor); pass the device's.
//!
//! FLOPs count a multiply-add as 2. Hessian diagonal:
//! [`MlpShape::hess_diag_flops`]. One Langevin step: the forward pass
//! 2(d·H₁ + H₁·H₂ + H₂) and the backward pass to ∇ₓE, the same again.
//! Every timed call reads its results back to the host (the `Energy`
//! interface), so the figures include that transfer; the first call
//! (kernel compilation, upload) is not timed.

use ebm_bench::MlpShape;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_kernels::{AdapterKind, GpuDevice, GpuEnergy};
use std::time::Instant;

struct Args {
    peak_tflops: f64,
    batch: usize,
    reps: usize,
    hidden: usize,
    allow_software: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { peak_tflops: 67.0, batch: 65536, reps: 10, hidden: 256, allow_software: false };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match k.as_str() {
            "--peak-tflops" => a.peak_tflops = val(&k)?.parse().map_err(|e| format!("--peak-tflops: {e}"))?,
            "--batch" => a.batch = val(&k)?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--reps" => a.reps = val(&k)?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--hidden" => a.hidden = val(&k)?.parse().map_err(|e| format!("--hidden: {e}"))?,
            "--allow-software" => a.allow_software = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.batch == 0 || a.reps == 0 || a.hidden == 0 || a.peak_tflops.is_nan() || a.peak_tflops <= 0.0 {
        return Err("--batch, --reps and --hidden must be positive, --peak-tflops > 0".into());
    }
    Ok(a)
}

/// Median and minimum seconds of `reps` calls of `f` after one untimed call.
fn time(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[0])
}

fn report(what: &str, flops: f64, (med, min): (f64, f64), peak: f64) {
    let rate = flops / med;
    println!(
        "{what}: median {:.3} ms (min {:.3} ms), {:.1} GFLOP/s, {:.1} % of {:.1} TFLOP/s fp32 peak",
        med * 1e3,
        min * 1e3,
        rate * 1e-9,
        100.0 * rate / (peak * 1e12),
        peak
    );
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gpu_roofline: {e}");
            std::process::exit(64);
        }
    };
    let dev = match GpuDevice::from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu_roofline: {e}");
            std::process::exit(1);
        }
    };
    let info = dev.info().clone();
    println!("gpu_roofline: adapter {info}");
    if info.kind == AdapterKind::Cpu && !args.allow_software {
        eprintln!(
            "gpu_roofline: {} is a software adapter; its speed means nothing (pass --allow-software for a smoke run)",
            info.name
        );
        std::process::exit(2);
    }
    let b = args.batch;
    let hw = args.hidden;
    let mut failed = false;

    let hess = MlpShape { dim: 64, hidden: [hw, hw] };
    let id = format!("energy_score_hess_diag {}_softplus B{b}", hess.id());
    let run = || -> ebm_core::Result<(f64, f64)> {
        let g = gpu_mlp(&dev, hess)?;
        let x = ebm_bench::normal_batch::<f32>(1, b, hess.dim);
        let (mut e, mut s, mut h) = (vec![0f32; b], vec![0f32; b * hess.dim], vec![0f32; b * hess.dim]);
        g.energy_score_hess_diag(&x, &mut e, &mut s, &mut h)?;
        Ok(time(args.reps, || {
            g.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).expect("hess_diag after a successful call")
        }))
    };
    match run() {
        Ok(t) => report(&id, hess.hess_diag_flops(b), t, args.peak_tflops),
        Err(e) => {
            println!("{id}: not run on this adapter: {e}");
            failed = true;
        }
    }

    let lang = MlpShape { dim: 256, hidden: [hw, hw] };
    let steps = 20;
    let id = format!("langevin_ula k{steps} {}_softplus B{b}", lang.id());
    let (d, h1, h2) = (lang.dim as f64, lang.hidden[0] as f64, lang.hidden[1] as f64);
    let flops = 2.0 * 2.0 * (d * h1 + h1 * h2 + h2) * (b * steps) as f64;
    let run = || -> ebm_core::Result<(f64, f64)> {
        let g = gpu_mlp(&dev, lang)?;
        let mut x = ebm_bench::normal_batch::<f32>(2, b, lang.dim);
        g.langevin_ula(&mut x, 0.01, steps, 7, 0)?;
        let mut k = steps as u64;
        Ok(time(args.reps, || {
            g.langevin_ula(&mut x, 0.01, steps, 7, k).expect("langevin after a successful call");
            k += steps as u64;
        }))
    };
    match run() {
        Ok(t) => report(&id, flops, t, args.peak_tflops),
        Err(e) => {
            println!("{id}: not run on this adapter: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// A softplus MLP of `shape` (seed 42, the benches' weights) on the device.
fn gpu_mlp(dev: &GpuDevice, shape: MlpShape) -> ebm_core::Result<GpuEnergy<Mlp<f32>>> {
    let m = Mlp::<f64>::init(shape.dim, &shape.hidden, Activation::Softplus, 42)?.cast::<f32>();
    Ok(GpuEnergy::new(dev, m)?)
}
