//! Learned Stein discrepancy (Grathwohl et al. 2020; seed §4.2, eq 25),
//! with the seed's §4.2.1 TODO filled in below.
//!
//! # Objective
//!
//! For a critic f_φ: ℝᵈ → ℝᵈ (a small MLP, [`crate::critic`]) and the model
//! score s_θ = −∇ₓE_θ, eq 25 with an L2 penalty on the critic reads
//!
//! S(θ, φ) = E_{p_data}[s_θ(x)ᵀf_φ(x) + tr ∇ₓf_φ(x)] − λ E_{p_data}‖f_φ(x)‖².
//!
//! The critic ascends S (`critic_steps` Adam steps per training step, on the
//! current batch, with θ frozen), the model descends it (φ frozen). Only the
//! first term depends on θ:
//!
//! ∇_θ S = (1/B)Σ ∇_θ[s_θ(x)ᵀf(x)] = −(1/B)Σ ∇_θ[f(x)ᵀ∇ₓE_θ(x)],
//!
//! one [`EnergyExt::grad_params_v_dot_grad_x`] with v = f(x), weights −1/B. The
//! trace is exact (d forward-mode passes) or Hutchinson's estimate.
//! The value reported as the loss is S at the frozen critic.
//!
//! # Equivalence with the Fisher divergence (seed §4.2.1)
//!
//! Stein's identity, by the integration by parts of eq 11 (f p_data → 0 at
//! infinity): E_{p_data}[s_dataᵀf + tr ∇ₓf] = ∫ (∇p_data)ᵀf + p_data ∇·f = 0.
//! Subtracting it,
//!
//! S(θ, φ) = E_{p_data}[(s_θ − s_data)ᵀf] − λ E‖f‖².
//!
//! Over all square-integrable f this concave quadratic is maximised
//! pointwise by f* = (s_θ − s_data)/(2λ), with value
//!
//! sup_f S = (1/(4λ)) E_{p_data}‖s_θ − s_data‖² = (1/(2λ)) D_F(p_data‖p_θ)
//!
//! (eq 8). So a critic that reaches its optimum makes the learned Stein
//! discrepancy the Fisher divergence up to the factor 1/(2λ), and the model's
//! gradient the score-matching gradient (eq 20) up to that factor — without
//! second derivatives of E: the Hessian's trace is traded for the critic's.
//!
//! Randomness at step t: the Hutchinson probes of critic step k are the
//! normals `(ctx.key(LSD), k, ·)`, those of the frozen loss use stream
//! `critic_steps`; sample b's K probes are the indices [b·K·d, (b+1)·K·d),
//! b the global index (`ctx.first` + the row).
//!
//! # Data parallelism
//!
//! The critic φ and its Adam state are state every rank holds identically.
//! The critic's objective is a batch mean of per-sample terms (plus nothing
//! else), so its φ-gradient on the global batch is (1/B) Σᵣ bᵣ·gᵣ, gᵣ the
//! gradient of rank r's mean over its bᵣ rows: at each critic step the ranks
//! exchange bᵣ·gᵣ and add them in rank order (the reduction of θ's gradient,
//! [`crate::parallel`]), so every rank takes the same Adam step and the
//! critics stay bit-identical. One exchange of |φ| values per critic step.
//! The model's loss at the frozen critic is then a per-sample mean, split
//! like any other.

use crate::critic::{Critic, CriticActivation, SteinTerms, TraceMode};
use crate::error::{config, Result};
use crate::estimator::{
    batch_size, check_grad, data_parallel_base, frozen_loss_methods, to_f64, Estimator, Shard, StepCtx, StepInfo,
};
use crate::optim::{Adam, Optimizer};
use crate::seeds::tags;
use ebm_core::{rng, Energy, EnergyExt, Real, Trainable};

/// Learned Stein discrepancy with an MLP critic.
///
/// Needs: [`Trainable`].
#[derive(Debug, Clone)]
pub struct Lsd<T> {
    critic: Critic,
    critic_opt: Adam,
    lambda: f64,
    critic_steps: usize,
    trace: TraceMode,
    state: Option<(usize, LsdState<T>)>,
}

