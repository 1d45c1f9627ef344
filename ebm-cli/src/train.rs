//! `ebm train`: data → model → estimator → Adam/SGD, with a progress bar,
//! periodic atomic checkpoints, divergence handling and the run's outputs.
//!
//! # Output directory
//!
//! - `state.safetensors`: the run's commit point ([`crate::state`]): θ, the
//!   training state (optimizer moments, PCD's buffer, LSD's critic and its
//!   optimizer, NCE's c), the step and the loss history, replaced as one
//!   file by one atomic rename at step 0, every `checkpoint_every` steps,
//!   on Ctrl-C and at the end;
//! - `model.safetensors`: the model of the same step ([`crate::checkpoint`],
//!   readable by PyTorch), written atomically right after each commit;
//! - `config.toml`: the resolved settings ([`crate::config`]);
//! - `metrics.json`: `status`, the loss of every step, the held-out
//!   estimator loss every `eval_every` steps, for d ≤ 2 the held-out NLL
//!   (≈, a fixed-grid quadrature) at every checkpoint, and at the end the held-out
//!   metrics of [`crate::metrics`] (exact NLL for d ≤ 2, AIS log Z for
//!   d > 2, KSD², MMD² of model samples against the held-out split);
//! - for d = 2: `density.png` and `samples.png` ([`crate::plot`]).
//!
//! A SIGKILL between the commit and the two files after it leaves
//! `model.safetensors` and `metrics.json` one checkpoint behind the state
//! file; `--resume` continues from the state file, bit for bit.
//!
//! `--out` naming a directory that holds a run ([`crate::run_dir`]) is
//! refused unless `--force` (start a new run there, replacing its files)
//! or `--resume`. Every check a user can fail runs before the directory is
//! created, so a failed start leaves nothing behind.
//!
//! # Status
//!
//! `metrics.json`'s `status` after each kind of exit: `done` (exit 0),
//! `diverged` (exit 2, with the step and cause), `interrupted` (Ctrl-C,
//! exit 130, after a final commit; see [`crate::interrupt`]), `error` (exit
//! 1, with the message in `error`). Only a SIGKILL (or a second Ctrl-C)
//! leaves `running`.
//!
//! # Divergence
//!
//! A non-finite loss, gradient or parameter stops the run before anything
//! non-finite is written (`ebm_estimators::train`), and so does a loss or a
//! parameter past the bounds of [`crate::bounds`] (exploding while still
//! finite): nothing is committed after the last periodic checkpoint, which
//! stays on disk, `metrics.json` says `diverged` with the step and cause,
//! and the process exits with code 2.
//!
//! # Resume
//!
//! `--resume DIR` reads `DIR/config.toml` and the newest commit
//! ([`crate::resume`]: `DIR/state.safetensors`, and `DIR/model.safetensors`
//! for the model's structure) and continues from its step N up to `steps`
//! (which `--steps` may raise) as a bit-for-bit continuation: the
//! model file after 2N steps is the same whether the run went through in
//! one go or stopped at N and was resumed (same machine and backend).
//!
//! - Randomness depends only on (seed, absolute step t): batch t is a pure
//!   function of (seed, t) (`ebm_estimators::Batcher`, no position to
//!   save) and every estimator's noise is keyed by `StepCtx(seed, t)`; the
//!   resumed trainer simply continues its step count at N.
//! - θ and everything else that carries over from step to step come from
//!   the state file: Adam's m, v, t (SGD's velocity), PCD's replay buffer,
//!   LSD's critic φ and its Adam, NCE's c, and the loss history. (A state
//!   file of an older ebm has no θ; θ then comes from the model file, which
//!   must be of the same step.)
//! - The state file must be there, parse, be of a step no older than the
//!   model file's, and match the estimator and the optimizer; otherwise
//!   the run stops with
//!   [`CliError::ResumeState`] (exit code 1) before anything is written.
//!   `--inexact-resume` turns that error into a warning and continues with
//!   fresh optimizer and estimator state (NCE's c from the checkpoint) and
//!   the same (seed, t) batches and noise: a statistically equivalent, not
//!   bit-for-bit, continuation (e.g. for runs written before state files).
//! - The cosine learning-rate schedule decays over `lr_decay_steps`, which
//!   is fixed in `config.toml` when the run starts (the run's `steps` by
//!   default): raising `--steps` on resume continues at the final rate.
//! - A model trained on standardised data resumes with the map stored in
//!   its model file; a run written before standardisation existed (no map,
//!   and no `standardize` key in its `config.toml`) resumes on raw data.
//! - Changing settings in `config.toml` between the two runs (other than
//!   `steps`, `checkpoint_every`, `eval_every`) voids the guarantee. The
//!   flags `--data`, `--model`, `--estimator`, `--seed`, `--batch`, `--lr`
//!   may be repeated on `--resume` with the run's value; a change is
//!   refused.

