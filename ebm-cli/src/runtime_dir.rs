//! Keeps Mesa's `MESA: error: ZINK: ... XDG_RUNTIME_DIR is invalid or not
//! set in the environment` noise off the terminal.
//!
//! Mesa's Vulkan loader stack (lavapipe and the window-system code linked
//! with it) prints that line whenever `XDG_RUNTIME_DIR` is unset or not a
//! directory, although `ebm` never opens a window. [`ensure`] runs first in
//! `main`, before any thread or adapter exists: when the variable is unset
//! or does not name a directory, it points it at a private directory
//! `$TMPDIR/ebm-runtime-UID` (created with mode 0700, used only if it is
//! owned by this user and not readable by others), which is what the
//! specification asks of the variable. A valid value is left alone.

use std::path::{Path, PathBuf};

/// Sets `XDG_RUNTIME_DIR` as the module docs say; does nothing off Unix.
pub fn ensure() {
    #[cfg(unix)]
    if !std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| Path::new(&v).is_dir()) {
        if let Some(dir) = private_dir() {
            // Single-threaded here: `main` calls this before anything else.
            std::env::set_var("XDG_RUNTIME_DIR", dir);
        }
    }
}

/// `$TMPDIR/ebm-runtime-UID`, created if needed; None unless it is a
/// directory of this user with mode 0700.
#[cfg(unix)]
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("ebm-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let m = std::fs::symlink_metadata(&dir).ok()?;
    (m.is_dir() && m.uid() == uid && m.mode() & 0o777 == 0o700).then_some(dir)
}
