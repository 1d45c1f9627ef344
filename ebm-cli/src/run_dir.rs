//! What makes a directory a training run's, so that no command replaces a
//! run's files by accident: `ebm train --out` refuses a directory holding
//! any file it would replace unless `--force` or `--resume` is given, and
//! `ebm eval --out` refuses a training run's directory always (an earlier
//! `ebm eval` output directory is fine: eval replaces its own files).

use std::path::Path;

/// The files only `ebm train` writes: their presence makes a run.
pub const RUN_FILES: [&str; 3] = ["config.toml", crate::state::FILE_NAME, crate::checkpoint::FILE_NAME];

/// The files `ebm train` would replace: the run files and `metrics.json`.
pub const TRAIN_OUTPUTS: [&str; 4] = [RUN_FILES[0], RUN_FILES[1], RUN_FILES[2], "metrics.json"];

/// Those of `names` present in `dir` (empty when `dir` does not exist).
pub fn present(dir: &Path, names: &[&'static str]) -> Vec<&'static str> {
    names.iter().copied().filter(|m| dir.join(m).is_file()).collect()
}
