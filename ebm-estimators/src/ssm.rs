//! Sliced score matching (Song, Garg, Shi & Ermon 2019), filling the seed's
//! §3.3 TODO, with its variance-reduced form SSM-VR.
//!
//! # Derivation
//!
//! Project the scores of eq 8 on random directions v with E\[vvᵀ\] = I
//! (standard Gaussian or Rademacher) and compare the projections:
//!
//! L(θ) = E_v E_{p_data}[½ (vᵀs_θ(x) − vᵀs_data(x))²].
//!
//! Expanding the square, the term ½(vᵀs_data)² does not depend on θ, and the
//! cross term is handled by the integration by parts of eq 10–11, now along
//! the direction v (same regularity conditions):
//!
//! E_{p_data}[(vᵀs_θ)(vᵀ∇ₓ log p_data)] = ∫ (vᵀs_θ) vᵀ∇ₓp_data dx
//!                                     = −E_{p_data}[vᵀ∇ₓ(vᵀs_θ)] = −E[vᵀ(∇ₓs_θ)v].
//!
//! Hence, up to a constant,
//!
//! J(θ) = E_v E_{p_data}[vᵀ(∇ₓs_θ(x))v + ½(vᵀs_θ(x))²]
//!      = E_v E_{p_data}[½(vᵀ∇ₓE_θ(x))² − vᵀ∇ₓ²E_θ(x) v].
//!
//! Averaging over v (E\[vvᵀ\] = I) gives back eq 12: E_v[½(vᵀ∇E)²] = ½‖∇E‖²
//! and E_v[vᵀ∇²E v] = tr ∇²E. SSM replaces the d second derivatives of
//! eq 12 by one Hessian-vector product per projection. **SSM-VR** takes the
//! first expectation in closed form, J = E[½‖∇ₓE‖² − vᵀ∇ₓ²E v], which has
//! lower variance for Gaussian projections.
//!
//! With M projections per sample the loss is
//! (1/B) Σᵦ [(1/M) Σₘ ½(vᵦₘᵀ∇E(xᵦ))² − (1/M) Σₘ qᵦₘ] (or ½‖∇E(xᵦ)‖² for
//! the first term in VR), qᵦₘ = vᵦₘᵀ∇²E(xᵦ)vᵦₘ.
//!
//! # Hessian-vector product
//!
//! [`ebm_core::Energy`] has no exact Hessian-vector product yet, so q is the
//! central difference of the **exact** gradient along v,
//!
//! q ≈ [vᵀ∇ₓE(x + hv) − vᵀ∇ₓE(x − hv)] / (2h),
//!
//! with error (h²/6)·∂⁴E\[v,v,v,v\] + O(ε_mach/h) (default h = ε_mach^{1/3},
//! 6e-6 in f64, 5e-3 in f32). This is the only approximation; the gradient
//! below is the exact θ-gradient of this loss. When the core gains an exact
//! `hvp` / `grad_params_v_hess_v`, [`HvpMode`] gets an `Exact` variant and
//! nothing else changes.
//!
//! # Gradient
//!
//! ∇_θ ½(vᵀ∇E)² = (vᵀ∇E) ∇_θ(vᵀ∇E) and ∇_θ ½‖∇E‖² = ∇_θ(gᵀ∇E) with
//! g = ∇E held fixed, so all terms are [`Energy::grad_params_v_dot_grad_x`]
//! on one batch [x; x + hv; x − hv] with directions
//! [uᵦ; v; v] and weights [1/B; −1/(2hBM); +1/(2hBM)], where
//! uᵦ = (1/M)Σₘ(vᵦₘᵀgᵦ)vᵦₘ (SSM) or uᵦ = gᵦ (SSM-VR).
//!
//! Projections at step t: v of sample b, projection m, coordinate i is draw
//! (b·M + m)·d + i of `(ctx.key(SSM), 0)`, a normal or the sign of a
//! uniform − ½.

use crate::error::{config, Result};
use crate::estimator::{batch_size, check_grad, prepared, to_f64, Estimator, StepCtx, StepInfo};
use crate::seeds::tags;
use ebm_core::{rng, Energy, Real};

/// The law of the projection vectors (both have E\[vvᵀ\] = I).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// v ~ N(0, I).
    Gaussian,
    /// vᵢ = ±1 with probability ½ each.
    Rademacher,
}

/// How vᵀ∇ₓ²E v is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HvpMode {
    /// Central difference of the exact gradient along v with step h.
    CentralDifference {
        /// The step h (the displacement is h·v).
        h: f64,
    },
}

/// Sliced score matching.
#[derive(Debug, Clone)]
pub struct Ssm<T> {
    projections: usize,
    law: Projection,
    variance_reduced: bool,
    hvp: Option<HvpMode>,
    state: Option<(usize, Vec<T>)>,
}

impl<T: Real> Ssm<T> {
    /// SSM with `projections` (M) projections per sample of law `law`.
    pub fn new(projections: usize, law: Projection) -> Self {
        Self { projections, law, variance_reduced: false, hvp: None, state: None }
    }

    /// SSM-VR: the first term in closed form, ½‖∇ₓE‖².
    pub fn variance_reduced(mut self) -> Self {
        self.variance_reduced = true;
        self
    }

    /// Sets the Hessian-vector product (default: central difference with
    /// h = ε_mach^{1/3} of T).
    pub fn with_hvp(mut self, hvp: HvpMode) -> Self {
        self.hvp = Some(hvp);
        self
    }

    /// The prepared projections (B·M·d), if any.
    pub fn projections(&self) -> Option<&[T]> {
        self.state.as_ref().map(|s| s.1.as_slice())
    }