use crate::backend::{self, Backend};
use crate::bounds::Bounds;
use crate::checkpoint::{self, Checkpoint};
use crate::config::TrainSettings;
use crate::error::{usage, CliError, Result};
use crate::model::{DynModel, Model, ModelSpec};
use crate::standardize::{Standardize, Standardized};
use crate::state::TrainState;
use crate::{atomic, data, estimators, interrupt, memory, metrics, plot, resume, run_dir, sample, state};
use ebm_dist::{Communicator, Timed};
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
    /// `running`, `done`, `diverged`, `interrupted` or `error`.
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
    /// (updates done, held-out NLL ≈ [`metrics::quick_nll`]) at every
    /// checkpoint of a 2-D run (data units; the final exact value is
    /// `heldout.nll`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heldout_nll: Vec<(usize, f64)>,
    /// The held-out metrics at the end of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout: Option<metrics::Report>,
    /// NCE's learned log Z.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nce_log_z: Option<f64>,
    /// The number of ranks of a `--distributed` run (absent for one process).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ranks: Option<usize>,
    /// Seconds this process spent in the per-step all-gather of the partial
    /// sums (waiting for the slowest rank included), `--distributed` only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub collective_seconds: Option<f64>,
    /// Training throughput of this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_second: Option<f64>,
    /// Step and cause of a divergence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diverged: Option<Diverged>,
    /// The error that stopped the run (status `error`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
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
    /// Replace the run in `out`, if there is one.
    pub force: bool,
    /// No progress bar or progress lines.
    pub quiet: bool,
}

/// Runs `ebm train` (see the module docs). Returns the final metrics.
///
/// Everything a user can get wrong (settings, sizes, data, model string,
/// estimator, backend, the resume files) is checked before the output
/// directory is created, so a failed start leaves nothing behind.
pub fn run(req: Request) -> Result<RunMetrics> {
    run_on(req, &ebm_dist::Local)
}

