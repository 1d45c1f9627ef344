//! Weighted parameter gradients with tiny weights (NCE from c = 0 puts the
//! data-class weights near e⁻⁹⁰, seed eq 22–24): the MLP sums chunks whose
//! weights are all below 2⁻²⁰ at a power-of-two scale, so that no
//! w_b·δ_l product is subnormal. Scaling every weight by 2⁻ˢ must then
//! scale the gradient by 2⁻ˢ to f32 precision wherever the result is a
//! normal number; the direct path, whose products fall below the normal
//! range at the deepest scale, loses that precision.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::testing::normal_vec;

fn setup() -> (Mlp<f32>, Vec<f32>, Vec<f32>) {
    let m = Mlp::<f64>::init(5, &[24, 16], Activation::Softplus, 3).unwrap().cast::<f32>();
    let b = 300; // several chunks, the last one partial
    let x: Vec<f32> = normal_vec(17, b * 5).into_iter().map(|v| v as f32).collect();
    // Positive like NCE's data-class weights, so each gradient entry adds up
    // coherently and stays normal after scaling.
    let w: Vec<f32> = (0..b).map(|i| (1.0 + (i % 7) as f32) / b as f32).collect();
    (m, x, w)
}

/// Asserts `scaled ≈ reference · 2⁻ˢ` entry by entry, to a few f32 ulps of
/// the entry (the two paths round their sums in different orders), wherever
/// the scaled value is a normal f32; and that most entries are compared.
fn assert_scaled(what: &str, s: i32, reference: &[f32], scaled: &[f32]) {
    let f = 2f64.powi(-s);
    let mut compared = 0;
    let mut worst = 0.0f64;
    for (i, (&r, &g)) in reference.iter().zip(scaled).enumerate() {
        let want = r as f64 * f;
        if want.abs() >= f32::MIN_POSITIVE as f64 {
            let rel = (g as f64 - want).abs() / want.abs();
            worst = worst.max(rel);
            assert!(rel < 2e-6, "{what}, 2^-{s}, entry {i}: {g:e} vs {want:e} (relative {rel:e})");
            compared += 1;
        }
    }
    eprintln!("{what}, 2^-{s}: worst relative {worst:e} over {compared}");
    assert!(
        compared * 10 >= reference.len() * 9,
        "{what}, 2^-{s}: only {compared} of {} entries normal",
        reference.len()
    );
}

#[test]
fn scaling_tiny_weights_scales_the_gradient_exactly() {
    let (m, x, w) = setup();
    let p = m.num_params();
    let mut reference = vec![0f32; p];
    m.grad_params_energy(&x, &w, &mut reference).unwrap();
    for s in [21, 60, 100, 112] {
        let f = 2f32.powi(-s);
        let ws: Vec<f32> = w.iter().map(|&v| v * f).collect();
        let mut g = vec![0f32; p];
        m.grad_params_energy(&x, &ws, &mut g).unwrap();
        assert_scaled("grad_params_energy", s, &reference, &g);

        // The same through the energy-weighted entry point, whose weights
        // come out of the pass.
        let mut e = vec![0f32; w.len()];
        let mut g_with = vec![0f32; p];
        m.grad_params_energy_with(&x, &|j, _| w[j] * f, &mut e, &mut g_with).unwrap();
        assert_scaled("grad_params_energy_with", s, &reference, &g_with);
    }
}

/// Weights in f32's subnormal range (below 2⁻¹²⁶) are lifted by at most
/// 2¹⁰⁰: the gradient must still be the f64 one to f32 precision, relative
/// to its size, once scaled back up.
#[test]
fn subnormal_weights_match_f64() {
    let (m, x, w) = setup();
    let p = m.num_params();
    let s = 130;
    let ws: Vec<f32> = w.iter().map(|&v| v * 2f32.powi(-s)).collect();
    assert!(ws.iter().all(|v| v.is_subnormal()));
    let mut g = vec![0f32; p];
    m.grad_params_energy(&x, &ws, &mut g).unwrap();
    let m64 = m.cast::<f64>();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let w64: Vec<f64> = ws.iter().map(|&v| v as f64).collect();
    let mut g64 = vec![0f64; p];
    m64.grad_params_energy(&x64, &w64, &mut g64).unwrap();
    let rms = (g64.iter().map(|v| v * v).sum::<f64>() / p as f64).sqrt();
    assert!(rms > 0.0);
    let worst = g.iter().zip(&g64).map(|(&a, &b)| (a as f64 - b).abs() / rms).fold(0.0, f64::max);
    // The results are themselves subnormal (about 2⁻¹³⁶), so their absolute
    // resolution is 2⁻¹⁴⁹: 2⁻¹³ of the rms.
    assert!(worst < 1e-3, "worst error {worst:e} of the rms {rms:e}");
}