/// The frozen critic's values on a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LsdState<T> {
    /// f(x) (B×d).
    pub f: Vec<T>,
    /// The critic's terms at the frozen critic and θ.
    pub terms: SteinTerms,
}

impl<T: Real> Lsd<T> {
    /// LSD with a critic of hidden widths `hidden`, penalty λ, `critic_steps`
    /// Adam steps of rate `critic_lr` per training step, exact trace.
    pub fn new(
        dim: usize,
        hidden: &[usize],
        act: CriticActivation,
        lambda: f64,
        critic_steps: usize,
        critic_lr: f64,
        seed: u64,
    ) -> Result<Self> {
        Ok(Self {
            critic: Critic::new(dim, hidden, act, crate::seeds::derive_seed(seed, tags::INIT, 0))?,
            critic_opt: Adam::new(critic_lr),
            lambda,
            critic_steps,
            trace: TraceMode::Exact,
            state: None,
        })
    }

    /// Uses Hutchinson's trace estimate with `probes` probes.
    pub fn with_hutchinson(mut self, probes: usize) -> Self {
        self.trace = TraceMode::Hutchinson { probes };
        self
    }

    setters! {
        /// Replaces the critic's optimizer.
        with_critic_optimizer(critic_opt: Adam);
    }

    /// The critic.
    pub fn critic(&self) -> &Critic {
        &self.critic
    }

    /// Mutable critic (to set its weights).
    pub fn critic_mut(&mut self) -> &mut Critic {
        &mut self.critic
    }

    /// The prepared state, if any.
    pub fn state(&self) -> Option<&LsdState<T>> {
        self.state.as_ref().map(|s| &s.1)
    }

    fn validate(&self, d: usize) -> Result<()> {
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return config(format!("LSD penalty λ must be positive, got {}", self.lambda));
        }
        if self.critic.dim() != d {
            return config(format!("critic dimension {} ≠ model dimension {d}", self.critic.dim()));
        }
        if let TraceMode::Hutchinson { probes: 0 } = self.trace {
            return config("Hutchinson trace needs at least one probe");
        }
        Ok(())
    }

    /// The probes of `b` samples from global sample `first` on.
    fn probes(&self, b: usize, d: usize, key: u64, stream: u64, first: u64) -> Option<Vec<f64>> {
        match self.trace {
            TraceMode::Exact => None,
            TraceMode::Hutchinson { probes } => {
                let mut p = vec![0f64; b * probes * d];
                rng::fill_normal(key, stream, first * (probes * d) as u64, &mut p);
                Some(p)
            }
        }
    }

    /// The rows `x` and the model's scores there, in f64.
    fn scores<M: Energy<T> + ?Sized>(&self, model: &M, x: &[T]) -> Result<(Vec<f64>, Vec<f64>)> {
        let b = batch_size(model, x)?;
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * model.dim()]);
        model.energy_score(x, &mut e, &mut s)?;
        Ok((to_f64(x), to_f64(&s)))
    }

    /// The φ-gradient of critic step k's objective, the mean over the rows
    /// of `xs` (rows from global sample `first`); zeros without rows.
    fn critic_grad(
        &self,
        xs: Option<&(Vec<f64>, Vec<f64>)>,
        d: usize,
        key: u64,
        k: usize,
        first: u64,
    ) -> Result<Vec<f64>> {
        let mut g = vec![0f64; self.critic.params().len()];
        if let Some((xf, sf)) = xs {
            let p = self.probes(xf.len() / d, d, key, k as u64, first);
            self.critic.stein_objective(xf, sf, self.lambda, self.trace, p.as_deref(), Some(&mut g))?;
        }
        Ok(g)
    }

    /// The frozen critic's state on `x` (from global sample `first`) at the model's θ.
    fn freeze<M: Energy<T> + ?Sized>(&self, model: &M, x: &[T], key: u64, first: u64) -> Result<LsdState<T>> {
        let d = model.dim();
        let b = batch_size(model, x)?;
        let (xf, s) = self.scores(model, x)?;
        let p = self.probes(b, d, key, self.critic_steps as u64, first);
        let terms = self.critic.stein_objective(&xf, &s, self.lambda, self.trace, p.as_deref(), None)?;
        let mut f = vec![0f64; b * d];
        self.critic.forward(&xf, &mut f);
        Ok(LsdState { f: f.iter().map(|&v| T::from_f64(v)).collect(), terms })
    }

    fn loss_with<M: Trainable<T> + ?Sized>(
        &self,
        model: &M,
        x: &[T],
        st: &LsdState<T>,
        grad: Option<&mut [T]>,
    ) -> Result<f64> {
        let d = model.dim();
        let b = batch_size(model, x)?;
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        model.energy_score(x, &mut e, &mut s)?;
        let sdf: f64 = s.iter().zip(&st.f).map(|(&a, &b)| a.to_f64() * b.to_f64()).sum::<f64>() / b as f64;
        if let Some(g) = grad {
            check_grad(g, model.num_params())?;
            let w = vec![T::from_f64(-1.0 / b as f64); b];
            model.grad_params_v_dot_grad_x(x, &st.f, &w, g)?;
        }
        Ok(sdf + st.terms.trace - self.lambda * st.terms.f_sq)
    }
}

