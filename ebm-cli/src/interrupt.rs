//! Ctrl-C (SIGINT) during `ebm train`: the first one asks the run to stop
//! at the end of the current step, write a final checkpoint, mark
//! `metrics.json` `interrupted` and exit with code 130
//! ([`crate::error::EXIT_INTERRUPTED`], the shell's 128 + SIGINT); a second
//! one exits at once with code 130 (the last committed checkpoint stays
//! intact; `metrics.json` then still says `running`).
//!
//! [`install`] registers the handler (only `ebm train` does); [`requested`]
//! is polled between steps. Without [`install`], SIGINT keeps its default
//! action.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Installs the SIGINT handler (idempotent). An error (no signal support)
/// leaves SIGINT's default action, which only loses the graceful stop.
pub fn install() -> std::io::Result<()> {
    if FLAG.get().is_some() {
        return Ok(());
    }
    let flag = FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    #[cfg(unix)]
    {
        use signal_hook::consts::SIGINT;
        // Registered first, so it sees the flag before the second handler
        // sets it: exit only on the second SIGINT.
        signal_hook::flag::register_conditional_shutdown(SIGINT, crate::error::EXIT_INTERRUPTED, Arc::clone(flag))?;
        signal_hook::flag::register(SIGINT, Arc::clone(flag))?;
    }
    Ok(())
}

/// Whether a SIGINT arrived since [`install`].
pub fn requested() -> bool {
    FLAG.get().is_some_and(|f| f.load(Ordering::SeqCst))
}
