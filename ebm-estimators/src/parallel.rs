//! One step of data-parallel training: this process's share of the global
//! batch through the estimator, partial sums added over a
//! [`Communicator`] (the math and the reduction order: [`ebm_dist`]).
//!
//! Rank r of N computes rows [loᵣ, hiᵣ) = [`share`]`(B, r, N)` of batch t
//! with [`StepCtx::first`] = loᵣ, so the noise of each sample is that of
//! the single-process run: [`Estimator::prepare_shard`], then
//! `loss_grad`, and contributes bᵣ·[Lᵣ, ∇Lᵣ] (f64) to `batch_mean`: the
//! sum in rank order over B.
//!
//! # Exchanges and failures
//!
//! Every exchange (`exchange`) all-gathers one vector per rank headed by
//! a status slot. If any rank's status says its share failed, every rank
//! stops at that exchange: a non-finite value inside a rank's share is a
//! divergence everywhere ([`Divergence::OnRank`] on the others), any other
//! error is [`EstError::Parallel`] on the others; the failing rank returns
//! its own error. An estimator that exchanges inside `prepare_shard` (PCD's
//! buffer, LSD's critic gradient) carries a failure of its own share to its
//! next exchange instead of returning early, so every rank calls the same
//! collectives in the same order whatever fails where; the step's final
//! exchange then finds every rank failed and each returns its own error.
//!
//! With N = 1 the step is the estimator's own `step` on the whole batch, so
//! the plain single-process run is unchanged bit for bit.

use crate::error::{Divergence, EstError, Result};
use crate::estimator::{Estimator, Shard, StepCtx, StepInfo};
use ebm_core::{EbmError, Real};
pub use ebm_dist::{share, sum_in_rank_order, Communicator, Local};

/// Status slot: the share went through.
const OK: f64 = 0.0;
/// Status slot: a non-finite value inside the share (a divergence).
const NON_FINITE: f64 = 1.0;
/// Status slot: another error.
const FAILED: f64 = 2.0;

/// Refuses an estimator whose batch cannot be split over `comm`'s ranks.
pub(crate) fn check<T: Real, M: ?Sized, E: Estimator<T, M>>(estimator: &E, comm: &dyn Communicator) -> Result<()> {
    if comm.size() > 1 && !estimator.data_parallel() {
        return Err(EstError::Config(format!(
            "estimator `{}` does not support data-parallel training yet (its noise or state is not addressed \
             by the global sample index); use one process",
            estimator.name()
        )));
    }
    Ok(())
}

/// All-gathers every rank's `local` (`len` values on every rank; ignored
/// where it is an error) and returns the N vectors concatenated in rank
/// order (N·`len` values), or, on every rank, an error if any rank's
/// `local` was one (see the module docs). Every rank must call it, failed
/// or not; `step` names the step in the errors.
pub(crate) fn exchange(comm: &dyn Communicator, local: Result<Vec<f64>>, len: usize, step: u64) -> Result<Vec<f64>> {
    let n = comm.size();
    let mut mine = vec![OK; 1 + len];
    let own = match local {
        Ok(v) => {
            assert_eq!(v.len(), len, "every rank exchanges {len} values");
            mine[1..].copy_from_slice(&v);
            Ok(())
        }
        Err(e) => {
            let non_finite = matches!(e, EstError::Model(EbmError::NonFinite { .. }) | EstError::Diverged { .. });
            mine[0] = if non_finite { NON_FINITE } else { FAILED };
            Err(e)
        }
    };
    let mut all = vec![0.0; (1 + len) * n];
    comm.all_gather(&mine, &mut all).map_err(|e| EstError::Parallel(e.to_string()))?;
    own?;
    let t = step as usize;
    if let Some(r) = (0..n).find(|&r| all[r * (1 + len)] != OK) {
        return Err(if all[r * (1 + len)] == NON_FINITE {
            EstError::Diverged { step: t, cause: Divergence::OnRank(r), last_good_step: t }
        } else {
            EstError::Parallel(format!("rank {r} failed at step {t} (it reports why)"))
        });
    }
    Ok(all.chunks_exact(1 + len).flat_map(|c| c[1..].iter().copied()).collect())
}

/// The mean over the global batch of a per-sample quantity (`len` values)
/// whose mean over this rank's `rows` rows is `local`:
/// (1/B) Σᵣ rowsᵣ·localᵣ, the ranks added in rank order, the same bits on
/// every rank. On one process it is `local` itself, bit for bit. Every rank
/// must call it (see [`exchange`]).
pub(crate) fn batch_mean(
    shard: Shard<'_>,
    rows: usize,
    local: Result<Vec<f64>>,
    len: usize,
    step: u64,
) -> Result<Vec<f64>> {
    if shard.comm.size() == 1 {
        return local;
    }
    let w = rows as f64;
    let all = exchange(shard.comm, local.map(|v| v.iter().map(|a| a * w).collect()), len, step)?;
    let mut out = vec![0.0; len];
    sum_in_rank_order(&all, &mut out);
    let b = shard.batch as f64;
    out.iter_mut().for_each(|v| *v /= b);
    Ok(out)
}

/// The loss and the gradient `[∂θ, ∂aux]` of the global batch `batch`
/// (B×d), computed by `comm`'s ranks together (see the module docs).
/// `StepInfo` is this rank's.
pub(crate) fn step<T: Real, M: ?Sized, E: Estimator<T, M>>(
    estimator: &mut E,
    model: &M,
    batch: &[T],
    d: usize,
    ctx: StepCtx,
    comm: &dyn Communicator,
    grad: &mut [T],
) -> Result<(f64, StepInfo)> {
    let n = comm.size();
    if n == 1 {
        return Estimator::step(estimator, model, batch, ctx, grad);
    }
    let b = batch.len() / d;
    let rows = share(b, comm.rank(), n);
    let x = &batch[rows.start * d..rows.end * d];
    let shard = Shard { comm, batch: b };
    let len = 1 + grad.len();
    let mut info = StepInfo::default();
    let local = estimator.prepare_shard(model, x, ctx.with_first(rows.start as u64), shard).and_then(|i| {
        info = i;
        if rows.is_empty() {
            return Ok(vec![0.0; len]);
        }
        let loss = estimator.loss_grad(model, x, grad)?;
        Ok(std::iter::once(loss).chain(grad.iter().map(|g| Real::to_f64(*g))).collect())
    });
    let mean = batch_mean(shard, rows.len(), local, len, ctx.step)?;
    for (g, s) in grad.iter_mut().zip(&mean[1..]) {
        *g = T::from_f64(*s);
    }
    Ok((mean[0], info))
}