/// Entries `critic` (φ) and `critic_opt.*` (its Adam; see [`crate::state`]).
impl<T> crate::state::Resumable for Lsd<T> {
    fn save_state(&self) -> crate::state::State {
        let mut s = vec![("critic".to_string(), self.critic.params().to_vec())];
        s.extend(crate::state::prefixed("critic_opt", self.critic_opt.save_state()));
        s
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), crate::state::StateError> {
        use crate::state::{nest_error, StateError, StateReader};
        let mut r = StateReader::new(state);
        let n = self.critic.params().len();
        let phi = r.take("critic", &[n])?.to_vec();
        let opt = r.take_prefixed("critic_opt");
        r.finish()?;
        let mut adam = self.critic_opt.clone();
        adam.load_state(&opt).map_err(|e| nest_error("critic_opt", e))?;
        if let Some(got) = Optimizer::<f64>::state_len(&adam).filter(|&l| l != n) {
            return Err(StateError::Length { name: "critic_opt.m".into(), expected: format!("0 or {n}"), got });
        }
        self.critic.params_mut().copy_from_slice(&phi);
        self.critic_opt = adam;
        Ok(())
    }
}

data_parallel_base!([T: Real] Lsd<T>, |_| "lsd");

impl<T: Real, M: Trainable<T> + ?Sized> Estimator<T, M> for Lsd<T> {
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        let b = batch_size(model, x)?;
        self.prepare_shard(model, x, ctx, Shard::whole(b))
    }

    /// See "# Data parallelism" in the module docs. A failure of this
    /// rank's share before a critic step is carried to that step's exchange.
    fn prepare_shard(&mut self, model: &M, x: &[T], ctx: StepCtx, shard: Shard<'_>) -> Result<StepInfo> {
        let d = model.dim();
        self.validate(d)?;
        let b = x.len() / d;
        let (xs, mut failed) = match (b > 0).then(|| self.scores(model, x)).transpose() {
            Ok(xs) => (xs, None),
            Err(e) => (None, Some(e)),
        };
        let key = ctx.key(tags::LSD);
        let np = self.critic.params().len();
        for k in 0..self.critic_steps {
            let local = match failed.take() {
                Some(e) => Err(e),
                None => self.critic_grad(xs.as_ref(), d, key, k, ctx.first),
            };
            let mut g = crate::parallel::batch_mean(shard, b, local, np, ctx.step)?;
            g.iter_mut().for_each(|v| *v = -*v); // ascent
            self.critic_opt.step(self.critic.params_mut(), &g)?;
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if b == 0 {
            self.state = None;
            return Ok(StepInfo::default());
        }
        let st = self.freeze(model, x, key, ctx.first)?;
        let info = StepInfo { critic_objective: Some(st.terms.objective), ..Default::default() };
        self.state = Some((b, st));
        Ok(info)
    }

    frozen_loss_methods!(|lsd, model, x, st, grad| lsd.loss_with(model, x, st, grad));

    /// S at the current critic on the held-out batch (the critic is not trained).
    fn eval_loss(&self, model: &M, x: &[T], ctx: StepCtx) -> Result<f64> {
        self.validate(model.dim())?;
        let st = self.freeze(model, x, ctx.key(tags::LSD), ctx.first)?;
        Ok(st.terms.objective)
    }
}
