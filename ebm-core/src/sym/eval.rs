//! Batched CPU evaluation of a [`Program`] for f32 and f64.
//!
//! The batch is split into chunks run in parallel (rayon). Each chunk
//! allocates its registers once, as `num_regs` rows of `LANES` samples
//! (structure of arrays, one fixed-size array per register), runs the
//! uniform prefix of the program once, then runs the sample-dependent
//! instructions on blocks of `LANES` samples: the block's inputs are
//! transposed into rows first (a short last block repeats its last sample,
//! whose extra results are dropped), then each instruction is one `match`
//! and a loop over exactly `LANES` lanes without bounds checks, which the
//! compiler unrolls and vectorises, including the elementary functions
//! (exp, ln, ln(1 + a), tanh, sigmoid, softplus, log cosh: see
//! the branch-free forms of `sym::vmath`, within 2–3 ulp of `libm`).
//! An [`Op::Sum`] accumulates all its terms in the destination row.
//! On x86-64 the whole chunk loop is compiled a second time for AVX2 and
//! picked at run time when the CPU has it.
//!
//! Every register, input and parameter index of the program is checked
//! once per call (`check_indices`) before the unchecked inner loops run.

use super::ops::Fn1;
use super::program::{Instr, Op, Program, Term};
use super::vmath::VFns;
use crate::real::Real;
use rayon::prelude::*;
use std::any::TypeId;

/// Samples per block: registers take `num_regs · LANES` scalars per chunk.
pub(crate) const LANES: usize = 32;

/// One register: a value for each lane of a block.
type Row<T> = [T; LANES];

/// Checks every index the evaluator dereferences without bounds checks:
/// registers, inputs, auxiliary inputs and parameters in range, and no
/// instruction reading its own destination.
///
/// # Panics
/// If one is out of range (a hand-built or corrupted program).
fn check_indices(p: &Program) {
    let n = p.num_regs;
    for (i, ins) in p.instrs.iter().enumerate() {
        assert!(ins.dst < n, "sym eval: instr {i}: dst out of range");
        ins.op.for_each_src(|s| assert!(s < n && s != ins.dst, "sym eval: instr {i}: bad operand r{s}"));
        match ins.op {
            Op::Input(k) => assert!(k < p.num_inputs, "sym eval: instr {i}: input out of range"),
            Op::Aux(k) => assert!(k < p.num_aux, "sym eval: instr {i}: aux out of range"),
            Op::Param(k) => assert!(k < p.num_params, "sym eval: instr {i}: param out of range"),
            Op::Sum(ref t) => assert!(!t.is_empty(), "sym eval: instr {i}: empty sum"),
            _ => {}
        }
    }
    assert!(p.outputs.iter().all(|&o| o < n), "sym eval: output register out of range");
    assert!(p.num_uniform <= p.instrs.len(), "sym eval: num_uniform out of range");
}

/// `out ← f(a)` lane by lane.
#[inline(always)]
fn unary<T: Real>(f: Fn1, out: &mut Row<T>, a: &Row<T>) {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32.
        let (out, a) =
            unsafe { (&mut *(out as *mut Row<T> as *mut Row<f32>), &*(a as *const Row<T> as *const Row<f32>)) };
        return unary_v(f, out, a);
    }
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        // SAFETY: T is f64.
        let (out, a) =
            unsafe { (&mut *(out as *mut Row<T> as *mut Row<f64>), &*(a as *const Row<T> as *const Row<f64>)) };
        return unary_v(f, out, a);
    }
    for l in 0..LANES {
        out[l] = f.eval(a[l]);
    }
}

/// [`unary`] with the vectorisable functions of [`super::vmath`].
#[inline(always)]
fn unary_v<V: VFns>(f: Fn1, out: &mut Row<V>, a: &Row<V>) {
    macro_rules! lanes {
        ($e:expr) => {
            for l in 0..LANES {
                out[l] = $e(a[l]);
            }
        };
    }
    match f {
        Fn1::Neg => lanes!(|v: V| -v),
        Fn1::Exp => lanes!(V::v_exp),
        Fn1::Log => lanes!(V::v_ln),
        Fn1::Log1p => lanes!(V::v_ln_1p),
        Fn1::Sqrt => lanes!(|v: V| v.sqrt()),
        Fn1::Tanh => lanes!(V::v_tanh),
        Fn1::Sigmoid => lanes!(V::v_sigmoid),
        Fn1::Softplus => lanes!(V::v_softplus),
        Fn1::LogCosh => lanes!(V::v_logcosh),
        Fn1::Sin => lanes!(|v: V| v.sin()),
        Fn1::Cos => lanes!(|v: V| v.cos()),
        Fn1::Square => lanes!(|v: V| v * v),
    }
}

