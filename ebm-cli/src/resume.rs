//! Where `ebm train --resume DIR` starts from: the newest committed
//! checkpoint of the run (see [`crate::state`], "# One file, one commit").
//!
//! | `state.safetensors` | `model.safetensors` | start |
//! | --- | --- | --- |
//! | with θ, step N ≥ the model file's | any (or absent) | θ, state and history of step N |
//! | with θ, step N < the model file's | present | error: the files are not of one run |
//! | without θ (older ebm), step N | step N | θ from the model file, state from this file |
//! | without θ, step N | step M ≠ N | error |
//! | absent | absent | step 0: the run was stopped before its first commit |
//! | absent, or unreadable | present | error |
//!
//! Every error is a [`CliError::ResumeState`]; with `--inexact-resume` it is
//! a warning and the run continues from the model file with fresh
//! optimizer and estimator state.

use crate::checkpoint::{self, Checkpoint};
use crate::config::TrainSettings;
use crate::error::{CliError, Result};
use crate::model::{Model, ModelSpec};
use crate::standardize::Standardize;
use crate::state::{self, TrainState};
use std::path::Path;

/// The resume point.
#[derive(Debug)]
pub struct Start {
    /// The model, holding the θ of `step`.
    pub model: Model,
    /// Updates done.
    pub step: usize,
    /// The estimator's own parameters from the model file (NCE's log Z).
    pub aux: Vec<f32>,
    /// The training state to load (None: fresh optimizer and estimator).
    pub state: Option<TrainState>,
    /// The model file's standardisation, when a model file was read
    /// (`Some(None)`: the run was trained on raw data); `None` when there
    /// was no model file.
    pub standardize: Option<Option<Standardize>>,
}

/// Turns a resume error into a warning under `--inexact-resume`.
pub fn tolerate(e: CliError, inexact: bool) -> Result<()> {
    if !inexact {
        return Err(e);
    }
    eprintln!("warning: {}", e.to_string().lines().next().unwrap_or_default());
    eprintln!("warning: --inexact-resume: continuing with fresh optimizer and estimator state (not a bit-for-bit continuation)");
    Ok(())
}

/// Reads the resume point of the run in `out` (see the module docs).
/// `init` builds the model of the run's settings when no model file is
/// there.
pub fn read(out: &Path, s: &TrainSettings, init: impl Fn(&ModelSpec) -> Result<Model>, inexact: bool) -> Result<Start> {
    let ck_path = out.join(checkpoint::FILE_NAME);
    let st_path = out.join(state::FILE_NAME);
    let ck = if ck_path.exists() { Some(checkpoint::load(&ck_path)?) } else { None };
    let fresh = || -> Result<Model> { init(&ModelSpec::parse(&s.model)?) };
    if ck.is_none() && !st_path.exists() {
        eprintln!("note: {} holds no committed checkpoint yet; starting the run from step 0", out.display());
        return Ok(Start { model: fresh()?, step: 0, aux: Vec::new(), state: None, standardize: None });
    }
    let map = ck.as_ref().map(|c| c.standardize.clone());
    match exact(&st_path, ck.as_ref(), fresh) {
        Err(e @ CliError::ResumeState { .. }) if ck.is_some() => {
            tolerate(e, inexact)?;
            let c = ck.expect("checked above");
            Ok(Start { model: c.model, step: c.step, aux: c.aux, state: None, standardize: map })
        }
        other => other.map(|s| Start { standardize: map, ..s }),
    }
}

/// The exact resume point, or why there is none.
fn exact(st_path: &Path, ck: Option<&Checkpoint>, fresh: impl Fn() -> Result<Model>) -> Result<Start> {
    let err = |reason: String| CliError::ResumeState { path: st_path.to_path_buf(), reason };
    if !st_path.exists() {
        return Err(err("the file is missing (a run written by an older ebm, or a deleted file)".into()));
    }
    let st = state::load(st_path)?;
    let behind = |c: &Checkpoint| {
        err(format!(
            "it is the state after {} steps but the checkpoint is after {} (the files are not of one commit)",
            st.step, c.step
        ))
    };
    match (&st.params, ck) {
        (Some(_), Some(c)) if st.step < c.step => Err(behind(c)),
        (Some(p), _) => {
            let mut model = match ck {
                Some(c) => c.model.clone(),
                None => fresh()?,
            };
            let theta: Vec<f32> = p.iter().map(|&v| v as f32).collect();
            let n = model.energy().num_params();
            if theta.len() != n {
                return Err(err(format!("its `model.params` has {} values but the model has {n}", theta.len())));
            }
            model.energy_mut().set_params(&theta)?;
            let aux = ck.map(|c| c.aux.clone()).unwrap_or_default();
            Ok(Start { model, step: st.step, aux, state: Some(st), standardize: None })
        }
        (None, Some(c)) if st.step != c.step => Err(behind(c)),
        (None, Some(c)) => {
            Ok(Start { model: c.model.clone(), step: c.step, aux: c.aux.clone(), state: Some(st), standardize: None })
        }
        (None, None) => Err(err("it holds no θ (an older ebm's file) and model.safetensors is missing".into())),
    }
}
