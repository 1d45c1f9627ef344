//! Atomic file replacement: a reader (or a crash) sees either the old file
//! or the new one, never a partial write.
//!
//! [`write_atomic`] writes the bytes to a temporary file in the target's
//! directory (`.NAME.tmp-PID`), `fsync`s it, renames it over the target
//! (atomic on POSIX file systems within one directory) and `fsync`s the
//! directory so the rename itself is durable.
//!
//! # Test hook
//!
//! With `EBM_DEBUG_PAUSE_WRITE=NAME:K` in the environment, the K-th atomic
//! write (1-based, counted per process) of a file called NAME stops after
//! half of the bytes, syncs them, prints
//! `EBM_DEBUG: paused mid-write of PATH` on stderr and sleeps, so that a test
//! can `SIGKILL` the process in the middle of a checkpoint write.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static WRITES: AtomicUsize = AtomicUsize::new(0);

/// The temporary file next to `path` used while writing it.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn pause_requested(path: &Path) -> bool {
    let Ok(spec) = std::env::var("EBM_DEBUG_PAUSE_WRITE") else { return false };
    let Some((name, k)) = spec.rsplit_once(':') else { return false };
    if path.file_name().and_then(|n| n.to_str()) != Some(name) {
        return false;
    }
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    k.parse::<usize>().is_ok_and(|k| k == n)
}

/// Replaces `path` with `bytes` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        if pause_requested(path) {
            f.write_all(&bytes[..bytes.len() / 2])?;
            f.sync_all()?;
            eprintln!("EBM_DEBUG: paused mid-write of {}", tmp.display());
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(path);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `fsync` of the directory holding `path`, so a rename survives a power
/// loss. Best effort: some platforms cannot open a directory for syncing,
/// and the rename is already atomic without it.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Removes temporary files left in `dir` by killed runs
/// (`.NAME.tmp-PID` for a PID that is not this process). Returns how many
/// were removed.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let me = format!(".tmp-{}", std::process::id());
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") && !name.ends_with(&me) && fs::remove_file(e.path()).is_ok()
        {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("ebm-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two!").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two!");
        assert!(!temp_path(&p).exists());
        fs::write(dir.join(".f.bin.tmp-999999999"), b"x").unwrap();
        assert_eq!(remove_stale_temps(&dir), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
