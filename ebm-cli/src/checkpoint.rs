//! Model checkpoints as safetensors files, readable by PyTorch.
//!
//! # Tensors (float32, little-endian; float64 files are read too)
//!
//! | family | tensors |
//! | --- | --- |
//! | `mlp` | `0.weight` \[H₁, d\], `0.bias` \[H₁\], `2.weight` \[H₂, H₁\], …, `{2L}.weight` \[1, H_L\], `{2L}.bias` \[1\]: the `state_dict` of `nn.Sequential(Linear(d, H₁), act, …, Linear(H_L, 1))` |
//! | `gaussian` | `mean` \[d\], `precision` \[d, d\] (symmetric positive definite) |
//! | `gmm` | `logits` \[K\], `means` \[K, d\], then `precision_tril` \[K, d, d\] (lower Cholesky factors Lₖ of the precisions Pₖ = LₖLₖᵀ, zero above the diagonal) or, for diagonal covariances, `log_precision_scale` \[K, d\] (Pₖ = diag(exp(2·v))) |
//! | `ica` | `weight` \[K, d\] (filters wₖ as rows), `alpha` \[K\] for the Student-t source |
//! | `rbm` | `visible_bias` \[d\], `hidden_bias` \[H\], `weight` \[H, d\], `log_sigma` \[d\] |
//! | `formula` | one tensor per declared parameter, named as in the formula, shaped as declared (`lower` parameters as their packed lower triangle \[n(n+1)/2\]) |
//!
//! # Metadata (`__metadata__`, string → string)
//!
//! - `format`: `pt`; `activation` (MLP): `softplus`, `tanh`, `silu`,
//!   `gelu-tanh` or `relu`, the one key a PyTorch user must add;
//! - `ebm.family` (inferred from the tensor names when absent),
//!   `ebm.model` (the model string, informative), `ebm.step` (updates done),
//!   `ebm.covariance` (`full`/`diag`), `ebm.source` (ICA), `ebm.formula`
//!   (the formula text), `ebm.aux` (the estimator's own parameters, e.g.
//!   NCE's log Z, as a JSON array), `ebm.data_mean` / `ebm.data_std` (JSON
//!   arrays: the training data's per-coordinate moments, used to start
//!   samplers and to frame plots), `ebm.standardize` (`{"mean": [...],
//!   "scale": [...]}`: the model is an energy of z = (x − mean)/scale, see
//!   [`crate::standardize`]).
//!
//! Every file error is a [`CheckpointError`] (a truncated or corrupted file
//! is `Format`, a valid file that does not describe a model is `Content`);
//! loading never panics (fuzzed in `tests/checkpoint_fuzz.rs`).
//!
//! Writes go through [`crate::atomic::write_atomic`].

use crate::error::CheckpointError;
use crate::model::{formula_from_source, parse_source, source_name, Model};
use crate::standardize::{self, Standardize};
use ebm_core::{
    Activation, Covariance, Energy, GaussBernoulliRbm, Gaussian, GaussianMixture, Ica, Mlp, Source, Trainable,
};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The file name of a run's checkpoint inside its output directory.
pub const FILE_NAME: &str = "model.safetensors";

/// A model with its training state.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The model.
    pub model: Model,
    /// Updates done.
    pub step: usize,
    /// The estimator's own parameters (NCE's log Z), possibly empty.
    pub aux: Vec<f32>,
    /// Per-coordinate mean of the training data.
    pub data_mean: Option<Vec<f64>>,
    /// Per-coordinate standard deviation of the training data.
    pub data_std: Option<Vec<f64>>,
    /// The standardisation the model was trained under
    /// ([`crate::standardize`]): the model is E_z of z = (x − m)/s, and
    /// `data_mean` / `data_std` are then those of z.
    pub standardize: Option<Standardize>,
}

impl Checkpoint {
    /// A checkpoint of `model` at step 0 with no estimator state.
    pub fn new(model: Model) -> Self {
        Self { model, step: 0, aux: Vec::new(), data_mean: None, data_std: None, standardize: None }
    }
}

