//! The launch plans of the MLP kernels at the bench shapes, from the cost
//! models only (nothing is launched, no adapter is needed): for the first,
//! one-thread-per-sample kernels and for the tiled kernels of
//! `ebm_kernels::mlp2`, the loop iterations one invocation runs, the
//! launches one call makes at B = 16384 and, for the tiled kernels, the
//! compulsory bytes per sample.
//!
//! `cargo run --release -p ebm-kernels --example kernel_plan`

use ebm_core::mlp::{Activation, Mlp};
use ebm_kernels::mlp2::plan::{self, Limits, Op, Shape, Tiles};
use ebm_kernels::plan::loop_cost;
use ebm_kernels::rows::rows_chunk;
use ebm_kernels::GpuFamily;

const B: usize = 16_384;

fn main() {
    let shapes: [(usize, &[usize]); 4] = [(64, &[256, 256]), (256, &[256, 256]), (16, &[1024]), (48, &[192, 160])];
    println!(
        "| shape | kernels | loops/invocation: E / +score / +Hessian | launches at B = {B}: ∇θE | per-thread floats |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (d, hidden) in shapes {
        let m = Mlp::<f32>::init(d, hidden, Activation::Softplus, 1).expect("mlp");
        let name = format!("d = {d}, {hidden:?}");
        let (spec, meta) = m.spec().expect("spec");
        let c = loop_cost(&spec, &meta);
        let hess = c.energy + c.grad + c.hess_all + d as u64 * c.hess_per_coord;
        let p = spec.n_params;
        let chunks = B.div_ceil(rows_chunk(p, B, None));
        let wsum: usize = hidden.iter().sum();
        let wmax = hidden.iter().copied().chain([d]).max().unwrap_or(1);
        println!(
            "| {name} | per sample | {} / {} / {hess} | {} (rows + reduction per chunk of {}) | {} |",
            c.energy,
            c.energy + c.grad,
            2 * chunks,
            rows_chunk(p, B, None),
            2 * wsum + 2 * wmax + 5 * d
        );
        let (s, t, lim) = (Shape::new(d, hidden), Tiles::default(), Limits::default());
        let loops = |op| plan::launches(&s, &t, op).iter().map(|l| l.loops).max().unwrap_or(0);
        let chunk = plan::grad_chunk(&s, &t, &lim, 1);
        let n = plan::launches(&s, &t, Op::GradEnergy).len() * B.div_ceil(chunk);
        println!(
            "| {name} | tiled | {} / {} / {} | {n} (chunks of {chunk}) | 16 (a 4 × 4 register block) |",
            loops(Op::Energy),
            loops(Op::EnergyScore),
            loops(Op::HessDiag),
        );
    }
    println!();
    println!("| shape | tiled op | launches per chunk | max loops | MFLOP/sample | KiB/sample |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (d, hidden) in shapes {
        let (s, t) = (Shape::new(d, hidden), Tiles::default());
        for op in Op::ALL {
            let l = plan::launches(&s, &t, op);
            println!(
                "| d = {d}, {hidden:?} | {op:?} | {} | {} | {:.3} | {:.1} |",
                l.len(),
                l.iter().map(|l| l.loops).max().unwrap_or(0),
                plan::flops_per_sample(&s, &t, op) / 1e6,
                plan::bytes_per_sample(&s, &t, op) / 1024.0
            );
        }
    }
}
