//! The MLP energy family: E(x) = w_outᵀ σ(a_L) + b_out with
//! a₁ = W₁x + b₁, a_{l+1} = W_{l+1} σ(a_l) + b_{l+1}, any depth L ≥ 1 and
//! widths H_l ≥ 1, with exact score, exact Hessian diagonal, exact Hessian
//! quadratic form vᵀ∇ₓ²E v (sliced score matching) and exact parameter
//! gradients of E, vᵀ∇ₓE, the score-matching integrand (seed eq 12) and
//! vᵀ∇ₓ²E v, all batched and parallel over the batch on the CPU.
//!
//! # Parameter layout
//!
//! One flat buffer θ. For each linear layer in order — the L hidden layers,
//! then the output layer with one output — the weight W (row-major,
//! out × in) followed by the bias b (out):
//!
//! ```text
//! θ = [ W₁ (H₁×d) | b₁ (H₁) | W₂ (H₂×H₁) | b₂ (H₂) | … | W_L | b_L | w_out (1×H_L) | b_out (1) ]
//! ```
//!
//! This is the `state_dict` order of PyTorch's
//! `nn.Sequential(Linear(d, H₁), act, …, Linear(H_L, 1))`, so a checkpoint's
//! tensors concatenated in order are θ; the GPU kernels read the same bytes.
//! [`Mlp::layer_offsets`] gives the offset of every W and b.
//!
//! # Notation
//!
//! Per sample: z₀ = x, a_l = W_l z_{l−1} + b_l, z_l = σ(a_l) (l = 1..L),
//! E = w_outᵀ z_L + b_out. Reverse mode gives γ_l = ∂E/∂z_l and
//! δ_l = ∂E/∂a_l:
//!
//! γ_L = w_out, δ_l = γ_l ⊙ σ′(a_l), γ_{l−1} = W_lᵀ δ_l, ∇ₓE = γ₀.
//!
//! # Hessian diagonal without d backward passes
//!
//! Every operation but σ is affine, so the Hessian of E in x only collects
//! the curvature of each unit: with J_l = ∂a_l/∂x (H_l × d),
//!
//! ∇ₓ²E = Σ_l J_lᵀ diag(c_l) J_l, c_l = γ_l ⊙ σ″(a_l),
//!
//! hence ∂²E/∂xᵢ² = Σ_l Σ_u c_{l,u} (J_l)²_{u,i}. The Jacobians propagate
//! forward: J₁ = W₁ (the same for every sample) and
//! J_{l+1} = W_{l+1} P_l with P_l = diag(σ′(a_l)) J_l. Stored unit-major,
//! the Jacobians of all samples of a chunk sit side by side as one
//! H_l × (chunk·d) matrix (column (b, i) = b·d + i), so each layer is a
//! single GEMM (H_{l+1} × H_l)·(H_l × chunk·d) followed by an epilogue that
//! adds Σ_u c_{l,u} J²_{u,i} to the Hessian and scales by σ′ for the next
//! layer. The dominant cost is 2·B·d·Σ_l H_l H_{l+1} flops, against d times
//! the cost of a backward pass for the naive d Hessian-vector products.
//!
//! # Parameter gradients
//!
//! All are summed over the batch with per-sample weights w_b and written by
//! reverse mode through the quantities above (bars are adjoints).
//!
//! **E** (seed eq 2–3): ∂E/∂W_l = δ_l z_{l−1}ᵀ, ∂E/∂b_l = δ_l,
//! ∂E/∂w_out = z_L, ∂E/∂b_out = 1.
//!
//! **vᵀ∇ₓE** (seed eq 13): reverse-over-forward. The objective f = vᵀγ₀ seeds
//! γ̄₀ = v. Walking the backward pass in reverse (from γ₀ up to γ_L):
//!
//! - δ̄_l = W_l γ̄_{l−1}, W̄_l += δ_l γ̄_{l−1}ᵀ (from γ_{l−1} = W_lᵀ δ_l);
//! - γ̄_l = σ′(a_l) ⊙ δ̄_l and ā_l = γ_l ⊙ σ″(a_l) ⊙ δ̄_l (from δ_l = γ_l ⊙ σ′(a_l));
//! - w̄_out = γ̄_L (from γ_L = w_out).
//!
//! δ̄_l is the forward tangent ȧ_l = J_l v and γ̄_l = ż_l. Then ā is carried
//! down through the forward pass as in ordinary backprop:
//! ā_l += σ′(a_l) ⊙ W_{l+1}ᵀ ā_{l+1}, W̄_l += ā_l z_{l−1}ᵀ, b̄_l += ā_l.
//!
//! **Score matching** (seed eq 12): 𝒥 = Σᵢ ½(∂ᵢE)² − ∂²ᵢᵢE
//! = ½‖γ₀‖² − Σ_l Σ_u c_{l,u} q_{l,u} with q_{l,u} = Σᵢ (J_l)²_{u,i}.
//! The same reverse sweep with two extra sources:
//!
//! 1. seeds γ̄₀ = γ₀ (from ½‖γ₀‖²), c̄_l = −q_l, and J̄_l = −2 diag(c_l) J_l
//!    directly from the Hessian term;
//! 2. the backward-pass adjoint above, now with γ̄_l = σ′(a_l) ⊙ δ̄_l + σ″(a_l) ⊙ c̄_l
//!    and ā_l = γ_l ⊙ (σ″(a_l) ⊙ δ̄_l + σ‴(a_l) ⊙ c̄_l) (from c_l = γ_l ⊙ σ″(a_l));
//! 3. the Jacobian recursion in reverse, l = L−1 down to 1: with
//!    P̄_l = W_{l+1}ᵀ J̄_{l+1},
//!    W̄_{l+1} += J̄_{l+1} P_lᵀ, J̄_l += diag(σ′(a_l)) P̄_l and
//!    ā_l += σ″(a_l) ⊙ Σᵢ (P̄_l ⊙ J_l)_{·,i}; finally W̄₁ += J̄₁ (J₁ = W₁);
//! 4. ā carried down the forward pass as for vᵀ∇ₓE.
//!
//! In the unit-major, chunk-stacked layout the two products of step 3 are
//! again one GEMM per layer each (P̄_l = W_{l+1}ᵀ J̄_{l+1}, and
//! W̄_{l+1} += J̄_{l+1} P_lᵀ with inner dimension chunk·d), so with the
//! forward recursion the SM gradient costs about three Hessian diagonals.
//! w_b multiplies every seed; b_out gets no gradient. ReLU is refused there:
//! σ″ = 0 a.e. would silently drop the Hessian term.
//!
//! # Hessian quadratic form (sliced score matching)
//!
//! From ∇ₓ²E = Σ_l J_lᵀ diag(c_l) J_l, along a direction v
//!
//! q = vᵀ∇ₓ²E v = Σ_l Σ_u c_{l,u} ȧ_{l,u}², ȧ_l = J_l v,
//!
//! and ȧ_l is the forward tangent already met above: ȧ₁ = W₁v,
//! ż_l = σ′(a_l) ⊙ ȧ_l, ȧ_{l+1} = W_{l+1} ż_l. So q is forward-over-reverse:
//! one forward pass, one backward pass (for γ_l) and one tangent pass, with
//! no Jacobian formed. Its θ-gradient is reverse mode through the three:
//!
//! 1. seeds c̄_l = ȧ_l² (q is linear in c_l) and the tangent adjoint
//!    ǎ_l = 2 c_l ⊙ ȧ_l (direct term);
//! 2. the tangent recursion in reverse, l = L−1 down to 1: with
//!    ż̄_l = W_{l+1}ᵀ ǎ_{l+1}, W̄_{l+1} += ǎ_{l+1} ż_lᵀ,
//!    ā_l += σ″(a_l) ⊙ ȧ_l ⊙ ż̄_l (from ż_l = σ′(a_l) ⊙ ȧ_l) and
//!    ǎ_l = 2 c_l ⊙ ȧ_l + σ′(a_l) ⊙ ż̄_l; finally W̄₁ += ǎ₁ vᵀ;
//! 3. the backward-pass adjoint of the score-matching gradient with
//!    γ̄₀ = 0 (q does not read ∇ₓE) and the c̄_l of step 1:
//!    γ̄_l = σ′ ⊙ δ̄_l + σ″ ⊙ c̄_l, ā_l += γ_l ⊙ (σ″ ⊙ δ̄_l + σ‴ ⊙ c̄_l);
//! 4. ā carried down the forward pass as for vᵀ∇ₓE.
//!
//! w_b multiplies every seed. Every step is a GEMM of the sample-major
//! chunk, so q costs about two backward passes and its gradient about five,
//! independently of d. ReLU is refused (σ″ = 0 a.e.).
//!
//! # Parallelism and determinism
//!
//! Batches are cut into chunks of whole samples processed by rayon, each with
//! scratch allocated once per task. Per-sample outputs do not depend on the
//! chunking. Parameter gradients are accumulated per group of chunks and the
//! groups are summed in a fixed order, so they are reproducible for a given
//! number of rayon threads.

