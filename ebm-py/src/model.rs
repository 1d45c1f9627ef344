//! `ebm.Model`: any ebm energy, held in f32 and f64, with its NumPy methods.

use crate::arrays::{paired, rows, vec1, vec2, Float, PerRow};
use crate::by_dtype;
use crate::error::{checkpoint, core, gpu_error, value};
use crate::ops::{self, Dyn};
use ebm_cli::checkpoint::Checkpoint;
use ebm_cli::metrics::to_f64;
use ebm_cli::model::Model as Family;
use ebm_cli::standardize::{Standardize, Standardized};
use ebm_core::{Activation, Mlp, Real};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::path::PathBuf;

/// An energy-based model p(x) = exp(−E(x))/Z of any ebm family.
///
/// On the CPU it computes in the dtype of its input (float32 or float64;
/// both copies of θ hold the same values). A model on the GPU
/// ([`PyModel::to_backend`]) computes there in float32 and refuses float64.
#[pyclass(name = "Model", module = "ebm", frozen)]
pub struct PyModel {
    f32: Family,
    f64: Box<Dyn<f64>>,
    /// The model on the GPU (ebm's kernels, θ copied to the device) and the
    /// adapter's label.
    gpu: Option<(Box<Dyn<f32>>, String)>,
    /// The standardisation the model was trained under (`ebm train`'s
    /// default): θ is of an energy E_z of z = (x − mean)/scale, and the
    /// methods on x use E_x(x) = E_z(z) + Σ log scale
    /// (`ebm_cli::standardize`).
    standardize: Option<Standardize>,
}

/// Call before opening a GPU adapter. PyTorch's triton and a software
/// Vulkan driver (lavapipe) each carry their own LLVM; loading triton after
/// the driver crashes the interpreter, the other order is fine. So this
/// loads triton (when installed) first; an import error (triton absent) is
/// dropped, not raised.
pub fn before_gpu(py: Python<'_>) {
    let _ = py.import("triton");
}

/// The copy of a model that computes in `Self`.
pub trait Precision: Float {
    /// The model in this precision, where it runs.
    fn of(m: &PyModel) -> PyResult<&Dyn<Self>>;
}

impl Precision for f32 {
    fn of(m: &PyModel) -> PyResult<&Dyn<f32>> {
        Ok(match &m.gpu {
            Some((g, _)) => g.as_ref(),
            None => m.f32.energy(),
        })
    }
}

impl Precision for f64 {
    fn of(m: &PyModel) -> PyResult<&Dyn<f64>> {
        match &m.gpu {
            Some(_) => Err(value("this model is on the GPU, which computes in float32: pass float32 arrays")),
            None => Ok(m.f64.as_ref()),
        }
    }
}

impl PyModel {
    /// A model in both precisions, of raw coordinates.
    pub fn from_f32(f32: Family) -> Self {
        let f64 = to_f64(&f32);
        Self { f32, f64, gpu: None, standardize: None }
    }

    /// The model of a checkpoint, with its standardisation.
    pub fn from_checkpoint(ck: Checkpoint) -> Self {
        Self { standardize: ck.standardize, ..Self::from_f32(ck.model) }
    }

    /// The model and the checked rows of `x` for a θ-gradient loss, which
    /// is of θ's own energy: refused for a standardised model, whose
    /// losses on x would silently be those of E_z at x.
    fn batch_for_loss<'a, T: Precision>(
        &self,
        x: &'a numpy::PyReadonlyArray2<'_, T>,
    ) -> PyResult<(&Dyn<T>, &'a [T], usize)> {
        if self.standardize.is_some() {
            return Err(value(
                "this model was trained on standardised data (model.standardize): its θ is of E_z, \
                 z = (x - mean) / scale; pass z to the loss methods of a model built from θ (ebm.Model.mlp), \
                 or train with standardize=False",
            ));
        }
        self.batch(x)
    }

    /// The model in precision `T` and the checked rows of `x`.
    fn batch<'a, T: Precision>(&self, x: &'a numpy::PyReadonlyArray2<'_, T>) -> PyResult<(&Dyn<T>, &'a [T], usize)> {
        let m = T::of(self)?;
        let (x, b) = rows("x", x, m.dim())?;
        Ok((m, x, b))
    }

    fn eval<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>, out: Out) -> PyResult<Bound<'py, PyAny>> {
        by_dtype!(x, "x", |a: T| {
            let (m, xs, b) = self.batch::<T>(&a)?;
            let d = m.dim();
            let (score, hess) = (out != Out::Energy, out == Out::All);
            let m = Standardized::new(m, self.standardize.as_ref());
            let (e, s, h) = py.detach(|| ops::eval(&m, xs, b, score, hess)).map_err(core)?;
            Ok(match out {
                Out::Energy => vec1(py, e),
                Out::Score => vec2(py, s, b, d)?,
                Out::EnergyScore => PyTuple::new(py, [vec1(py, e), vec2(py, s, b, d)?])?.into_any(),
                Out::All => PyTuple::new(py, [vec1(py, e), vec2(py, s, b, d)?, vec2(py, h, b, d)?])?.into_any(),
            })
        })
    }

    /// A loss of `x` and a second batch of its shape and dtype (`other`:
    /// its name and value), computed by `f` with the GIL released.
    fn paired_loss<'py, T: Precision>(
        &self,
        py: Python<'py>,
        x: &numpy::PyReadonlyArray2<'py, T>,
        (what, other, per_row): (&str, &Bound<'py, PyAny>, PerRow),
        f: ops::PairedLoss<T>,
    ) -> PyResult<(f64, Bound<'py, PyAny>)> {
        let (m, xs, b) = self.batch_for_loss::<T>(x)?;
        let o = paired::<T>(what, other, b, m.dim(), per_row)?;
        let os = rows(what, &o, m.dim())?.0;
        Self::pair(py, py.detach(|| f(m, xs, os, b)))
    }

    /// A loss and its θ-gradient (in the dtype of `x`) as a Python pair.
    fn pair<'py, T: Float>(py: Python<'py>, r: ebm_core::Result<(f64, Vec<T>)>) -> PyResult<(f64, Bound<'py, PyAny>)> {
        let (loss, g) = r.map_err(core)?;
        Ok((loss, vec1(py, g)))
    }
}

