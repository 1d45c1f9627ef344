//! Numeric CSV files: one sample per line, cells separated by commas
//! (spaces around a cell are ignored).
//!
//! - The first non-blank line is a header when *none* of its cells parses as
//!   a number; otherwise it is the first data row. A header with some
//!   numeric cells is therefore reported as a non-numeric cell.
//! - Blank lines and lines starting with `#` are skipped.
//! - Every data row must have as many cells as the first one.
//! - `nan`, `inf` and friends parse, and are refused as non-finite.
//!
//! Errors name the file and the 1-based line and column, as a text editor
//! shows them.

use crate::error::DataError;
use crate::npy::Array2;
use std::path::Path;

/// Parses CSV text (see the module docs) into a row-major array.
pub fn parse(path: &Path, text: &str) -> Result<Array2, DataError> {
    let mut data = Vec::new();
    let mut cols: Option<usize> = None;
    let mut rows = 0usize;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if first {
            first = false;
            if cells.iter().all(|c| c.parse::<f64>().is_err()) {
                continue; // header
            }
        }
        let expected = *cols.get_or_insert(cells.len());
        if cells.len() != expected {
            return Err(DataError::Ragged { path: path.to_path_buf(), line: line_no, expected, got: cells.len() });
        }
        for (j, cell) in cells.iter().enumerate() {
            let v: f64 = cell.parse().map_err(|_| DataError::NonNumeric {
                path: path.to_path_buf(),
                line: line_no,
                column: j + 1,
                cell: cell.to_string(),
            })?;
            let f = v as f32;
            if !f.is_finite() {
                return Err(DataError::NonFiniteCsv {
                    path: path.to_path_buf(),
                    line: line_no,
                    column: j + 1,
                    value: v,
                });
            }
            data.push(f);
        }
        rows += 1;
    }
    match cols {
        Some(c) if rows > 0 => Ok(Array2 { data, rows, cols: c }),
        _ => Err(DataError::Empty { path: path.to_path_buf() }),
    }
}

/// Reads a CSV file (see [`parse`]).
pub fn read(path: &Path) -> Result<Array2, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    parse(path, &text)
}

/// CSV text of a row-major array with `cols` columns, without a header,
/// each value printed with enough digits to read back the same f32.
pub fn to_text(data: &[f32], cols: usize) -> String {
    let mut s = String::with_capacity(data.len() * 12);
    for row in data.chunks(cols.max(1)) {
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push_str(&format!("{v:?}"));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("d.csv")
    }

    #[test]
    fn header_optional_and_round_trip() {
        let a = parse(p(), "x,y\n1,2\n\n3.5, -4e-1\n").unwrap();
        assert_eq!((a.rows, a.cols, a.data.clone()), (2, 2, vec![1.0, 2.0, 3.5, -0.4]));
        let b = parse(p(), "1,2\n3,4\n").unwrap();
        assert_eq!(b.rows, 2);
        let t = to_text(&[0.1, 1e-7, -3.0, 12345.678], 2);
        assert_eq!(parse(p(), &t).unwrap().data, vec![0.1, 1e-7, -3.0, 12345.678]);
    }

    #[test]
    fn errors_name_line_and_column() {
        match parse(p(), "a,b\n1,2\n3\n") {
            Err(DataError::Ragged { line: 3, expected: 2, got: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        match parse(p(), "1,2\n3,x7\n") {
            Err(DataError::NonNumeric { line: 2, column: 2, cell, .. }) => assert_eq!(cell, "x7"),
            other => panic!("{other:?}"),
        }
        match parse(p(), "1,2\nnan,4\n") {
            Err(DataError::NonFiniteCsv { line: 2, column: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        match parse(p(), "1,inf\n") {
            Err(DataError::NonFiniteCsv { line: 1, column: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(p(), ""), Err(DataError::Empty { .. })));
        assert!(matches!(parse(p(), "x,y\n"), Err(DataError::Empty { .. })));
        let e = parse(p(), "1,2\n3,x7\n").unwrap_err().to_string();
        assert!(e.contains("d.csv") && e.contains("line 2") && e.contains("column 2"), "{e}");
    }
}
