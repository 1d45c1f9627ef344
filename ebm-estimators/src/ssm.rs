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
//! # Hessian term
//!
//! By default ([`HvpMode::Exact`]) qᵦₘ comes from the model's exact Hessian
//! quadratic form [`Curvature::eval_v_hess_v`] (every built-in family
//! implements it in closed form or by forward-over-reverse), so SSM and
//! SSM-VR have no approximation and no step size: with M → ∞ Rademacher or
//! Gaussian projections the loss tends to the exact SM loss of eq 12.
//!
//! SSM needs [`Curvature`] in its bounds, so a model without the exact
//! Hessian quadratic form is refused at compile time, never by a silent
//! fallback. [`HvpMode::CentralDifference`] is an explicit opt-in
//! approximation: the central difference of the **exact** score along v,
//!
//! q ≈ [vᵀ∇ₓE(x + hv) − vᵀ∇ₓE(x − hv)] / (2h),
//!
//! with error (h²/6)·∂⁴E\[v,v,v,v\] + O(ε_mach/h) (h = ε_mach^{1/3},
//! [`HvpMode::central_difference_for`], is 6e-6 in f64 and 5e-3 in f32); the
//! gradient is then the exact θ-gradient of that approximate loss.
//!
//! # Gradient
//!
//! ∇_θ ½(vᵀ∇E)² = (vᵀ∇E) ∇_θ(vᵀ∇E) and ∇_θ ½‖∇E‖² = ∇_θ(gᵀ∇E) with
//! g = ∇E held fixed, so the first term is one
//! [`EnergyExt::grad_params_v_dot_grad_x`] on x with directions uᵦ and weights
//! 1/B, where uᵦ = (1/M)Σₘ(vᵦₘᵀgᵦ)vᵦₘ (SSM) or uᵦ = gᵦ (SSM-VR).
//!
//! - Exact: the Hessian term adds one [`Curvature::grad_v_hess_v`] on
//!   the B·M rows (xᵦ repeated for each of its M projections) with
//!   directions vᵦₘ and weights −1/(BM).
//! - Central difference: both terms are one `grad_params_v_dot_grad_x` on
//!   the batch [x; x + hv; x − hv] with directions [uᵦ; v; v] and weights
//!   [1/B; −1/(2hBM); +1/(2hBM)].
//!
//! Projections at step t: v of sample b, projection m, coordinate i is draw
//! (b·M + m)·d + i of `(ctx.key(SSM), 0)`, a normal or the sign of a
//! uniform − ½.

use crate::error::{config, Result};
use crate::estimator::{batch_size, check_grad, data_parallel_base, frozen_state_methods, to_f64, Estimator, StepCtx};
use crate::seeds::tags;
use ebm_core::{rng, Curvature, EbmError, EnergyExt, Real};
use std::borrow::Cow;

/// The law of the projection vectors (both have E\[vvᵀ\] = I).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// v ~ N(0, I).
    Gaussian,
    /// vᵢ = ±1 with probability ½ each.
    Rademacher,
}

/// How the Hessian term vᵀ∇ₓ²E v is computed (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum HvpMode {
    /// The model's exact [`Curvature::eval_v_hess_v`] and
    /// [`Curvature::grad_v_hess_v`] (the default).
    #[default]
    Exact,
    /// Central difference of the exact score along v with step h; an
    /// approximation of order h² (a cross-check of the exact mode).
    CentralDifference {
        /// The step h (the displacement is h·v).
        h: f64,
    },
}

impl HvpMode {
    /// The central difference with the step h = ε_mach^{1/3} of `T`, which
    /// balances truncation and rounding (6e-6 in f64, 5e-3 in f32).
    pub fn central_difference_for<T: Real>() -> Self {
        HvpMode::CentralDifference { h: T::epsilon().to_f64().cbrt() }
    }
}

/// Sliced score matching.
///
/// Needs: [`Curvature`] (the exact Hessian quadratic form; the first term
/// uses [`ebm_core::Trainable`]).
#[derive(Debug, Clone)]
pub struct Ssm<T> {
    projections: usize,
    law: Projection,
    variance_reduced: bool,
    hvp: HvpMode,
    state: Option<(usize, Vec<T>)>,
}

impl<T: Real> Ssm<T> {
    /// SSM with `projections` (M) projections per sample of law `law`.
    pub fn new(projections: usize, law: Projection) -> Self {
        Self { projections, law, variance_reduced: false, hvp: HvpMode::Exact, state: None }
    }

    /// SSM-VR: the first term in closed form, ½‖∇ₓE‖².
    pub fn variance_reduced(mut self) -> Self {
        self.variance_reduced = true;
        self
    }

    setters! {
        /// Sets how the Hessian term is computed (default: [`HvpMode::Exact`]).
        with_hvp(hvp: HvpMode);
    }

    /// How the Hessian term is computed.
    pub fn hvp(&self) -> HvpMode {
        self.hvp
    }

    /// The prepared projections (B·M·d), if any.
    pub fn projections(&self) -> Option<&[T]> {
        self.state.as_ref().map(|s| s.1.as_slice())
    }

    fn validate(&self) -> Result<()> {
        if self.projections == 0 {
            return config("SSM needs at least one projection per sample");
        }
        if let HvpMode::CentralDifference { h } = self.hvp {
            if !(h.is_finite() && h > 0.0) {
                return config(format!("SSM finite-difference step must be positive, got {h}"));
            }
        }
        Ok(())
    }

