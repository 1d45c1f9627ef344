//! The declared inputs and parameters of a symbolic energy, and the layout
//! of its flat parameter buffer.
//!
//! # Parameter layout
//!
//! Parameters occupy one flat buffer θ **in declaration order**. A scalar
//! takes one slot; an array of shape [n₁, …, n_r] takes n₁⋯n_r slots in
//! row-major order (the last index moves fastest). An array declared
//! `lower` (rank ≥ 2, last two extents equal, n × n) stores only the lower
//! triangles (j ≤ i) of its trailing n × n matrices, row by row:
//! (0,0), (1,0), (1,1), (2,0), … — n(n+1)/2 slots per matrix, matrices in
//! row-major order of the leading indices. This is the layout of
//! [`crate::gaussian`]'s Cholesky factor.

use super::error::SymError;

/// Largest extent of any dimension, and of the parameter buffer.
pub const MAX_EXTENT: usize = 1 << 24;

/// One declared parameter (scalar or array).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParamDecl {
    /// Its name.
    pub name: String,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Whether only the lower triangles of the trailing square matrices exist.
    pub lower: bool,
    /// The index of its first slot in θ.
    pub offset: usize,
    /// Its number of slots.
    pub len: usize,
}

impl ParamDecl {
    /// The slot within this parameter of the element `idx`, or why not.
    pub fn slot(&self, idx: &[usize]) -> Result<usize, String> {
        if idx.len() != self.shape.len() {
            return Err(format!("`{}` has {} indices, got {}", self.name, self.shape.len(), idx.len()));
        }
        for (k, (&i, &n)) in idx.iter().zip(&self.shape).enumerate() {
            if i >= n {
                return Err(format!("index {i} out of range 0..{n} in position {} of `{}`", k + 1, self.name));
            }
        }
        if !self.lower {
            return Ok(idx.iter().zip(&self.shape).fold(0, |acc, (&i, &n)| acc * n + i));
        }
        let r = idx.len();
        let (i, j) = (idx[r - 2], idx[r - 1]);
        if j > i {
            return Err(format!("`{}`[…, {i}, {j}] is above the diagonal of a `lower` parameter", self.name));
        }
        let n = self.shape[r - 1];
        let lead = idx[..r - 2].iter().zip(&self.shape).fold(0, |acc, (&i, &n)| acc * n + i);
        Ok(lead * (n * (n + 1) / 2) + i * (i + 1) / 2 + j)
    }

    /// The multi-index of slot `s` (inverse of [`ParamDecl::slot`]).
    pub fn index_of(&self, s: usize) -> Vec<usize> {
        let r = self.shape.len();
        if !self.lower {
            let mut idx = vec![0; r];
            let mut s = s;
            for k in (0..r).rev() {
                idx[k] = s % self.shape[k];
                s /= self.shape[k];
            }
            return idx;
        }
        let n = self.shape[r - 1];
        let tri = n * (n + 1) / 2;
        let (mut lead, mut t) = (s / tri, s % tri);
        let mut i = 0;
        while t > i {
            t -= i + 1;
            i += 1;
        }
        let mut idx = vec![0; r];
        idx[r - 2] = i;
        idx[r - 1] = t;
        for k in (0..r - 2).rev() {
            idx[k] = lead % self.shape[k];
            lead /= self.shape[k];
        }
        idx
    }
}

/// The input vector and the parameters of a symbolic energy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    /// The name of the input vector (`x`).
    pub input: String,
    /// The input dimension d.
    pub dim: usize,
    /// The parameters, in declaration (= layout) order.
    pub params: Vec<ParamDecl>,
}

impl Signature {
    /// A signature with input `input` of dimension `dim` and no parameter.
    pub fn new(input: &str, dim: usize) -> Self {
        Self { input: input.to_string(), dim, params: Vec::new() }
    }

    /// The length of θ.
    pub fn num_params(&self) -> usize {
        self.params.last().map_or(0, |p| p.offset + p.len)
    }

    /// The declaration named `name`.
    pub fn param(&self, name: &str) -> Option<&ParamDecl> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Declares a parameter; returns its index in [`Signature::params`].
    pub fn declare(&mut self, name: &str, shape: &[usize], lower: bool) -> Result<usize, String> {
        if name == self.input || self.param(name).is_some() {
            return Err(format!("`{name}` is declared twice"));
        }
        if lower {
            let r = shape.len();
            if r < 2 || shape[r - 1] != shape[r - 2] {
                return Err(format!("`lower` parameter `{name}` needs two equal trailing extents, got {shape:?}"));
            }
        }
        let mut len: usize = 1;
        let (full, tri) = if lower { (&shape[..shape.len() - 2], true) } else { (shape, false) };
        for &n in full {
            len = len.checked_mul(n).filter(|&l| l <= MAX_EXTENT).ok_or_else(|| format!("`{name}` is too large"))?;
        }
        if tri {
            let n = shape[shape.len() - 1];
            let t = n.checked_add(1).and_then(|m| n.checked_mul(m)).map(|v| v / 2).filter(|&t| t <= MAX_EXTENT);
            len = t
                .and_then(|t| len.checked_mul(t))
                .filter(|&l| l <= MAX_EXTENT)
                .ok_or_else(|| format!("`{name}` is too large"))?;
        }
        let offset = self.num_params();
        if offset + len > MAX_EXTENT {
            return Err(format!("too many parameters (more than {MAX_EXTENT})"));
        }
        self.params.push(ParamDecl { name: name.to_string(), shape: shape.to_vec(), lower, offset, len });
        Ok(self.params.len() - 1)
    }

    /// The flat index in θ of element `idx` of parameter `name`.
    pub fn flat_index(&self, name: &str, idx: &[usize]) -> Result<usize, SymError> {
        let p = self.param(name).ok_or_else(|| SymError::Build(format!("no parameter `{name}`")))?;
        p.slot(idx).map(|s| p.offset + s).map_err(SymError::Build)
    }

    /// The parameter and multi-index of flat slot `k` of θ.
    pub fn describe(&self, k: usize) -> Option<(&ParamDecl, Vec<usize>)> {
        self.params.iter().find(|p| k >= p.offset && k < p.offset + p.len).map(|p| (p, p.index_of(k - p.offset)))
    }
}