/// `out ← aⁿ` lane by lane, by the binary powering of `powi`
/// (compiler-rt's `__powidf2`), so the values are those of `powi`.
#[inline(always)]
fn powi<T: Real>(out: &mut Row<T>, a: &Row<T>, n: i32) {
    let mut base = *a;
    let mut acc = [T::one(); LANES];
    let mut k = n.unsigned_abs();
    loop {
        if k & 1 != 0 {
            for l in 0..LANES {
                acc[l] *= base[l];
            }
        }
        k >>= 1;
        if k == 0 {
            break;
        }
        for l in 0..LANES {
            base[l] = base[l] * base[l];
        }
    }
    if n < 0 {
        for l in 0..LANES {
            out[l] = T::one() / acc[l];
        }
    } else {
        *out = acc;
    }
}

/// Runs `instrs` on every lane of `regs`, reading inputs from the
/// transposed block `xt` (row i = xᵢ of each lane) and `at` (vᵢ).
///
/// # Safety
/// `check_indices` passed for the program `instrs` belong to, `regs` has
/// its `num_regs` rows, `xt` and `at` its `num_inputs` and `num_aux` rows
/// and `params` its `num_params` values.
#[inline(always)]
unsafe fn exec<T: Real>(instrs: &[Instr], regs: &mut [Row<T>], xt: &[Row<T>], at: &[Row<T>], params: &[T]) {
    let base = regs.as_mut_ptr();
    for ins in instrs {
        // SAFETY: indices checked by `check_indices`; the destination is
        // never an operand, so `o` does not alias any source row.
        let o: &mut Row<T> = unsafe { &mut *base.add(ins.dst as usize) };
        let r = |i: u32| -> &Row<T> { unsafe { &*base.add(i as usize) } };
        macro_rules! bin {
            ($a:expr, $b:expr, $f:expr) => {{
                let (a, b) = (r($a), r($b));
                for l in 0..LANES {
                    o[l] = $f(a[l], b[l]);
                }
            }};
        }
        match ins.op {
            Op::Const(bits) => *o = [T::from_f64(f64::from_bits(bits)); LANES],
            Op::Param(k) => *o = [unsafe { *params.get_unchecked(k as usize) }; LANES],
            Op::Input(i) => *o = unsafe { *xt.get_unchecked(i as usize) },
            Op::Aux(i) => *o = unsafe { *at.get_unchecked(i as usize) },
            Op::Unary(f, a) => unary(f, o, r(a)),
            Op::Add(a, b) => bin!(a, b, |p: T, q: T| p + q),
            Op::Sub(a, b) => bin!(a, b, |p: T, q: T| p - q),
            Op::Mul(a, b) => bin!(a, b, |p: T, q: T| p * q),
            Op::Div(a, b) => bin!(a, b, |p: T, q: T| p / q),
            Op::Max(a, b) => bin!(a, b, |p: T, q: T| p.max(q)),
            Op::Powi(a, k) => powi(o, r(a), k),
            Op::Powf(a, e) => {
                let e = T::from_f64(f64::from_bits(e));
                let a = r(a);
                for l in 0..LANES {
                    o[l] = a[l].powf(e);
                }
            }
            Op::Sum(ref terms) => sum(o, terms, r),
        }
    }
}

