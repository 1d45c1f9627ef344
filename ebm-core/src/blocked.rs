//! Crate-internal batch drivers shared by the families in `gaussian`,
//! `mixture`, `ica` and `rbm`: blocked forward passes, blocked reductions
//! of parameter gradients over the batch, and configuration checks. Input
//! shapes are checked at the front door ([`crate::energy`]), not here.

use crate::energy::{check_finite, Outputs};
use crate::error::{EbmError, Result};
use crate::real::Real;
use rayon::prelude::*;
use std::ops::Range;

/// At most this many jobs per call (bounds the partial sums of gradients).
const MAX_JOBS: usize = 64;
/// Bound on the total size of per-job partial gradients, in values.
const MAX_PARTIAL_ELEMS: usize = 1 << 22;
/// Rows per block inside a job: the row count families size scratch for.
pub(crate) const BLOCK: usize = 64;

/// The fewest rows worth a job, from a rough per-row work estimate.
fn min_rows(work_per_row: usize) -> usize {
    (32_768 / work_per_row.max(1)).clamp(1, 4096)
}

fn rows_per_job(b: usize, work_per_row: usize, max_jobs: usize) -> usize {
    b.div_ceil(max_jobs.max(1)).max(min_rows(work_per_row)).max(1)
}

/// Output rows of a forward pass: energies and, optionally, scores and
/// Hessian diagonals (row-major, d per row).
pub(crate) struct Out<'a, T> {
    pub e: &'a mut [T],
    pub s: Option<&'a mut [T]>,
    pub h: Option<&'a mut [T]>,
}

impl<'a, T> From<Outputs<'a, T>> for Out<'a, T> {
    fn from(o: Outputs<'a, T>) -> Self {
        let (e, s, h) = o.into_parts();
        Out { e, s, h }
    }
}

