//! One step of data-parallel training: this process's share of the global
//! batch through the estimator, partial sums added over a
//! [`Communicator`] (the math and the reduction order: [`ebm_dist`]).
//!
//! Rank r of N computes rows [loᵣ, hiᵣ) = [`share`]`(B, r, N)` of batch t
//! with [`StepCtx::first`] = loᵣ, so the noise of each sample is that of
//! the single-process run, and contributes [status, bᵣLᵣ, bᵣ∇Lᵣ] (f64).
//! The N vectors are all-gathered; if any rank's status says its share
//! failed, every rank stops at the same step: a non-finite value inside a
//! rank's share is a divergence everywhere ([`Divergence::OnRank`] on the
//! others), any other error is [`EstError::Parallel`] on the others. Else
//! every rank adds the vectors in rank order and divides by B.
//!
//! With N = 1 the step is the estimator's own `step` on the whole batch, so
//! the plain single-process run is unchanged bit for bit.

use crate::error::{Divergence, EstError, Result};
use crate::estimator::{Estimator, StepCtx, StepInfo};
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

/// The loss and the gradient `[∂θ, ∂aux]` of the global batch `batch`
/// (B×d), computed by `comm`'s ranks together (see the module docs).
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
    let len = 2 + grad.len();
    let mut local = vec![0.0; len];
    let mut own = Ok(StepInfo::default());
    if !rows.is_empty() {
        let w = rows.len() as f64;
        let x = &batch[rows.start * d..rows.end * d];
        match Estimator::step(estimator, model, x, ctx.with_first(rows.start as u64), grad) {
            Ok((loss, info)) => {
                local[1] = loss * w;
                for (s, g) in local[2..].iter_mut().zip(grad.iter()) {
                    *s = Real::to_f64(*g) * w;
                }
                own = Ok(info);
            }
            Err(e) => {
                local[0] = if matches!(e, EstError::Model(EbmError::NonFinite { .. })) { NON_FINITE } else { FAILED };
                own = Err(e);
            }
        }
    }
    let mut all = vec![0.0; len * n];
    comm.all_gather(&local, &mut all).map_err(|e| EstError::Parallel(e.to_string()))?;
    let info = own?;
    if let Some(r) = (0..n).find(|&r| all[r * len] != OK) {
        let t = ctx.step as usize;
        return Err(if all[r * len] == NON_FINITE {
            EstError::Diverged { step: t, cause: Divergence::OnRank(r), last_good_step: t }
        } else {
            EstError::Parallel(format!("rank {r} failed at step {t} (it reports why)"))
        });
    }
    sum_in_rank_order(&all, &mut local);
    for (g, s) in grad.iter_mut().zip(&local[2..]) {
        *g = T::from_f64(s / b as f64);
    }
    Ok((local[1] / b as f64, info))
}
