//! Every `GpuEnergy` primitive against the CPU at the given MLP shapes and
//! batch sizes, on one adapter: the kernel-versus-CPU checks of the
//! ebm-kernels tests, at the bench sizes that those tests cannot reach on
//! a software adapter.
//!
//! ```text
//! gpu_check [--case 64x256-256:4099,65537]... [--rows 256] [--steps 12]
//! ```
//!
//! Default cases: d = 64 and 256 with 256-256 hidden at B = 4099 and
//! 65 537, and d = 16 with 1024-1024 hidden at B = 1000 and 4099 (softplus
//! MLPs, `Mlp::init` seed 42 + d; no batch a multiple of 64).
//!
//! Checks, per shape and batch (one `PASS` / `FAIL` line each, then the
//! counts):
//! - `energy`, `energy_score`, `energy_score_hess_diag` and `v_hess_v`
//!   against the f64 twin (`Mlp::<f64>` with the same weights);
//! - ULA and MALA (`--steps` steps) against the CPU f32 reference's Philox
//!   chains (`ebm_bench::chains`): ULA ε = 0.1, MALA ε = min(1, 2/√d) (acceptance
//!   counts compared per chain; at most 1 % of the chains may differ in
//!   their count, from f32 rounding at the accept threshold, and every
//!   other chain must match);
//! - `grad_params_energy`, `grad_params_v_dot_grad_x` and `grad_params_sm`
//!   against the f64 twin, with nonzero weights on the compared rows only:
//!   the GPU still runs every sample of the batch, and every compared
//!   sample, wherever it sits, must contribute its own gradient;
//! - the fused NCE loss and gradient (`GpuEnergy::nce_loss_grad`, ν = 1,
//!   B data points and B noise points) against the f64 twin: logits and
//!   weights at the compared rows, loss, ∂L/∂c, and the gradient.
//!
//! Per-sample outputs are computed by the GPU for the whole batch and
//! compared at `--rows` rows (the first and last eighth of them at the
//! batch's ends, the rest spread). Tolerances are those of the ebm-kernels
//! tests: relative 10⁻⁶ plus 10⁻⁶ · max|want|, grown with the reduction
//! length of one sample (the layer widths, never B); parameter gradients,
//! sums over samples, are compared with the sum of the f64 per-row terms,
//! relative to the terms' magnitude Σ|t_b| per entry (`SumRef`), which
//! bounds the rounding of any summation order whatever B.
//!
//! Exit status: 0 when every check passes; 1 when one fails or no adapter
//! can be opened; 64 for bad arguments.

use ebm_bench::chains::Rows;
use ebm_bench::check::{gather, rows, tol_for, Checker};
use ebm_bench::exit::or_exit;
use ebm_bench::MlpShape;
use ebm_core::langevin::NoiseAt;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::{normal_vec, uniform_vec, SumRef, Tolerance};
use ebm_core::EbmError;
use ebm_core::Energy;
use ebm_kernels::{GpuDevice, GpuEnergy};

/// The Langevin checks' noise.
const NOISE: NoiseAt = NoiseAt::new(0x0123_4567_89ab_cdef, (1 << 32) - 5);

struct Args {
    cases: Vec<(MlpShape, Vec<usize>)>,
    rows: usize,
    steps: usize,
}

fn parse_case(s: &str) -> Result<(MlpShape, Vec<usize>), String> {
    let bad = || format!("--case `{s}`: expected DxH1-H2:B1,B2,..., e.g. 64x256-256:4099,65537");
    let (shape, bs) = s.split_once(':').ok_or_else(bad)?;
    let (d, h) = shape.split_once('x').ok_or_else(bad)?;
    let (h1, h2) = h.split_once('-').ok_or_else(bad)?;
    let n = |v: &str| v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad);
    let batches = bs.split(',').map(n).collect::<Result<Vec<_>, _>>()?;
    Ok((MlpShape { dim: n(d)?, hidden: [n(h1)?, n(h2)?] }, batches))
}