/// `o ← Σ terms` in the order and with the roundings of [`Op::Sum`].
#[inline(always)]
fn sum<'a, T: Real>(out: &mut Row<T>, terms: &[Term], r: impl Fn(u32) -> &'a Row<T>) {
    let Some((first, rest)) = terms.split_first() else {
        return; // `check_indices` rejects empty sums
    };
    // accumulate in a local row the compiler can keep in vector registers
    let mut acc = [T::zero(); LANES];
    let o = &mut acc;
    match *first {
        Term::Add(a) => *o = *r(a),
        Term::Sub(a) => {
            let a = r(a);
            for l in 0..LANES {
                o[l] = -a[l];
            }
        }
        Term::AddMul(a, b) | Term::SubMul(a, b) => {
            let (a, b) = (r(a), r(b));
            for l in 0..LANES {
                o[l] = a[l] * b[l];
            }
            if first.is_sub() {
                for v in o.iter_mut() {
                    *v = -*v;
                }
            }
        }
    }
    for t in rest {
        match *t {
            Term::Add(a) => {
                let a = r(a);
                for l in 0..LANES {
                    o[l] += a[l];
                }
            }
            Term::Sub(a) => {
                let a = r(a);
                for l in 0..LANES {
                    o[l] -= a[l];
                }
            }
            Term::AddMul(a, b) => {
                let (a, b) = (r(a), r(b));
                for l in 0..LANES {
                    o[l] += a[l] * b[l];
                }
            }
            Term::SubMul(a, b) => {
                let (a, b) = (r(a), r(b));
                for l in 0..LANES {
                    o[l] -= a[l] * b[l];
                }
            }
        }
    }
    *out = acc;
}

/// Transposes `n ≤ LANES` rows of width `w` (row-major) into `w` rows of
/// lanes; lanes `n..` repeat the last sample (their results are discarded).
#[inline(always)]
fn transpose<T: Real>(rows: &[T], w: usize, n: usize, out: &mut [Row<T>]) {
    if n == LANES && rows.len() == LANES * w {
        // column by column: strided loads, whole-row stores
        for (i, o) in out.iter_mut().enumerate().take(w) {
            for l in 0..LANES {
                o[l] = rows[l * w + i];
            }
        }
        return;
    }
    for (l, row) in rows.chunks_exact(w).take(n).enumerate() {
        for (o, &v) in out.iter_mut().zip(row) {
            o[l] = v;
        }
    }
    if n < LANES {
        for o in out.iter_mut() {
            let last = o[n - 1];
            o[n..].fill(last);
        }
    }
}

/// What happens to the registers after each block. A trait rather than a
/// closure so that the inlined method is compiled with the vector features
/// of the chunk loop.
trait Sink<T> {
    /// The block of `n` samples at `off` within the chunk is in `regs`.
    fn block(&mut self, off: usize, n: usize, regs: &[Row<T>]);
}

impl<T, S: Sink<T>> Sink<T> for &mut S {
    #[inline(always)]
    fn block(&mut self, off: usize, n: usize, regs: &[Row<T>]) {
        (**self).block(off, n, regs)
    }
}

/// Copies the outputs into row-major output groups.
struct Scatter<'a, 'b, T> {
    /// The chunk's part of each non-empty output group.
    dst: Vec<&'a mut [T]>,
    /// The output registers of each group.
    groups: &'b [&'b [u32]],
}

impl<T: Real> Sink<T> for Scatter<'_, '_, T> {
    #[inline(always)]
    fn block(&mut self, off: usize, n: usize, regs: &[Row<T>]) {
        let n = n.min(LANES);
        for (out, rs) in self.dst.iter_mut().zip(self.groups) {
            let wg = rs.len();
            for (l, orow) in out[off * wg..(off + n) * wg].chunks_exact_mut(wg).enumerate().take(n) {
                for (o, &r) in orow.iter_mut().zip(rs.iter()) {
                    // SAFETY: r < num_regs (`check_indices`) and l < n ≤ LANES.
                    *o = unsafe { *regs.get_unchecked(r as usize).get_unchecked(l) };
                }
            }
        }
    }
}

/// Accumulates wᵦ · outputs(xᵦ), one partial sum per output and lane (no
/// dependency between lanes).
struct Accumulate<'a, T> {
    part: Vec<Row<T>>,
    outputs: &'a [u32],
    /// The chunk's weights.
    w: &'a [T],
}