mod forward;
mod grad_params;
mod grad_sm;
mod hess_diag;
mod langevin;
mod linalg;
mod par;
mod v_hess_v;

pub use crate::activation::{Activation, Derivs, ParseActivationError};

use crate::blocked::Out;
use crate::energy::{check_finite, Batch, Chains, Langevin, Objectives, ParamGrad, PerSample, Target, Weights};
use crate::error::{EbmError, Result};
use crate::real::Real;

/// Where one linear layer's parameters live in the flat buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerOffset {
    /// Offset of W (row-major, `out × inp`).
    pub w: usize,
    /// Offset of b (`out` values), `w + out·inp`.
    pub b: usize,
    /// Output width of the layer.
    pub out: usize,
    /// Input width of the layer.
    pub inp: usize,
}

/// A multilayer-perceptron energy E(x) = w_outᵀ σ(a_L) + b_out (module docs).
#[derive(Clone, Debug)]
pub struct Mlp<T: Real> {
    /// `[d, H₁, …, H_L, 1]`.
    dims: Vec<usize>,
    act: Activation,
    offsets: Vec<LayerOffset>,
    params: Vec<T>,
}

/// A borrowed linear layer: W (`out × inp`, row-major) and b.
#[derive(Clone, Copy)]
pub(crate) struct Layer<'a, T> {
    pub w: &'a [T],
    pub b: &'a [T],
    pub out: usize,
    pub inp: usize,
}

