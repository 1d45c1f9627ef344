//! `ebm train`: data → model → estimator → Adam/SGD, with a progress bar,
//! periodic atomic checkpoints, divergence handling and the run's outputs.
//!
//! # Output directory
//!
//! - `model.safetensors`: the checkpoint ([`crate::checkpoint`]), written at
//!   step 0, every `checkpoint_every` steps and at the end, each time
//!   atomically (temp file, fsync, rename);
//! - `state.safetensors`: the training state of the same step (optimizer
//!   moments, PCD's buffer, LSD's critic and its optimizer, NCE's c; see
//!   [`crate::state`]), written atomically right after each checkpoint;
//! - `config.toml`: the resolved settings ([`crate::config`]);
//! - `metrics.json`: `status` (`running`, `done`, `diverged`), the loss of
//!   every step, the held-out estimator loss every `eval_every` steps, and
//!   at the end the held-out metrics of [`crate::metrics`] (exact NLL for
//!   d ≤ 2, AIS log Z for d > 2, KSD², MMD² of model samples against the
//!   held-out split);
//! - for d = 2: `density.png` and `samples.png` ([`crate::plot`]).
//!
//! # Divergence
//!
//! A non-finite loss, gradient or parameter stops the run before anything
//! non-finite is written (`ebm_estimators::train`): the checkpoint on disk
//! stays the last periodic one, `metrics.json` says `diverged` with the step
//! and cause, and the process exits with code 2.
//!
//! # Resume
//!
//! `--resume DIR` reads `DIR/config.toml`, `DIR/model.safetensors` and
//! `DIR/state.safetensors` and continues from the checkpoint's step N up to
//! `steps` (which `--steps` may raise) as a bit-for-bit continuation: the
//! model file after 2N steps is the same whether the run went through in
//! one go or stopped at N and was resumed (same machine and backend).
//!
//! - Randomness depends only on (seed, absolute step t): batch t is a pure
//!   function of (seed, t) (`ebm_estimators::Batcher`, no position to
//!   save) and every estimator's noise is keyed by `StepCtx(seed, t)`; the
//!   resumed trainer simply continues its step count at N.
//! - θ comes from the checkpoint; everything else that carries over from
//!   step to step comes from the state file: Adam's m, v, t (SGD's
//!   velocity), PCD's replay buffer, LSD's critic φ and its Adam, NCE's c.
//! - The state file must be there, parse, and match the checkpoint's step,
//!   the estimator and the optimizer; otherwise the run stops with
//!   [`CliError::ResumeState`] (exit code 1) before anything is written.
//!   `--inexact-resume` turns that error into a warning and continues with
//!   fresh optimizer and estimator state (NCE's c from the checkpoint) and
//!   the same (seed, t) batches and noise: a statistically equivalent, not
//!   bit-for-bit, continuation (e.g. for runs written before state files).
//! - Changing settings in `config.toml` between the two runs (other than
//!   `steps`, `checkpoint_every`, `eval_every`) voids the guarantee.