    fn h(&self) -> f64 {
        match self.hvp {
            Some(HvpMode::CentralDifference { h }) => h,
            None => T::epsilon().to_f64().cbrt(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.projections == 0 {
            return config("SSM needs at least one projection per sample");
        }
        let h = self.h();
        if !(h.is_finite() && h > 0.0) {
            return config(format!("SSM finite-difference step must be positive, got {h}"));
        }
        Ok(())
    }

    /// Draws the projections for a batch of `b` samples of dimension `d`.
    pub fn draw(&self, b: usize, d: usize, ctx: StepCtx) -> Result<Vec<T>> {
        self.validate()?;
        let mut v = vec![T::zero(); b * self.projections * d];
        let key = ctx.key(tags::SSM);
        match self.law {
            Projection::Gaussian => rng::fill_normal(key, 0, 0, &mut v),
            Projection::Rademacher => {
                rng::fill_uniform(key, 0, 0, &mut v);
                v.iter_mut().for_each(|u| {
                    *u = if u.to_f64() < 0.5 { -T::one() } else { T::one() };
                });
            }
        }
        Ok(v)
    }

    /// The loss for frozen projections `v` (B·M·d), and its gradient if asked.
    pub fn loss_with(
        &self,
        model: &dyn Energy<T>,
        x: &[T],
        v: &[T],
        grad: Option<&mut [T]>,
    ) -> Result<f64> {
        self.validate()?;
        let d = model.dim();
        let b = batch_size(model, x)?;
        let m = self.projections;
        let h = self.h();
        // g = ∇E(x)
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        model.energy_score(x, &mut e, &mut s)?;
        let g: Vec<f64> = s.iter().map(|&v| -v.to_f64()).collect();
        // [x + hv; x − hv]
        let n = b * m;
        let mut xs = vec![T::zero(); 2 * n * d];
        let ht = T::from_f64(h);
        for j in 0..b {
            for p in 0..m {
                let r = (j * m + p) * d;
                for i in 0..d {
                    xs[r + i] = x[j * d + i] + ht * v[r + i];
                    xs[n * d + r + i] = x[j * d + i] - ht * v[r + i];
                }
            }
        }
        let (mut e2, mut s2) = (vec![T::zero(); 2 * n], vec![T::zero(); 2 * n * d]);
        model.energy_score(&xs, &mut e2, &mut s2)?;
        let s2 = to_f64(&s2);
        let vf = to_f64(v);
        let mut first = 0.0;
        let mut hess = 0.0;
        let mut u = vec![0f64; b * d];
        for j in 0..b {
            let gj = &g[j * d..(j + 1) * d];
            if self.variance_reduced {
                first += 0.5 * gj.iter().map(|a| a * a).sum::<f64>();
                u[j * d..(j + 1) * d].copy_from_slice(gj);
            }
            for p in 0..m {
                let r = (j * m + p) * d;
                let vr = &vf[r..r + d];
                if !self.variance_reduced {
                    let c: f64 = vr.iter().zip(gj).map(|(a, b)| a * b).sum();
                    first += 0.5 * c * c / m as f64;
                    for i in 0..d {
                        u[j * d + i] += c * vr[i] / m as f64;
                    }
                }
                // q = vᵀ(∇E(x+hv) − ∇E(x−hv))/2h, ∇E = −score
                let dq: f64 = (0..d).map(|i| vr[i] * (s2[n * d + r + i] - s2[r + i])).sum();
                hess += dq / (2.0 * h) / m as f64;
            }
        }
        let loss = (first - hess) / b as f64;
        if let Some(gr) = grad {
            check_grad(gr, model.num_params())?;
            let mut xa = Vec::with_capacity(x.len() + xs.len());
            xa.extend_from_slice(x);
            xa.extend_from_slice(&xs);
            let mut va: Vec<T> = u.iter().map(|&a| T::from_f64(a)).collect();
            va.extend_from_slice(v);
            va.extend_from_slice(v);
            let c = 1.0 / (2.0 * h * (b * m) as f64);
            let mut w = vec![T::from_f64(1.0 / b as f64); b];
            w.extend(std::iter::repeat_n(T::from_f64(-c), n));
            w.extend(std::iter::repeat_n(T::from_f64(c), n));
            model.grad_params_v_dot_grad_x(&xa, &va, &w, gr)?;
        }
        Ok(loss)
    }
}

impl<T: Real> Estimator<T> for Ssm<T> {
    fn name(&self) -> &'static str {
        if self.variance_reduced {
            "ssm-vr"
        } else {
            "ssm"
        }
    }

    fn prepare(&mut self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        let b = batch_size(model, x)?;
        self.state = Some((b, self.draw(b, model.dim(), ctx)?));
        Ok(StepInfo::default())
    }

    fn loss(&self, model: &dyn Energy<T>, x: &[T]) -> Result<f64> {
        let v = prepared(self.name(), &self.state, batch_size(model, x)?)?;
        self.loss_with(model, x, v, None)
    }

    fn loss_grad(&self, model: &dyn Energy<T>, x: &[T], grad: &mut [T]) -> Result<f64> {
        let v = prepared(self.name(), &self.state, batch_size(model, x)?)?;
        self.loss_with(model, x, v, Some(grad))
    }

    fn eval_loss(&self, model: &dyn Energy<T>, x: &[T], ctx: StepCtx) -> Result<f64> {
        let b = batch_size(model, x)?;
        let v = self.draw(b, model.dim(), ctx)?;
        self.loss_with(model, x, &v, None)
    }
}
