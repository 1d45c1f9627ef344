//! Batched CPU evaluation of a [`Program`] for f32 and f64.
//!
//! The batch is split into chunks run in parallel (rayon). Each chunk
//! allocates its registers once, as `num_regs` rows of `LANES` samples
//! (structure of arrays), runs the uniform prefix of the program once, then
//! runs the sample-dependent instructions on blocks of up to `LANES` samples:
//! one `match` per instruction and block, and a tight loop over the lanes
//! inside, which the compiler vectorises for the arithmetic ops.

use super::program::{Instr, Op, Program};
use super::ops::Fn1;
use crate::real::Real;
use rayon::prelude::*;

/// Samples per block: registers take `num_regs · LANES` scalars per chunk.
const LANES: usize = 32;

/// The per-sample inputs of an evaluation (row-major, B rows).
#[derive(Clone, Copy)]
struct Inputs<'a, T> {
    params: &'a [T],
    x: &'a [T],
    d: usize,
    aux: &'a [T],
    da: usize,
}

/// Splits `regs` (rows of `w`) into the row `dst` (mutable) and a reader for
/// every other row.
#[inline(always)]
fn split<'a, T>(regs: &'a mut [T], w: usize, dst: usize) -> (&'a mut [T], impl Fn(u32) -> &'a [T] + 'a) {
    let (lo, rest) = regs.split_at_mut(dst * w);
    let (out, hi) = rest.split_at_mut(w);
    let lo: &'a [T] = lo;
    let hi: &'a [T] = hi;
    let get = move |r: u32| -> &'a [T] {
        let r = r as usize;
        if r < dst {
            &lo[r * w..(r + 1) * w]
        } else {
            &hi[(r - dst - 1) * w..(r - dst) * w]
        }
    };
    (out, get)
}

#[inline(always)]
fn unary<T: Real>(f: Fn1, out: &mut [T], a: &[T]) {
    macro_rules! lanes {
        ($e:expr) => {
            for (o, &v) in out.iter_mut().zip(a) {
                *o = $e(v);
            }
        };
    }
    match f {
        Fn1::Neg => lanes!(|v: T| -v),
        Fn1::Exp => lanes!(|v: T| v.exp()),
        Fn1::Log => lanes!(|v: T| v.ln()),
        Fn1::Log1p => lanes!(|v: T| v.ln_1p()),
        Fn1::Sqrt => lanes!(|v: T| v.sqrt()),
        Fn1::Tanh => lanes!(|v: T| v.tanh()),
        Fn1::Sigmoid => lanes!(super::ops::sigmoid::<T>),
        Fn1::Softplus => lanes!(super::ops::softplus::<T>),
        Fn1::LogCosh => lanes!(super::ops::logcosh::<T>),
        Fn1::Sin => lanes!(|v: T| v.sin()),
        Fn1::Cos => lanes!(|v: T| v.cos()),
        Fn1::Square => lanes!(|v: T| v * v),
    }
}

/// Runs `instrs` on `n` lanes (samples `b0 .. b0 + n`) of `regs`.
fn run<T: Real>(instrs: &[Instr], regs: &mut [T], n: usize, inp: Inputs<'_, T>, b0: usize) {
    let w = LANES;
    for ins in instrs {
        let (out, get) = split(regs, w, ins.dst as usize);
        let out = &mut out[..n];
        macro_rules! bin {
            ($a:expr, $b:expr, $f:expr) => {{
                let (a, b) = (&get($a)[..n], &get($b)[..n]);
                for ((o, &p), &q) in out.iter_mut().zip(a).zip(b) {
                    *o = $f(p, q);
                }
            }};
        }
        match ins.op {
            Op::Const(bits) => out.fill(T::from_f64(f64::from_bits(bits))),
            Op::Param(k) => out.fill(inp.params[k as usize]),
            Op::Input(i) => {
                for (l, o) in out.iter_mut().enumerate() {
                    *o = inp.x[(b0 + l) * inp.d + i as usize];
                }
            }
            Op::Aux(i) => {
                for (l, o) in out.iter_mut().enumerate() {
                    *o = inp.aux[(b0 + l) * inp.da + i as usize];
                }
            }
            Op::Unary(f, a) => unary(f, out, &get(a)[..n]),
            Op::Add(a, b) => bin!(a, b, |p: T, q: T| p + q),
            Op::Sub(a, b) => bin!(a, b, |p: T, q: T| p - q),
            Op::Mul(a, b) => bin!(a, b, |p: T, q: T| p * q),
            Op::Div(a, b) => bin!(a, b, |p: T, q: T| p / q),
            Op::Max(a, b) => bin!(a, b, |p: T, q: T| p.max(q)),
            Op::Powi(a, k) => {
                for (o, &p) in out.iter_mut().zip(&get(a)[..n]) {
                    *o = p.powi(k);
                }
            }
            Op::Powf(a, e) => {
                let e = T::from_f64(f64::from_bits(e));
                for (o, &p) in out.iter_mut().zip(&get(a)[..n]) {
                    *o = p.powf(e);
                }
            }
        }
    }
}

fn chunk_len(b: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = b.div_ceil(threads * 4).max(LANES);
    per.div_ceil(LANES) * LANES
}

