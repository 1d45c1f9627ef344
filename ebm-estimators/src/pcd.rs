//! Persistent contrastive divergence (Tieleman 2008) with a replay buffer
//! (Du & Mordatch 2019): seed eq 2–3 with chains that persist across steps.
//!
//! The buffer holds `capacity` chains (default 10 000), initialised from a
//! noise law. Each step draws B chains from it uniformly (with replacement),
//! re-initialises each from noise with probability `reinit_prob` (default
//! 5 %), advances them with the sampler, uses them as x⁻ in the contrastive
//! loss of [`crate::ml`], and writes them back. Because chains continue from
//! where the previous steps left them, the negatives approach samples of
//! p_θ rather than of p_θ^{(k)} (eq 3's first line rather than its second).
//!
//! Randomness at step t: indices `uniform(ctx.key(PCD_INDEX), 0, b)`,
//! re-initialisation coins `uniform(K, 0, b)` and noise
//! `(K, 1, b·d + i)` with K = `ctx.key(PCD_REINIT)`, b the global index of
//! the batch row (`ctx.first` + the row); the sampler's noise is that of
//! global chain b ([`Sampler::sample_at`]); the initial buffer uses
//! `derive_seed(seed, PCD_REINIT, 2⁶³)`. Rows are written back in the order
//! of b, so when two rows drew the same buffer chain the later row's chain
//! is kept.
//!
//! # Data parallelism
//!
//! The buffer is state every rank holds whole and identical (so a run
//! resumes on any number of ranks). At step t rank r, holding batch rows
//! [loᵣ, hiᵣ), draws the indices, coins and re-initialisations of those
//! rows only (pure functions of (seed, t, b)), reads the chains from its
//! copy of the buffer as it was before the step, and advances them with the
//! noise of their global indices: exactly the chains the single-process run
//! computes for those rows. The ranks then all-gather (index, advanced
//! chain) of every row ([`Estimator::prepare_shard`]; `capacity` and d fixed,
//! ⌈B/N⌉·(d + 1) + 1 values per rank) and every rank writes all B rows back
//! in the order of b, so every copy of the buffer is again the
//! single-process buffer, bit for bit (f32 and f64 chains pass through f64
//! exactly). The count of re-initialised chains in [`StepInfo`] is summed
//! over the ranks.

use crate::error::EstError;
use crate::error::{config, Result};
use crate::estimator::{batch_size, data_parallel_base, Estimator, Shard, StepCtx, StepInfo};
use crate::ml::{ml_accessors, ml_loss_methods, run_negatives, MlOptions, Negatives};
use crate::parallel::{exchange, share};
use crate::samplers::{Sampler, SamplerStats};
use crate::seeds::{derive_seed, tags};
use ebm_core::{rng, Langevin, Objectives, Real};

/// The law that fills new and re-initialised chains (the same for every
/// coordinate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitNoise {
    /// N(mean, std²) per coordinate.
    Gaussian {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// U(lo, hi) per coordinate.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
}

impl Default for InitNoise {
    fn default() -> Self {
        InitNoise::Gaussian { mean: 0.0, std: 1.0 }
    }
}

