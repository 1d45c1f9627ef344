//! Fused ULA / MALA against the CPU f32 reference `ebm_core::langevin`:
//! same seed ⇒ same chains, to f32 rounding over K steps.

mod common;

use ebm_core::gaussian::Gaussian;
use ebm_core::langevin;
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::Tolerance;
use ebm_kernels::GpuEnergy;

/// Steps per launch in these tests; the first step sits just below 2³² so
/// the 64-bit stream counter carries inside the launch.
const K: usize = 12;
const FIRST_STEP: u64 = (1 << 32) - 5;
const SEED: u64 = 0x0123_4567_89ab_cdef;

/// An MLP with PyTorch-style initial weights scaled by 4, so the energy has
/// enough curvature for MALA to reject.
fn model() -> Mlp<f32> {
    let mut m = Mlp::<f32>::init(5, &[12, 9], Activation::Softplus, 11).unwrap();
    m.params_mut().iter_mut().for_each(|p| *p *= 4.0);
    m
}

#[test]
fn ula_chains_match_cpu_reference_on_default_adapter() {
    let dev = common::device("ula_chains_match_cpu_reference_on_default_adapter");
    let m = model();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let d = m.dim();
    // Rounding differences of one step are amplified by at most (1 + ε²L/2)
    // per step; 3e-6 per step with K steps covers f32 rounding.
    let tol = Tolerance::new(3e-6, 3e-6).grown(K);
    for (j, &b) in common::BATCHES.iter().enumerate() {
        let x0 = common::to32(&common::normal32(500 + j as u64, b * d));
        let (mut xc, mut xg) = (x0.clone(), x0.clone());
        langevin::ula(&m, &mut xc, 0.1, K, SEED, FIRST_STEP).unwrap();
        gpu.langevin_ula(&mut xg, 0.1, K, SEED, FIRST_STEP).unwrap();
        assert!(xc != x0, "the reference moved");
        tol.assert_all_close(&format!("ULA chains B={b} on {}", dev.info().label()), &xg, &xc);
        eprintln!(
            "ULA B={b}: worst/tol {:.3}",
            common::worst(&xg, &xc.iter().map(|&v| v as f64).collect::<Vec<_>>(), &tol)
        );
    }
}

#[test]
fn ula_is_k_single_steps_on_default_adapter() {
    // K steps in one launch equal K launches of one step (stream addressing).
    let dev = common::device("ula_is_k_single_steps_on_default_adapter");
    let m = model();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let x0 = common::to32(&common::normal32(9, 7 * m.dim()));
    let (mut a, mut b) = (x0.clone(), x0);
    gpu.langevin_ula(&mut a, 0.2, 4, SEED, FIRST_STEP).unwrap();
    for k in 0..4 {
        gpu.langevin_ula(&mut b, 0.2, 1, SEED, FIRST_STEP + k).unwrap();
    }
    assert_eq!(a, b, "on {}", dev.info().label());
}

/// MALA on `m` (CPU reference) and `gpu`: acceptance counts and rates
/// must agree exactly, chains to `tol` widened by the chains' own
/// sensitivity to rounding: 10× the largest change that a one-ulp
/// perturbation of the start makes to the CPU chains over the K steps.
fn check_mala<M: ebm_kernels::GpuFamily>(
    dev: &ebm_kernels::GpuDevice,
    label: &str,
    m: &M,
    gpu: &GpuEnergy<M>,
    eps: f32,
    tol: Tolerance,
) {
    let d = m.dim();
    for (j, &b) in common::BATCHES.iter().enumerate() {
        let x0 = common::to32(&common::normal32(700 + j as u64, b * d));
        let (mut xc, mut xg) = (x0.clone(), x0.clone());
        // start from non-zero counts: they are incremented
        let acc0: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
        let (mut ac, mut ag) = (acc0.clone(), acc0.clone());
        let rc = langevin::mala(m, &mut xc, eps, K, SEED, FIRST_STEP, &mut ac).unwrap();
        let rg = gpu.langevin_mala(&mut xg, eps, K, SEED, FIRST_STEP, &mut ag).unwrap();
        let mut xp: Vec<f32> = x0.iter().map(|&v| f32::from_bits(v.to_bits() + 1)).collect();
        let mut ap = acc0.clone();
        langevin::mala(m, &mut xp, eps, K, SEED, FIRST_STEP, &mut ap).unwrap();
        let sens = xp.iter().zip(&xc).map(|(a, c)| (a - c).abs() as f64).fold(0.0, f64::max);
        let tol = Tolerance::new(tol.rtol, tol.atol.max(10.0 * sens));
        let xc64: Vec<f64> = xc.iter().map(|&v| v as f64).collect();
        eprintln!(
            "{label} MALA B={b}: acceptance rate cpu {rc:.4} gpu {rg:.4}, worst/tol {:.3}",
            common::worst(&xg, &xc64, &tol)
        );
        if b >= 1000 {
            assert!(rc > 0.05 && rc < 0.95, "{label}: the step size exercises both outcomes (rate {rc})");
        }
        assert_eq!(ag, ac, "{label} MALA acceptance counts B={b} on {}", dev.info().label());
        assert_eq!(rg, rc, "{label} MALA acceptance rate B={b} on {}", dev.info().label());
        tol.assert_all_close(&format!("{label} MALA chains B={b} on {}", dev.info().label()), &xg, &xc);
    }
}

