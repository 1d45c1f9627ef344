//! NCSN's toy mixture (Song & Ermon 2019, §3.2.2 and Fig. 3): p_data =
//! 0.8·N((5, 5), I) + 0.2·N((−5, −5), I), sampled from uniform starts on
//! [−8, 8]² with the *true* scores, as in the paper's toy experiment.
//!
//! - Plain Langevin (seed eq 14) on the clean score: the modes are separated
//!   by a region of vanishing density, so each chain stays in the basin it
//!   starts in and the mode weights follow the initialisation (≈ ½ / ½), not
//!   the data.
//! - Annealed Langevin, noise-conditional ([`AnnealedLangevin::sample_conditional`]),
//!   in two variants that differ only in the law whose score level σᵢ uses
//!   (same weights 0.8 / 0.2, same means):
//!   - *convolved* ([`perturbed_mixture`]): p_data ∗ N(0, σᵢ²I), the mixture
//!     with covariances (1 + σᵢ²)I, the law DSM at σᵢ fits (seed eq 13), so
//!     the one a trained noise-conditional model approximates; its last level
//!     σ_L = 1 has covariance 2I, so the final samples are spread wider than
//!     the data;
//!   - *NCSN's toy* ([`ncsn_level_mixture`]): the mixture of N(μₖ, σᵢ²I), the
//!     level scores of NCSN's toy code; its last level σ_L = 1 is p_data
//!     itself.
//!
//!   At large σ the two components overlap in both, and chains are shared
//!   out by weight before the levels separate.
//! - Step-size annealing on the clean score ([`AnnealedLangevin`]'s
//!   [`ebm_estimators::Sampler`] form, for contrast): large steps on the clean
//!   energy, with the largest step kept stable (ε₁²/2 = 1 on a unit-precision
//!   well).
//!
//! A sample counts for the mode it is within `radius` of; the reported
//! weight of a mode is its count over the count near either mode.

use crate::ncsn_trained::{self, TrainedConfig};
use crate::stats::MeanSd;
use crate::table::Table;
use crate::Size;
use ebm_core::{rng, Covariance, GaussianMixture};
use ebm_estimators::error::Result;
use ebm_estimators::samplers::{AnnealedLangevin, Sampler, Ula};
use ebm_estimators::seeds::derive_seed;

/// The numbers of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureConfig {
    /// Number of chains (samples).
    pub n: usize,
    /// Starts are uniform on [−box, box]².
    pub init_box: f64,
    /// NCSN's step α at the last level (the ULA step here is ε = √α).
    pub alpha: f64,
    /// Plain Langevin steps (step α).
    pub plain_steps: usize,
    /// Largest and smallest σ of the geometric schedule, and its length.
    pub sigma_max: f64,
    /// Smallest σ.
    pub sigma_min: f64,
    /// Number of levels L.
    pub levels: usize,
    /// ULA steps per level T.
    pub steps_per_level: usize,
    /// A sample within this distance of a mode counts for it.
    pub radius: f64,
    /// The run seed.
    pub seed: u64,
    /// The trained noise-conditional model's training, or `None` to skip it.
    pub trained: Option<TrainedConfig>,
}

impl MixtureConfig {
    /// The configuration of a given size (Full has NCSN's sampler numbers;
    /// Tiny shortens the chains and trains a smaller model).
    pub fn of(size: Size) -> Self {
        let base = Self {
            n: 1280,
            init_box: 8.0,
            alpha: 0.1,
            plain_steps: 1000,
            sigma_max: 20.0,
            sigma_min: 1.0,
            levels: 10,
            steps_per_level: 100,
            radius: 3.0,
            seed: 2019,
            trained: Some(TrainedConfig { n_train: 10_000, hidden: vec![64, 64], steps: 1500, batch: 128, lr: 3e-3 }),
        };
        match size {
            Size::Full => base,
            Size::Tiny => Self {
                n: 1000,
                plain_steps: 300,
                steps_per_level: 50,
                trained: Some(TrainedConfig { n_train: 2_000, hidden: vec![32, 32], steps: 400, batch: 128, lr: 1e-2 }),
                ..base
            },
        }
    }
}

/// The mode weights of the data.
pub const TRUE_WEIGHTS: [f64; 2] = [0.8, 0.2];
/// The mode centres, (5, 5) and (−5, −5).
pub const MODES: [[f64; 2]; 2] = [[5.0, 5.0], [-5.0, -5.0]];