use crate::backend::{self, Backend};
use crate::checkpoint::{self, Checkpoint};
use crate::config::TrainSettings;
use crate::error::{usage, CliError, Result};
use crate::model::{DynModel, Model, ModelSpec};
use crate::state::TrainState;
use crate::{atomic, data, estimators, metrics, plot, sample, state};
use ebm_estimators::seeds::derive_seed;
use ebm_estimators::{Control, Dataset, EstError, Estimator, Optimizer, Resumable, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Purpose tag of the model initialisation seed.
const TAG_INIT: u64 = 0xC11_0001;
/// Purpose tag of the plot / metric samples.
const TAG_SAMPLES: u64 = 0xC11_0003;

/// The contents of `metrics.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// `running`, `done` or `diverged`.
    pub status: String,
    /// The model string.
    pub model: String,
    /// The estimator.
    pub estimator: String,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The GPU adapter, when the backend is `gpu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Updates done (the checkpoint's step when diverged).
    pub steps_done: usize,
    /// Training / held-out sample counts.
    pub n_train: usize,
    /// Held-out samples.
    pub n_heldout: usize,
    /// (step t, training loss at the parameters before update t) of every update.
    pub loss: Vec<(usize, f64)>,
    /// (updates done, held-out estimator loss) of every evaluation.
    pub eval_loss: Vec<(usize, f64)>,
    /// The held-out metrics at the end of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout: Option<metrics::Report>,
    /// NCE's learned log Z.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nce_log_z: Option<f64>,
    /// Training throughput of this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_second: Option<f64>,
    /// Step and cause of a divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Diverged>,
}

/// Where and why a run diverged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diverged {
    /// The step at which a non-finite value appeared.
    pub step: usize,
    /// What was non-finite.
    pub cause: String,
    /// The step of the checkpoint on disk.
    pub checkpoint_step: usize,
}

/// Pretty JSON with the two curves on one line each (they can be long).
pub fn metrics_json(m: &RunMetrics) -> String {
    let mut v = serde_json::to_value(m).expect("metrics serialise");
    let obj = v.as_object_mut().expect("a struct serialises to an object");
    let loss = obj.remove("loss").unwrap_or_default();
    let eval = obj.remove("eval_loss").unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&v).expect("metrics serialise");
    let body = pretty.trim_end().strip_suffix('}').unwrap_or(&pretty).trim_end();
    format!("{body},\n  \"eval_loss\": {eval},\n  \"loss\": {loss}\n}}\n")
}

fn write_json(path: &Path, m: &RunMetrics) -> Result<()> {
    let text = metrics_json(m);
    atomic::write_atomic(path, text.as_bytes()).map_err(|source| CliError::Output { path: path.to_path_buf(), source })
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    atomic::write_atomic(path, text.as_bytes()).map_err(|source| CliError::Output { path: path.to_path_buf(), source })
}

/// What `ebm train` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The resolved settings.
    pub settings: TrainSettings,
    /// The output directory.
    pub out: PathBuf,
    /// Continue the run in `out`.
    pub resume: bool,
    /// On resume, continue with fresh optimizer and estimator state when the
    /// state file is missing or does not match (see the module docs).
    pub inexact_resume: bool,
    /// No progress bar or progress lines.
    pub quiet: bool,
}

/// Runs `ebm train` (see the module docs). Returns the final metrics.
pub fn run(req: Request) -> Result<RunMetrics> {
    let Request { settings: s, out, resume, inexact_resume, quiet } = req;
    s.validate()?;
    std::fs::create_dir_all(&out).map_err(|source| CliError::Output { path: out.clone(), source })?;
    let removed = atomic::remove_stale_temps(&out);
    if removed > 0 && !quiet {
        eprintln!("removed {removed} temporary file(s) left by an interrupted run in {}", out.display());
    }
    let ck_path = out.join(checkpoint::FILE_NAME);
    let metrics_path = out.join("metrics.json");

    // Data.
    let data = data::load(&s.data, s.n_data, s.seed)?;
    // Model.
    let (mut model, start, aux0) = if resume {
        let ck = checkpoint::load(&ck_path)?;
        (ck.model, ck.step, ck.aux)
    } else {
        let spec = ModelSpec::parse(&s.model)?;
        (Model::init(&spec, data.dim, derive_seed(s.seed, TAG_INIT, 0))?, 0, Vec::new())
    };
    data.expect_dim(model.dim())?;
    let (data_mean, data_std) = data.mean_std();
    let full = Dataset::new(data.x.clone(), data.dim)?;
    let (train, heldout) = if s.heldout > 0.0 && full.len() >= 2 {
        let (a, b) = full.split(s.heldout, s.seed)?;
        (a, Some(b))
    } else {
        (full, None)
    };
    if s.batch > train.len() {
        return usage(format!("batch {} is larger than the training split ({} samples)", s.batch, train.len()));
    }
    let (mut energy, adapter) = backend::boxed(&model, s.backend)?;
    if let (Some(a), false) = (&adapter, quiet) {
        eprintln!("gpu adapter: {a}");
    }
    // Batches and noise of step t are keyed by (seed, t) with t absolute.
    let cfg = TrainConfig {
        batch_size: s.batch,
        steps: 0,
        seed: s.seed,
        eval_every: s.eval_every,
        eval_batch_size: 1024,
        clip_grad_norm: (s.clip_grad_norm > 0.0).then_some(s.clip_grad_norm),
    };
    let fresh = || -> Result<BoxTrainer> {
        let mut estimator = estimators::build(&s, &train)?;
        if !aux0.is_empty() && aux0.len() == estimator.aux_params().len() {
            estimator.aux_params_mut().copy_from_slice(&aux0);
        }
        let mut t = Trainer::new(estimator, estimators::optimizer(&s)?, cfg);
        t.set_steps_done(start);
        Ok(t)
    };
    let mut trainer = fresh()?;
    let state_path = out.join(state::FILE_NAME);
    if resume {
        if let Err(e) = restore_state(&mut trainer, energy.as_ref(), &state_path, start) {
            if !inexact_resume {
                return Err(e);
            }
            eprintln!("warning: {}", e.to_string().lines().next().unwrap_or_default());
            eprintln!("warning: --inexact-resume: continuing with fresh optimizer and estimator state (not a bit-for-bit continuation)");
            trainer = fresh()?;
        }
    }

    // Metrics so far (kept across resumes).
    let mut rm = if resume {
        std::fs::read_to_string(&metrics_path)
            .ok()
            .and_then(|t| serde_json::from_str::<RunMetrics>(&t).ok())
            .unwrap_or_default()
    } else {
        RunMetrics::default()
    };
    rm.loss.retain(|&(t, _)| t < start);
    rm.eval_loss.retain(|&(t, _)| t <= start);
    rm.status = "running".into();
    rm.model = model.describe();
    rm.estimator = s.estimator.clone();
    rm.backend = s.backend.name().into();
    rm.adapter = adapter.clone();
    rm.n_train = train.len();
    rm.n_heldout = heldout.as_ref().map_or(0, |h| h.len());
    rm.diverged = None;
    rm.heldout = None;

    let mut ck = Checkpoint {
        model: model.clone(),
        step: start,
        aux: trainer.estimator.aux_params().to_vec(),
        data_mean: Some(data_mean),
        data_std: Some(data_std),
    };
    write_text(&out.join("config.toml"), &s.to_toml())?;
    if !resume {
        checkpoint::save(&ck_path, &ck)?;
        save_state(&state_path, &trainer, start)?;
    }
    rm.steps_done = start;
    write_json(&metrics_path, &rm)?;

    let pb = if quiet { ProgressBar::hidden() } else { ProgressBar::new(s.steps as u64) };
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise} < ETA {eta_precise}] {rate} {msg}")
            .expect("valid template")
            .with_key("rate", |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} steps/s", st.per_sec());
            })
            .progress_chars("=> "),
    );
    pb.set_position(start as u64);
    pb.reset_eta();
    let t0 = Instant::now();
    let mut step = start;
    while step < s.steps {
        let n = (s.checkpoint_every - step % s.checkpoint_every).min(s.steps - step);
        trainer.config.steps = n;
        let (mut losses, mut evals) = (Vec::with_capacity(n), Vec::new());
        let base = step;
        let result = trainer.fit(energy.as_mut(), &train, heldout.as_ref(), |p| {
            let t = base + losses.len();
            losses.push((t, p.loss));
            if let Some(e) = p.eval_loss {
                evals.push((t + 1, e));
            }
            pb.inc(1);
            if t % 10 == 0 || p.eval_loss.is_some() {
                match evals.last() {
                    Some((_, e)) => pb.set_message(format!("loss {:.4} held-out {e:.4}", p.loss)),
                    None => pb.set_message(format!("loss {:.4}", p.loss)),
                }
            }
            Control::Continue
        });
        rm.loss.extend_from_slice(&losses);
        rm.eval_loss.extend_from_slice(&evals);
        match result {
            Ok(report) => {
                step += report.steps;
                model.energy_mut().set_params(energy.params())?;
                ck.model = model.clone();
                ck.step = step;
                ck.aux = trainer.estimator.aux_params().to_vec();
                checkpoint::save(&ck_path, &ck)?;
                save_state(&state_path, &trainer, step)?;
                rm.steps_done = step;
                rm.nce_log_z = trainer.estimator.log_z();
                write_json(&metrics_path, &rm)?;
                if pb.is_hidden() && !quiet {
                    let rate = (step - start) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                    let last = losses.last().map_or(f64::NAN, |l| l.1);
                    eprintln!("step {step}/{}: loss {last:.5}, {rate:.1} steps/s, checkpoint written", s.steps);
                }
            }
            Err(EstError::Diverged { cause, .. }) => {
                pb.abandon();
                let at = base + losses.len();
                rm.status = "diverged".into();
                rm.diverged = Some(Diverged { step: at, cause: cause.to_string(), checkpoint_step: ck.step });
                rm.steps_done = ck.step;
                write_json(&metrics_path, &rm)?;
                return Err(CliError::Diverged { step: at, cause: cause.to_string(), checkpoint_step: ck.step, out });
            }
            Err(e) => {
                pb.abandon();
                return Err(e.into());
            }
        }
    }
    pb.finish();
    let secs = t0.elapsed().as_secs_f64();
    if step > start {
        rm.steps_per_second = Some((step - start) as f64 / secs.max(1e-9));
    }

    // Held-out evaluation, samples and plots.
    let eval_data = heldout.as_ref().unwrap_or(&train);
    let d = model.dim();
    let mut report = metrics::Report::default();
    if rm.eval_loss.last().map(|e| e.0) != Some(step) {
        match trainer.evaluate(energy.as_ref(), eval_data, step) {
            Ok(l) => rm.eval_loss.push((step, l)),
            Err(e) => {
                report.errors.insert("estimator_loss".into(), e.to_string());
            }
        }
    }
    let samples = if s.plot_samples >= 2 {
        let opts = sample::SamplerOpts { steps: s.plot_sampler_steps.max(1), ..Default::default() };
        let sampler = sample::build(&opts, sample::data_scale(&ck))?;
        let mut x = sample::init_chains(
            s.plot_samples,
            d,
            ck.data_mean.as_deref(),
            ck.data_std.as_deref(),
            1.0,
            derive_seed(s.seed, TAG_SAMPLES, 0),
        );
        match sample::run(energy.as_ref(), sampler.as_ref(), &mut x, derive_seed(s.seed, TAG_SAMPLES, 1)) {
            Ok(_) => Some(x),
            Err(e) => {
                report.errors.insert("samples".into(), e.to_string());
                None
            }
        }
    } else {
        None
    };
    // Exact NLL for d ≤ 2 (the report says why not otherwise), AIS log Z above.
    let which = metrics::Which { nll: true, ais: d > 2, ksd: true };
    let m = metrics::evaluate(&model, energy.as_ref(), eval_data.as_slice(), samples.as_deref(), which, s.seed)?;
    report.n = m.n;
    report = metrics::Report { errors: report.errors.into_iter().chain(m.errors.clone()).collect(), ..m };
    if d == 2 {
        plot::density(&out.join("density.png"), model.energy(), train.as_slice())?;
        if let Some(x) = &samples {
            plot::samples(&out.join("samples.png"), train.as_slice(), x)?;
        }
    }
    for (k, v) in &report.errors {
        if !quiet {
            eprintln!("note: metric {k} not computed: {v}");
        }
    }
    rm.heldout = Some(report);
    rm.status = "done".into();
    rm.steps_done = step;
    rm.nce_log_z = trainer.estimator.log_z();
    write_json(&metrics_path, &rm)?;
    if !quiet {
        summary(&rm, &out, secs);
    }
    Ok(rm)
}

type BoxTrainer = Trainer<f32, Box<dyn Estimator<f32>>, Box<dyn Optimizer<f32>>>;

/// Writes the trainer's state after `step` updates (see [`crate::state`]).
fn save_state(path: &Path, trainer: &BoxTrainer, step: usize) -> Result<()> {
    let st = TrainState {
        step,
        estimator: trainer.estimator.name().into(),
        optimizer: trainer.optimizer.name().into(),
        entries: trainer.save_state(),
    };
    state::save(path, &st)
}

/// Loads the state file into `trainer`, checking it belongs to the
/// checkpoint of step `step` and to this estimator and optimizer.
fn restore_state(trainer: &mut BoxTrainer, energy: &DynModel, path: &Path, step: usize) -> Result<()> {
    let err = |reason: String| CliError::ResumeState { path: path.to_path_buf(), reason };
    if !path.exists() {
        return Err(err("the file is missing (a run written by an older ebm, or a deleted file)".into()));
    }
    let st = state::load(path)?;
    if st.step != step {
        return Err(err(format!(
            "it is the state after {} steps but the checkpoint is after {step} (interrupted between the two writes?)",
            st.step
        )));
    }
    let (e, o) = (trainer.estimator.name(), trainer.optimizer.name());
    if st.estimator != e || st.optimizer != o {
        return Err(err(format!(
            "it was saved for estimator `{}` with optimizer `{}`, this run uses `{e}` with `{o}`",
            st.estimator, st.optimizer
        )));
    }
    trainer.load_state_for(energy, &st.entries).map_err(|e| err(e.to_string()))?;
    if trainer.steps_done() != step {
        return Err(err(format!("its `step` entry is {} but its metadata says {step}", trainer.steps_done())));
    }
    Ok(())
}

fn summary(rm: &RunMetrics, out: &Path, secs: f64) {
    let last = rm.loss.last().map_or(f64::NAN, |l| l.1);
    eprintln!("done: {} steps, final loss {last:.5} ({secs:.1} s)", rm.steps_done);
    if let Some(h) = &rm.heldout {
        if let Some(nll) = h.nll {
            eprintln!("held-out exact NLL {nll:.4} (log Z {:.4})", h.log_z.unwrap_or(f64::NAN));
        }
        if let Some(m) = h.mmd2 {
            eprintln!("held-out MMD² {m:.5} ± {:.5}", h.mmd2_std_err.unwrap_or(f64::NAN));
        }
    }
    eprintln!("outputs in {}", out.display());
}

/// Merges `ebm train` flags over a base (defaults, `--config` or the
/// resumed run's `config.toml`).
pub fn resolve(base: TrainSettings, over: &Overrides, resume: bool) -> Result<TrainSettings> {
    let mut s = base;
    if resume {
        let fixed = [
            ("--data", over.data.is_some()),
            ("--model", over.model.is_some()),
            ("--estimator", over.estimator.is_some()),
            ("--seed", over.seed.is_some()),
            ("--batch", over.batch.is_some()),
            ("--lr", over.lr.is_some()),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, set)| *set) {
            return usage(format!("{flag} cannot change on --resume (edit config.toml or start a new run)"));
        }
    }
    if let Some(v) = &over.data {
        s.data = v.clone();
    }
    if let Some(v) = &over.model {
        s.model = v.clone();
    }
    if let Some(v) = &over.estimator {
        s.estimator = v.clone();
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = over.$f { s.$f = v; } )* };
    }
    set!(steps, batch, lr, seed, backend, n_data, checkpoint_every, eval_every);
    if data::is_file(&s.data) && !resume {
        // Store an absolute path so that --resume works from anywhere.
        if let Ok(p) = std::fs::canonicalize(&s.data) {
            s.data = p.display().to_string();
        }
    }
    Ok(s)
}

/// The `ebm train` flags that override settings.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data`.
    pub data: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--estimator`.
    pub estimator: Option<String>,
    /// `--steps`.
    pub steps: Option<usize>,
    /// `--batch`.
    pub batch: Option<usize>,
    /// `--lr`.
    pub lr: Option<f64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--backend`.
    pub backend: Option<Backend>,
    /// `--n-data`.
    pub n_data: Option<usize>,
    /// `--checkpoint-every`.
    pub checkpoint_every: Option<usize>,
    /// `--eval-every`.
    pub eval_every: Option<usize>,
}
