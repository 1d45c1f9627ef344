//! The training state file `state.safetensors`, written next to
//! `model.safetensors` at every checkpoint so that `ebm train --resume`
//! continues bit for bit (see [`crate::train`], "# Resume").
//!
//! # Contents
//!
//! One float64 tensor of shape \[n\] per entry of the trainer's
//! [`Resumable`](ebm_estimators::Resumable) state (`step`, `optimizer.m`,
//! `optimizer.v`, `optimizer.t`, `estimator.buffer` for PCD,
//! `estimator.critic`, `estimator.critic_opt.*` for LSD, `estimator.c` for
//! NCE; see `ebm_estimators::state`), and the metadata `format` =
//! `ebm-train-state`, `ebm.step`, `ebm.estimator`, `ebm.optimizer`.
//!
//! Since the file is the run's commit point it also holds what else a
//! resume needs from the same instant (absent in files of older versions):
//!
//! - `model.params` \[P\]: the model's θ (its f32 values, exactly, as f64);
//! - `history.loss` \[2n\] and `history.eval_loss` \[2m\]: the
//!   (step, loss) pairs of `metrics.json` so far, flattened.
//!
//! # One file, one commit
//!
//! A checkpoint is committed by the atomic rename of this file
//! ([`crate::atomic::write_atomic`]: temp file, fsync, rename, fsync of the
//! directory): θ, the optimizer and estimator state, the step and the loss
//! history change together or not at all. `model.safetensors` and
//! `metrics.json` are written after it and may lag behind by one
//! checkpoint after a kill; `--resume` then takes θ from this file (see
//! [`crate::train`], "# Resume"). Every problem reading it is a
//! [`CliError::ResumeState`].

use crate::error::CliError;
use ebm_estimators::state::State;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// The file name of a run's training state inside its output directory.
pub const FILE_NAME: &str = "state.safetensors";

/// The value of the `format` metadata key.
const FORMAT: &str = "ebm-train-state";

/// A training state with what it was saved for.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    /// Updates done.
    pub step: usize,
    /// The estimator's name (`EstimatorBase::name`).
    pub estimator: String,
    /// The optimizer's name (`Optimizer::name`).
    pub optimizer: String,
    /// The trainer's entries.
    pub entries: State,
    /// The model's θ at `step` (None in files of older versions).
    pub params: Option<Vec<f64>>,
    /// The (step, loss) history (None in files of older versions).
    pub loss: Option<Vec<(usize, f64)>>,
    /// The (step, held-out loss) history (None in files of older versions).
    pub eval_loss: Option<Vec<(usize, f64)>>,
}

/// Entry names of the extra tensors (see the module docs).
const PARAMS: &str = "model.params";
const LOSS: &str = "history.loss";
const EVAL_LOSS: &str = "history.eval_loss";

fn flatten(pairs: &[(usize, f64)]) -> Vec<f64> {
    pairs.iter().flat_map(|&(t, l)| [t as f64, l]).collect()
}

fn pairs(name: &str, v: &[f64]) -> Result<Vec<(usize, f64)>, String> {
    if !v.len().is_multiple_of(2) {
        return Err(format!("tensor `{name}` has odd length {}; expected (step, loss) pairs", v.len()));
    }
    v.chunks_exact(2)
        .map(|c| match c[0] {
            t if t >= 0.0 && t.fract() == 0.0 && t < 2f64.powi(53) => Ok((t as usize, c[1])),
            t => Err(format!("tensor `{name}` has step {t}, not a count")),
        })
        .collect()
}

impl TrainState {
    /// The trainer's entries followed by the extra tensors.
    fn all_entries(&self) -> State {
        let mut all = self.entries.clone();
        let extra = [
            (PARAMS, self.params.clone()),
            (LOSS, self.loss.as_deref().map(flatten)),
            (EVAL_LOSS, self.eval_loss.as_deref().map(flatten)),
        ];
        all.extend(extra.into_iter().filter_map(|(n, v)| v.map(|v| (n.to_string(), v))));
        all
    }
}