/// Which outputs of one evaluation pass a method returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    Energy,
    Score,
    EnergyScore,
    All,
}

#[pymethods]
impl PyModel {
    /// An MLP energy E(x) = w_outᵀσ(a_L) + b_out from its flat parameters
    /// (per layer W row-major (out, in), then b: the order of an
    /// `nn.Sequential`'s `parameters()`).
    #[staticmethod]
    #[pyo3(signature = (dim, hidden, activation, params))]
    fn mlp(dim: usize, hidden: Vec<usize>, activation: &str, params: PyReadonlyArray1<'_, f64>) -> PyResult<Self> {
        let act: Activation =
            activation.parse().map_err(|e: ebm_core::mlp::ParseActivationError| value(e.to_string()))?;
        let p = params.as_slice().map_err(|_| value("`params` must be contiguous"))?;
        if let Some(i) = p.iter().position(|v| !v.is_finite()) {
            return Err(value(format!("`params`: non-finite value {} at index {i}", p[i])));
        }
        let m = Mlp::<f64>::new(dim, &hidden, act, p.to_vec()).map_err(core)?;
        Ok(Self { f32: Family::Mlp(m.cast::<f32>()), f64: Box::new(m), gpu: None, standardize: None })
    }

    /// Reads an ebm safetensors file (any family; a run directory reads its
    /// `model.safetensors`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let path = ebm_cli::checkpoint::resolve(&path);
        let ck = py.detach(|| ebm_cli::checkpoint::load(&path)).map_err(checkpoint)?;
        Ok(Self::from_checkpoint(ck))
    }

    /// This model on `backend`: `"cpu"`, or `"gpu"` (ebm's kernels on the
    /// adapter `EBM_ADAPTER` names, θ copied to the device, float32 only;
    /// an operation the kernels cannot hold for this model is an error,
    /// never a silent CPU run).
    fn to_backend(&self, py: Python<'_>, backend: &str) -> PyResult<Self> {
        let gpu = match backend {
            "cpu" => None,
            "gpu" => {
                before_gpu(py);
                let (m, label) = py
                    .detach(|| ebm_cli::backend::boxed(&self.f32, ebm_cli::backend::Backend::Gpu))
                    .map_err(gpu_error)?;
                Some((m, label.unwrap_or_default()))
            }
            other => return Err(value(format!("`backend`: expected 'cpu' or 'gpu', got {other:?}"))),
        };
        Ok(Self { f32: self.f32.clone(), f64: to_f64(&self.f32), gpu, standardize: self.standardize.clone() })
    }

    /// `"cpu"`, or `"gpu (adapter)"`.
    #[getter]
    fn backend(&self) -> String {
        match &self.gpu {
            Some((_, label)) => format!("gpu ({label})"),
            None => "cpu".into(),
        }
    }

    /// The data dimension d.
    #[getter]
    fn dim(&self) -> usize {
        self.f64.dim()
    }

    /// The family: `mlp`, `gaussian`, `gmm`, `ica`, `rbm` or `formula`.
    #[getter]
    fn family(&self) -> &'static str {
        self.f32.family()
    }

    /// The number of parameters (the length of the flat θ).
    #[getter]
    fn num_params(&self) -> usize {
        self.f64.num_params()
    }

    /// `None` for a model of raw coordinates; for a model trained on
    /// standardised data, `(mean, scale)`: θ is of E_z, z = (x − mean)/scale,
    /// and `energy`, `score`, `energy_score_hess_diag` and sampling are in
    /// data units, E_x(x) = E_z(z) + Σ log scale.
    #[getter]
    fn standardize(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        self.standardize.as_ref().map(|t| (t.mean.clone(), t.scale.clone()))
    }

    /// The flat θ (float64) in the family's documented layout.
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        vec1(py, self.f64.params().to_vec())
    }

    fn __repr__(&self) -> String {
        format!("ebm.Model({}, dim={})", self.f32.describe(), self.dim())
    }

    /// E(xᵦ) for each row of `x` (B, d): shape (B,).
    fn energy<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.eval(py, x, Out::Energy)
    }

    /// The score −∇ₓE(xᵦ): shape (B, d).
    fn score<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.eval(py, x, Out::Score)
    }

    /// (E (B,), score −∇ₓE (B, d)) in one pass.
    fn energy_score<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.eval(py, x, Out::EnergyScore)
    }

    /// (E (B,), score −∇ₓE (B, d), Hessian diagonal ∂²E/∂xᵢ² (B, d)), exact,
    /// in one fused pass.
    fn energy_score_hess_diag<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.eval(py, x, Out::All)
    }

    /// Exact score matching (eq 12): the batch mean of
    /// ½‖∇ₓE‖² − tr ∇ₓ²E and its θ-gradient, in one pass.
    fn exact_sm_loss_grad<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<(f64, Bound<'py, PyAny>)> {
        by_dtype!(x, "x", |a: T| {
            let (m, xs, b) = self.batch_for_loss::<T>(&a)?;
            Self::pair(py, py.detach(|| ops::exact_sm(m, xs, b)))
        })
    }

    /// Score regression (DSM, eq 13): the batch mean of ½‖∇ₓE(xᵦ) − tᵦ‖²
    /// and its θ-gradient, in one pass.
    fn score_regression_loss_grad<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, Bound<'py, PyAny>)> {
        by_dtype!(x, "x", |a: T| self.paired_loss(py, &a, ("target", target, PerRow::One), ops::score_regression::<T>))
    }

    /// Sliced score matching (§3.3) with M directions per sample (`v`: M·B
    /// rows, sample-major: row M·b + m is v_{bm}): the mean over b and m of
    /// ½(v_{bm}ᵀ∇ₓE(x_b))² − v_{bm}ᵀ∇ₓ²E(x_b) v_{bm} and its θ-gradient.
    fn sliced_sm_loss_grad<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
    ) -> PyResult<(f64, Bound<'py, PyAny>)> {
        by_dtype!(x, "x", |a: T| self.paired_loss(py, &a, ("v", v, PerRow::Some), ops::sliced_sm::<T>))
    }

    /// Noise-contrastive estimation (eq 22–24): `points` holds B data
    /// points then ν·B noise points (ν ≥ 1), `log_pn` (float64) log p_n at
    /// each, c the log-normaliser. With the logit
    /// G = −E − c − log p_n − log ν, returns (L, ∇θL, ∂L/∂c) for
    /// L = [Σ_data softplus(−G) + Σ_noise softplus(G)] / ((1 + ν)B).
    fn nce_loss_grad<'py>(
        &self,
        py: Python<'py>,
        points: &Bound<'py, PyAny>,
        n_data: usize,
        log_pn: PyReadonlyArray1<'py, f64>,
        c: f64,
    ) -> PyResult<(f64, Bound<'py, PyAny>, f64)> {
        let lp = log_pn.as_slice().map_err(|_| value("`log_pn` must be contiguous"))?;
        by_dtype!(points, "points", |a: T| {
            let (m, xs, _) = self.batch_for_loss::<T>(&a)?;
            let (loss, g, dc) = py.detach(|| ops::nce(m, xs, n_data, lp, c)).map_err(core)?;
            Ok((loss, vec1(py, g), dc))
        })
    }

    /// `steps` Langevin steps from `x0` (B, d): `sampler` is `ula` (eq 14)
    /// or `mala`. Returns (the chains' end points, MALA's acceptance rate
    /// or None).
    #[pyo3(signature = (x0, sampler, steps, step_size, seed))]
    fn langevin<'py>(
        &self,
        py: Python<'py>,
        x0: &Bound<'py, PyAny>,
        sampler: &str,
        steps: usize,
        step_size: f64,
        seed: u64,
    ) -> PyResult<(Bound<'py, PyAny>, Option<f64>)> {
        let mala = match sampler {
            "ula" => false,
            "mala" => true,
            other => return Err(value(format!("`sampler`: expected \"ula\" or \"mala\", got {other:?}"))),
        };
        by_dtype!(x0, "x0", |a: T| {
            let m = T::of(self)?;
            let (xs, b) = rows("x0", &a, m.dim())?;
            let eps = T::from_f64(step_size);
            // A standardised model's chains run in z (step size in z's unit
            // scale), from x0 mapped to z, and come back in x.
            let map = self.standardize.as_ref();
            let (x, rate) = py
                .detach(|| {
                    let mut z = xs.to_vec();
                    map.inspect(|t| t.to_z(&mut z));
                    let (mut x, rate) = ops::langevin(m, &z, b, mala, steps, eps, seed)?;
                    map.inspect(|t| t.to_x(&mut x));
                    Ok((x, rate))
                })
                .map_err(core)?;
            Ok((vec2(py, x, b, m.dim())?, rate))
        })
    }
}