/// [`run`] as one rank of `comm` (`--distributed`, see [`crate::dist`]):
/// rank 0 writes the run's files and prints, every rank trains its share.
/// With [`ebm_dist::Local`] it is [`run`].
pub fn run_on(req: Request, comm: &dyn Communicator) -> Result<RunMetrics> {
    let Request { settings: mut s, out, resume, inexact_resume, force, quiet } = req;
    let lead = comm.rank() == 0;
    let quiet = quiet || !lead;
    s.validate()?;
    let existing = run_dir::present(&out, &run_dir::TRAIN_OUTPUTS);
    if !resume && !force && !existing.is_empty() {
        return Err(CliError::RunExists {
            out,
            files: existing.join(", "),
            remedy: "pass --resume DIR to continue it, --force to replace it, or choose another --out",
        });
    }
    check_sizes(&s)?;

    // Data.
    let data = data::load(&s.data, s.n_data, s.seed)?;
    // Model and resume point.
    let init = |spec: &ModelSpec| Model::init(spec, data.dim, derive_seed(s.seed, TAG_INIT, 0));
    let resume::Start { model, step: start, aux: aux0, state: st0, standardize: resumed_map } = if resume {
        resume::read(&out, &s, init, inexact_resume)?
    } else {
        resume::Start {
            model: init(&ModelSpec::parse(&s.model)?)?,
            step: 0,
            aux: Vec::new(),
            state: None,
            standardize: None,
        }
    };
    data.expect_dim(model.dim())?;
    let (mut data_mean, mut data_std) = data.mean_std();
    let full = Dataset::new(data.x.clone(), data.dim)?;
    drop(data);
    let (train, heldout) = if s.heldout > 0.0 && full.len() >= 2 {
        let (a, b) = full.split(s.heldout, s.seed)?;
        (a, Some(b))
    } else {
        (full, None)
    };
    // Standardisation (crate::standardize): a resumed run keeps its model
    // file's; a new run fits it to the training split.
    if let Some(m) = &resumed_map {
        if s.standardize != m.is_some() && !quiet {
            eprintln!(
                "note: the run was trained {} standardisation; continuing {0} it",
                if m.is_some() { "with" } else { "without" }
            );
        }
        s.standardize = m.is_some();
    }
    let map = match resumed_map {
        Some(m) => m,
        None => s.standardize.then(|| Standardize::fit(train.as_slice(), train.dim())),
    };
    let to_z = |d: Dataset<f32>| -> Result<Dataset<f32>> {
        let Some(m) = &map else { return Ok(d) };
        let mut z = d.as_slice().to_vec();
        m.to_z(&mut z);
        Ok(Dataset::new(z, d.dim())?)
    };
    let (train, heldout) = (to_z(train)?, heldout.map(to_z).transpose()?);
    if let Some(m) = &map {
        // The moments of the whole data set, in z.
        m.moments_to_z(&mut data_mean, &mut data_std);
    }
    if s.batch > train.len() {
        return usage(format!("batch {} is larger than the training split ({} samples)", s.batch, train.len()));
    }
    let (mut energy, adapter) = backend::boxed(&model, s.backend)?;
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
    let mut history = None;
    if let Some(st) = st0 {
        match restore_state(&mut trainer, energy.as_ref(), &out.join(state::FILE_NAME), &st) {
            Ok(()) => history = st.loss.zip(st.eval_loss),
            Err(e) => {
                resume::tolerate(e, inexact_resume)?;
                trainer = fresh()?;
            }
        }
    }

    // Metrics so far (kept across resumes): the committed history, else
    // what metrics.json holds.
    let metrics_path = out.join(METRICS);
    let mut rm = if resume {
        std::fs::read_to_string(&metrics_path)
            .ok()
            .and_then(|t| serde_json::from_str::<RunMetrics>(&t).ok())
            .unwrap_or_default()
    } else {
        RunMetrics::default()
    };
    if let Some((loss, eval_loss)) = history {
        (rm.loss, rm.eval_loss) = (loss, eval_loss);
    }
    rm.loss.retain(|&(t, _)| t < start);
    rm.eval_loss.retain(|&(t, _)| t <= start);
    rm.heldout_nll.retain(|&(t, _)| t <= start);
    rm.status = "running".into();
    rm.model = model.describe();
    rm.estimator = s.estimator.clone();
    rm.backend = s.backend.name().into();
    rm.adapter = adapter.clone();
    rm.n_train = train.len();
    rm.n_heldout = heldout.as_ref().map_or(0, |h| h.len());
    rm.diverged = None;
    rm.heldout = None;
    rm.error = None;
    rm.steps_done = start;
    rm.nce_log_z = trainer.estimator.log_z();
    rm.ranks = (comm.size() > 1).then_some(comm.size());

    // Every rank has read what it needs before rank 0 writes.
    comm.barrier().map_err(|e| CliError::Distributed(e.to_string()))?;
    let comm = &Timed::new(comm);
    if !lead {
        let ctx = Ctx { s: &s, out: &out, quiet, train: &train, heldout: heldout.as_ref(), comm, lead };
        let mut ck =
            Checkpoint { model, step: start, aux: Vec::new(), data_mean: None, data_std: None, standardize: map };
        train_steps(&ctx, &mut trainer, energy.as_mut(), &mut ck, &mut rm)?;
        return Ok(rm);
    }
    // Everything is checked: from here on the run has a directory.
    std::fs::create_dir_all(&out).map_err(|source| CliError::Output { path: out.clone(), source })?;
    let removed = atomic::remove_stale_temps(&out);
    if !quiet {
        if removed > 0 {
            eprintln!("removed {removed} temporary file(s) left by an interrupted run in {}", out.display());
        }
        if let Some(a) = &adapter {
            eprintln!("gpu adapter: {a}");
        }
    }
    let mut ck = Checkpoint {
        model,
        step: start,
        aux: trainer.estimator.aux_params().to_vec(),
        data_mean: Some(data_mean),
        data_std: Some(data_std),
        standardize: map,
    };
    let ctx = Ctx { s: &s, out: &out, quiet, train: &train, heldout: heldout.as_ref(), comm, lead };
    let outcome = write_text(&out.join("config.toml"), &s.to_toml())
        .and_then(|()| commit(&out, &trainer, &ck, &rm))
        .and_then(|()| train_steps(&ctx, &mut trainer, energy.as_mut(), &mut ck, &mut rm))
        .and_then(|secs| finish(&ctx, &trainer, energy.as_ref(), &ck, &mut rm, secs));
    match outcome {
        Ok(()) => Ok(rm),
        Err(e) => {
            if !matches!(e, CliError::Diverged { .. } | CliError::Interrupted { .. }) {
                rm.status = "error".into();
                rm.error = Some(e.to_string());
                let _ = write_json(&metrics_path, &rm);
            }
            Err(e)
        }
    }
}