impl<T: Real> Mlp<T> {
    /// An MLP on ℝ^`dim` with hidden widths `hidden` (depth L = `hidden.len()`)
    /// and parameters `params` in the documented layout.
    ///
    /// Errors: [`EbmError::InvalidConfig`] for `dim == 0`, no hidden layer or
    /// a zero width; [`EbmError::ParamLen`] when `params` has the wrong length.
    pub fn new(dim: usize, hidden: &[usize], act: Activation, params: Vec<T>) -> Result<Self> {
        let (dims, offsets, len) = layout(dim, hidden)?;
        if params.len() != len {
            return Err(EbmError::ParamLen { model: "mlp", expected: len, got: params.len() });
        }
        Ok(Self { dims, act, offsets, params })
    }

    /// An MLP with PyTorch's default `nn.Linear` initialisation: every weight
    /// and bias of a layer with fan-in n uniform in (−1/√n, 1/√n), drawn from
    /// [`crate::rng::fill_uniform`]`(seed, stream = 0x6d6c70, offset = 0)` in
    /// layout order.
    pub fn init(dim: usize, hidden: &[usize], act: Activation, seed: u64) -> Result<Self> {
        let (_, offsets, len) = layout(dim, hidden)?;
        let mut params = vec![T::zero(); len];
        crate::rng::fill_uniform(seed, INIT_STREAM, 0, &mut params);
        for o in &offsets {
            let bound = T::one() / T::from_f64(o.inp as f64).sqrt();
            let two = T::from_f64(2.0);
            for p in &mut params[o.w..o.b + o.out] {
                *p = bound * (two * *p - T::one());
            }
        }
        Self::new(dim, hidden, act, params)
    }

    /// The layer widths `[d, H₁, …, H_L, 1]`.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The hidden widths `[H₁, …, H_L]`.
    pub fn hidden(&self) -> &[usize] {
        &self.dims[1..self.dims.len() - 1]
    }

    /// The number of hidden layers L.
    pub fn depth(&self) -> usize {
        self.dims.len() - 2
    }

    /// The activation σ.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// Offsets of W and b of each linear layer in θ: the L hidden layers,
    /// then the output layer (`out == 1`).
    pub fn layer_offsets(&self) -> &[LayerOffset] {
        &self.offsets
    }

    /// The same model in another precision (parameters rounded to nearest).
    pub fn cast<U: Real>(&self) -> Mlp<U> {
        Mlp {
            dims: self.dims.clone(),
            act: self.act,
            offsets: self.offsets.clone(),
            params: self.params.iter().map(|&p| U::from_f64(p.to_f64())).collect(),
        }
    }