/// `path` itself, or `path/model.safetensors` when `path` is a directory.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The named tensors (name, shape, values) of a model, in file order.
pub fn tensors(model: &Model) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut out = Vec::new();
    match model {
        Model::Mlp(m) => {
            for (l, o) in m.layer_offsets().iter().enumerate() {
                let p = m.params();
                out.push((format!("{}.weight", 2 * l), vec![o.out, o.inp], p[o.w..o.b].to_vec()));
                out.push((format!("{}.bias", 2 * l), vec![o.out], p[o.b..o.b + o.out].to_vec()));
            }
        }
        Model::Gaussian(g) => {
            let d = g.dim();
            let l = g.chol_packed();
            let tri = |i: usize, j: usize| l[i * (i + 1) / 2 + j] as f64;
            let mut prec = vec![0f32; d * d];
            for i in 0..d {
                for j in 0..=i {
                    let v: f64 = (0..=j).map(|k| tri(i, k) * tri(j, k)).sum();
                    prec[i * d + j] = v as f32;
                    prec[j * d + i] = v as f32;
                }
            }
            out.push(("mean".into(), vec![d], g.mean().to_vec()));
            out.push(("precision".into(), vec![d, d], prec));
        }
        Model::Gmm(m) => {
            let (k, d) = (m.num_components(), m.dim());
            out.push(("logits".into(), vec![k], m.logits().to_vec()));
            out.push(("means".into(), vec![k, d], m.means().to_vec()));
            let f = m.factors();
            match m.covariance() {
                Covariance::Full => {
                    let t = d * (d + 1) / 2;
                    let mut dense = vec![0f32; k * d * d];
                    for c in 0..k {
                        for i in 0..d {
                            for j in 0..=i {
                                dense[c * d * d + i * d + j] = f[c * t + i * (i + 1) / 2 + j];
                            }
                        }
                    }
                    out.push(("precision_tril".into(), vec![k, d, d], dense));
                }
                Covariance::Diagonal => out.push(("log_precision_scale".into(), vec![k, d], f.to_vec())),
            }
        }
        Model::Ica(m) => {
            out.push(("weight".into(), vec![m.num_experts(), m.dim()], m.filters().to_vec()));
            if m.source() == Source::StudentT {
                out.push(("alpha".into(), vec![m.num_experts()], m.alphas().to_vec()));
            }
        }
        Model::Rbm(m) => {
            let (d, h) = (m.dim(), m.num_hidden());
            out.push(("visible_bias".into(), vec![d], m.visible_bias().to_vec()));
            out.push(("hidden_bias".into(), vec![h], m.hidden_bias().to_vec()));
            out.push(("weight".into(), vec![h, d], m.weights().to_vec()));
            out.push(("log_sigma".into(), vec![d], m.log_sigma().to_vec()));
        }
        Model::Formula { energy, .. } => {
            let theta = energy.params();
            for decl in &energy.signature().params {
                let shape = if decl.lower { vec![decl.len] } else { decl.shape.clone() };
                out.push((decl.name.clone(), shape, theta[decl.offset..decl.offset + decl.len].to_vec()));
            }
        }
    }
    out
}

fn json_f64(v: &[f64]) -> String {
    serde_json::to_string(v).expect("a list of floats serialises")
}