fn parse() -> Result<Args, String> {
    let mut a = Args { cases: Vec::new(), rows: 256, steps: 12 };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        match k.as_str() {
            "--case" => a.cases.push(parse_case(&v)?),
            "--rows" => a.rows = v.parse().ok().filter(|&n| n > 0).ok_or("--rows: a positive number")?,
            "--steps" => a.steps = v.parse().ok().filter(|&n| n > 0).ok_or("--steps: a positive number")?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.cases.is_empty() {
        a.cases = ["64x256-256:4099,65537", "256x256-256:4099,65537", "16x1024-1024:1000,4099"]
            .iter()
            .map(|s| parse_case(s).expect("default cases parse"))
            .collect();
    }
    Ok(a)
}

/// The longest dot product times the depth the error travels through (the
/// ebm-kernels tests' `reduce_len`).
fn reduce_len(s: MlpShape) -> usize {
    s.hidden.iter().copied().chain([s.dim]).max().unwrap_or(1) * 3
}

fn f32v(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

fn f64v(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

/// The checks of one shape at one batch size.
fn check(c: &mut Checker, dev: &GpuDevice, shape: MlpShape, b: usize, n_rows: usize, steps: usize) {
    let d = shape.dim;
    let at = format!("{} B={b}", shape.id());
    let m32 = match Mlp::<f32>::init(d, &shape.hidden, Activation::Softplus, 42 + d as u64) {
        Ok(m) => m,
        Err(e) => return c.error(&at, e),
    };
    let m64 = m32.cast::<f64>();
    let gpu = match GpuEnergy::new(dev, m32.clone()) {
        Ok(g) => g,
        Err(e) => return c.error(&format!("{at} upload"), e),
    };
    let r = rows(b, n_rows);
    let n = r.len();
    let red = reduce_len(shape);
    // f32-exact inputs.
    let x: Vec<f64> = uniform_vec(b as u64 + d as u64, b * d, -2.0, 2.0).into_iter().map(|v| v as f32 as f64).collect();
    let x32 = f32v(&x);
    let xr = gather(&x, d, &r);

    // Energy, score, Hessian diagonal: every kernel.
    let (mut e6, mut s6, mut h6) = (vec![0.0; n], vec![0.0; n * d], vec![0.0; n * d]);
    if let Err(e) = m64.energy_score_hess_diag(&xr, &mut e6, &mut s6, &mut h6) {
        return c.error(&format!("{at} f64 reference"), e);
    }
    let (te, ts, th) = (tol_for(1e-6, red, &e6), tol_for(1e-6, red, &s6), tol_for(1e-6, red, &h6));
    let mut e = vec![f32::NAN; b];
    match gpu.energy(&x32, &mut e) {
        Ok(()) => c.close(&format!("{at} energy"), &gather(&e, 1, &r), &e6, &te),
        Err(err) => c.error(&format!("{at} energy"), err),
    }
    let mut s = vec![f32::NAN; b * d];
    match gpu.energy_score(&x32, &mut e, &mut s) {
        Ok(()) => {
            c.close(&format!("{at} energy_score: energy"), &gather(&e, 1, &r), &e6, &te);
            c.close(&format!("{at} energy_score: score"), &gather(&s, d, &r), &s6, &ts);
        }
        Err(err) => c.error(&format!("{at} energy_score"), err),
    }
    let mut h = vec![f32::NAN; b * d];
    match gpu.energy_score_hess_diag(&x32, &mut e, &mut s, &mut h) {
        Ok(()) => {
            c.close(&format!("{at} energy_score_hess_diag: energy"), &gather(&e, 1, &r), &e6, &te);
            c.close(&format!("{at} energy_score_hess_diag: score"), &gather(&s, d, &r), &s6, &ts);
            c.close(&format!("{at} energy_score_hess_diag: hess_diag"), &gather(&h, d, &r), &h6, &th);
        }
        Err(err) => c.error(&format!("{at} energy_score_hess_diag"), err),
    }

    // v_hess_v (on the device, or refused with the reason: an error row).
    let v: Vec<f64> = normal_vec(7 + b as u64, b * d).into_iter().map(|v| v as f32 as f64).collect();
    let vr = gather(&v, d, &r);
    let mut q6 = vec![0.0; n];
    let where_ = gpu.placement(ebm_kernels::Op::VHessV).label();
    let mut q = vec![f32::NAN; b];
    match m64
        .v_hess_v(&xr, &vr, &mut q6)
        .map_err(|e| e.to_string())
        .and_then(|_| gpu.v_hess_v(&x32, &f32v(&v), &mut q).map_err(|e| e.to_string()))
    {
        Ok(()) => {
            let red_q = red + shape.dim + shape.hidden[0] + shape.hidden[1] + 1;
            c.close(&format!("{at} v_hess_v [{where_}]"), &gather(&q, 1, &r), &q6, &tol_for(1e-6, red_q, &q6));
        }
        Err(err) => c.error(&format!("{at} v_hess_v"), err),
    }

    // Parameter gradients, nonzero weights on the compared rows only.
    let p = m64.num_params();
    let wr: Vec<f64> = uniform_vec(11 + b as u64, n, -1.0, 1.0).into_iter().map(|v| v as f32 as f64).collect();
    let mut w32 = vec![0f32; b];
    for (&row, &wv) in r.iter().zip(&wr) {
        w32[row] = wv as f32;
    }
    let grads: [(&str, usize); 3] =
        [("grad_params_energy", red), ("grad_params_v_dot_grad_x", red), ("grad_params_sm", red * (d + 1))];
    let row = |j: usize| j * d..(j + 1) * d;
    for (name, reduce) in grads {
        let mut got = vec![f32::NAN; p];
        // The f64 reference: the sum of the compared rows' own terms.
        let term = |j: usize, g: &mut [f64]| match name {
            "grad_params_energy" => m64.grad_params_energy(&xr[row(j)], &wr[j..j + 1], g),
            "grad_params_v_dot_grad_x" => m64.grad_params_v_dot_grad_x(&xr[row(j)], &vr[row(j)], &wr[j..j + 1], g),
            _ => m64.grad_params_sm(&xr[row(j)], &wr[j..j + 1], g),
        };
        let res = sum_rows(n, p, term).and_then(|want| {
            match name {
                "grad_params_energy" => gpu.grad_params_energy(&x32, &w32, &mut got),
                "grad_params_v_dot_grad_x" => gpu.grad_params_v_dot_grad_x(&x32, &f32v(&v), &w32, &mut got),
                _ => gpu.grad_params_sm(&x32, &w32, &mut got),
            }
            .map(|_| want)
        });
        match res {
            Ok(want) => {
                c.close_sum(&format!("{at} {name} ({n} weighted rows)"), &got, &want, 1e-6 * (reduce + 16) as f64)
            }
            Err(err) => c.error(&format!("{at} {name}"), err),
        }
    }

    // Langevin: the GPU's chains of the whole batch against the CPU f32
    // reference's chains of the compared rows.
    let xn: Vec<f32> = normal_vec(21 + b as u64, b * d).into_iter().map(|v| v as f32).collect();
    let mut xg = xn.clone();
    let mut xc = gather(&xn, d, &r);
    match gpu
        .langevin_ula(&mut xg, 0.1, steps, NOISE.seed, NOISE.first_step)
        .and_then(|_| Rows { rows: &r, eps: 0.1, steps, at: NOISE }.ula(&m32, &mut xc))
    {
        Ok(()) => {
            let tol = Tolerance::new(3e-6, 3e-6).grown(steps);
            c.close(&format!("{at} langevin_ula k{steps}"), &gather(&xg, d, &r), &f64v(&xc), &tol);
        }
        Err(err) => c.error(&format!("{at} langevin_ula"), err),
    }
    // MALA with ε = min(1, 2/√d): large enough that chains move by several
    // ulps per step and some proposals are rejected, small enough that some
    // are accepted at every d.
    let eps = (2.0 / (d as f32).sqrt()).min(1.0);
    check_mala(c, &at, &gpu, &m32, &xn, Rows { rows: &r, eps, steps, at: NOISE });
    check_nce(c, &at, &gpu, &m64, shape, b, &r);
}

/// MALA on the GPU's whole batch `x0` against the CPU f32 reference's chains of `run`'s rows.
fn check_mala(c: &mut Checker, at: &str, gpu: &GpuEnergy<Mlp<f32>>, m32: &Mlp<f32>, x0: &[f32], run: Rows<'_, f32>) {
    let (d, r, eps, steps) = (m32.dim(), run.rows, run.eps, run.steps);
    let b = x0.len() / d;
    let n = r.len();
    let label = format!("{at} langevin_mala k{steps} eps={eps}");
    let acc0: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
    let (mut xg, mut ag) = (x0.to_vec(), acc0.clone());
    let mut xc = gather(x0, d, r);
    let mut ac = gather(&acc0, 1, r);
    // The chains' own sensitivity to rounding: a one-ulp change of the start.
    let mut xp: Vec<f32> = xc.iter().map(|&v| f32::from_bits(v.to_bits() + 1)).collect();
    let mut ap = ac.clone();
    let res = gpu
        .langevin_mala(&mut xg, eps, steps, NOISE.seed, NOISE.first_step, &mut ag)
        .and_then(|_| run.mala(m32, &mut xc, &mut ac))
        .and_then(|_| run.mala(m32, &mut xp, &mut ap));
    if let Err(err) = res {
        return c.error(&label, err);
    }
    let ag_r = gather(&ag, 1, r);
    let same: Vec<usize> = (0..n).filter(|&j| ag_r[j] == ac[j]).collect();
    let flips = n - same.len();
    let start = gather(&acc0, 1, r);
    let moved = (0..n).filter(|&j| ac[j] != start[j]).count();
    let sens = (0..n)
        .filter(|&j| ap[j] == ac[j])
        .flat_map(|j| (0..d).map(move |i| j * d + i))
        .map(|k| (xp[k] - xc[k]).abs() as f64)
        .fold(0.0, f64::max);
    let tol = Tolerance::new(3e-6 * steps as f64, (3e-6 * steps as f64).max(10.0 * sens));
    let got: Vec<f32> = same.iter().flat_map(|&j| gather(&xg, d, &[r[j]])).collect();
    let want: Vec<f64> = same.iter().flat_map(|&j| xc[j * d..(j + 1) * d].iter().map(|&v| v as f64)).collect();
    let worst = ebm_bench::check::worst(&got, &want, &tol);
    let ok = flips * 100 <= n && worst <= 1.0 && moved > 0;
    let rejected = ac.iter().zip(&start).filter(|(a, s)| (**a - **s) as usize != steps).count();
    c.record(
        ok,
        &label,
        &format!(
            "{flips} of {n} chains differ in acceptance count (≤ 1 % allowed), {moved} chains moved, {rejected} rejected a proposal, \
             worst/tol {worst:.3} over the {} chains compared",
            same.len()
        ),
    );
}

fn check_nce(
    c: &mut Checker,
    at: &str,
    gpu: &GpuEnergy<Mlp<f32>>,
    m64: &Mlp<f64>,
    shape: MlpShape,
    b: usize,
    r: &[usize],
) {
    let d = shape.dim;
    let n = 2 * b;
    let label = format!("{at} nce_loss_grad nu=1");
    let x: Vec<f64> = uniform_vec(3 + b as u64, n * d, -2.0, 2.0).into_iter().map(|v| v as f32 as f64).collect();
    let lpn: Vec<f64> = uniform_vec(4 + b as u64, n, -4.0, -1.0).into_iter().map(|v| v as f32 as f64).collect();
    let cc = 0.3;
    let mut e = vec![0.0; n];
    if let Err(err) = m64.energy(&x, &mut e) {
        return c.error(&label, err);
    }
    let softplus = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let g: Vec<f64> = (0..n).map(|j| -e[j] - cc - lpn[j]).collect();
    let loss = (0..n).map(|j| if j < b { softplus(-g[j]) } else { softplus(g[j]) }).sum::<f64>() / n as f64;
    let w: Vec<f64> = (0..n).map(|j| if j < b { sigmoid(-g[j]) } else { -sigmoid(g[j]) } / n as f64).collect();
    let grad =
        match sum_rows(n, m64.num_params(), |j, g| m64.grad_params_energy(&x[j * d..(j + 1) * d], &w[j..j + 1], g)) {
            Ok(s) => s,
            Err(err) => return c.error(&label, err),
        };
    let mut got = vec![f32::NAN; m64.num_params()];
    let out = match gpu.nce_loss_grad(&f32v(&x), &f32v(&lpn), b, cc, 1, &mut got) {
        Ok(o) => o,
        Err(err) => return c.error(&label, err),
    };
    // Compared rows of both halves: data rows r and noise rows b + r.
    let both: Vec<usize> = r.iter().copied().chain(r.iter().map(|&j| b + j)).collect();
    let red = reduce_len(shape);
    let (gw, ww) = (gather(&g, 1, &both), gather(&w, 1, &both));
    c.close(&format!("{label}: logits"), &gather(&out.logits, 1, &both), &gw, &tol_for(1e-6, red, &gw));
    c.close(&format!("{label}: weights"), &gather(&out.weights, 1, &both), &ww, &tol_for(1e-6, red, &ww));
    let t = Tolerance::new(1e-6, 1e-6).grown(red);
    c.record(t.close(out.loss, loss), &format!("{label}: loss"), &format!("got {:e}, want {loss:e}", out.loss));
    let dc: f64 = w.iter().sum();
    c.record(t.close(out.dloss_dc, dc), &format!("{label}: dL/dc"), &format!("got {:e}, want {dc:e}", out.dloss_dc));
    c.close_sum(&format!("{label}: grad (sum over all {n} points)"), &got, &grad, 1e-6 * (red + 16) as f64);
}

/// Σ_j t_j over `n` rows with its terms' magnitude; `term(j, out)` writes
/// row j's term (an f64 per-row gradient) or fails.
fn sum_rows(
    n: usize,
    p: usize,
    mut term: impl FnMut(usize, &mut [f64]) -> Result<(), EbmError>,
) -> Result<SumRef, EbmError> {
    let mut s = SumRef::zeros(p);
    let mut t = vec![0.0; p];
    for j in 0..n {
        term(j, &mut t)?;
        s.add(&t);
    }
    Ok(s)
}

fn main() {
    let args = or_exit("gpu_check", 64, parse());
    let dev = or_exit("gpu_check", 1, GpuDevice::from_env());
    println!("gpu_check: adapter {}", dev.info());
    println!("gpu_check: loop budget {:?} (None: unlimited)", dev.loop_budget());
    let mut c = Checker::default();
    for (shape, batches) in &args.cases {
        for &b in batches {
            let t = std::time::Instant::now();
            check(&mut c, &dev, *shape, b, args.rows, args.steps);
            println!("gpu_check: {} B={b} done in {:.1} s", shape.id(), t.elapsed().as_secs_f64());
        }
    }
    println!("gpu_check: {} passed, {} failed", c.passed, c.failed);
    if c.failed > 0 {
        std::process::exit(1);
    }
}