impl<'a, T> Out<'a, T> {
    /// Splits off the first `n` rows.
    fn split(self, n: usize, d: usize) -> (Out<'a, T>, Out<'a, T>) {
        let (e0, e1) = self.e.split_at_mut(n);
        let (s0, s1) = match self.s {
            Some(s) => {
                let (a, b) = s.split_at_mut(n * d);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (h0, h1) = match self.h {
            Some(h) => {
                let (a, b) = h.split_at_mut(n * d);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        (Out { e: e0, s: s0, h: h0 }, Out { e: e1, s: s1, h: h1 })
    }
}

/// Runs `f(scratch, x_rows, v_rows, out_rows)` over blocks of at most
/// [`BLOCK`] rows of the paired batches `x` and `v` (B×d each) with one
/// output per row, in parallel over jobs; `init` makes one scratch per
/// rayon task.
pub(crate) fn forward_dir<T, S, I, F>(d: usize, x: &[T], v: &[T], out: &mut [T], work_per_row: usize, init: I, f: F)
where
    T: Real,
    S: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &[T], &[T], &mut [T]) + Sync + Send,
{
    let b = out.len();
    let rows = rows_per_job(b, work_per_row, MAX_JOBS);
    let run = |scratch: &mut S, ((xj, vj), oj): ((&[T], &[T]), &mut [T])| {
        for ((xb, vb), ob) in xj.chunks(BLOCK * d).zip(vj.chunks(BLOCK * d)).zip(oj.chunks_mut(BLOCK)) {
            f(scratch, xb, vb, ob);
        }
    };
    if b <= rows {
        let mut scratch = init();
        run(&mut scratch, ((x, v), out));
    } else {
        x.par_chunks(rows * d).zip(v.par_chunks(rows * d)).zip(out.par_chunks_mut(rows)).for_each_init(init, run);
    }
}

/// N zeroed scratch buffers of `len` values each (a family's buffers of one shape).
pub(crate) fn zeros<T: Real, const N: usize>(len: usize) -> [Vec<T>; N] {
    std::array::from_fn(|_| vec![T::zero(); len])
}

/// Checks a family's configuration: nonzero sizes and a finite θ of the
/// documented length.
pub(crate) fn check_config<T: Real>(
    model: &'static str,
    sizes: &[(&str, usize)],
    params: &[T],
    expected: usize,
) -> Result<()> {
    for &(what, n) in sizes {
        if n == 0 {
            return Err(EbmError::InvalidConfig(format!("{model}: {what} must be at least 1")));
        }
    }
    if params.len() != expected {
        return Err(EbmError::ParamLen { model, expected, got: params.len() });
    }
    check_finite("params", params, expected)
}

/// Runs `f(scratch, x_rows, out_rows)` over blocks of at most [`BLOCK`]
/// rows, in parallel over jobs; `init` makes one scratch per rayon task.
pub(crate) fn forward<T, S, I, F>(d: usize, x: &[T], out: Out<'_, T>, work_per_row: usize, init: I, f: F)
where
    T: Real,
    S: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &[T], Out<'_, T>) + Sync + Send,
{
    let b = out.e.len();
    let rows = rows_per_job(b, work_per_row, MAX_JOBS);
    let mut jobs = Vec::with_capacity(b.div_ceil(rows));
    let mut rest = out;
    let mut r0 = 0;
    while r0 < b {
        let n = rows.min(b - r0);
        let (head, tail) = rest.split(n, d);
        jobs.push((&x[r0 * d..(r0 + n) * d], head));
        rest = tail;
        r0 += n;
    }
    let run = |scratch: &mut S, (xj, oj): (&[T], Out<'_, T>)| {
        let n = oj.e.len();
        let mut rest = oj;
        let mut r = 0;
        while r < n {
            let m = BLOCK.min(n - r);
            let (head, tail) = rest.split(m, d);
            f(scratch, &xj[r * d..(r + m) * d], head);
            rest = tail;
            r += m;
        }
    };
    if jobs.len() == 1 {
        let mut scratch = init();
        for job in jobs {
            run(&mut scratch, job);
        }
    } else {
        jobs.into_par_iter().for_each_init(init, run);
    }
}

/// Sums `f(scratch, rows, acc)` over the batch: every job accumulates into
/// its own zeroed buffer of `acc_len` values (in blocks of at most
/// [`BLOCK`] rows), and the partial sums are added in job order.
pub(crate) fn reduce<T, S, I, F>(b: usize, acc_len: usize, work_per_row: usize, init: I, f: F) -> Vec<T>
where
    T: Real,
    S: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, Range<usize>, &mut [T]) + Sync + Send,
{
    let max_jobs = (MAX_PARTIAL_ELEMS / acc_len.max(1)).clamp(1, MAX_JOBS);
    let rows = rows_per_job(b, work_per_row, max_jobs);
    let njobs = b.div_ceil(rows);
    let job = |scratch: &mut S, j: usize| {
        let mut acc = vec![T::zero(); acc_len];
        let end = ((j + 1) * rows).min(b);
        let mut r = j * rows;
        while r < end {
            let m = BLOCK.min(end - r);
            f(scratch, r..r + m, &mut acc);
            r += m;
        }
        acc
    };
    if njobs == 1 {
        let mut scratch = init();
        return job(&mut scratch, 0);
    }
    let partials: Vec<Vec<T>> = (0..njobs).into_par_iter().map_init(init, job).collect();
    let mut it = partials.into_iter();
    let mut total = it.next().expect("at least one job");
    for p in it {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// The trait impls of a family driven by these batch drivers (Gaussian,
/// mixture, ICA, RBM): [`crate::family::family_traits`] with the field
/// `dim: usize`, and [`Objectives`](crate::Objectives) and
/// [`Langevin`](crate::Langevin) with their default bodies.
macro_rules! blocked_family {
    ($ty:ident) => {
        $crate::family::family_traits!($ty, dim);
        impl<T: Real> $crate::Objectives<T> for $ty<T> {}
        impl<T: Real> $crate::Langevin<T> for $ty<T> {}
    };
}
pub(crate) use blocked_family;