/// The safetensors bytes of a checkpoint.
pub fn to_bytes(ck: &Checkpoint) -> Vec<u8> {
    let model = &ck.model;
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), "pt".into());
    meta.insert("ebm.family".into(), model.family().into());
    meta.insert("ebm.model".into(), model.describe());
    meta.insert("ebm.step".into(), ck.step.to_string());
    match model {
        Model::Mlp(m) => {
            meta.insert("activation".into(), m.activation().name().into());
        }
        Model::Gmm(m) => {
            let c = if m.covariance() == Covariance::Full { "full" } else { "diag" };
            meta.insert("ebm.covariance".into(), c.into());
        }
        Model::Ica(m) => {
            meta.insert("ebm.source".into(), source_name(m.source()).into());
        }
        Model::Formula { source, .. } => {
            meta.insert("ebm.formula".into(), source.clone());
        }
        _ => {}
    }
    if !ck.aux.is_empty() {
        meta.insert("ebm.aux".into(), json_f64(&ck.aux.iter().map(|&v| v as f64).collect::<Vec<_>>()));
    }
    if let Some(m) = &ck.data_mean {
        meta.insert("ebm.data_mean".into(), json_f64(m));
    }
    if let Some(s) = &ck.data_std {
        meta.insert("ebm.data_std".into(), json_f64(s));
    }
    if let Some(t) = &ck.standardize {
        meta.insert(standardize::META_KEY.into(), t.to_json());
    }
    let ts = tensors(model);
    let bytes: Vec<Vec<u8>> = ts.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = ts
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            let view =
                safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b).expect("shape matches the data");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, Some(meta)).expect("a checkpoint serialises")
}

/// Writes a checkpoint to `path` atomically.
pub fn save(path: &Path, ck: &Checkpoint) -> Result<(), CheckpointError> {
    let bytes = to_bytes(ck);
    crate::atomic::write_atomic(path, &bytes).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        action: "cannot write",
        source,
    })
}

/// Reads a checkpoint (a file, or a run directory holding `model.safetensors`).
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let file = resolve(path);
    let bytes = std::fs::read(&file).map_err(|source| CheckpointError::Io {
        path: file.clone(),
        action: "cannot read",
        source,
    })?;
    from_bytes(&file, &bytes)
}

struct Reader<'a> {
    path: &'a Path,
    st: SafeTensors<'a>,
    used: Vec<String>,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> CheckpointError {
        CheckpointError::Content { path: self.path.to_path_buf(), reason: reason.into() }
    }

    fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    /// A tensor's shape and values (f32 or f64 in the file).
    fn any(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), CheckpointError> {
        let t = self.st.tensor(name).map_err(|_| self.err(format!("missing tensor `{name}`")))?;
        let data = t.data();
        let vals: Vec<f32> = match t.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
                .collect(),
            other => return Err(self.err(format!("tensor `{name}` has dtype {other:?}; expected F32 or F64"))),
        };
        if let Some(i) = vals.iter().position(|v| !v.is_finite()) {
            return Err(self.err(format!("tensor `{name}` has a non-finite value at flat index {i}")));
        }
        self.used.push(name.to_string());
        Ok((t.shape().to_vec(), vals))
    }

    /// A tensor that must have `shape`.
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, CheckpointError> {
        let (s, v) = self.any(name)?;
        if s != shape {
            return Err(self.err(format!("tensor `{name}` has shape {s:?}, expected {shape:?}")));
        }
        Ok(v)
    }

    fn finish(&self) -> Result<(), CheckpointError> {
        let mut extra: Vec<String> =
            self.st.names().into_iter().filter(|n| !self.used.iter().any(|u| u == n)).map(String::from).collect();
        if extra.is_empty() {
            return Ok(());
        }
        extra.sort();
        Err(self.err(format!("unexpected tensors {extra:?} for this model family")))
    }
}

fn shape_dim(r: &Reader<'_>, name: &str, s: &[usize], rank: usize) -> Result<(), CheckpointError> {
    if s.len() != rank || s.contains(&0) {
        return Err(r.err(format!("tensor `{name}` has shape {s:?}; expected {rank} non-zero dimensions")));
    }
    Ok(())
}