    /// Layer `l` (1-based: 1..=L hidden, L+1 the output layer).
    pub(crate) fn layer(&self, l: usize) -> Layer<'_, T> {
        let o = self.offsets[l - 1];
        Layer { w: &self.params[o.w..o.b], b: &self.params[o.b..o.b + o.out], out: o.out, inp: o.inp }
    }

    /// d, without needing the [`Energy`](crate::Energy) trait in scope.
    pub(crate) fn dim_in(&self) -> usize {
        self.dims[0]
    }

    /// The widest of d and the hidden widths.
    pub(crate) fn max_width(&self) -> usize {
        self.dims.iter().copied().max().unwrap_or(1)
    }

    fn require_smooth(&self, objective: &'static str) -> Result<()> {
        if self.act.is_smooth() {
            Ok(())
        } else {
            Err(EbmError::Activation { activation: self.act.name(), objective })
        }
    }
}

const INIT_STREAM: u64 = 0x6d6c70;

fn layout(dim: usize, hidden: &[usize]) -> Result<(Vec<usize>, Vec<LayerOffset>, usize)> {
    if dim == 0 {
        return Err(EbmError::InvalidConfig("mlp: the dimension must be at least 1".into()));
    }
    if hidden.is_empty() {
        return Err(EbmError::InvalidConfig("mlp: needs at least one hidden layer".into()));
    }
    if let Some(l) = hidden.iter().position(|&h| h == 0) {
        return Err(EbmError::InvalidConfig(format!("mlp: hidden layer {} has width 0", l + 1)));
    }
    let mut dims = Vec::with_capacity(hidden.len() + 2);
    dims.push(dim);
    dims.extend_from_slice(hidden);
    dims.push(1);
    let mut offsets = Vec::with_capacity(hidden.len() + 1);
    let mut at = 0usize;
    for win in dims.windows(2) {
        let (inp, out) = (win[0], win[1]);
        let size = out
            .checked_mul(inp)
            .and_then(|s| s.checked_add(out))
            .and_then(|s| s.checked_add(at))
            .ok_or_else(|| EbmError::InvalidConfig("mlp: parameter count overflows".into()))?;
        offsets.push(LayerOffset { w: at, b: at + out * inp, out, inp });
        at = size;
    }
    Ok((dims, offsets, at))
}

/// The passes behind [`crate::Energy`], [`crate::Trainable`] and [`crate::Curvature`] (see
/// [`crate::family`]), on checked slices.
impl<T: Real> Mlp<T> {
    fn family_name(&self) -> &'static str {
        "mlp"
    }

    /// E, and the score and Hessian diagonal when `out` asks for them.
    fn forward(&self, x: &[T], out: Out<'_, T>) -> Result<()> {
        match out {
            Out { e, s: None, .. } => forward::energy(self, x, e),
            Out { e, s: Some(s), h: None } => forward::energy_score(self, x, e, s),
            Out { e, s: Some(s), h: Some(h) } => {
                self.require_smooth("hess_diag")?;
                hess_diag::energy_score_hess_diag(self, x, e, s, h)
            }
        }
        Ok(())
    }

    /// `grad ← Σᵦ wᵦ ∇θ target(xᵦ)`.
    fn grad_target(&self, x: &[T], target: Target<'_, T>, w: &[T], grad: &mut [T]) -> Result<()> {
        match target {
            Target::Energy => grad_params::grad_energy(self, x, w, grad),
            Target::VDotGradX(v) => grad_params::grad_v_dot_grad_x(self, x, &v, w, grad),
            Target::ScoreMatching => {
                self.require_smooth("grad_params_sm")?;
                grad_sm::grad_sm(self, x, w, grad);
            }
        }
        Ok(())
    }

    /// `out[b] = vᵦᵀ∇ₓ²E(xᵦ)vᵦ`.
    fn v_hess_v_impl(&self, x: &[T], v: &[T], out: &mut [T]) -> Result<()> {
        self.require_smooth("v_hess_v")?;
        v_hess_v::v_hess_v(self, x, v, out);
        Ok(())
    }

    /// `grad ← Σᵦ wᵦ ∇θ(vᵦᵀ∇ₓ²E(xᵦ)vᵦ)`, v held fixed.
    fn grad_v_hess_v_impl(&self, x: &[T], v: &[T], w: &[T], grad: &mut [T]) -> Result<()> {
        self.require_smooth("grad_params_v_hess_v")?;
        v_hess_v::grad_v_hess_v(self, x, v, w, grad);
        Ok(())
    }
}

crate::family::family_traits!(Mlp, dims[0]);

/// One pass for each objective: the gradient passes already hold every term
/// of the loss (see the module docs).
impl<T: Real> Objectives<T> for Mlp<T> {
    fn sm_loss_grad(&self, x: Batch<'_, T>, w: Weights<'_, T>, mut grad: ParamGrad<'_, T>) -> Result<f64> {
        self.require_smooth("sm_loss_grad_params")?;
        Ok(grad_sm::grad_sm(self, &x, &w, &mut grad).to_f64())
    }

