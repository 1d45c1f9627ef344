//! The inputs and outputs of one noise-contrastive estimation step
//! ([`crate::Objectives::nce_loss_grad`]; eq 22–24), and its reference
//! computation on any [`crate::Objectives`] model.
//!
//! With a learned log-normaliser c and ν noise points per data point, each
//! of the N = (1 + ν)B points has the logit
//!
//! G(x) = −E_θ(x) − c − log p_n(x) − log ν,
//!
//! the loss is L = [Σ_data softplus(−G) + Σ_noise softplus(G)] / N, and
//! ∇θL = Σ wⱼ∇θE(xⱼ) with wⱼ = σ(−Gⱼ)/N on data and −σ(Gⱼ)/N on noise,
//! ∂L/∂c = Σ wⱼ.

use super::checked::{check_finite, check_len, Batch, ParamGrad, PerSample};
use super::objectives::Objectives;
use crate::error::{EbmError, Result};
use crate::real::Real;

/// softplus(x) = log(1 + eˣ) in f64, without overflow (the NCE loss terms;
/// [`crate::activation::softplus`]).
pub fn softplus_f64(x: f64) -> f64 {
    crate::activation::softplus(x)
}

/// The logistic function 1/(1 + e⁻ˣ) in f64, without overflow
/// ([`crate::activation::sigmoid`]).
pub fn sigmoid_f64(x: f64) -> f64 {
    crate::activation::sigmoid(x)
}

/// The checked points of one NCE step: B data points followed by νB noise
/// points, the noise log-density at each, c and ν.
#[derive(Clone, Copy, Debug)]
pub struct NceBatch<'a, T> {
    points: Batch<'a, T>,
    n_data: usize,
    log_pn: &'a [f64],
    c: f64,
    nu: usize,
}

impl<'a, T: Real> NceBatch<'a, T> {
    /// Checks that `points` holds `n_data` ≥ 1 data points followed by
    /// ν·`n_data` noise points (ν ≥ 1), `log_pn` one finite value per point,
    /// and c finite.
    pub fn new(points: Batch<'a, T>, n_data: usize, log_pn: &'a [f64], c: f64, nu: usize) -> Result<Self> {
        if nu == 0 || n_data == 0 || Some(points.rows()) != n_data.checked_mul(1 + nu) {
            return Err(EbmError::InvalidConfig(format!(
                "NCE needs B ≥ 1 data points followed by ν·B ≥ 1 noise points; got {} points, B = {n_data}, ν = {nu}",
                points.rows()
            )));
        }
        check_len("log_pn", log_pn, points.rows())?;
        check_finite("log_pn", log_pn, 1)?;
        if !c.is_finite() {
            return Err(EbmError::InvalidConfig(format!("NCE log-normaliser c must be finite, got {c}")));
        }
        Ok(Self { points, n_data, log_pn, c, nu })
    }

    /// The (1 + ν)B points, data first.
    pub fn points(&self) -> Batch<'a, T> {
        self.points
    }

    /// The number of data points B.
    pub fn n_data(&self) -> usize {
        self.n_data
    }

    /// log p_n at every point.
    pub fn log_pn(&self) -> &'a [f64] {
        self.log_pn
    }

    /// The log-normaliser c.
    pub fn c(&self) -> f64 {
        self.c
    }

    /// The noise ratio ν.
    pub fn nu(&self) -> usize {
        self.nu
    }

    /// The logit G of point `j` at energy `e`.
    pub fn logit(&self, j: usize, e: f64) -> f64 {
        -e - self.c - self.log_pn[j] - (self.nu as f64).ln()
    }

    /// ∂L/∂Eⱼ·N at logit `g`: σ(−G) on data, −σ(G) on noise.
    pub fn dloss(&self, j: usize, g: f64) -> f64 {
        if j < self.n_data {
            sigmoid_f64(-g)
        } else {
            -sigmoid_f64(g)
        }
    }
}

/// What [`crate::Objectives::nce_loss_grad`] returns besides ∇θL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NceLoss {
    /// The loss L (mean over the (1 + ν)B points).
    pub loss: f64,
    /// ∂L/∂c.
    pub dloss_dc: f64,
}

/// The reference NCE step (the default body of
/// [`crate::Objectives::nce_loss_grad`]): one
/// [`crate::Objectives::energy_weighted_grad`] whose weights come from the
/// energies, then the loss and ∂L/∂c in f64.
pub fn nce_reference<T: Real, M: Objectives<T> + ?Sized>(
    model: &M,
    batch: NceBatch<'_, T>,
    grad: ParamGrad<'_, T>,
) -> Result<NceLoss> {
    let x = batch.points();
    let n = x.rows() as f64;
    let mut e = vec![T::zero(); x.rows()];
    let weight = |j: usize, ej: T| T::from_f64(batch.dloss(j, batch.logit(j, ej.to_f64())) / n);
    model.energy_weighted_grad(x, &weight, PerSample::new("energy", &x, &mut e)?, grad)?;
    let (mut loss, mut dc) = (0.0, 0.0);
    for (j, &ej) in e.iter().enumerate() {
        let g = batch.logit(j, ej.to_f64());
        loss += if j < batch.n_data() { softplus_f64(-g) } else { softplus_f64(g) };
        dc += batch.dloss(j, g);
    }
    Ok(NceLoss { loss: loss / n, dloss_dc: dc / n })
}