/// Parses checkpoint bytes; `path` is only used in messages.
pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    let fmt =
        |e: safetensors::SafeTensorError| CheckpointError::Format { path: path.to_path_buf(), reason: e.to_string() };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(fmt)?;
    let meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let st = SafeTensors::deserialize(bytes).map_err(fmt)?;
    let mut r = Reader { path, st, used: Vec::new() };
    let family = match meta.get("ebm.family") {
        Some(f) => f.clone(),
        None if r.has("0.weight") => "mlp".into(),
        None if r.has("mean") && r.has("precision") => "gaussian".into(),
        None => return Err(r.err("no `ebm.family` metadata and the tensors are neither an MLP (`0.weight`, ...) nor a Gaussian (`mean`, `precision`)")),
    };
    let model = match family.as_str() {
        "mlp" => {
            let act: Activation = match meta.get("activation") {
                Some(a) => a.parse().map_err(|e: ebm_core::mlp::ParseActivationError| r.err(e.to_string()))?,
                None => return Err(r.err(
                    "MLP checkpoint without `activation` metadata (save with metadata={\"activation\": \"softplus\"})",
                )),
            };
            let (mut dims, mut params) = (Vec::new(), Vec::new());
            let mut l = 0usize;
            while r.has(&format!("{}.weight", 2 * l)) {
                let wname = format!("{}.weight", 2 * l);
                let (ws, w) = r.any(&wname)?;
                shape_dim(&r, &wname, &ws, 2)?;
                if dims.is_empty() {
                    dims.push(ws[1]);
                } else if ws[1] != *dims.last().expect("non-empty") {
                    return Err(r.err(format!(
                        "tensor `{wname}` has {} inputs but the previous layer has {} outputs",
                        ws[1],
                        dims.last().expect("non-empty")
                    )));
                }
                dims.push(ws[0]);
                let b = r.get(&format!("{}.bias", 2 * l), &[ws[0]])?;
                params.extend_from_slice(&w);
                params.extend_from_slice(&b);
                l += 1;
            }
            if l < 2 {
                return Err(r.err(
                    "an MLP energy needs at least one hidden layer and the output layer (`0.weight`, `2.weight`)",
                ));
            }
            if dims.last() != Some(&1) {
                return Err(r.err(format!(
                    "the last layer `{}.weight` must have 1 output (the energy), it has {}",
                    2 * (l - 1),
                    dims.last().expect("non-empty")
                )));
            }
            let hidden = &dims[1..dims.len() - 1];
            Model::Mlp(Mlp::new(dims[0], hidden, act, params).map_err(|e| r.err(e.to_string()))?)
        }
        "gaussian" => {
            let (ms, mean) = r.any("mean")?;
            shape_dim(&r, "mean", &ms, 1)?;
            let d = ms[0];
            let prec = r.get("precision", &[d, d])?;
            let mean64: Vec<f64> = mean.iter().map(|&v| v as f64).collect();
            let prec64: Vec<f64> = prec.iter().map(|&v| v as f64).collect();
            let g = Gaussian::<f64>::from_mean_precision(&mean64, &prec64).map_err(|e| r.err(e.to_string()))?;
            Model::Gaussian(g.cast())
        }
        "gmm" => {
            let (ls, logits) = r.any("logits")?;
            shape_dim(&r, "logits", &ls, 1)?;
            let k = ls[0];
            let (ms, means) = r.any("means")?;
            shape_dim(&r, "means", &ms, 2)?;
            if ms[0] != k {
                return Err(r.err(format!("`means` has {} rows but `logits` has {k} components", ms[0])));
            }
            let d = ms[1];
            let full = match meta.get("ebm.covariance").map(String::as_str) {
                Some("full") => true,
                Some("diag") => false,
                Some(o) => return Err(r.err(format!("`ebm.covariance` is {o:?}, expected full or diag"))),
                None => r.has("precision_tril"),
            };
            let mut params = logits;
            params.extend_from_slice(&means);
            let cov = if full {
                let dense = r.get("precision_tril", &[k, d, d])?;
                for c in 0..k {
                    for i in 0..d {
                        for j in 0..=i {
                            params.push(dense[c * d * d + i * d + j]);
                        }
                        if let Some(j) = (i + 1..d).find(|&j| dense[c * d * d + i * d + j] != 0.0) {
                            return Err(
                                r.err(format!("`precision_tril`[{c}, {i}, {j}] is above the diagonal and must be 0"))
                            );
                        }
                    }
                }
                Covariance::Full
            } else {
                params.extend_from_slice(&r.get("log_precision_scale", &[k, d])?);
                Covariance::Diagonal
            };
            Model::Gmm(GaussianMixture::new(d, k, cov, params).map_err(|e| r.err(e.to_string()))?)
        }
        "ica" => {
            let (ws, mut params) = r.any("weight")?;
            shape_dim(&r, "weight", &ws, 2)?;
            let (k, d) = (ws[0], ws[1]);
            let source = match meta.get("ebm.source") {
                Some(s) => parse_source(s).map_err(|e| r.err(e.to_string()))?,
                None if r.has("alpha") => Source::StudentT,
                None => Source::LogCosh,
            };
            if source == Source::StudentT {
                params.extend_from_slice(&r.get("alpha", &[k])?);
            }
            Model::Ica(Ica::new(d, k, source, params).map_err(|e| r.err(e.to_string()))?)
        }
        "rbm" => {
            let (vs, mut params) = r.any("visible_bias")?;
            shape_dim(&r, "visible_bias", &vs, 1)?;
            let d = vs[0];
            let (hs, hb) = r.any("hidden_bias")?;
            shape_dim(&r, "hidden_bias", &hs, 1)?;
            let h = hs[0];
            params.extend_from_slice(&hb);
            params.extend_from_slice(&r.get("weight", &[h, d])?);
            params.extend_from_slice(&r.get("log_sigma", &[d])?);
            Model::Rbm(GaussBernoulliRbm::new(d, h, params).map_err(|e| r.err(e.to_string()))?)
        }
        "formula" => {
            let source = meta
                .get("ebm.formula")
                .ok_or_else(|| r.err("formula checkpoint without `ebm.formula` metadata"))?
                .clone();
            let formula = ebm_core::sym::parse(&source).map_err(|e| r.err(format!("stored formula: {e}")))?;
            let mut theta = vec![0f32; formula.signature.num_params()];
            for decl in &formula.signature.params {
                let shape = if decl.lower { vec![decl.len] } else { decl.shape.clone() };
                let v = r.get(&decl.name, &shape)?;
                theta[decl.offset..decl.offset + decl.len].copy_from_slice(&v);
            }
            let energy = formula_from_source(path, &source, Some(&theta), 0).map_err(|e| r.err(e.to_string()))?;
            Model::Formula { energy, source }
        }
        other => {
            return Err(
                r.err(format!("unknown model family `{other}` (expected mlp, gaussian, gmm, ica, rbm, formula)"))
            )
        }
    };
    r.finish()?;
    let step = match meta.get("ebm.step") {
        Some(s) => s.parse::<usize>().map_err(|_| r.err(format!("`ebm.step` is {s:?}, not a count")))?,
        None => 0,
    };
    let floats = |key: &str| -> Result<Option<Vec<f64>>, CheckpointError> {
        match meta.get(key) {
            None => Ok(None),
            Some(s) => serde_json::from_str::<Vec<f64>>(s)
                .map(Some)
                .map_err(|_| r.err(format!("`{key}` is not a JSON list of numbers"))),
        }
    };
    let aux: Vec<f32> = floats("ebm.aux")?.unwrap_or_default().into_iter().map(|v| v as f32).collect();
    let d = model.dim();
    let data_mean = floats("ebm.data_mean")?.filter(|v| v.len() == d);
    let data_std = floats("ebm.data_std")?.filter(|v| v.len() == d);
    let standardize = match meta.get(standardize::META_KEY) {
        None => None,
        Some(s) => Some(
            serde_json::from_str::<Standardize>(s)
                .map_err(|e| {
                    r.err(format!("`{}` is not {{\"mean\": [...], \"scale\": [...]}}: {e}", standardize::META_KEY))
                })?
                .checked(d)
                .map_err(|e| r.err(e.to_string()))?,
        ),
    };
    Ok(Checkpoint { model, step, aux, data_mean, data_std, standardize })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSpec;
    use ebm_core::EnergyExt;

    fn energies(m: &Model, x: &[f32]) -> Vec<f32> {
        let mut e = vec![0f32; x.len() / m.dim()];
        m.energy().energy(x, &mut e).unwrap();
        e
    }

    #[test]
    fn every_family_round_trips() {
        let dir = std::env::temp_dir();
        let formula = dir.join(format!("ebm-ck-formula-{}.txt", std::process::id()));
        std::fs::write(&formula, "energy(x[2]; mu[2], L[2,2] lower) = 0.5 * (square(L[0,0]*(x[0]-mu[0]) + L[1,0]*(x[1]-mu[1])) + square(L[1,1]*(x[1]-mu[1]))) # c\n#! theta = 0.1, -0.2, 1.0, 0.3, 1.5\n").unwrap();
        let specs = [
            "gaussian".to_string(),
            "gmm:3".into(),
            "gmm:2:diag".into(),
            "mlp:8,5:tanh".into(),
            "ica".into(),
            "ica:3:student-t".into(),
            "rbm:4".into(),
            format!("formula:{}", formula.display()),
        ];
        let x: Vec<f32> = (0..14).map(|i| (i as f32 * 0.37).sin() * 2.0).collect();
        for s in &specs {
            let spec = ModelSpec::parse(s).unwrap();
            let model = Model::init(&spec, 2, 3).unwrap();
            let mut ck = Checkpoint::new(model);
            ck.step = 17;
            ck.aux = vec![1.25];
            ck.data_mean = Some(vec![0.5, -0.5]);
            let bytes = to_bytes(&ck);
            let back = from_bytes(Path::new("mem"), &bytes).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(back.model.family(), ck.model.family());
            assert_eq!((back.step, back.aux.clone(), back.data_mean.clone()), (17, vec![1.25], Some(vec![0.5, -0.5])));
            let (a, b) = (energies(&ck.model, &x), energies(&back.model, &x));
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-4 * (1.0 + u.abs()), "{s}: {a:?} vs {b:?}");
            }
        }
        std::fs::remove_file(formula).unwrap();
    }

    #[test]
    fn content_errors() {
        let m = Model::init(&ModelSpec::parse("mlp:4").unwrap(), 2, 0).unwrap();
        let ts = tensors(&m);
        let mk = |skip: &str, meta: &[(&str, &str)]| {
            let bytes: Vec<Vec<u8>> = ts.iter().map(|t| f32_bytes(&t.2)).collect();
            let views: Vec<_> = ts
                .iter()
                .zip(&bytes)
                .filter(|(t, _)| t.0 != skip)
                .map(|(t, b)| (t.0.clone(), safetensors::tensor::TensorView::new(Dtype::F32, t.1.clone(), b).unwrap()))
                .collect();
            let md: HashMap<String, String> = meta.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            safetensors::serialize(views, Some(md)).unwrap()
        };
        // PyTorch-style file: only the activation.
        assert!(from_bytes(Path::new("p"), &mk("", &[("activation", "softplus")])).is_ok());
        for (skip, meta, needle) in [
            ("", vec![], "activation"),
            ("0.bias", vec![("activation", "tanh")], "0.bias"),
            ("", vec![("activation", "swish!")], "unknown activation"),
            ("", vec![("activation", "tanh"), ("ebm.family", "rbm")], "visible_bias"),
            ("", vec![("activation", "tanh"), ("ebm.step", "x")], "ebm.step"),
        ] {
            let e = from_bytes(Path::new("p"), &mk(skip, &meta)).unwrap_err();
            assert!(matches!(e, CheckpointError::Content { .. }), "{e}");
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
        let e = from_bytes(Path::new("p"), b"\x08\x00\x00\x00\x00\x00\x00\x00{}").unwrap_err();
        assert!(matches!(e, CheckpointError::Format { .. }), "{e}");
    }
}