    fn score_regression_grad(
        &self,
        x: Batch<'_, T>,
        target: Batch<'_, T>,
        w: Weights<'_, T>,
        mut grad: ParamGrad<'_, T>,
    ) -> Result<f64> {
        Ok(grad_params::score_regression(self, &x, &target, &w, &mut grad).to_f64())
    }

    fn energy_weighted_grad(
        &self,
        x: Batch<'_, T>,
        weight: &(dyn Fn(usize, T) -> T + Sync),
        mut energy: PerSample<'_, T>,
        mut grad: ParamGrad<'_, T>,
    ) -> Result<()> {
        grad_params::grad_energy_with(self, &x, weight, &mut energy, &mut grad);
        let w: Vec<T> = energy.iter().enumerate().map(|(j, &e)| weight(j, e)).collect();
        check_finite("weights", &w, 1)
    }

    /// The one-pass path of `energy_weighted_grad` with the given weights
    /// (the same sweeps, so the same bits).
    fn weighted_energy_grad(
        &self,
        x: Batch<'_, T>,
        w: Weights<'_, T>,
        mut energy: PerSample<'_, T>,
        mut grad: ParamGrad<'_, T>,
    ) -> Result<()> {
        grad_params::grad_energy_with(self, &x, &|j, _| w[j], &mut energy, &mut grad);
        Ok(())
    }
}

/// The cache-resident ULA loop (bit for bit the reference's chains); MALA
/// is the reference.
impl<T: Real> Langevin<T> for Mlp<T> {
    fn ula_at(&self, mut x: Chains<'_, T>, eps: T, steps: usize, at: crate::langevin::NoiseAt) -> Result<()> {
        crate::langevin::check_step(eps)?;
        langevin::ula(self, &mut x, eps, steps, at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnergyExt, Trainable};

    /// The cache-resident ULA loop ([`langevin`]) must give the reference's
    /// chains bit for bit (seed eq 14), on batches that do not fill the last
    /// chunk, in both precisions.
    #[test]
    fn fused_ula_is_bit_identical_to_the_reference() {
        fn check<T: Real>(act: Activation) {
            let m = Mlp::<f64>::init(5, &[33, 17], act, 3).unwrap().cast::<T>();
            for b in [1usize, 7, 1000] {
                let x0: Vec<T> =
                    crate::testing::normal_vec(11 + b as u64, b * 5).into_iter().map(T::from_f64).collect();
                let (mut fused, mut reference) = (x0.clone(), x0.clone());
                let eps = T::from_f64(0.05);
                m.langevin_ula(&mut fused, eps, 4, 9, 2).unwrap();
                crate::langevin::ula(&m, &mut reference, eps, 4, 9, 2).unwrap();
                let bits = |v: &[T]| v.iter().map(|&a| Real::to_f64(a).to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fused), bits(&reference), "b={b}");
                assert_ne!(bits(&fused), bits(&x0), "chains must move");
            }
        }
        for act in Activation::ALL {
            check::<f32>(act);
            check::<f64>(act);
        }
        let m = Mlp::<f32>::init(2, &[4], Activation::Tanh, 0).unwrap();
        assert!(matches!(m.langevin_ula(&mut [0.0; 3], 0.1, 1, 0, 0), Err(EbmError::RaggedBatch { .. })));
        assert!(matches!(m.langevin_ula(&mut [0.0; 4], -0.1, 1, 0, 0), Err(EbmError::InvalidConfig(_))));
    }

    #[test]
    fn layout_is_pytorch_state_dict_order() {
        let m = Mlp::<f64>::init(3, &[4, 5], Activation::Tanh, 1).unwrap();
        let o = m.layer_offsets();
        assert_eq!(o.len(), 3);
        assert_eq!(o[0], LayerOffset { w: 0, b: 12, out: 4, inp: 3 });
        assert_eq!(o[1], LayerOffset { w: 16, b: 36, out: 5, inp: 4 });
        assert_eq!(o[2], LayerOffset { w: 41, b: 46, out: 1, inp: 5 });
        assert_eq!(m.num_params(), 47);
        assert_eq!(m.dims(), &[3, 4, 5, 1]);
        assert_eq!(m.hidden(), &[4, 5]);
        // PyTorch-style bounds: 1/√fan_in per layer.
        for l in o {
            let bound = 1.0 / (l.inp as f64).sqrt();
            assert!(m.params()[l.w..l.b + l.out].iter().all(|p| p.abs() < bound));
        }
    }
}