#[test]
fn mala_chains_and_acceptances_match_cpu_reference_on_default_adapter() {
    let dev = common::device("mala_chains_and_acceptances_match_cpu_reference_on_default_adapter");
    // A Gaussian whose precision has eigenvalues in about [0.3, 2.5]: with
    // ε = 1 the move x ← x − (ε²/2)P(x − μ) + εz barely amplifies rounding,
    // and MALA rejects about a quarter of the proposals.
    let d = 5;
    let mut p = vec![0.25f32, -0.5, 0.0, 1.0, 0.5];
    for i in 0..d {
        for j in 0..=i {
            p.push(if i == j { 1.0 } else { 0.3 * ((i + 2 * j) % 3) as f32 - 0.3 });
        }
    }
    let g = Gaussian::<f32>::new(d, p).unwrap();
    let gpu = GpuEnergy::new(&dev, g.clone()).unwrap();
    check_mala(&dev, "gaussian", &g, &gpu, 1.0, Tolerance::new(3e-6, 3e-6).grown(K));
    // The MLP with ε = 1: a rougher step map amplifies last-bit differences
    // over K steps (a one-ulp change of the start moves some chains by
    // ~5e-4), which `check_mala` measures and allows for.
    let m = model();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    check_mala(&dev, "mlp", &m, &gpu, 1.0, Tolerance::new(3e-6, 3e-6).grown(K));
}

#[test]
fn langevin_rejects_bad_inputs_like_cpu_on_default_adapter() {
    let dev = common::device("langevin_rejects_bad_inputs_like_cpu_on_default_adapter");
    let m = model();
    let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
    let mut x = vec![0.0f32; 10];
    for eps in [0.0f32, -1.0, f32::NAN] {
        assert_eq!(
            gpu.langevin_ula(&mut x, eps, 1, 0, 0).unwrap_err(),
            langevin::ula(&m, &mut x, eps, 1, 0, 0).unwrap_err()
        );
    }
    let mut ragged = vec![0.0f32; 7];
    assert_eq!(
        gpu.langevin_ula(&mut ragged, 0.1, 1, 0, 0).unwrap_err(),
        langevin::ula(&m, &mut ragged, 0.1, 1, 0, 0).unwrap_err()
    );
    let mut acc = vec![0u32; 3];
    assert_eq!(
        gpu.langevin_mala(&mut x, 0.1, 1, 0, 0, &mut acc).unwrap_err(),
        langevin::mala(&m, &mut x, 0.1, 1, 0, 0, &mut acc).unwrap_err()
    );
}

/// A device ULA run on chains `x`, in place.
type UlaRun<'a> = dyn Fn(&mut [f32]) + 'a;
/// A device MALA run on chains `x` and acceptance counts, in place.
type MalaRun<'a> = dyn Fn(&mut [f32], &mut [u32]) + 'a;

