//! The estimator steps benched by `benches/estimators.rs`: one training step
//! of each objective of `ebm-estimators` on the bench MLP, minus the
//! optimizer update.
//!
//! # What one step is
//!
//! [`Estimator::step`]: `prepare` (the step's frozen state: MCMC negatives,
//! noise, projections, the critic update) then `loss_grad` (the loss and its
//! exact gradient in θ, and in the estimator's own parameters for NCE), on
//! a seeded standard-normal batch of B samples. Each timed call is the next
//! training step (`StepCtx` step t = 1, 2, …, seed [`STEP_SEED`]), so every
//! call draws fresh randomness and PCD's buffer and LSD's critic carry over
//! between calls as in training; step 0 is the warm-up outside the timed
//! region. The model's parameters are not updated.
//!
//! Against `ebm-bench/peers` (the PyTorch / JAX comparison): its `cd` and
//! `exact_sm` rows time the same prepare + `loss_grad`; its `dsm` and `nce`
//! rows time `loss_grad` alone at noise frozen by an untimed `prepare` (so
//! both sides evaluate the same draw), which leaves out the O(B·d) noise
//! draw (and, for NCE, the noise log-densities) that the steps here include.
//!
//! # Hyperparameters
//!
//! | step | group | estimator and hyperparameters |
//! | --- | --- | --- |
//! | [`EstimatorStep::CdK`] | `step_cd_k10` | [`Cd`] with [`Ula`] negatives started at the data: k = [`MCMC_STEPS`] = 10 steps of size ε = [`MCMC_EPS`] = 0.1 (the `ebm` CLI defaults), no L2 energy penalty, no KL term |
//! | [`EstimatorStep::Pcd`] | `step_pcd_k10` | [`Pcd`] with the same sampler (k = 10, ε = 0.1), a replay buffer of [`PCD_BUFFER`] = 10 000 chains started from N(0, I), [`PCD_REINIT`] = 5 % re-initialised per step |
//! | [`EstimatorStep::ExactSm`] | `step_exact_sm` | [`ExactSm`] (no hyperparameter; loss and gradient from `sm_loss_grad_params`, one pass on the CPU MLP) |
//! | [`EstimatorStep::Dsm`] | `step_dsm` | [`Dsm`] with one level σ = [`DSM_SIGMA`] = 0.1, weight 1, no antithetic pairs |
//! | [`EstimatorStep::Ssm`] | `step_ssm_m1` | [`Ssm`] with M = [`SSM_PROJECTIONS`] = 1 Gaussian projection per sample, exact Hessian term (`v_hess_v`), not variance-reduced |
//! | [`EstimatorStep::Nce`] | `step_nce_nu1` | [`Nce`] with N(0, I) noise, ν = [`NCE_NU`] = 1 noise sample per data sample, log Z learned, starting at c₀ = mean(−E(x) − log pₙ(x)) on the batch (as in the peers: with c = 0 the class weights are f32 denormals at d = 64, which would time the FPU's slow path) |
//! | [`EstimatorStep::Lsd`] | `step_lsd` | [`Lsd`] with a critic MLP of hidden widths [`LSD_HIDDEN`] = 32-32 and Swish activation, λ = [`LSD_LAMBDA`] = 0.5, [`LSD_CRITIC_STEPS`] = 5 Adam steps of rate [`LSD_CRITIC_LR`] = 10⁻³ per step (the `ebm` CLI defaults), trace of the critic's Jacobian by Hutchinson's estimate with [`LSD_PROBES`] = 1 Gaussian probe (the exact trace costs d tangent passes: at d = 256 it would dominate the step) |
//!
//! The critic of LSD is f64 on the CPU whatever the target; on a GPU target
//! what `GpuEnergy` has no kernel for (`grad_params_v_hess_v`, used by
//! SSM, and `v_hess_v` for a sample beyond a software adapter's loop
//! budget) runs on its CPU twin, so those steps time what a user of that
//! backend gets.

use crate::targets::NotRun;
use ebm_core::prelude::*;
use ebm_core::Real;
use ebm_estimators::{
    Cd, CriticActivation, Dsm, Estimator, ExactSm, GaussianNoise, Lsd, Nce, Pcd, Projection, Ssm, StepCtx, Ula,
};

