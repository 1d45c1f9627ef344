//! Noise-contrastive estimation (Gutmann & Hyvärinen 2010; seed §4.1,
//! eq 22–24) with a learned log-normaliser.
//!
//! The model's normaliser is a free parameter c: log p_θ,c(x) = −E_θ(x) − c
//! (eq 24's remark that E_θ and Z_θ are "taken independently"). With ν noise
//! samples per data sample from p_n, the classifier of eq 23 reads, in the
//! data-class direction (the seed's ν is p(y=1)/p(y=0), the inverse of the
//! noise-to-data ratio ν used here),
//!
//! P(y = 1 | x) = p_θ(x) / (p_θ(x) + ν p_n(x)) = σ(G(x)),
//! G(x) = −E_θ(x) − c − log p_n(x) − log ν.
//!
//! The loss is the negative of eq 24, the mean log-posterior of the true
//! labels over the (1 + ν)B points of the mixture:
//!
//! L = [Σ_{data} softplus(−G(x)) + Σ_{noise} softplus(G(y))] / ((1 + ν)B).
//!
//! # Gradient
//!
//! ∂G/∂θ = −∇_θE and ∂G/∂c = −1, so with N = (1 + ν)B
//!
//! ∇_θ L = [Σ_data σ(−G)∇_θE(x) − Σ_noise σ(G)∇_θE(y)] / N,
//! ∂L/∂c = [Σ_data σ(−G) − Σ_noise σ(G)] / N,
//!
//! one [`Objectives::nce_loss_grad`] on [x; y] (through
//! [`EnergyExt::nce_loss_grad_params`]): on the CPU the weights are
//! computed from the energies inside the gradient pass; `GpuEnergy` runs
//! its fused NCE kernel, so the logits, the loss and the gradient never
//! leave the device. At the optimum with a
//! well-specified model p_θ,c = p_data, so c is the model's log Z: it is
//! exposed by [`EstimatorBase::log_z`] and is the estimator's one auxiliary
//! parameter (gradient slot after θ).
//!
//! Noise at step t: the νB noise samples are `GaussianNoise::sample` with
//! key `ctx.key(NCE)`, stream 0.

use crate::error::{config, Result};
use crate::estimator::{batch_size, check_grad, frozen_state_methods, Estimator, EstimatorBase, StepCtx};
use crate::noise::GaussianNoise;
use crate::seeds::tags;
use ebm_core::energy::softplus_f64;
use ebm_core::{Batch, EnergyExt, NceBatch, Objectives, Real};

/// NCE with a Gaussian noise law.
///
/// Needs: [`Objectives`] (the energy-weighted gradient).
#[derive(Debug, Clone)]
pub struct Nce<T> {
    noise: GaussianNoise,
    nu: usize,
    c: Vec<T>,
    state: Option<(usize, NceState<T>)>,
}

/// The frozen noise of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct NceState<T> {
    /// The νB noise samples.
    pub noise: Vec<T>,
    /// log p_n at the data batch.
    pub log_pn_data: Vec<f64>,
    /// log p_n at the noise samples.
    pub log_pn_noise: Vec<f64>,
}

impl<T: Real> Nce<T> {
    /// NCE with `nu` noise samples per data sample from `noise`, c = 0.
    pub fn new(noise: GaussianNoise, nu: usize) -> Self {
        Self { noise, nu, c: vec![T::zero()], state: None }
    }

    /// Starts c at `c0`.
    pub fn with_log_z(mut self, c0: f64) -> Self {
        self.c[0] = T::from_f64(c0);
        self
    }

    /// The learned log-normaliser c.
    pub fn c(&self) -> f64 {
        self.c[0].to_f64()
    }

    /// The noise law.
    pub fn noise(&self) -> &GaussianNoise {
        &self.noise
    }

    fn validate(&self, d: usize) -> Result<()> {
        if self.nu == 0 {
            return config("NCE needs at least one noise sample per data sample (ν ≥ 1)");
        }
        if self.noise.dim() != d {
            return config(format!("NCE noise has dimension {}, model has {d}", self.noise.dim()));
        }
        Ok(())
    }