/// The file name of the run's metrics.
pub const METRICS: &str = "metrics.json";

/// Refuses sizes that cannot fit in memory (see [`crate::memory`]).
fn check_sizes(s: &TrainSettings) -> Result<()> {
    if !data::is_file(&s.data) && s.data != data::REDWINE {
        // Toy generation: ≤ 4 f64 draws and a (f64, f64) pair per sample,
        // then the f32 data, its copy and the split: 56 + 3·8 bytes.
        let how = "n × 80 bytes: the draws, the samples in f64 and three f32 copies";
        memory::ensure(&format!("--n-data {}", s.n_data), how, memory::product(&[s.n_data, 80]))?;
    }
    let how = "n × 64 bytes: the chains in f32, their f64 start and the sampler's buffers (d = 2; more for larger d)";
    memory::ensure(&format!("plot_samples = {}", s.plot_samples), how, memory::product(&[s.plot_samples, 64]))?;
    let how = "n × 8 bytes per coordinate (d = 2; more for larger d)";
    memory::ensure(&format!("pcd_buffer = {}", s.pcd_buffer), how, memory::product(&[s.pcd_buffer, 16]))
}

/// What the phases of a run share.
struct Ctx<'a> {
    s: &'a TrainSettings,
    out: &'a Path,
    quiet: bool,
    train: &'a Dataset<f32>,
    heldout: Option<&'a Dataset<f32>>,
    /// The ranks training together (one, unless `--distributed`), timed.
    comm: &'a Timed<'a>,
    /// Whether this process writes the run's files (rank 0).
    lead: bool,
}

/// Writes one checkpoint: the state file (the commit point: θ, optimizer
/// and estimator state, step, loss history), then `model.safetensors`,
/// then `metrics.json` (see [`crate::state`], "# One file, one commit").
fn commit(out: &Path, trainer: &BoxTrainer, ck: &Checkpoint, rm: &RunMetrics) -> Result<()> {
    let st = TrainState {
        step: ck.step,
        estimator: trainer.estimator.name().into(),
        optimizer: trainer.optimizer.name().into(),
        entries: trainer.save_state(),
        params: Some(ck.model.energy().params().iter().map(|&v| v as f64).collect()),
        loss: Some(rm.loss.clone()),
        eval_loss: Some(rm.eval_loss.clone()),
    };
    state::save(&out.join(state::FILE_NAME), &st)?;
    checkpoint::save(&out.join(checkpoint::FILE_NAME), ck)?;
    write_json(&out.join(METRICS), rm)
}