/// A share of a larger population (`NoiseAt::first_chain` > 0, as on a
/// data-parallel rank) draws the noise of its global chains on every
/// device path: the per-sample kernels, the tiled MLP's persistent and
/// multi-launch kernels, and the symbolic kernels agree with the CPU's
/// `ula_at` / `mala_at`, and differ from the same chains at offset 0. The
/// offset 13·d is not a multiple of 4, so the Philox blocks straddle rows
/// differently than at offset 0.
#[test]
fn chains_of_a_share_draw_their_global_noise_on_default_adapter() {
    use ebm_core::langevin::NoiseAt;
    use ebm_kernels::mlp2::Mlp2;
    use ebm_kernels::{GpuSym, MlpKernels};
    let dev = common::device("chains_of_a_share_draw_their_global_noise_on_default_adapter");
    let m = model();
    let d = m.dim();
    let at = NoiseAt::new(SEED, FIRST_STEP).from_chain(13);
    let tol = Tolerance::new(3e-6, 3e-6).grown(K);
    let per_sample = GpuEnergy::with_mlp_kernels(&dev, m.clone(), MlpKernels::PerSample).unwrap();
    let tiled = Mlp2::new(&dev, &m).unwrap();
    assert!(matches!(tiled.langevin_path(false), ebm_kernels::mlp2::LangevinPath::Persistent { .. }));
    for b in [7usize, 130] {
        let x0 = common::to32(&common::normal32(900 + b as u64, b * d));
        let mut want = x0.clone();
        m.langevin_ula_at(&mut want, 0.1, K, at).unwrap();
        let mut at0 = x0.clone();
        m.langevin_ula(&mut at0, 0.1, K, SEED, FIRST_STEP).unwrap();
        assert!(want != at0, "the offset changes the noise");
        let runs: [(&str, &UlaRun); 3] = [
            ("per-sample", &|x| per_sample.langevin_ula_at(x, 0.1, K, at).unwrap()),
            ("tiled persistent", &|x| tiled.ula_auto(x, 0.1, K, at).unwrap()),
            ("tiled multi-launch", &|x| tiled.ula(x, 0.1, K, at).unwrap()),
        ];
        for (label, run) in runs {
            let mut x = x0.clone();
            run(&mut x);
            tol.assert_all_close(&format!("{label} ULA at chain 13, B={b}"), &x, &want);
        }
        // MALA: chains and acceptance counts, at a step that rejects.
        let acc0: Vec<u32> = (0..b as u32).map(|i| i % 3).collect();
        let (mut xc, mut ac) = (x0.clone(), acc0.clone());
        m.langevin_mala_at(&mut xc, 1.0, K, at, &mut ac).unwrap();
        let mala: [(&str, &MalaRun); 3] = [
            ("per-sample", &|x, a| {
                per_sample.langevin_mala_at(x, 1.0, K, at, a).unwrap();
            }),
            ("tiled persistent", &|x, a| {
                tiled.mala_auto(x, 1.0, K, at, a).unwrap();
            }),
            ("tiled multi-launch", &|x, a| {
                tiled.mala(x, 1.0, K, at, a).unwrap();
            }),
        ];
        for (label, run) in mala {
            let (mut x, mut a) = (x0.clone(), acc0.clone());
            run(&mut x, &mut a);
            assert_eq!(a, ac, "{label} MALA acceptances at chain 13, B={b}");
            tol.assert_all_close(&format!("{label} MALA at chain 13, B={b}"), &x, &xc);
        }
    }
    // The symbolic kernels: a Gaussian written as a formula.
    let g = ebm_core::sym::SymEnergy::<f32>::new(
        ebm_core::sym::parse_with(
            "energy(x[d]; m[d], p[d]) = 0.5 * sum(i, 0..d, square(x[i] - m[i]) * p[i])",
            &[("d", 3)],
        )
        .unwrap(),
        &[0.5, -1.0, 0.25, 1.0, 2.0, 0.5],
    )
    .unwrap();
    let sym = GpuSym::new(&dev, g.clone()).unwrap();
    let x0 = common::to32(&common::normal32(950, 11 * 3));
    let (mut want, mut x) = (x0.clone(), x0.clone());
    let (mut xm, mut am, mut xw, mut aw) = (x0.clone(), vec![0u32; 11], x0.clone(), vec![0u32; 11]);
    g.langevin_ula_at(&mut want, 0.3, K, at).unwrap();
    sym.langevin_ula_at(&mut x, 0.3, K, at).unwrap();
    tol.assert_all_close("symbolic ULA at chain 13", &x, &want);
    g.langevin_mala_at(&mut xw, 1.5, K, at, &mut aw).unwrap();
    sym.langevin_mala_at(&mut xm, 1.5, K, at, &mut am).unwrap();
    assert!(aw.iter().any(|&a| (a as usize) < K), "the MALA step rejects");
    assert_eq!(am, aw, "symbolic MALA acceptances at chain 13");
    tol.assert_all_close("symbolic MALA at chain 13", &xm, &xw);
}
