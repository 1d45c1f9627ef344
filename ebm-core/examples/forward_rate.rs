//! Single-thread, best-of-400 timings of the MLP's energy, energy + score,
//! fused Hessian diagonal and 20 ULA steps at the peers' sizes (softplus, B = 1024, f32):
//! a quick A/B check of a CPU change that is steadier than the medians of
//! the criterion benches on a shared machine. Not a benchmark of record.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p ebm-core --example forward_rate [d ...]
//! ```
//!
//! With arguments, only those input dimensions (2, 16, 64) run.

use ebm_core::mlp::Activation;
use ebm_core::prelude::*;
use ebm_core::Mlp;
use std::time::Instant;

/// Best wall time of 400 calls after 5 warm-ups, in ms.
fn best<F: FnMut()>(mut f: F) -> f64 {
    for _ in 0..5 {
        f();
    }
    let mut b = f64::MAX;
    for _ in 0..400 {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b * 1e3
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    for (d, h) in [(2usize, 128usize), (16, 128), (64, 256)] {
        if !only.is_empty() && !only.contains(&d.to_string()) {
            continue;
        }
        let m = Mlp::<f32>::init(d, &[h, h], Activation::Softplus, 7).expect("valid shape");
        let bsz = 1024;
        let x: Vec<f32> = (0..bsz * d).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let (mut e, mut s, mut hd) = (vec![0f32; bsz], vec![0f32; bsz * d], vec![0f32; bsz * d]);
        let te = best(|| m.energy(&x, &mut e).expect("energy"));
        let tes = best(|| m.energy_score(&x, &mut e, &mut s).expect("energy_score"));
        let th = best(|| m.energy_score_hess_diag(&x, &mut e, &mut s, &mut hd).expect("hess_diag"));
        let mut xl = x.clone();
        let tl = best(|| m.langevin_ula(&mut xl, 0.1, 20, 7, 0).expect("langevin"));
        println!("d={d:3} {h}-{h}: energy {te:.3} ms  energy_score {tes:.3} ms  hess_diag {th:.3} ms  langevin_ula k=20 {tl:.3} ms");
    }
}