/// The run seed of every step's `StepCtx`.
pub const STEP_SEED: u64 = 2024;
/// CD-k and PCD: ULA steps k per training step.
pub const MCMC_STEPS: usize = 10;
/// CD-k and PCD: the ULA step size ε.
pub const MCMC_EPS: f64 = 0.1;
/// PCD: chains in the replay buffer.
pub const PCD_BUFFER: usize = 10_000;
/// PCD: the per-step probability of re-initialising a drawn chain from noise.
pub const PCD_REINIT: f64 = 0.05;
/// DSM: the noise level σ.
pub const DSM_SIGMA: f64 = 0.1;
/// SSM: Gaussian projections per sample.
pub const SSM_PROJECTIONS: usize = 1;
/// NCE: noise samples per data sample.
pub const NCE_NU: usize = 1;
/// LSD: hidden widths of the critic.
pub const LSD_HIDDEN: [usize; 2] = [32, 32];
/// LSD: the critic's L2 penalty λ.
pub const LSD_LAMBDA: f64 = 0.5;
/// LSD: Adam steps of the critic per training step.
pub const LSD_CRITIC_STEPS: usize = 5;
/// LSD: the critic's Adam learning rate.
pub const LSD_CRITIC_LR: f64 = 1e-3;
/// LSD: Hutchinson probes for the trace of the critic's Jacobian.
pub const LSD_PROBES: usize = 1;

/// One estimator's training step (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimatorStep {
    /// CD-k, k = 10 ULA steps from the data.
    CdK,
    /// PCD with a replay buffer, k = 10 ULA steps.
    Pcd,
    /// Exact score matching.
    ExactSm,
    /// Denoising score matching, σ = 0.1.
    Dsm,
    /// Sliced score matching, one Gaussian projection.
    Ssm,
    /// NCE, N(0, I) noise, ν = 1.
    Nce,
    /// Learned Stein discrepancy with its critic.
    Lsd,
}

impl crate::op::BenchOp for EstimatorStep {
    fn group_name(self) -> &'static str {
        self.group()
    }

    /// Per step, in the units of [`crate::flops`] (F the forward pass, H the
    /// Hessian-diagonal pass of one sample), from the trait calls each step
    /// makes:
    ///
    /// | step | FLOPs per sample | calls |
    /// | --- | --- | --- |
    /// | CD-k, PCD | 2F·k + 2·4F | k ULA steps on the negatives; energy and ∇θE on data and negatives |
    /// | exact SM | 4H | `sm_loss_grad_params` |
    /// | DSM | 8F | `grad_params_score_regression` on the noisy batch |
    /// | SSM (M = 1) | 2F + 4F + 6F + 12F | `energy_score`, `v_hess_v`, `grad_params_v_dot_grad_x`, `grad_params_v_hess_v` |
    /// | NCE | 4F·(1 + ν) | energy and ∇θE on the B data and Bν noise samples |
    ///
    /// LSD has no model: its step is dominated by the critic's f64 updates
    /// on the host, which the F/H units do not describe.
    fn flops(self, shape: crate::MlpShape, b: usize) -> Option<f64> {
        let f = crate::flops::forward(shape) * b as f64;
        let h = shape.hess_diag_flops(b);
        match self {
            EstimatorStep::CdK | EstimatorStep::Pcd => Some(2.0 * f * MCMC_STEPS as f64 + 8.0 * f),
            EstimatorStep::ExactSm => Some(4.0 * h),
            EstimatorStep::Dsm => Some(8.0 * f),
            EstimatorStep::Ssm => Some(24.0 * f * SSM_PROJECTIONS as f64),
            EstimatorStep::Nce => Some(4.0 * f * (1 + NCE_NU) as f64),
            EstimatorStep::Lsd => None,
        }
    }
}

impl EstimatorStep {
    /// Every step, in bench order.
    pub const ALL: [EstimatorStep; 7] = [
        EstimatorStep::CdK,
        EstimatorStep::Pcd,
        EstimatorStep::ExactSm,
        EstimatorStep::Dsm,
        EstimatorStep::Ssm,
        EstimatorStep::Nce,
        EstimatorStep::Lsd,
    ];

