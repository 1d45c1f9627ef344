//! The Rust builder API: declare inputs and parameters, build E with the
//! [`Graph`] constructors, finish into a [`Formula`].
//!
//! ```
//! use ebm_core::sym::{SymBuilder, SymEnergy};
//! // E(x) = ½ Σᵢ (xᵢ − μᵢ)² e^{−2 log_s}
//! let mut b = SymBuilder::new("x", 2);
//! b.declare("mu", &[2]).unwrap();
//! b.declare("log_s", &[]).unwrap();
//! let mut terms = Vec::new();
//! for i in 0..2 {
//!     let (x, mu) = (b.x(i).unwrap(), b.p("mu", &[i]).unwrap());
//!     let r = b.sub(x, mu);
//!     terms.push(b.square(r));
//! }
//! let s = b.sum(&terms);
//! let ls = b.p("log_s", &[]).unwrap();
//! let m2 = b.constant(-2.0);
//! let t = b.mul(m2, ls);
//! let scale = b.exp(t);
//! let half = b.constant(0.5);
//! let hs = b.mul(half, s);
//! let e = b.mul(hs, scale);
//! let model = SymEnergy::<f64>::new(b.finish(e), &[0.5, -1.0, 0.2]).unwrap();
//! ```

use super::error::SymError;
use super::expand::Formula;
use super::expr::{Graph, Node, NodeId};
use super::signature::Signature;
use std::ops::{Deref, DerefMut};

/// Builds a [`Formula`] in Rust. Dereferences to its [`Graph`], so the node
/// constructors (`add`, `mul`, `exp`, `logsumexp`, …) are methods of the builder.
#[derive(Clone, Debug)]
pub struct SymBuilder {
    graph: Graph,
    sig: Signature,
}

impl SymBuilder {
    /// A builder for an energy over the input vector `input` of dimension `dim`.
    pub fn new(input: &str, dim: usize) -> Self {
        Self { graph: Graph::new(), sig: Signature::new(input, dim) }
    }

    /// Declares the parameter `name` of shape `shape` (`&[]` for a scalar),
    /// next in the flat layout.
    pub fn declare(&mut self, name: &str, shape: &[usize]) -> Result<(), SymError> {
        self.sig.declare(name, shape, false).map(|_| ()).map_err(SymError::Build)
    }

    /// Declares `name` keeping only the lower triangles of its trailing
    /// square matrices (see [`super::signature`] for the layout).
    pub fn declare_lower(&mut self, name: &str, shape: &[usize]) -> Result<(), SymError> {
        self.sig.declare(name, shape, true).map(|_| ()).map_err(SymError::Build)
    }

    /// The input coordinate xᵢ.
    pub fn x(&mut self, i: usize) -> Result<NodeId, SymError> {
        if i >= self.sig.dim {
            return Err(SymError::Build(format!("input index {i} out of range 0..{}", self.sig.dim)));
        }
        Ok(self.graph.input(i as u32))
    }

    /// The element `idx` of parameter `name` (`&[]` for a scalar).
    pub fn p(&mut self, name: &str, idx: &[usize]) -> Result<NodeId, SymError> {
        let k = self.sig.flat_index(name, idx)?;
        Ok(self.graph.param(k as u32))
    }

    /// The signature declared so far.
    pub fn signature(&self) -> &Signature {
        &self.sig
    }

    /// The formula with energy `energy`.
    pub fn finish(self, energy: NodeId) -> Formula {
        Formula { graph: self.graph, signature: self.sig, energy }
    }
}

impl Deref for SymBuilder {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}

impl DerefMut for SymBuilder {
    fn deref_mut(&mut self) -> &mut Graph {
        &mut self.graph
    }
}

impl Formula {
    /// The formula in the text syntax (parses back to the same DAG).
    pub fn to_source(&self) -> String {
        super::print::to_source(&self.graph, &self.signature, self.energy)
    }

    /// The number of distinct nodes of E.
    pub fn node_count(&self) -> usize {
        self.graph.count_nodes(&[self.energy])
    }

    /// Checks that the energy is a node of the graph and that its leaves are
    /// inputs below d and parameters below P (no auxiliary input): what a
    /// DAG built by hand through [`Graph`] can get wrong.
    pub fn validate(&self) -> Result<(), SymError> {
        if self.energy.index() >= self.graph.len() {
            return Err(SymError::Build(format!("energy node {:?} is not in the graph", self.energy)));
        }
        let (d, p) = (self.signature.dim, self.signature.num_params());
        if d == 0 {
            return Err(SymError::Build("the input dimension is 0".into()));
        }
        for n in self.graph.reachable(&[self.energy]) {
            match *self.graph.node(n) {
                Node::Input(i) if i as usize >= d => {
                    return Err(SymError::Build(format!("the energy reads input {i} of a {d}-dimensional model")))
                }
                Node::Param(k) if k as usize >= p => {
                    return Err(SymError::Build(format!("the energy reads parameter {k} of {p}")))
                }
                Node::Aux(i) => return Err(SymError::Build(format!("the energy reads the auxiliary input v[{i}]"))),
                _ => {}
            }
        }
        Ok(())
    }

    /// E(x) at one point, in f64 (slow; a reference for tests).
    pub fn eval_energy(&self, x: &[f64], theta: &[f64]) -> f64 {
        self.graph.eval_f64(&[self.energy], x, &[], theta)[0]
    }
}
