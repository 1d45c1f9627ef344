//! Data arguments: a built-in toy set name ([`crate::toy`]) or a `.npy` /
//! `.csv` file ([`crate::npy`], [`crate::csv`]).

use crate::error::DataError;
use crate::npy::Array2;
use crate::{csv, npy, toy};
use std::path::Path;

/// A loaded data set: row-major `rows × dim` in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// Where it came from (a file path or a built-in name), for messages.
    pub source: String,
    /// The values, row-major.
    pub x: Vec<f32>,
    /// Samples.
    pub rows: usize,
    /// Coordinates per sample.
    pub dim: usize,
}

impl Data {
    fn from_array(source: String, a: Array2) -> Self {
        Self { source, x: a.data, rows: a.rows, dim: a.cols }
    }

    /// Fails with [`DataError::DimMismatch`] unless the data has `dim`
    /// columns.
    pub fn expect_dim(&self, dim: usize) -> Result<(), DataError> {
        if self.dim != dim {
            return Err(DataError::DimMismatch { what: self.source.clone(), expected: dim, got: self.dim });
        }
        Ok(())
    }

    /// Per-coordinate mean and standard deviation (f64).
    pub fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let n = self.rows as f64;
        let mut m = vec![0f64; d];
        for r in self.x.chunks_exact(d) {
            for (mi, &v) in m.iter_mut().zip(r) {
                *mi += v as f64 / n;
            }
        }
        let mut s = vec![0f64; d];
        for r in self.x.chunks_exact(d) {
            for ((si, &v), mi) in s.iter_mut().zip(r).zip(&m) {
                *si += (v as f64 - mi).powi(2) / n;
            }
        }
        (m, s.into_iter().map(|v| v.sqrt().max(1e-6)).collect())
    }
}

/// Whether `arg` names a file (by its extension) rather than a built-in set.
pub fn is_file(arg: &str) -> bool {
    let l = arg.to_ascii_lowercase();
    l.ends_with(".npy") || l.ends_with(".csv")
}

/// Reads a `.npy` or `.csv` file.
pub fn read_file(path: &Path) -> Result<Data, DataError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let a = match ext.as_deref() {
        Some("npy") => npy::read(path)?,
        Some("csv") => csv::read(path)?,
        _ => {
            return Err(DataError::Unknown { name: path.display().to_string(), known: toy::NAMES.join(", ") });
        }
    };
    Ok(Data::from_array(path.display().to_string(), a))
}

/// Loads `arg`: a built-in name (n samples from `seed`) or a file (all rows;
/// `n` is ignored).
pub fn load(arg: &str, n: usize, seed: u64) -> Result<Data, DataError> {
    if is_file(arg) {
        return read_file(Path::new(arg));
    }
    if !toy::is_builtin(arg) {
        return Err(DataError::Unknown { name: arg.to_string(), known: toy::NAMES.join(", ") });
    }
    let x = toy::generate(arg, n, seed)?;
    Ok(Data { source: arg.to_string(), rows: n, dim: 2, x })
}
