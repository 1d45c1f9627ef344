//! How the bench binaries stop on an error: `tool: message` on stderr and
//! an exit code.

use std::fmt::Display;

/// The value of `r`, or prints `tool: error` and exits with `code`.
pub fn or_exit<T, E: Display>(tool: &str, code: i32, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("{tool}: {e}");
        std::process::exit(code)
    })
}