/// The data's two components with covariance std²·I, weights 0.8 / 0.2.
fn mixture_with_std(std: f64) -> Result<GaussianMixture<f64>> {
    // Diagonal precision factors: log lₖᵢ = −log std.
    let mut p = vec![TRUE_WEIGHTS[0].ln(), TRUE_WEIGHTS[1].ln()];
    p.extend(MODES.iter().flatten());
    p.extend([-std.ln(); 4]);
    Ok(GaussianMixture::new(2, 2, Covariance::Diagonal, p)?)
}

/// The convolved level law p_data ∗ N(0, σ²I): components N(μₖ, (1 + σ²)I)
/// (σ = 0: the data law).
pub fn perturbed_mixture(sigma: f64) -> Result<GaussianMixture<f64>> {
    mixture_with_std((1.0 + sigma * sigma).sqrt())
}

/// NCSN's toy level law: components N(μₖ, σ²I), the same weights (σ = 1:
/// the data law).
pub fn ncsn_level_mixture(sigma: f64) -> Result<GaussianMixture<f64>> {
    mixture_with_std(sigma)
}

/// Where a sampler's chains ended up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeCounts {
    /// Samples within the radius of (5, 5) and of (−5, −5).
    pub near: [usize; 2],
    /// All samples.
    pub total: usize,
}

impl ModeCounts {
    /// Counts the rows of `x` (n×2) near each mode.
    pub fn of(x: &[f64], radius: f64) -> Self {
        let mut near = [0; 2];
        for r in x.chunks_exact(2) {
            for (k, m) in MODES.iter().enumerate() {
                if (r[0] - m[0]).hypot(r[1] - m[1]) < radius {
                    near[k] += 1;
                }
            }
        }
        Self { near, total: x.len() / 2 }
    }

    /// The weight of mode k among the samples near a mode.
    pub fn weight(&self, k: usize) -> f64 {
        self.near[k] as f64 / (self.near[0] + self.near[1]).max(1) as f64
    }

    /// The fraction of samples near neither mode.
    pub fn stray(&self) -> f64 {
        1.0 - (self.near[0] + self.near[1]) as f64 / self.total as f64
    }

    /// |estimated − true| weight of the heavy mode.
    pub fn weight_error(&self) -> f64 {
        (self.weight(0) - TRUE_WEIGHTS[0]).abs()
    }
}

/// The three samplers' results.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureResult {
    /// The configuration that ran.
    pub config: MixtureConfig,
    /// Plain Langevin on the clean score.
    pub plain: ModeCounts,
    /// Noise-conditional annealed Langevin on the convolved level scores
    /// ([`perturbed_mixture`]).
    pub annealed: ModeCounts,
    /// Noise-conditional annealed Langevin on NCSN's toy level scores
    /// ([`ncsn_level_mixture`]).
    pub annealed_ncsn: ModeCounts,
    /// Step-size annealing on the clean score.
    pub step_annealed: ModeCounts,
    /// The σ schedule of the step-size annealing.
    pub step_sigmas: (f64, f64),
    /// With the trained noise-conditional model (DSM fits the convolved
    /// levels): (plain Langevin on its smallest-σ level, annealed Langevin
    /// over all levels).
    pub trained: Option<(ModeCounts, ModeCounts)>,
}

