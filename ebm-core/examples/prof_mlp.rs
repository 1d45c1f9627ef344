//! Scratch profiler (not committed).
use ebm_core::mlp::{Activation, Mlp};
use ebm_core::Energy;
use std::time::Instant;

fn cpu_now() -> f64 {
    let mut ts = libc_timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { clock_gettime(2, &mut ts) }; // CLOCK_PROCESS_CPUTIME_ID
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
#[repr(C)]
struct libc_timespec { tv_sec: i64, tv_nsec: i64 }
extern "C" { fn clock_gettime(clk: i32, ts: *mut libc_timespec) -> i32; }

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(|s| s.as_str()).unwrap_or("es");
    let d: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(64);
    let h: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(256);
    let reps: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(50);
    let b = 1024;
    let m = Mlp::<f64>::init(d, &[h, h], Activation::Softplus, 42).unwrap().cast::<f32>();
    let mut x: Vec<f32> = (0..b * d).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let mut e = vec![0f32; b];
    let mut s = vec![0f32; b * d];
    let mut hd = vec![0f32; b * d];
    let mut run = |x: &mut Vec<f32>| match what {
        "e" => m.energy(x, &mut e).unwrap(),
        "es" => m.energy_score(x, &mut e, &mut s).unwrap(),
        "h" => m.energy_score_hess_diag(x, &mut e, &mut s, &mut hd).unwrap(),
        "l" => m.langevin_ula(x, 0.1, 20, 7, 0).unwrap(),
        _ => panic!(),
    };
    run(&mut x);
    let mut best = f64::MAX; let mut bestw = f64::MAX;
    for _ in 0..reps {
        let (c0, w0) = (cpu_now(), Instant::now());
        run(&mut x);
        best = best.min(cpu_now() - c0);
        bestw = bestw.min(w0.elapsed().as_secs_f64());
    }
    println!("{what} d={d} h={h}: best thread-cpu {:.3} ms, best wall {:.3} ms", best * 1e3, bestw * 1e3);
}
