//! Reading and writing NumPy `.npy` files (format versions 1.0, 2.0, 3.0).
//!
//! Read: 1-D or 2-D arrays of `f4` or `f8`, little- or big-endian, C or
//! Fortran order, returned row-major in f32 (a 1-D array of n values is read
//! as n rows of one column). Written: little-endian `<f4`, C order, version
//! 1.0, any shape (`energy.npy` is 1-D, samples are 2-D).
//!
//! The layout is <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>:
//! the magic `\x93NUMPY`, two version bytes, a little-endian header length
//! (u16 for 1.0, u32 after), an ASCII Python-dict header padded with spaces
//! to a multiple of 64 bytes and ending in `\n`, then the data.

use crate::error::DataError;
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// A 2-D array read from a `.npy` file: `rows × cols`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Array2 {
    /// The values, row-major.
    pub data: Vec<f32>,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Npy { path: path.to_path_buf(), reason: reason.into() }
}

/// The value of `'key':` in a Python dict literal (the text up to the next
/// top-level comma or closing brace).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat_a = format!("'{key}'");
    let pat_b = format!("\"{key}\"");
    let start =
        header.find(&pat_a).map(|i| i + pat_a.len()).or_else(|| header.find(&pat_b).map(|i| i + pat_b.len()))?;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

/// Parses a `.npy` file's bytes (see the module docs).
///
/// Errors: [`DataError::Npy`] for a bad magic, header or dtype, a shape that
/// is not 1-D or 2-D, or a data section of the wrong size;
/// [`DataError::Empty`] for zero rows or columns; [`DataError::NonFiniteNpy`]
/// at the first NaN or infinity.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Array2, DataError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(path, "missing the \\x93NUMPY magic"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(path, "truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12usize)
        }
        v => return Err(bad(path, format!("unsupported format version {v}.{}", bytes[7]))),
    };
    let hend = hstart.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(path, "truncated header"))?;
    let header = std::str::from_utf8(&bytes[hstart..hend]).map_err(|_| bad(path, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad(path, "header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let (big, width) = match descr {
        "<f4" | "|f4" | "=f4" | "f4" => (false, 4),
        ">f4" => (true, 4),
        "<f8" | "|f8" | "=f8" | "f8" => (false, 8),
        ">f8" => (true, 8),
        other => {
            return Err(bad(
                path,
                format!(
                    "dtype {other:?} is not supported (save float32 or float64: `np.save(path, x.astype(np.float32))`)"
                ),
            ))
        }
    };
    let fortran = match dict_value(header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        _ => return Err(bad(path, "header has no valid 'fortran_order'")),
    };
    let shape_txt = dict_value(header, "shape").ok_or_else(|| bad(path, "header has no 'shape'"))?;
    let inner = shape_txt
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad(path, format!("bad shape {shape_txt}")))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(path, format!("bad shape {shape_txt}")))?;
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        s => return Err(bad(path, format!("expected a 1-D or 2-D array (samples × coordinates), got shape {s:?}"))),
    };
    if rows == 0 || cols == 0 {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    let count = rows.checked_mul(cols).ok_or_else(|| bad(path, "shape overflows"))?;
    let body = &bytes[hend..];
    if count.checked_mul(width) != Some(body.len()) {
        return Err(bad(
            path,
            format!("shape {shape:?} needs {} data bytes, the file has {}", count.saturating_mul(width), body.len()),
        ));
    }
    let mut vals: Vec<f64> = Vec::with_capacity(count);
    for c in body.chunks_exact(width) {
        let v = if width == 4 {
            let a = [c[0], c[1], c[2], c[3]];
            (if big { f32::from_be_bytes(a) } else { f32::from_le_bytes(a) }) as f64
        } else {
            let a = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
            if big {
                f64::from_be_bytes(a)
            } else {
                f64::from_le_bytes(a)
            }
        };
        vals.push(v);
    }
    let mut data = vec![0f32; count];
    for r in 0..rows {
        for c in 0..cols {
            let v = if fortran { vals[c * rows + r] } else { vals[r * cols + c] };
            let f = v as f32;
            if !f.is_finite() {
                return Err(DataError::NonFiniteNpy { path: path.to_path_buf(), row: r, column: c, value: v });
            }
            data[r * cols + c] = f;
        }
    }
    Ok(Array2 { data, rows, cols })
}

/// Reads a `.npy` file (see [`parse`]).
pub fn read(path: &Path) -> Result<Array2, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    parse(path, &bytes)
}

/// The bytes of a little-endian float32, C-order `.npy` file of `shape`.
///
/// # Panics
/// If `data.len()` is not the product of `shape` (an internal invariant).
pub fn to_bytes(data: &[f32], shape: &[usize]) -> Vec<u8> {
    assert_eq!(data.len(), shape.iter().product::<usize>(), "npy: data does not match shape");
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        s => format!("({})", s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = to_bytes(&x, &[3, 2]);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let a = parse(Path::new("t.npy"), &b).unwrap();
        assert_eq!((a.rows, a.cols), (3, 2));
        assert_eq!(a.data, x);
        let a1 = parse(Path::new("t.npy"), &to_bytes(&x[..3], &[3])).unwrap();
        assert_eq!((a1.rows, a1.cols), (3, 1));
    }

    #[test]
    fn fortran_f64_big_endian() {
        // 2×3 array [[1,2,3],[4,5,6]] stored column-major as >f8.
        let mut h = "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for v in [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let a = parse(Path::new("f.npy"), &b).unwrap();
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn errors_are_typed() {
        let p = Path::new("x.npy");
        assert!(matches!(parse(p, b"hello"), Err(DataError::Npy { .. })));
        let mut b = to_bytes(&[1.0, f32::NAN, 3.0, 4.0], &[2, 2]);
        assert!(matches!(parse(p, &b), Err(DataError::NonFiniteNpy { row: 0, column: 1, .. })));
        b.truncate(b.len() - 3);
        assert!(matches!(parse(p, &b), Err(DataError::Npy { .. })));
        assert!(matches!(parse(p, &to_bytes(&[], &[0, 2])), Err(DataError::Empty { .. })));
        assert!(matches!(parse(p, &to_bytes(&[0.0; 8], &[2, 2, 2])), Err(DataError::Npy { .. })));
        let mut i4 = to_bytes(&[1.0], &[1]);
        let at = i4.windows(3).position(|w| w == b"<f4").unwrap();
        i4[at + 1] = b'i';
        assert!(matches!(parse(p, &i4), Err(DataError::Npy { .. })));
    }
}