/// Runs the three samplers from the same uniform starts.
pub fn run(cfg: &MixtureConfig) -> Result<MixtureResult> {
    let mut x0 = vec![0f64; cfg.n * 2];
    rng::fill_uniform(derive_seed(cfg.seed, 1, 0), 0, 0, &mut x0);
    x0.iter_mut().for_each(|v| *v = cfg.init_box * (2.0 * *v - 1.0));
    let clean = perturbed_mixture(0.0)?;
    let eps = cfg.alpha.sqrt();
    let key = derive_seed(cfg.seed, 2, 0);

    let mut plain = x0.clone();
    Ula::new(eps, cfg.plain_steps).sample(&clean, &mut plain, key, 0)?;

    let anneal = AnnealedLangevin::geometric(cfg.sigma_max, cfg.sigma_min, cfg.levels, eps, cfg.steps_per_level);
    let levels = anneal.sigmas.iter().map(|&s| perturbed_mixture(s)).collect::<Result<Vec<_>>>()?;
    let refs: Vec<&GaussianMixture<f64>> = levels.iter().collect();
    let mut annealed = x0.clone();
    anneal.sample_conditional(&refs, &mut annealed, key, 0)?;
    let ncsn_levels = anneal.sigmas.iter().map(|&s| ncsn_level_mixture(s)).collect::<Result<Vec<_>>>()?;
    let ncsn_refs: Vec<&GaussianMixture<f64>> = ncsn_levels.iter().collect();
    let mut annealed_ncsn = x0.clone();
    anneal.sample_conditional(&ncsn_refs, &mut annealed_ncsn, key, 0)?;

    // Largest step ε₁ = √2 (ε₁²/2 = 1: one step lands on the well's centre
    // plus noise), so σ_max/σ_min = √2/ε.
    let step_sigmas = (2f64.sqrt() / eps, 1.0);
    let step = AnnealedLangevin::geometric(step_sigmas.0, step_sigmas.1, cfg.levels, eps, cfg.steps_per_level);
    let mut step_annealed = x0.clone();
    step.sample(&clean, &mut step_annealed, key, 0)?;

    let trained = match &cfg.trained {
        None => None,
        Some(tc) => {
            let lv = ncsn_trained::train_levels(cfg, tc, &anneal.sigmas)?;
            let mut plain_t = x0.clone();
            let last = lv.last().expect("at least one level");
            ncsn_trained::ula_on_level(last, &mut plain_t, eps, cfg.plain_steps, key, 0)?;
            let mut ann_t = x0;
            ncsn_trained::annealed(&lv, &mut ann_t, eps, cfg.steps_per_level, key)?;
            Some((ModeCounts::of(&plain_t, cfg.radius), ModeCounts::of(&ann_t, cfg.radius)))
        }
    };

    Ok(MixtureResult {
        config: cfg.clone(),
        plain: ModeCounts::of(&plain, cfg.radius),
        annealed: ModeCounts::of(&annealed, cfg.radius),
        annealed_ncsn: ModeCounts::of(&annealed_ncsn, cfg.radius),
        step_annealed: ModeCounts::of(&step_annealed, cfg.radius),
        step_sigmas,
        trained,
    })
}

/// The table's sampler labels, in row order (the last two only with a
/// trained model).
pub const SAMPLERS: [&str; 6] = [
    "plain Langevin, true score",
    "annealed Langevin, true convolved level scores p_data ∗ N(0, σᵢ²I)",
    "annealed Langevin, true NCSN-toy level scores Σₖ πₖN(μₖ, σᵢ²I)",
    "annealed step size, true clean score",
    "plain Langevin, trained model at σ_L",
    "annealed Langevin, trained noise-conditional model (convolved levels)",
];

impl MixtureResult {
    /// The samplers' counts in [`SAMPLERS`] order.
    pub fn rows(&self) -> Vec<&ModeCounts> {
        let mut rows = vec![&self.plain, &self.annealed, &self.annealed_ncsn, &self.step_annealed];
        if let Some((p, a)) = &self.trained {
            rows.extend([p, a]);
        }
        rows
    }

    /// One row per sampler: weights, error against 0.8, stray fraction.
    pub fn table(&self) -> Table {
        table(std::slice::from_ref(self))
    }
}

/// One row per sampler over runs with different seeds (the same
/// configuration otherwise): each cell the mean ± sample sd over the runs
/// (the value alone for one run).
pub fn table(runs: &[MixtureResult]) -> Table {
    let mut t =
        Table::new(&["sampler", "weight of (5, 5)", "weight of (−5, −5)", "error vs 0.8", "near neither mode (%)"]);
    let per_run: Vec<Vec<&ModeCounts>> = runs.iter().map(MixtureResult::rows).collect();
    let n_rows = per_run.iter().map(Vec::len).min().unwrap_or(0);
    for (i, name) in SAMPLERS.iter().enumerate().take(n_rows) {
        let cell = |f: &dyn Fn(&ModeCounts) -> f64, prec| MeanSd::of(per_run.iter().map(|r| f(r[i]))).fmt(prec);
        t.push(vec![
            name.to_string(),
            cell(&|c| c.weight(0), 3),
            cell(&|c| c.weight(1), 3),
            cell(&|c| c.weight_error(), 3),
            cell(&|c| 100.0 * c.stray(), 1),
        ]);
    }
    t
}