/// Marks the run diverged in `metrics.json` and builds the error.
fn diverged(ctx: &Ctx<'_>, rm: &mut RunMetrics, at: usize, cause: String, checkpoint_step: usize) -> CliError {
    rm.status = "diverged".into();
    rm.diverged = Some(Diverged { step: at, cause: cause.clone(), checkpoint_step });
    rm.steps_done = checkpoint_step;
    if ctx.lead {
        if let Err(e) = write_json(&ctx.out.join(METRICS), rm) {
            return e;
        }
    }
    CliError::Diverged { step: at, cause, checkpoint_step, out: ctx.out.to_path_buf() }
}

fn progress_bar(ctx: &Ctx<'_>, start: usize) -> ProgressBar {
    let pb = if ctx.quiet { ProgressBar::hidden() } else { ProgressBar::new(ctx.s.steps as u64) };
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
    pb
}

/// The training steps from `ck.step` to `steps`, committing every
/// `checkpoint_every` steps. Returns the seconds spent.
fn train_steps(
    ctx: &Ctx<'_>,
    trainer: &mut BoxTrainer,
    energy: &mut DynModel,
    ck: &mut Checkpoint,
    rm: &mut RunMetrics,
) -> Result<f64> {
    let s = ctx.s;
    let start = ck.step;
    let pb = progress_bar(ctx, start);
    let mut bounds = Bounds::new(rm.loss.first().filter(|l| l.0 == 0).map(|l| l.1));
    let t0 = Instant::now();
    let mut step = start;
    while step < s.steps {
        let n = (s.checkpoint_every - step % s.checkpoint_every).min(s.steps - step);
        trainer.config.steps = n;
        let (mut losses, mut evals) = (Vec::with_capacity(n), Vec::new());
        let mut exploded = None;
        let base = step;
        let nll = rm.heldout_nll.last().map_or(String::new(), |h| format!(" NLL ≈ {:.4}", h.1));
        let result = trainer.fit_on(ctx.comm, energy, ctx.train, ctx.heldout, |p| {
            let t = base + losses.len();
            losses.push((t, p.loss));
            if let Some(e) = p.eval_loss {
                evals.push((t + 1, e));
            }
            pb.inc(1);
            if t.is_multiple_of(10) || p.eval_loss.is_some() {
                match evals.last() {
                    Some((_, e)) => pb.set_message(format!("loss {:.4} held-out {e:.4}{nll}", p.loss)),
                    None => pb.set_message(format!("loss {:.4}{nll}", p.loss)),
                }
            }
            if let Some(cause) = bounds.check(p.loss, p.params) {
                exploded = Some((t, cause));
                return Control::Stop;
            }
            if interrupt::requested() {
                return Control::Stop;
            }
            Control::Continue
        });
        rm.loss.extend_from_slice(&losses);
        rm.eval_loss.extend_from_slice(&evals);
        let report = match result {
            Ok(report) => report,
            Err(EstError::Diverged { cause, .. }) => {
                pb.abandon();
                return Err(diverged(ctx, rm, base + losses.len(), cause.to_string(), ck.step));
            }
            Err(e) => {
                pb.abandon();
                return Err(e.into());
            }
        };
        if let Some((at, cause)) = exploded {
            pb.abandon();
            return Err(diverged(ctx, rm, at, cause, ck.step));
        }
        step += report.steps;
        let interrupted = interrupt::requested();
        ck.model.energy_mut().set_params(energy.params())?;
        ck.step = step;
        ck.aux = trainer.estimator.aux_params().to_vec();
        rm.steps_done = step;
        rm.nce_log_z = trainer.estimator.log_z();
        if interrupted {
            rm.status = "interrupted".into();
        }
        if ctx.lead {
            progress_nll(ctx, energy, ck, rm, &pb);
            commit(ctx.out, trainer, ck, rm)?;
        }
        if interrupted {
            pb.abandon();
            return Err(CliError::Interrupted { step, out: ctx.out.to_path_buf() });
        }
        if pb.is_hidden() && !ctx.quiet {
            let rate = (step - start) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
            let last = losses.last().map_or(f64::NAN, |l| l.1);
            let nll = rm
                .heldout_nll
                .last()
                .filter(|h| h.0 == step)
                .map_or(String::new(), |h| format!(", held-out NLL ≈ {:.4}", h.1));
            eprintln!("step {step}/{}: loss {last:.5}{nll}, {rate:.1} steps/s, checkpoint written", s.steps);
        }
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if step > start {
        rm.steps_per_second = Some((step - start) as f64 / secs.max(1e-9));
    }
    if ctx.comm.size() > 1 {
        rm.collective_seconds = Some(ctx.comm.seconds());
    }
    Ok(secs)
}

/// At each checkpoint of a 2-D run with a held-out split: the held-out NLL
/// by [`metrics::quick_nll`] (data units) into `rm.heldout_nll` and the
/// progress bar.
fn progress_nll(ctx: &Ctx<'_>, energy: &DynModel, ck: &Checkpoint, rm: &mut RunMetrics, pb: &ProgressBar) {
    let Some(h) = ctx.heldout else { return };
    let log_det = ck.standardize.as_ref().map_or(0.0, |t| t.log_det());
    if let Some(nll) = metrics::quick_nll(energy, h.as_slice(), log_det) {
        rm.heldout_nll.push((ck.step, nll));
        pb.set_message(format!("held-out NLL ≈ {nll:.4}"));
    }
}

/// Held-out evaluation, samples and plots; `metrics.json` says `done`.
fn finish(
    ctx: &Ctx<'_>,
    trainer: &BoxTrainer,
    energy: &DynModel,
    ck: &Checkpoint,
    rm: &mut RunMetrics,
    secs: f64,
) -> Result<()> {
    let (s, out, step, model) = (ctx.s, ctx.out, ck.step, &ck.model);
    if interrupt::requested() {
        rm.status = "interrupted".into();
        write_json(&out.join(METRICS), rm)?;
        return Err(CliError::Interrupted { step, out: out.to_path_buf() });
    }
    let train = ctx.train;
    let eval_data = ctx.heldout.unwrap_or(train);
    let d = model.dim();
    let mut report = metrics::Report::default();
    if rm.eval_loss.last().map(|e| e.0) != Some(step) {
        match trainer.evaluate(energy, eval_data, step) {
            Ok(l) => rm.eval_loss.push((step, l)),
            Err(e) => {
                report.errors.insert("estimator_loss".into(), e.to_string());
            }
        }
    }
    // Metrics, samples and plots are in data units: the splits and the
    // samples (drawn on the model's own coordinates) mapped back from z.
    let map = ck.standardize.as_ref();
    let in_x = |z: &[f32]| {
        let mut x = z.to_vec();
        if let Some(t) = map {
            t.to_x(&mut x);
        }
        x
    };
    let (train_x, eval_x) = (in_x(train.as_slice()), in_x(eval_data.as_slice()));
    let samples = if s.plot_samples >= 2 {
        let opts = sample::SamplerOpts { steps: s.plot_sampler_steps.max(1), ..Default::default() };
        let sampler = sample::build(&opts, sample::data_scale(ck))?;
        let mut x = sample::init_chains(
            s.plot_samples,
            d,
            ck.data_mean.as_deref(),
            ck.data_std.as_deref(),
            1.0,
            derive_seed(s.seed, TAG_SAMPLES, 0),
        );
        match sample::run(energy, sampler.as_ref(), &mut x, derive_seed(s.seed, TAG_SAMPLES, 1)) {
            Ok(_) => Some(in_x(&x)),
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
    let m = metrics::evaluate(model, energy, &eval_x, samples.as_deref(), which, s.seed, map)?;
    report.n = m.n;
    report = metrics::Report { errors: report.errors.into_iter().chain(m.errors.clone()).collect(), ..m };
    if d <= 2 && !std::ptr::eq(eval_data, train) {
        match metrics::reference_nll(&train_x, &eval_x, d) {
            Ok(r) => report.reference_nll = Some(r),
            Err(e) => {
                report.errors.insert("reference_nll".into(), e.to_string());
            }
        }
    }
    if d == 2 {
        let data = Path::new(&s.data).file_name().map_or_else(|| s.data.clone(), |f| f.to_string_lossy().into_owned());
        let caption = plot::Caption {
            data,
            model: s.model.clone(),
            estimator: s.estimator.clone(),
            steps: step,
            nll: report.nll,
        };
        let scale = if s.plot_log { plot::ColourScale::Log } else { plot::ColourScale::Linear };
        let energy_x = Standardized::new(model.energy(), map);
        plot::density(&out.join("density.png"), &energy_x, &train_x, &caption, scale)?;
        if let Some(x) = &samples {
            let sampler = format!("ULA, {} steps", s.plot_sampler_steps.max(1));
            plot::samples(&out.join("samples.png"), &train_x, x, &caption, &sampler)?;
        }
    }
    for (k, v) in &report.errors {
        if !ctx.quiet {
            eprintln!("note: metric {k} not computed: {v}");
        }
    }
    rm.heldout = Some(report);
    rm.status = "done".into();
    rm.steps_done = step;
    rm.nce_log_z = trainer.estimator.log_z();
    write_json(&out.join(METRICS), rm)?;
    if !ctx.quiet {
        summary(rm, out, secs);
    }
    Ok(())
}

type BoxTrainer = Trainer<f32, Box<dyn Estimator<f32>>, Box<dyn Optimizer<f32>>>;

/// Loads the state `st` (read from `path`) into `trainer`, checking it
/// belongs to this estimator and optimizer.
fn restore_state(trainer: &mut BoxTrainer, energy: &DynModel, path: &Path, st: &TrainState) -> Result<()> {
    let err = |reason: String| CliError::ResumeState { path: path.to_path_buf(), reason };
    let (e, o) = (trainer.estimator.name(), trainer.optimizer.name());
    if st.estimator != e || st.optimizer != o {
        return Err(err(format!(
            "it was saved for estimator `{}` with optimizer `{}`, this run uses `{e}` with `{o}`",
            st.estimator, st.optimizer
        )));
    }
    trainer.load_state_for(energy, &st.entries).map_err(|e| err(e.to_string()))?;
    if trainer.steps_done() != st.step {
        return Err(err(format!("its `step` entry is {} but its metadata says {}", trainer.steps_done(), st.step)));
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
        if let Some(r) = h.reference_nll {
            let k = metrics::REFERENCE_COMPONENTS;
            eprintln!("held-out NLL of the reference ({k}-component Gaussian mixture by EM) {r:.4}");
        }
        if let (Some(z), Some(se)) = (h.ais_log_z, h.ais_log_z_std_err) {
            eprintln!("log Z by AIS {z:.4} ± {se:.4} (standard error over independent chains)");
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
        // A flag may repeat the run's value; only a change is refused.
        let same_data =
            |v: &String| *v == s.data || std::fs::canonicalize(v).is_ok_and(|p| p.display().to_string() == s.data);
        let fixed = [
            ("--data", over.data.as_ref().is_some_and(|v| !same_data(v))),
            ("--model", over.model.as_ref().is_some_and(|v| *v != s.model)),
            ("--estimator", over.estimator.as_ref().is_some_and(|v| *v != s.estimator)),
            ("--seed", over.seed.is_some_and(|v| v != s.seed)),
            ("--batch", over.batch.is_some_and(|v| v != s.batch)),
            ("--lr", over.lr.is_some_and(|v| v != s.lr)),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, changed)| *changed) {
            return usage(format!("{flag} cannot change on --resume (edit config.toml or start a new run)"));
        }
    }
    if let Some(v) = over.data.as_ref().filter(|_| !resume) {
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
    if over.plot_log {
        s.plot_log = true;
    }
    if over.no_standardize {
        s.standardize = false;
    }
    if !resume && s.lr_decay_steps == 0 {
        // The cosine's horizon is fixed at the start (config.toml keeps it).
        s.lr_decay_steps = s.steps;
    }
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
    /// `--plot-log`.
    pub plot_log: bool,
    /// `--no-standardize`.
    pub no_standardize: bool,
}
