//! The native part of the Python package `ebm` (module `ebm._ebm`): ebm's
//! models on NumPy arrays, with the GIL released while they compute.
//!
//! The pure-Python part (`python/ebm`) builds on it: `ebm.Mlp.from_torch`,
//! `ebm.load`, `ebm.sample`, `ebm.train` and the PyTorch losses of `ebm.torch`.

mod arrays;
mod error;
mod model;
mod ops;
mod train;

use pyo3::prelude::*;

/// ebm's native module.
#[pymodule]
fn _ebm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<model::PyModel>()?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_defaults, m)?)?;
    m.add("TrainingDiverged", m.py().get_type::<error::TrainingDiverged>())?;
    Ok(())
}
