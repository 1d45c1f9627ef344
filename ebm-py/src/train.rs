//! `ebm.train`: the command line's `ebm train` (`ebm_cli::train::run`) with
//! its settings as keyword arguments, and the data either as `ebm train`
//! takes it (a built-in name, a `.npy` / `.csv` path) or as a NumPy array.
//!
//! Settings go through the same serde path as `config.toml`: each one is
//! checked alone against the defaults first, so an error names the setting
//! (`` `steps`: invalid type: string "x", expected usize ``), then together
//! by [`TrainSettings::validate`].
//!
//! An array is checked (2-D, float32 or float64, every value finite and
//! within float32's range: ebm trains in float32), then written to
//! `OUT/data.npy` (float32), which `config.toml` names, so that
//! `ebm train --resume OUT` can continue the run. A file called
//! `data.npy` already in `OUT` is never replaced unless `OUT` holds a run
//! and `force` is set. A start that fails before the run writes anything
//! removes that file again (and `OUT`, if it made it).

use crate::arrays::Float;
use crate::by_dtype;
use crate::error::{cli, value};
use crate::model::{before_gpu, PyModel};
use ebm_cli::config::TrainSettings;
use ebm_cli::run_dir::{self, TRAIN_OUTPUTS};
use ebm_cli::train::{metrics_json, Request};
use ebm_cli::{atomic, checkpoint, data, npy, CliError};
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The file an array given as `data` is written to, in the run directory.
const DATA_FILE: &str = "data.npy";

fn defaults() -> Map<String, Value> {
    match serde_json::to_value(TrainSettings::default()) {
        Ok(Value::Object(m)) => m,
        other => panic!("the settings serialise to a JSON object, got {other:?}"),
    }
}

/// The settings from (name, JSON value) pairs over the defaults.
fn settings(pairs: &[(String, String)]) -> PyResult<TrainSettings> {
    let base = defaults();
    let mut all = base.clone();
    for (k, text) in pairs {
        if !base.contains_key(k) {
            let known = base.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            return Err(value(format!("unknown setting `{k}`; the settings of `ebm train` are: {known}")));
        }
        let named = |e: serde_json::Error| value(format!("`{k}`: {e}"));
        let v: Value = serde_json::from_str(text).map_err(named)?;
        let mut one = base.clone();
        one.insert(k.clone(), v.clone());
        serde_json::from_value::<TrainSettings>(Value::Object(one)).map_err(named)?;
        all.insert(k.clone(), v);
    }
    let s: TrainSettings = serde_json::from_value(Value::Object(all)).map_err(|e| value(e.to_string()))?;
    s.validate().map_err(cli)?;
    Ok(s)
}

/// The settings' defaults as a JSON object (`ebm.train_defaults()`).
#[pyfunction]
pub fn train_defaults() -> String {
    Value::Object(defaults()).to_string()
}

/// The rows of a (N, d) array in float32, row-major; a value that is not
/// finite in float32 is a `ValueError` naming its row and column.
fn rows_f32<T: Float>(a: &PyReadonlyArray2<'_, T>) -> PyResult<(Vec<f32>, usize, usize)> {
    let [n, d] = [a.shape()[0], a.shape()[1]];
    if n == 0 || d == 0 {
        return Err(value(format!("`data` has shape ({n}, {d}): expected at least one row and one column")));
    }
    let mut x = Vec::with_capacity(n * d);
    for ((r, c), v) in a.as_array().indexed_iter() {
        let v64 = v.to_f64().unwrap_or(f64::NAN);
        let f = v64 as f32;
        if !f.is_finite() {
            let what = if v64.is_finite() { "a value beyond float32's range" } else { "a non-finite value" };
            return Err(value(format!("`data` has {what} ({v64:e}) at row {r}, column {c}")));
        }
        x.push(f);
    }
    Ok((x, n, d))
}

/// What `ebm.train` wrote before the run started, to undo if it fails to.
struct Written {
    data: Option<PathBuf>,
    made_out: bool,
}

