//! NCSN's toy mixture with a *trained* noise-conditional score: one MLP
//! energy per noise level σᵢ, each fitted by DSM (seed eq 13) at σᵢ to the
//! mixture's samples, then sampled by annealed Langevin exactly as
//! [`super::ncsn_mixture`] does with the true convolved level scores
//! p_data ∗ N(0, σᵢ²I), the laws that DSM at σᵢ fits.
//!
//! # Rescaled levels
//!
//! The perturbed law at σᵢ spreads over a scale sᵢ = √(1 + σᵢ²) around the
//! modes ±5(1, 1), from √2 to 20 here, too wide a range for one
//! initialisation. Level i therefore models y = x/sᵢ: its MLP is trained by
//! DSM with noise σᵢ/sᵢ on the rescaled data x/sᵢ (the same perturbed law,
//! rescaled). A ULA step of size ε on x is a ULA step of size ε/sᵢ on y
//! (x' = x + (ε²/2)∇ₓ log p + εz ⇔ y' = y + ((ε/sᵢ)²/2)∇_y log p_y + (ε/sᵢ)z),
//! so each level maps the chains to y, runs its steps there with the same
//! noise streams, and maps them back.

use crate::cosine_adam_trainer;
use crate::ncsn_mixture::{MixtureConfig, MODES, TRUE_WEIGHTS};
use ebm_core::{Activation, EnergyExt, Mlp};
use ebm_estimators::data::Dataset;
use ebm_estimators::dsm::Dsm;
use ebm_estimators::error::Result;
use ebm_estimators::seeds::derive_seed;
use ebm_estimators::train::Control;

/// How the per-level models are trained.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedConfig {
    /// Training samples of the mixture.
    pub n_train: usize,
    /// Hidden widths of each level's MLP (softplus).
    pub hidden: Vec<usize>,
    /// DSM steps per level.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam learning rate (cosine decay to 1 %).
    pub lr: f64,
}

/// One trained level: the scale sᵢ and the MLP of y = x/sᵢ.
#[derive(Debug, Clone)]
pub struct Level {
    /// σᵢ.
    pub sigma: f64,
    /// sᵢ = √(1 + σᵢ²).
    pub scale: f64,
    /// The energy of y = x/sᵢ.
    pub model: Mlp<f64>,
}

/// Fits one MLP per σ of `sigmas` by DSM on rescaled mixture samples.
pub fn train_levels(mc: &MixtureConfig, tc: &TrainedConfig, sigmas: &[f64]) -> Result<Vec<Level>> {
    let means: Vec<f64> = MODES.iter().flatten().copied().collect();
    let covs = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
    let data = Dataset::<f64>::gaussian_mixture(&TRUE_WEIGHTS, &means, &covs, tc.n_train, derive_seed(mc.seed, 10, 0))?;
    sigmas
        .iter()
        .enumerate()
        .map(|(i, &sigma)| {
            let scale = (1.0 + sigma * sigma).sqrt();
            let y: Vec<f64> = data.as_slice().iter().map(|v| v / scale).collect();
            let y = Dataset::new(y, 2)?;
            let mut model = Mlp::<f64>::init(2, &tc.hidden, Activation::Softplus, derive_seed(mc.seed, 11, i as u64))?;
            let seed = derive_seed(mc.seed, 12, i as u64);
            cosine_adam_trainer(Dsm::new(sigma / scale), tc.lr, tc.batch, tc.steps, seed).fit(
                &mut model,
                &y,
                None,
                |_| Control::Continue,
            )?;
            Ok(Level { sigma, scale, model })
        })
        .collect()
}

/// `steps` ULA steps of size `eps` (in x) on level `l`, streams from `first`.
pub fn ula_on_level(l: &Level, x: &mut [f64], eps: f64, steps: usize, key: u64, first: u64) -> Result<()> {
    x.iter_mut().for_each(|v| *v /= l.scale);
    l.model.langevin_ula(x, eps / l.scale, steps, key, first)?;
    x.iter_mut().for_each(|v| *v *= l.scale);
    Ok(())
}

/// Annealed Langevin over the trained levels (σ decreasing): level i runs
/// `steps_per_level` steps of size ε·σᵢ/σ_L, as
/// [`ebm_estimators::AnnealedLangevin::sample_conditional`].
pub fn annealed(levels: &[Level], x: &mut [f64], eps: f64, steps_per_level: usize, key: u64) -> Result<()> {
    let last = levels.last().map_or(1.0, |l| l.sigma);
    for (i, l) in levels.iter().enumerate() {
        ula_on_level(l, x, eps * l.sigma / last, steps_per_level, key, (i * steps_per_level) as u64)?;
    }
    Ok(())
}