/// Checks the slice lengths against the program (internal invariant: the
/// model validates user input before calling in).
fn check<T>(p: &Program, params: &[T], x: &[T], aux: &[T]) -> usize {
    let d = p.num_inputs as usize;
    assert_eq!(params.len(), p.num_params as usize, "sym eval: params length");
    assert!(d > 0 && x.len().is_multiple_of(d), "sym eval: x length");
    let b = x.len() / d;
    if p.num_aux > 0 {
        assert_eq!(aux.len(), b * p.num_aux as usize, "sym eval: aux length");
    }
    b
}

/// Evaluates `p` on every sample of `x` (row-major B × d) with auxiliary
/// inputs `aux` (B × `num_aux`, empty if none) and writes the outputs into
/// `outs`: consecutive groups of the program's outputs, group g of width
/// wₘ = `outs[g].len() / B` (row-major B × wₘ). For example, a program for
/// `[E, s₀ … s_{d−1}]` writes to `[energy (B), score (B·d)]`.
///
/// # Panics
/// If the lengths do not match the program (an internal invariant).
pub fn eval_batch<T: Real>(p: &Program, params: &[T], x: &[T], aux: &[T], outs: &mut [&mut [T]]) {
    let b = check(p, params, x, aux);
    let widths: Vec<usize> = outs.iter().map(|o| o.len() / b.max(1)).collect();
    assert_eq!(widths.iter().sum::<usize>(), p.outputs.len(), "sym eval: output widths");
    for (o, &wg) in outs.iter().zip(&widths) {
        assert_eq!(o.len(), wg * b, "sym eval: output length");
    }
    if b == 0 {
        return;
    }
    let inp = Inputs { params, x, d: p.num_inputs as usize, aux, da: p.num_aux as usize };
    let chunk = chunk_len(b);
    let nchunks = b.div_ceil(chunk);
    let mut per_chunk: Vec<Vec<&mut [T]>> = (0..nchunks).map(|_| Vec::with_capacity(outs.len())).collect();
    for (o, &wg) in outs.iter_mut().zip(&widths) {
        if wg == 0 {
            continue;
        }
        for (c, s) in o.chunks_mut(chunk * wg).enumerate() {
            per_chunk[c].push(s);
        }
    }
    // (group slot in per_chunk, width, column) of each output
    let mut place = Vec::with_capacity(p.outputs.len());
    let mut slot = 0;
    for &wg in &widths {
        for c in 0..wg {
            place.push((slot, wg, c));
        }
        if wg > 0 {
            slot += 1;
        }
    }
    per_chunk.into_par_iter().enumerate().for_each(|(c, mut dst)| {
        let start = c * chunk;
        let len = chunk.min(b - start);
        let mut regs = vec![T::zero(); p.num_regs as usize * LANES];
        run(&p.instrs[..p.num_uniform], &mut regs, LANES, inp, 0);
        let body = &p.instrs[p.num_uniform..];
        let mut off = 0;
        while off < len {
            let n = LANES.min(len - off);
            run(body, &mut regs, n, inp, start + off);
            for (&r, &(s, wg, col)) in p.outputs.iter().zip(&place) {
                let row = &regs[r as usize * LANES..][..n];
                let out = &mut dst[s];
                for (l, &v) in row.iter().enumerate() {
                    out[(off + l) * wg + col] = v;
                }
            }
            off += n;
        }
    });
}

/// `acc ← Σᵦ wᵦ · outputs(xᵦ)`: evaluates `p` on every sample and sums its
/// outputs with the weights `w` (length B). Each chunk accumulates its own
/// partial sums; the partials are then added in chunk order, so the result
/// is deterministic.
///
/// # Panics
/// If the lengths do not match the program (an internal invariant).
pub fn eval_weighted_sum<T: Real>(p: &Program, params: &[T], x: &[T], aux: &[T], w: &[T], acc: &mut [T]) {
    let b = check(p, params, x, aux);
    assert_eq!(w.len(), b, "sym eval: weights length");
    assert_eq!(acc.len(), p.outputs.len(), "sym eval: accumulator length");
    acc.fill(T::zero());
    if b == 0 || acc.is_empty() {
        return;
    }
    let inp = Inputs { params, x, d: p.num_inputs as usize, aux, da: p.num_aux as usize };
    let chunk = chunk_len(b);
    let partials: Vec<Vec<T>> = (0..b.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let start = c * chunk;
            let len = chunk.min(b - start);
            let mut part = vec![T::zero(); p.outputs.len()];
            let mut regs = vec![T::zero(); p.num_regs as usize * LANES];
            run(&p.instrs[..p.num_uniform], &mut regs, LANES, inp, 0);
            let body = &p.instrs[p.num_uniform..];
            let mut off = 0;
            while off < len {
                let n = LANES.min(len - off);
                run(body, &mut regs, n, inp, start + off);
                let ws = &w[start + off..start + off + n];
                for (a, &r) in part.iter_mut().zip(&p.outputs) {
                    let row = &regs[r as usize * LANES..][..n];
                    *a += row.iter().zip(ws).map(|(&v, &wb)| v * wb).sum::<T>();
                }
                off += n;
            }
            part
        })
        .collect();
    for part in partials {
        for (a, v) in acc.iter_mut().zip(part) {
            *a += v;
        }
    }
}