impl Written {
    /// Removes what was written, unless the run wrote its own files.
    fn undo(&self, out: &Path) {
        if !run_dir::present(out, &TRAIN_OUTPUTS).is_empty() {
            return;
        }
        if let Some(p) = &self.data {
            let _ = std::fs::remove_file(p);
        }
        if self.made_out {
            // Only an empty directory goes.
            let _ = std::fs::remove_dir(out);
        }
    }
}

/// Refuses `out` when it holds a run (unless `force`), or a `data.npy` this
/// call would replace that is not a run's.
fn check_out(out: &Path, force: bool, array: bool) -> PyResult<()> {
    let run = run_dir::present(out, &TRAIN_OUTPUTS);
    if !run.is_empty() && !force {
        return Err(cli(CliError::RunExists {
            out: out.to_path_buf(),
            files: run.join(", "),
            remedy: "pass force=True to replace it, or choose another `out` (`ebm train --resume DIR` continues it)",
        }));
    }
    let file = out.join(DATA_FILE);
    if array && file.exists() && run.is_empty() {
        return Err(value(format!(
            "`out`: {} exists and is not part of a training run; ebm.train writes the `data` array there: choose another `out`",
            file.display()
        )));
    }
    Ok(())
}

/// Writes the array `x` (`n` × `d`) to `out/data.npy`.
fn write_data(out: &Path, x: &[f32], n: usize, d: usize, w: &mut Written) -> PyResult<PathBuf> {
    let io = |e: std::io::Error| cli(CliError::Output { path: out.to_path_buf(), source: e });
    w.made_out = !out.exists();
    std::fs::create_dir_all(out).map_err(io)?;
    let file = out.join(DATA_FILE);
    atomic::write_atomic(&file, &npy::to_bytes(x, &[n, d])).map_err(io)?;
    w.data = Some(file.clone());
    Ok(std::path::absolute(&file).unwrap_or(file))
}

/// `ebm train` with `settings` ((name, JSON value) pairs), writing to
/// `out`; `data`, when given, is the training array (it replaces the
/// `data` setting). Returns the trained model and `metrics.json`'s text.
#[pyfunction]
#[pyo3(signature = (settings, out, data=None, force=false, quiet=true))]
pub fn train(
    py: Python<'_>,
    settings: Vec<(String, String)>,
    out: PathBuf,
    data: Option<&Bound<'_, PyAny>>,
    force: bool,
    quiet: bool,
) -> PyResult<(PyModel, String)> {
    let mut s = self::settings(&settings)?;
    let array = match data {
        Some(a) => Some(by_dtype!(a, "data", |a: T| rows_f32::<T>(&a))?),
        None => None,
    };
    check_out(&out, force, array.is_some())?;
    let mut written = Written { data: None, made_out: false };
    if let Some((x, n, d)) = &array {
        s.data = write_data(&out, x, *n, *d, &mut written)?.display().to_string();
    } else if data::is_file(&s.data) {
        // As the CLI: an absolute path, so that `--resume` works from anywhere.
        if let Ok(p) = std::fs::canonicalize(&s.data) {
            s.data = p.display().to_string();
        }
    }
    if s.backend != ebm_cli::backend::Backend::Cpu {
        before_gpu(py);
    }
    let req = Request { settings: s, out: out.clone(), resume: false, inexact_resume: false, force, quiet };
    let result = py.detach(|| ebm_cli::train::run(req));
    let metrics = match result {
        Ok(m) => m,
        Err(e) => {
            written.undo(&out);
            return Err(cli(e));
        }
    };
    // ebm-cli polls its own SIGINT flag, which only the `ebm` command
    // installs: a Ctrl-C during the run waits in Python's signal flag until
    // here, when the run has finished.
    if let Err(e) = py.check_signals() {
        if e.is_instance_of::<PyKeyboardInterrupt>(py) {
            return Err(PyKeyboardInterrupt::new_err(format!(
                "ebm.train cannot stop a run early: it finished ({} steps), and its outputs are in {}",
                metrics.steps_done,
                out.display()
            )));
        }
        return Err(e);
    }
    let path = out.join(checkpoint::FILE_NAME);
    let ck = py.detach(|| checkpoint::load(&path)).map_err(crate::error::checkpoint)?;
    Ok((PyModel::from_checkpoint(ck), metrics_json(&metrics)))
}