impl<T: Real> Sink<T> for Accumulate<'_, T> {
    #[inline(always)]
    fn block(&mut self, off: usize, n: usize, regs: &[Row<T>]) {
        if n == LANES {
            let ws: &Row<T> = self.w[off..off + LANES].try_into().expect("a full block");
            for (a, &r) in self.part.iter_mut().zip(self.outputs) {
                let row = &regs[r as usize];
                for l in 0..LANES {
                    a[l] += row[l] * ws[l];
                }
            }
        } else {
            // the lanes past n are padding: leave them out (0·∞ would be NaN)
            let ws = &self.w[off..off + n];
            for (a, &r) in self.part.iter_mut().zip(self.outputs) {
                for ((a, &v), &wb) in a.iter_mut().zip(&regs[r as usize]).zip(ws) {
                    *a += v * wb;
                }
            }
        }
    }
}

/// Runs program `p` on the `len` samples of a chunk (`x`: len × d, `aux`:
/// len × num_aux), calling `sink.block(offset, n, regs)` after each block of `n`
/// samples starting at `offset` within the chunk.
#[inline(always)]
fn chunk_impl<T: Real, S: Sink<T>>(p: &Program, params: &[T], x: &[T], aux: &[T], len: usize, mut sink: S) {
    let (d, da) = (p.num_inputs as usize, p.num_aux as usize);
    let mut regs = vec![[T::zero(); LANES]; p.num_regs as usize];
    let mut xt = vec![[T::zero(); LANES]; d];
    let mut at = vec![[T::zero(); LANES]; da];
    assert!(params.len() == p.num_params as usize && x.len() == len * d && aux.len() == len * da);
    // SAFETY: `check_indices(p)` ran in the caller; the buffers have the sizes of `p`.
    unsafe { exec(&p.instrs[..p.num_uniform], &mut regs, &xt, &at, params) };
    let body = &p.instrs[p.num_uniform..];
    let mut off = 0;
    while off < len {
        let n = LANES.min(len - off);
        transpose(&x[off * d..(off + n) * d], d, n, &mut xt);
        if da > 0 {
            transpose(&aux[off * da..(off + n) * da], da, n, &mut at);
        }
        // SAFETY: as above.
        unsafe { exec(body, &mut regs, &xt, &at, params) };
        sink.block(off, n, &regs);
        off += n;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_avx2<T: Real, S: Sink<T>>(p: &Program, params: &[T], x: &[T], aux: &[T], len: usize, sink: S) {
    chunk_impl(p, params, x, aux, len, sink)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chunk_avx512<T: Real, S: Sink<T>>(p: &Program, params: &[T], x: &[T], aux: &[T], len: usize, sink: S) {
    chunk_impl(p, params, x, aux, len, sink)
}

/// [`chunk_impl`] compiled for the widest vector unit the CPU has. The
/// caller has run `check_indices(p)`.
fn run_chunk<T: Real, S: Sink<T>>(p: &Program, params: &[T], x: &[T], aux: &[T], len: usize, sink: S) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F.
        return unsafe { chunk_avx512(p, params, x, aux, len, sink) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2.
        return unsafe { chunk_avx2(p, params, x, aux, len, sink) };
    }
    chunk_impl(p, params, x, aux, len, sink)
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
    check_indices(p);
    let (d, da) = (p.num_inputs as usize, p.num_aux as usize);
    let chunk = chunk_len(b);
    let nchunks = b.div_ceil(chunk);
    let mut per_chunk: Vec<Vec<&mut [T]>> = (0..nchunks).map(|_| Vec::with_capacity(outs.len())).collect();
    // the output registers of each non-empty group
    let mut groups: Vec<&[u32]> = Vec::with_capacity(outs.len());
    let mut first = 0;
    for (o, &wg) in outs.iter_mut().zip(&widths) {
        if wg == 0 {
            continue;
        }
        for (c, s) in o.chunks_mut(chunk * wg).enumerate() {
            per_chunk[c].push(s);
        }
        groups.push(&p.outputs[first..first + wg]);
        first += wg;
    }
    per_chunk.into_par_iter().enumerate().for_each(|(c, dst)| {
        let start = c * chunk;
        let len = chunk.min(b - start);
        let xc = &x[start * d..(start + len) * d];
        let ac = if da > 0 { &aux[start * da..(start + len) * da] } else { &[][..] };
        run_chunk(p, params, xc, ac, len, &mut Scatter { dst, groups: &groups });
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
    check_indices(p);
    let (d, da) = (p.num_inputs as usize, p.num_aux as usize);
    let chunk = chunk_len(b);
    let partials: Vec<Vec<T>> = (0..b.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let start = c * chunk;
            let len = chunk.min(b - start);
            let xc = &x[start * d..(start + len) * d];
            let ac = if da > 0 { &aux[start * da..(start + len) * da] } else { &[][..] };
            let wc = &w[start..start + len];
            let mut sink = Accumulate { part: vec![[T::zero(); LANES]; p.outputs.len()], outputs: &p.outputs, w: wc };
            run_chunk(p, params, xc, ac, len, &mut sink);
            let part = sink.part;
            part.iter().map(|a| a.iter().fold(T::zero(), |s, &v| s + v)).collect::<Vec<T>>()
        })
        .collect();
    for part in partials {
        for (a, v) in acc.iter_mut().zip(part) {
            *a += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sym::SymEnergy;
    use crate::testing::normal_vec;

    /// Every output of `p` on one chunk through `run`.
    fn outputs<T: Real>(
        p: &Program,
        params: &[T],
        x: &[T],
        run: impl Fn(&Program, &[T], &[T], usize, &mut Scatter<'_, '_, T>),
    ) -> Vec<T> {
        let b = x.len() / p.num_inputs as usize;
        let mut out = vec![T::zero(); b * p.outputs.len()];
        let groups = [&p.outputs[..]];
        let mut sink = Scatter { dst: vec![&mut out[..]], groups: &groups };
        check_indices(p);
        run(p, params, x, b, &mut sink);
        out
    }

    fn same<T: Real>(a: &[T], b: &[T]) -> bool {
        a.iter().zip(b).all(|(&u, &v)| u.to_f64().to_bits() == v.to_f64().to_bits() || (u.is_nan() && v.is_nan()))
    }

    /// The portable, AVX2 and AVX-512 builds of the chunk loop compute the
    /// same bits (no contraction into FMAs, the same branch-free functions).
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let src = "energy(x[d]; W[K,d], b[K]) = sum(k, 0..K, logcosh(sum(i, 0..d, W[k,i] * x[i])) \
                   + softplus(b[k] * x[k]) + sigmoid(x[k] - b[k]) * tanh(x[k]) + exp(-square(x[k])) + log1p(square(x[k])) + log(1 + x[k]^4))";
        let (d, k) = (5, 5);
        let theta = normal_vec(1, k * d + k);
        let m = SymEnergy::<f64>::parse_with(src, &[("d", d), ("K", k)], &theta).unwrap();
        let b = 3 * LANES + 7; // full blocks and a short one
        let x = normal_vec(2, b * d).iter().map(|v| 3.0 * v).collect::<Vec<f64>>();
        for p in [&m.fused_programs().energy_score_hess, &m.fused_programs().grad_sm, &m.programs().energy_score_hess] {
            let portable = outputs(p, &theta, &x, |p, t, x, n, s| chunk_impl(p, t, x, &[], n, s));
            let dispatched = outputs(p, &theta, &x, |p, t, x, n, s| run_chunk(p, t, x, &[], n, s));
            assert!(same(&portable, &dispatched));
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    let v = outputs(p, &theta, &x, |p, t, x, n, s| unsafe { chunk_avx2(p, t, x, &[], n, s) });
                    assert!(same(&portable, &v), "AVX2");
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    let v = outputs(p, &theta, &x, |p, t, x, n, s| unsafe { chunk_avx512(p, t, x, &[], n, s) });
                    assert!(same(&portable, &v), "AVX-512");
                }
            }
            let (t32, x32): (Vec<f32>, Vec<f32>) =
                (theta.iter().map(|&v| v as f32).collect(), x.iter().map(|&v| v as f32).collect());
            let portable = outputs(p, &t32, &x32, |p, t, x, n, s| chunk_impl(p, t, x, &[], n, s));
            let dispatched = outputs(p, &t32, &x32, |p, t, x, n, s| run_chunk(p, t, x, &[], n, s));
            assert!(same(&portable, &dispatched), "f32");
        }
    }
}