/// The safetensors bytes of a state.
pub fn to_bytes(s: &TrainState) -> Vec<u8> {
    let meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("ebm.step", s.step.to_string()),
        ("ebm.estimator", s.estimator.clone()),
        ("ebm.optimizer", s.optimizer.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let entries = s.all_entries();
    let bytes: Vec<Vec<u8>> = entries.iter().map(|(_, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
        .iter()
        .zip(&bytes)
        .map(|((name, v), b)| {
            (
                name.clone(),
                safetensors::tensor::TensorView::new(Dtype::F64, vec![v.len()], b).expect("shape matches the data"),
            )
        })
        .collect();
    safetensors::serialize(views, Some(meta)).expect("a state serialises")
}

/// Writes a state to `path` atomically.
pub fn save(path: &Path, s: &TrainState) -> Result<(), CliError> {
    crate::atomic::write_atomic(path, &to_bytes(s))
        .map_err(|source| CliError::Output { path: path.to_path_buf(), source })
}

/// Reads a state file.
pub fn load(path: &Path) -> Result<TrainState, CliError> {
    let err = |reason: String| CliError::ResumeState { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    from_bytes(&bytes).map_err(err)
}

/// Parses state bytes (the error is a reason, without the path).
pub fn from_bytes(bytes: &[u8]) -> Result<TrainState, String> {
    let bad = |e: safetensors::SafeTensorError| format!("not a valid safetensors file: {e}");
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(bad)?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(format!("not an ebm training state (metadata `format` is not `{FORMAT}`)"));
    }
    let field = |k: &str| meta.get(k).cloned().ok_or_else(|| format!("missing metadata `{k}`"));
    let step = field("ebm.step")?.parse::<usize>().map_err(|e| format!("metadata `ebm.step`: {e}"))?;
    let (estimator, optimizer) = (field("ebm.estimator")?, field("ebm.optimizer")?);
    let st = SafeTensors::deserialize(bytes).map_err(bad)?;
    let mut entries: State = Vec::new();
    let (mut params, mut loss, mut eval_loss) = (None, None, None);
    for (name, t) in st.tensors() {
        if t.dtype() != Dtype::F64 || t.shape().len() != 1 {
            return Err(format!("tensor `{name}` is {:?} {:?}; expected a float64 vector", t.dtype(), t.shape()));
        }
        let v: Vec<f64> =
            t.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        match name.as_str() {
            PARAMS => params = Some(v),
            LOSS => loss = Some(pairs(&name, &v)?),
            EVAL_LOSS => eval_loss = Some(pairs(&name, &v)?),
            _ => entries.push((name, v)),
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(TrainState { step, estimator, optimizer, entries, params, loss, eval_loss })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let s = TrainState {
            step: 7,
            estimator: "pcd".into(),
            optimizer: "adam".into(),
            entries: vec![("a".into(), vec![]), ("b".into(), vec![1.5, -0.25, 1e-300])],
            params: None,
            loss: None,
            eval_loss: None,
        };
        assert_eq!(from_bytes(&to_bytes(&s)).unwrap(), s);
        let full = TrainState {
            params: Some(vec![0.1f32 as f64, -3.0]),
            loss: Some(vec![(0, 1.0), (1, -0.5)]),
            eval_loss: Some(vec![]),
            ..s.clone()
        };
        assert_eq!(from_bytes(&to_bytes(&full)).unwrap(), full);
        let mut odd = TrainState { loss: None, ..full };
        assert!(from_bytes(&to_bytes(&odd)).unwrap().loss.is_none());
        odd.entries.push((LOSS.into(), vec![1.0, 2.0, 3.0]));
        assert!(from_bytes(&to_bytes(&odd)).unwrap_err().contains("odd length"));
        let b = to_bytes(&s);
        assert!(from_bytes(&b[..b.len() / 2]).is_err());
        assert!(from_bytes(b"garbage").is_err());
    }
}