    /// Draws the projections for a batch of `b` samples of dimension `d`.
    pub fn draw(&self, b: usize, d: usize, ctx: StepCtx) -> Result<Vec<T>> {
        self.validate()?;
        let mut v = vec![T::zero(); b * self.projections * d];
        let key = ctx.key(tags::SSM);
        let at = ctx.first * (self.projections * d) as u64;
        match self.law {
            Projection::Gaussian => rng::fill_normal(key, 0, at, &mut v),
            Projection::Rademacher => {
                rng::fill_uniform(key, 0, at, &mut v);
                v.iter_mut().for_each(|u| {
                    *u = if u.to_f64() < 0.5 { -T::one() } else { T::one() };
                });
            }
        }
        Ok(v)
    }

    /// The loss for frozen projections `v` (B·M·d), and its gradient if asked.
    pub fn loss_with<M: Curvature<T> + ?Sized>(
        &self,
        model: &M,
        x: &[T],
        v: &[T],
        grad: Option<&mut [T]>,
    ) -> Result<f64> {
        self.validate()?;
        let d = model.dim();
        let b = batch_size(model, x)?;
        let m = self.projections;
        if v.len() != b * m * d {
            return Err(EbmError::DimMismatch { what: "projections", expected: b * m * d, got: v.len() }.into());
        }
        if let Some(gr) = &grad {
            check_grad(gr, model.num_params())?;
        }
        // g = ∇E(x); the first term and its direction u (module docs).
        let (mut e, mut s) = (vec![T::zero(); b], vec![T::zero(); b * d]);
        model.energy_score(x, &mut e, &mut s)?;
        let g: Vec<f64> = s.iter().map(|&v| -v.to_f64()).collect();
        let vf = to_f64(v);
        let mut first = 0.0;
        let mut u = vec![0f64; b * d];
        for j in 0..b {
            let gj = &g[j * d..(j + 1) * d];
            if self.variance_reduced {
                first += 0.5 * gj.iter().map(|a| a * a).sum::<f64>();
                u[j * d..(j + 1) * d].copy_from_slice(gj);
                continue;
            }
            for p in 0..m {
                let vr = &vf[(j * m + p) * d..(j * m + p + 1) * d];
                let c: f64 = vr.iter().zip(gj).map(|(a, b)| a * b).sum();
                first += 0.5 * c * c / m as f64;
                for i in 0..d {
                    u[j * d + i] += c * vr[i] / m as f64;
                }
            }
        }
        let n = b * m;
        let ut: Vec<T> = u.iter().map(|&a| T::from_f64(a)).collect();
        let hess = match self.hvp {
            HvpMode::Exact => {
                // x repeated for each of its M projections.
                let xr: Cow<'_, [T]> = if m == 1 {
                    Cow::Borrowed(x)
                } else {
                    Cow::Owned(x.chunks_exact(d).flat_map(|r| std::iter::repeat_n(r, m).flatten().copied()).collect())
                };
                let mut q = vec![T::zero(); n];
                model.v_hess_v(&xr, v, &mut q)?;
                let hess = q.iter().map(|&q| q.to_f64()).sum::<f64>() / m as f64;
                if let Some(gr) = grad {
                    let w = vec![T::from_f64(1.0 / b as f64); b];
                    model.grad_params_v_dot_grad_x(x, &ut, &w, gr)?;
                    let wq = vec![T::from_f64(-1.0 / n as f64); n];
                    let mut gq = vec![T::zero(); gr.len()];
                    model.grad_params_v_hess_v(&xr, v, &wq, &mut gq)?;
                    gr.iter_mut().zip(&gq).for_each(|(a, &b)| *a += b);
                }
                hess
            }
            HvpMode::CentralDifference { h } => {
                // [x + hv; x − hv]
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
                // q = vᵀ(∇E(x+hv) − ∇E(x−hv))/2h, ∇E = −score
                let mut hess = 0.0;
                for r in 0..n {
                    let dq: f64 = (0..d).map(|i| vf[r * d + i] * (s2[n * d + r * d + i] - s2[r * d + i])).sum();
                    hess += dq / (2.0 * h) / m as f64;
                }
                if let Some(gr) = grad {
                    let mut xa = Vec::with_capacity(x.len() + xs.len());
                    xa.extend_from_slice(x);
                    xa.extend_from_slice(&xs);
                    let mut va = ut;
                    va.extend_from_slice(v);
                    va.extend_from_slice(v);
                    let c = 1.0 / (2.0 * h * n as f64);
                    let mut w = vec![T::from_f64(1.0 / b as f64); b];
                    w.extend(std::iter::repeat_n(T::from_f64(-c), n));
                    w.extend(std::iter::repeat_n(T::from_f64(c), n));
                    model.grad_params_v_dot_grad_x(&xa, &va, &w, gr)?;
                }
                hess
            }
        };
        Ok((first - hess) / b as f64)
    }
}

/// Stateless between steps (projections are keyed by the step).
impl<T> crate::state::Resumable for Ssm<T> {}

data_parallel_base!([T: Real] Ssm<T>, |ssm| if ssm.variance_reduced { "ssm-vr" } else { "ssm" });

impl<T: Real, M: Curvature<T> + ?Sized> Estimator<T, M> for Ssm<T> {
    frozen_state_methods! {
        draw: |ssm, model, x, ctx| ssm.draw(x.len() / model.dim(), model.dim(), ctx),
        loss: |ssm, model, x, v, grad| ssm.loss_with(model, x, v, grad),
    }
}
