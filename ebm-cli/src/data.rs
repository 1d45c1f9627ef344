//! Data arguments: a built-in toy set name ([`crate::toy`]), `redwine`
//! ([`redwine`]) or a `.npy` / `.csv` file ([`crate::npy`], [`crate::csv`]).

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

    /// Per-coordinate mean and standard deviation (f64, floored at 1e-6).
    pub fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        mean_std(&self.x, self.dim, 1e-6)
    }
}

/// Per-coordinate mean and (population) standard deviation of the rows of
/// `x` (n×d), in f64, each deviation floored at `floor`.
pub fn mean_std(x: &[f32], d: usize, floor: f64) -> (Vec<f64>, Vec<f64>) {
    let n = (x.len() / d).max(1) as f64;
    let mut m = vec![0f64; d];
    for r in x.chunks_exact(d) {
        m.iter_mut().zip(r).for_each(|(mi, &v)| *mi += v as f64 / n);
    }
    let mut s = vec![0f64; d];
    for r in x.chunks_exact(d) {
        s.iter_mut().zip(r).zip(&m).for_each(|((si, &v), mi)| *si += (v as f64 - mi).powi(2) / n);
    }
    (m, s.into_iter().map(|v| v.sqrt().max(floor)).collect())
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
            return Err(DataError::Unknown { name: path.display().to_string(), known: known_names() });
        }
    };
    Ok(Data::from_array(path.display().to_string(), a))
}

/// The names accepted besides files: the toy sets and `redwine`.
pub fn known_names() -> String {
    format!("{}, {REDWINE}", toy::NAMES.join(", "))
}

/// The name of the red-wine data set.
pub const REDWINE: &str = "redwine";

/// The 1599 red wines of Cortez et al. (2009), UCI "Wine Quality", as
/// shipped by `linfa-datasets`: the 11 physico-chemical features (fixed
/// acidity … alcohol, in that order; the quality score is left out), each
/// standardised to mean 0 and standard deviation 1 (the raw columns differ
/// in scale by five orders of magnitude).
pub fn redwine() -> Data {
    let ds = linfa_datasets::winequality();
    let rec = ds.records();
    let (rows, dim) = rec.dim();
    let mut x = vec![0f32; rows * dim];
    for j in 0..dim {
        let col: Vec<f64> = (0..rows).map(|i| rec[[i, j]]).collect();
        let m = col.iter().sum::<f64>() / rows as f64;
        let s = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / rows as f64).sqrt().max(1e-12);
        for i in 0..rows {
            x[i * dim + j] = ((col[i] - m) / s) as f32;
        }
    }
    Data { source: REDWINE.to_string(), x, rows, dim }
}

/// Loads `arg`: a built-in toy set (n samples from `seed`), `redwine` (all
/// 1599 rows) or a file (all rows; `n` is ignored).
pub fn load(arg: &str, n: usize, seed: u64) -> Result<Data, DataError> {
    if is_file(arg) {
        return read_file(Path::new(arg));
    }
    if arg == REDWINE {
        return Ok(redwine());
    }
    if !toy::is_builtin(arg) {
        return Err(DataError::Unknown { name: arg.to_string(), known: known_names() });
    }
    let x = toy::generate(arg, n, seed)?;
    Ok(Data { source: arg.to_string(), rows: n, dim: 2, x })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redwine_is_standardised() {
        let d = load(REDWINE, 10, 0).unwrap();
        assert_eq!((d.rows, d.dim), (1599, 11));
        let (m, s) = d.mean_std();
        assert!(m.iter().all(|v| v.abs() < 1e-5) && s.iter().all(|v| (v - 1.0).abs() < 1e-5), "{m:?} {s:?}");
    }
}