impl InitNoise {
    /// Fills `out` with draws `offset..` of `(key, stream)`.
    pub fn fill<T: Real>(&self, key: u64, stream: u64, offset: u64, out: &mut [T]) {
        match *self {
            InitNoise::Gaussian { mean, std } => {
                rng::fill_normal(key, stream, offset, out);
                out.iter_mut().for_each(|v| *v = T::from_f64(mean + std * v.to_f64()));
            }
            InitNoise::Uniform { lo, hi } => {
                rng::fill_uniform(key, stream, offset, out);
                out.iter_mut().for_each(|v| *v = T::from_f64(lo + (hi - lo) * v.to_f64()));
            }
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = match *self {
            InitNoise::Gaussian { mean, std } => mean.is_finite() && std.is_finite() && std >= 0.0,
            InitNoise::Uniform { lo, hi } => lo.is_finite() && hi.is_finite() && hi >= lo,
        };
        if !ok {
            return config(format!("invalid initial noise {self:?}"));
        }
        Ok(())
    }
}

/// PCD with a replay buffer.
///
/// Needs: [`Objectives`] + [`Langevin`] (the energy-weighted gradient, and
/// improved CD's last ULA step), and `S: Sampler<T, M>`.
#[derive(Debug, Clone)]
pub struct Pcd<T, S> {
    sampler: S,
    opts: MlOptions,
    capacity: usize,
    reinit_prob: f64,
    init: InitNoise,
    buffer: Vec<T>,
    state: Option<(usize, Negatives<T>)>,
}

impl<T: Real, S> Pcd<T, S> {
    /// PCD with a buffer of 10 000 chains from N(0, I), 5 % re-initialisation.
    pub fn new(sampler: S) -> Self {
        Self {
            sampler,
            opts: MlOptions::default(),
            capacity: 10_000,
            reinit_prob: 0.05,
            init: InitNoise::default(),
            buffer: Vec::new(),
            state: None,
        }
    }

    /// Sets the buffer size (chains).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self.buffer.clear();
        self
    }

    setters! {
        /// Sets the per-step re-initialisation probability.
        with_reinit_prob(reinit_prob: f64);
    }

    /// Sets the noise law of new chains.
    pub fn with_init(mut self, init: InitNoise) -> Self {
        self.init = init;
        self.buffer.clear();
        self
    }

    ml_accessors!();

    /// The replay buffer (row-major capacity×d; empty before the first step).
    pub fn buffer(&self) -> &[T] {
        &self.buffer
    }

    /// Draws the buffer rows of the batch rows `x` (global rows
    /// `ctx.first`..), re-initialises some, and advances them: the buffer
    /// indices, the negatives and the count re-initialised. An empty `x`
    /// draws nothing.
    fn advance<M>(&self, model: &M, x: &[T], ctx: StepCtx) -> Result<(Vec<usize>, Negatives<T>, usize)>
    where
        M: Objectives<T> + Langevin<T> + ?Sized,
        S: Sampler<T, M>,
    {
        if x.is_empty() {
            let none = Negatives { x: Vec::new(), kl: None, stats: SamplerStats::default() };
            return Ok((Vec::new(), none, 0));
        }
        let d = model.dim();
        let b = batch_size(model, x)?;
        let mut u = vec![0f64; b];
        rng::fill_uniform(ctx.key(tags::PCD_INDEX), 0, ctx.first, &mut u);
        let idx: Vec<usize> = u.iter().map(|&v| ((v * self.capacity as f64) as usize).min(self.capacity - 1)).collect();
        let key = ctx.key(tags::PCD_REINIT);
        rng::fill_uniform(key, 0, ctx.first, &mut u);
        let mut chains = vec![T::zero(); b * d];
        let mut reinit = 0;
        for (j, &i) in idx.iter().enumerate() {
            let row = &mut chains[j * d..(j + 1) * d];
            if u[j] < self.reinit_prob {
                reinit += 1;
                self.init.fill(key, 1, (ctx.first + j as u64) * d as u64, row);
            } else {
                row.copy_from_slice(&self.buffer[i * d..(i + 1) * d]);
            }
        }
        let neg = run_negatives(model, &self.sampler, &self.opts, chains, ctx)?;
        Ok((idx, neg, reinit))
    }

    fn validate(&self) -> Result<()> {
        self.opts.validate()?;
        self.init.validate()?;
        if self.capacity == 0 {
            return config("PCD replay buffer needs at least one chain");
        }
        if !(0.0..=1.0).contains(&self.reinit_prob) {
            return config(format!("re-initialisation probability {} not in [0, 1]", self.reinit_prob));
        }
        Ok(())
    }
}

