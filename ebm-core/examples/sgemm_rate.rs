//! The machine's f32 GEMM rate through ebm's own GEMM (`Real::gemm`, i.e.
//! matrixmultiply): 1024³ on 1 thread and on 2 (rows split in two), best of
//! 15. `ebm-bench/RESULTS.md` reads its FLOP rates against this figure.
//!
//! `cargo run --release -p ebm-core --example sgemm_rate`

use ebm_core::Real;
use rayon::prelude::*;
use std::time::Instant;
fn main() {
    let n = 1024;
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0f32; n * n];
    for threads in [1usize, 2] {
        let mut best = f64::MAX;
        for _ in 0..15 {
            let t = Instant::now();
            let rows = n / threads;
            c.par_chunks_mut(rows * n).enumerate().take(threads).for_each(|(i, cc)| {
                f32::gemm(rows, n, n, 1.0, &a[i * rows * n..], n, 1, &b, n, 1, 0.0, cc, n, 1);
            });
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("threads {threads}: sgemm 1024^3 best {:.1} GFLOP/s", 2.0 * (n as f64).powi(3) / best / 1e9);
    }
}
