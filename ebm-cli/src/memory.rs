//! Sizes a user asks for (`--n-data`, `--n`, `pcd_buffer`, `plot_samples`)
//! are checked against the memory available *before* anything is
//! allocated, so an absurd size is a typed [`CliError::TooLarge`] that says
//! how much memory it would need, not an allocation abort.
//!
//! The need is an estimate of the peak of the buffers that size creates
//! (documented where it is computed); the available memory is
//! `MemAvailable` of `/proc/meminfo` plus free swap (Linux). Where that is
//! unknown, only sizes beyond the address space (`isize::MAX` bytes) are
//! refused.

use crate::error::{CliError, Result};

/// `MemAvailable + SwapFree` in bytes, when the platform says.
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb.saturating_mul(1024))
    };
    Some(field("MemAvailable:")?.saturating_add(field("SwapFree:").unwrap_or(0)))
}

/// A byte count for people: `1.5 GB` (powers of 1000).
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Fails with [`CliError::TooLarge`] when `bytes` exceed what is available.
/// `what` names the request (`--n-data 1000000000000`), `how` the estimate.
pub fn ensure(what: &str, how: &str, bytes: u128) -> Result<()> {
    let avail = available();
    let limit = avail.map_or(isize::MAX as u128, |a| a as u128);
    if bytes <= limit {
        return Ok(());
    }
    Err(CliError::TooLarge {
        what: what.to_string(),
        needed: human(bytes),
        how: how.to_string(),
        available: avail.map_or_else(|| "the address space".to_string(), |a| human(a as u128)),
    })
}

/// `a · b · c` bytes without overflow.
pub fn product(factors: &[usize]) -> u128 {
    factors.iter().fold(1u128, |p, &f| p.saturating_mul(f as u128))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_sizes_are_refused_and_small_ones_pass() {
        assert!(ensure("tiny", "", 1024).is_ok());
        let e = ensure("--n 10^12", "n × 48 bytes", product(&[1_000_000_000_000, 48])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("--n 10^12") && msg.contains("48.0 TB") && msg.contains("n × 48 bytes"), "{msg}");
        assert_eq!(human(999), "999 bytes");
        assert_eq!(human(1_500_000_000), "1.5 GB");
        assert_eq!(product(&[usize::MAX, usize::MAX, 4]), u128::MAX);
    }
}