/// Entry `buffer` (capacity × d chains, or empty before the first step; see
/// [`crate::state`]).
impl<T: Real, S> crate::state::Resumable for Pcd<T, S> {
    fn save_state(&self) -> crate::state::State {
        vec![("buffer".into(), crate::estimator::to_f64(&self.buffer))]
    }

    fn load_state(&mut self, state: &[(String, Vec<f64>)]) -> std::result::Result<(), crate::state::StateError> {
        let mut r = crate::state::StateReader::new(state);
        let b = r.take("buffer", &[])?;
        r.finish()?;
        if !b.len().is_multiple_of(self.capacity.max(1)) {
            let expected = format!("a multiple of the capacity {}", self.capacity);
            return Err(crate::state::StateError::Length { name: "buffer".into(), expected, got: b.len() });
        }
        self.buffer = b.iter().map(|&v| T::from_f64(v)).collect();
        Ok(())
    }
}

data_parallel_base!([T: Real, S: Send] Pcd<T, S>, |pcd| pcd.opts.name("pcd", "improved-pcd"));

impl<T: Real, M: Objectives<T> + Langevin<T> + ?Sized, S: Sampler<T, M>> Estimator<T, M> for Pcd<T, S> {
    fn prepare(&mut self, model: &M, x: &[T], ctx: StepCtx) -> Result<StepInfo> {
        let b = batch_size(model, x)?;
        self.prepare_shard(model, x, ctx, Shard::whole(b))
    }

    /// See "# Data parallelism" in the module docs.
    fn prepare_shard(&mut self, model: &M, x: &[T], ctx: StepCtx, shard: Shard<'_>) -> Result<StepInfo> {
        self.validate()?;
        let d = model.dim();
        if self.buffer.len() != self.capacity * d {
            self.buffer = vec![T::zero(); self.capacity * d];
            self.init.fill(derive_seed(ctx.seed, tags::PCD_REINIT, 1 << 63), 0, 0, &mut self.buffer);
        }
        let (n, rank) = (shard.comm.size(), shard.comm.rank());
        // Every rank sends [re-initialised, (index, chain) × its rows],
        // padded to the widest share.
        let widest = shard.batch.div_ceil(n);
        let len = 1 + widest * (1 + d);
        let mine = share(shard.batch, rank, n);
        let advanced = if x.len() != mine.len() * d {
            Err(EstError::Data(format!("PCD: {} values are not rows {mine:?} of a {d}-d batch", x.len())))
        } else {
            self.advance(model, x, ctx)
        };
        let (local, advanced) = match advanced {
            Ok((idx, neg, reinit)) => {
                let mut v = vec![0.0; len];
                v[0] = reinit as f64;
                for (j, (&i, row)) in idx.iter().zip(neg.x.chunks_exact(d)).enumerate() {
                    let slot = &mut v[1 + j * (1 + d)..1 + (j + 1) * (1 + d)];
                    slot[0] = i as f64;
                    slot[1..].iter_mut().zip(row).for_each(|(s, &c)| *s = c.to_f64());
                }
                (Ok(v), Some(neg))
            }
            Err(e) => (Err(e), None),
        };
        let all = exchange(shard.comm, local, len, ctx.step)?;
        let mut reinit = 0;
        for (r, sent) in all.chunks_exact(len).enumerate() {
            reinit += sent[0] as usize;
            for slot in sent[1..].chunks_exact(1 + d).take(share(shard.batch, r, n).len()) {
                let i = slot[0] as usize;
                self.buffer[i * d..(i + 1) * d].iter_mut().zip(&slot[1..]).for_each(|(c, &s)| *c = T::from_f64(s));
            }
        }
        let neg = advanced.expect("the exchange fails on every rank where one rank's share failed");
        let info = StepInfo { sampler: Some(neg.stats), reinitialised: Some(reinit), ..Default::default() };
        self.state = Some((mine.len(), neg));
        Ok(info)
    }

    ml_loss_methods!();
}