    /// Draws the noise of a step for a batch of `b` samples.
    pub fn draw(&self, x: &[T], d: usize, ctx: StepCtx) -> Result<NceState<T>> {
        self.validate(d)?;
        let b = x.len() / d;
        let mut noise = vec![T::zero(); self.nu * b * d];
        self.noise.sample_from(ctx.key(tags::NCE), 0, ctx.first * self.nu as u64, &mut noise);
        let mut log_pn_data = vec![0.0; b];
        let mut log_pn_noise = vec![0.0; self.nu * b];
        self.noise.log_density(x, &mut log_pn_data);
        self.noise.log_density(&noise, &mut log_pn_noise);
        Ok(NceState { noise, log_pn_data, log_pn_noise })
    }

    /// The loss at parameters (model, `c`) for a frozen state, with the
    /// gradient `[∂θ, ∂c]` if asked.
    pub fn loss_with<M: Objectives<T> + ?Sized>(
        &self,
        model: &M,
        x: &[T],
        st: &NceState<T>,
        c: f64,
        grad: Option<&mut [T]>,
    ) -> Result<f64> {
        let b = batch_size(model, x)?;
        let mut all = Vec::with_capacity(x.len() + st.noise.len());
        all.extend_from_slice(x);
        all.extend_from_slice(&st.noise);
        let mut log_pn = Vec::with_capacity(b + st.log_pn_noise.len());
        log_pn.extend_from_slice(&st.log_pn_data);
        log_pn.extend_from_slice(&st.log_pn_noise);
        match grad {
            // The whole step in the model's fused objective (on a device:
            // the logits, weights, loss and gradient without leaving it).
            Some(gr) => {
                let p = model.num_params();
                check_grad(gr, p + 1)?;
                let out = model.nce_loss_grad_params(&all, b, &log_pn, c, self.nu, &mut gr[..p])?;
                gr[p] = T::from_f64(out.dloss_dc);
                Ok(out.loss)
            }
            None => {
                let batch = NceBatch::new(Batch::new(&all, model.dim())?, b, &log_pn, c, self.nu)?;
                let mut e = vec![T::zero(); all.len() / model.dim()];
                model.energy(&all, &mut e)?;
                let n = e.len() as f64;
                let loss: f64 = e
                    .iter()
                    .enumerate()
                    .map(|(j, &ej)| {
                        let g = batch.logit(j, ej.to_f64());
                        if j < b {
                            softplus_f64(-g)
                        } else {
                            softplus_f64(g)
                        }
                    })
                    .sum();
                Ok(loss / n)
            }
        }
    }
}

/// Entry `c` \[1\] (see [`crate::state`]); the noise is keyed by the step.
impl<T: Real> crate::state::Resumable for Nce<T> {
    fn save_state(&self) -> crate::state::State {
        vec![("c".into(), vec![self.c[0].to_f64()])]
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), crate::state::StateError> {
        let mut r = crate::state::StateReader::new(state);
        let c = r.take("c", &[1])?[0];
        r.finish()?;
        self.c[0] = T::from_f64(c);
        Ok(())
    }
}

impl<T: Real> EstimatorBase<T> for Nce<T> {
    fn name(&self) -> &'static str {
        "nce"
    }

    fn data_parallel(&self) -> bool {
        true
    }

    fn aux_params(&self) -> &[T] {
        &self.c
    }

    fn aux_params_mut(&mut self) -> &mut [T] {
        &mut self.c
    }

    fn log_z(&self) -> Option<f64> {
        Some(self.c())
    }
}

impl<T: Real, M: Objectives<T> + ?Sized> Estimator<T, M> for Nce<T> {
    frozen_state_methods! {
        draw: |nce, model, x, ctx| nce.draw(x, model.dim(), ctx),
        loss: |nce, model, x, st, grad| nce.loss_with(model, x, st, nce.c(), grad),
    }
}
