//! NumPy arrays in and out: the accepted dtypes, borrowed (no-copy) views
//! of C-contiguous batches, and the messages for everything else.

use crate::error::value;
use ebm_core::Real;
use numpy::{Element, PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The element types the bindings compute in: f32 and f64.
pub trait Float: Real + Element {
    /// NumPy's name of the dtype.
    const DTYPE: &'static str;
}
impl Float for f32 {
    const DTYPE: &'static str = "float32";
}
impl Float for f64 {
    const DTYPE: &'static str = "float64";
}

/// Runs `$body` with `$a` bound to `$x` as a `PyReadonlyArray2<$T>`, with
/// `$T` the array's dtype (f64 or f32); any other array is a `ValueError`
/// naming `$what`.
#[macro_export]
macro_rules! by_dtype {
    ($x:expr, $what:expr, |$a:ident: $T:ident| $body:expr) => {{
        let x: &pyo3::Bound<'_, pyo3::PyAny> = $x;
        if let Ok($a) = x.extract::<numpy::PyReadonlyArray2<f64>>() {
            type $T = f64;
            $body
        } else if let Ok($a) = x.extract::<numpy::PyReadonlyArray2<f32>>() {
            type $T = f32;
            $body
        } else {
            Err($crate::arrays::dtype_error($what, x))
        }
    }};
}

/// The `ValueError` for an argument that is not a 2-D float32/float64 array.
pub fn dtype_error(what: &str, x: &Bound<'_, PyAny>) -> PyErr {
    let got = match (x.getattr("dtype"), x.getattr("ndim")) {
        (Ok(dt), Ok(nd)) => format!("an array of dtype {dt} with {nd} dimension(s)"),
        _ => format!("an object of type {}", x.get_type().name().map(|n| n.to_string()).unwrap_or_default()),
    };
    value(format!("`{what}`: expected a float32 or float64 numpy array of shape (B, d), got {got}"))
}

/// The rows of a C-contiguous (B, `dim`) array, borrowed without a copy,
/// and B.
pub fn rows<'a, T: Float>(what: &str, a: &'a PyReadonlyArray2<'_, T>, dim: usize) -> PyResult<(&'a [T], usize)> {
    let [b, d] = [a.shape()[0], a.shape()[1]];
    if d != dim {
        return Err(value(format!("`{what}` has {d} columns but the model has dimension {dim}")));
    }
    // `as_slice` also accepts a Fortran-ordered array, whose flat order is
    // not row-major: check C order first.
    let not_c = || value(format!("`{what}` must be C-contiguous (numpy.ascontiguousarray gives a copy that is)"));
    if !a.is_c_contiguous() {
        return Err(not_c());
    }
    let s = a.as_slice().map_err(|_| not_c())?;
    Ok((s, b))
}

/// How many rows a second batch argument has per row of `x`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PerRow {
    /// Exactly one: the shape of `x`.
    One,
    /// M ≥ 1 consecutive rows per row of `x` (M·B rows, sample-major).
    Some,
}

/// A second batch argument (`target`, `v`) of the same dtype and width as
/// `x` and B rows (or M·B, [`PerRow::Some`]), borrowed without a copy.
pub fn paired<'py, T: Float>(
    what: &str,
    obj: &Bound<'py, PyAny>,
    b: usize,
    dim: usize,
    per_row: PerRow,
) -> PyResult<PyReadonlyArray2<'py, T>> {
    let a = obj.extract::<PyReadonlyArray2<'py, T>>().map_err(|_| {
        value(format!("`{what}`: expected a 2-D array of dtype {} (the dtype of `x`), got {}", T::DTYPE, describe(obj)))
    })?;
    let [n, d] = [a.shape()[0], a.shape()[1]];
    let rows_ok = match per_row {
        PerRow::One => n == b,
        PerRow::Some => n >= b && b > 0 && n.is_multiple_of(b),
    };
    if d != dim || !rows_ok {
        let or_more = if per_row == PerRow::Some {
            format!(", or (M·{b}, {dim}) for M directions per sample")
        } else {
            String::new()
        };
        return Err(value(format!("`{what}` has shape ({n}, {d}), expected ({b}, {dim}) like `x`{or_more}")));
    }
    Ok(a)
}

fn describe(x: &Bound<'_, PyAny>) -> String {
    match (x.getattr("dtype"), x.getattr("shape")) {
        (Ok(dt), Ok(sh)) => format!("dtype {dt}, shape {sh}"),
        _ => x.get_type().name().map(|n| n.to_string()).unwrap_or_default(),
    }
}

/// A vector as a 1-D array.
pub fn vec1<T: Float>(py: Python<'_>, v: Vec<T>) -> Bound<'_, PyAny> {
    PyArray1::from_vec(py, v).into_any()
}

/// A row-major vector as a (B, d) array.
pub fn vec2<T: Float>(py: Python<'_>, v: Vec<T>, b: usize, d: usize) -> PyResult<Bound<'_, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape([b, d])?.into_any())
}
