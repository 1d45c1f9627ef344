//! What makes a directory a training run's, so that no command replaces a
//! run's files by accident: `ebm train --out` refuses one unless `--force`
//! or `--resume` is given, and `ebm eval --out` refuses one always.

use std::path::Path;

/// The files `ebm train` writes that mark a directory as a run.
pub const MARKERS: [&str; 4] = ["config.toml", crate::checkpoint::FILE_NAME, crate::state::FILE_NAME, "metrics.json"];

/// The run files present in `dir` (empty when it is not a run, or does
/// not exist).
pub fn run_files(dir: &Path) -> Vec<&'static str> {
    MARKERS.iter().copied().filter(|m| dir.join(m).is_file()).collect()
}