    /// The criterion group name.
    pub fn group(self) -> &'static str {
        match self {
            EstimatorStep::CdK => "step_cd_k10",
            EstimatorStep::Pcd => "step_pcd_k10",
            EstimatorStep::ExactSm => "step_exact_sm",
            EstimatorStep::Dsm => "step_dsm",
            EstimatorStep::Ssm => "step_ssm_m1",
            EstimatorStep::Nce => "step_nce_nu1",
            EstimatorStep::Lsd => "step_lsd",
        }
    }

    /// The estimator with the hyperparameters of the module docs, for
    /// `model` on the data batch `x` (NCE's c₀ depends on both).
    pub fn build<T: Real>(self, model: &dyn Model<T>, x: &[T]) -> Result<Box<dyn Estimator<T>>, NotRun> {
        let d = model.dim();
        let ula = || Ula::new(MCMC_EPS, MCMC_STEPS);
        Ok(match self {
            EstimatorStep::CdK => Box::new(Cd::<T, _>::new(ula())),
            EstimatorStep::Pcd => {
                Box::new(Pcd::<T, _>::new(ula()).with_capacity(PCD_BUFFER).with_reinit_prob(PCD_REINIT))
            }
            EstimatorStep::ExactSm => Box::new(ExactSm::new()),
            EstimatorStep::Dsm => Box::new(Dsm::<T>::new(DSM_SIGMA)),
            EstimatorStep::Ssm => Box::new(Ssm::<T>::new(SSM_PROJECTIONS, Projection::Gaussian)),
            EstimatorStep::Nce => {
                let mut eye = vec![0.0; d * d];
                for i in 0..d {
                    eye[i * d + i] = 1.0;
                }
                let noise = GaussianNoise::new(vec![0.0; d], &eye)?;
                let b = x.len() / d;
                let mut lpn = vec![0.0; b];
                noise.log_density(x, &mut lpn);
                let mut e = vec![T::zero(); b];
                model.energy(x, &mut e)?;
                let c0 = e.iter().zip(&lpn).map(|(&ei, &l)| -ei.to_f64() - l).sum::<f64>() / b as f64;
                Box::new(Nce::<T>::new(noise, NCE_NU).with_log_z(c0))
            }
            EstimatorStep::Lsd => Box::new(
                Lsd::<T>::new(
                    d,
                    &LSD_HIDDEN,
                    CriticActivation::Swish,
                    LSD_LAMBDA,
                    LSD_CRITIC_STEPS,
                    LSD_CRITIC_LR,
                    STEP_SEED,
                )?
                .with_hutchinson(LSD_PROBES),
            ),
        })
    }

    /// A closure that runs the next training step (prepare + `loss_grad`)
    /// on a seeded `b`-sample standard-normal batch, after the warm-up step
    /// 0 outside the timed region; the warm-up's error is returned when
    /// `model`'s backend cannot run this step at this size.
    pub fn prepared<'a, T: Real>(
        self,
        model: &'a (dyn Model<T> + 'static),
        b: usize,
    ) -> Result<Box<dyn FnMut() + 'a>, NotRun> {
        let x: Vec<T> = crate::normal_batch(1, b, model.dim());
        let mut est = self.build(model, &x)?;
        let mut grad = vec![T::zero(); model.num_params() + est.aux_params().len()];
        let mut t = 0u64;
        est.step(model, &x, StepCtx::new(STEP_SEED, t), &mut grad)?;
        Ok(Box::new(move || {
            t += 1;
            est.step(model, &x, StepCtx::new(STEP_SEED, t), &mut grad)
                .expect("estimator step failed after a successful warm-up");
        }))
    }

    /// One step (prepare + `loss_grad`) at `ctx` from a fresh estimator:
    /// the loss and the gradient, laid out `[∂θ, ∂aux]` (NCE's log Z last).
    pub fn run_once<T: Real>(
        self,
        model: &(dyn Model<T> + 'static),
        x: &[T],
        ctx: StepCtx,
    ) -> Result<(f64, Vec<T>), NotRun> {
        let mut est = self.build(model, x)?;
        let mut grad = vec![T::zero(); model.num_params() + est.aux_params().len()];
        let loss = est.step(model, x, ctx, &mut grad)?.0;
        Ok((loss, grad))
    }
}
