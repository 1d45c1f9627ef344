//! The FLOP model of every `Energy` method for the bench MLP, which turns a
//! time into GFLOP/s in `gpu_roofline`. A multiply-add counts as 2.
//!
//! With F = 2(d·H₁ + H₁·H₂ + H₂), the forward pass of one sample, and
//! H = [`MlpShape::hess_diag_flops`] for one sample, per sample:
//!
//! | method | FLOPs per sample | why |
//! | --- | --- | --- |
//! | `energy` | F | the forward pass |
//! | `energy_score` | 2F | forward, and backward to ∇ₓE |
//! | `energy_score_hess_diag` | H | forward, backward, Jacobian propagation, squared epilogue |
//! | `grad_params_energy` | 3F | forward, backward to the activations, outer products into ∇θ |
//! | `grad_params_energy_with` | 4F | `energy` then `grad_params_energy` (the trait's default, which `GpuEnergy` uses) |
//! | `grad_params_v_dot_grad_x` | 6F | the score pass (2F) and reverse mode over it (2 × 2F) |
//! | `grad_params_score_regression` | 8F | `energy_score` then `grad_params_v_dot_grad_x` (the default) |
//! | `grad_params_sm` | 3H | the Hessian-diagonal pass and reverse mode over it (2H) |
//! | `sm_loss_grad_params` | 4H | `grad_params_sm` then `energy_score_hess_diag` (the default) |
//! | `v_hess_v` | 4F | forward and backward passes, each with its tangent along v |
//! | `grad_params_v_hess_v` | 12F | the `v_hess_v` pass and reverse mode over it |
//! | `langevin_ula`, per step | 2F | one `energy_score`; the update's 3d is not counted |
//! | `langevin_mala`, per step | 2F, plus 2F once | one `energy_score` of the proposal (the current point's is carried), plus the start's |
//!
//! What is not counted: the batch reductions of the parameter gradients
//! (memory traffic: P adds per sample), element-wise updates, noise draws
//! and the host-side parts of the estimators. The models are the usual
//! "backward = 2 × forward" accounting, not instruction counts: a rate
//! above the adapter's peak would mean a model that overcounts, never a
//! faster adapter.

use crate::MlpShape;

/// A method of the `Energy` interface, as counted by [`flops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `energy`.
    Energy,
    /// `energy_score`.
    EnergyScore,
    /// `energy_score_hess_diag`.
    HessDiag,
    /// `grad_params_energy`.
    GradParamsEnergy,
    /// `grad_params_energy_with`.
    GradParamsEnergyWith,
    /// `grad_params_v_dot_grad_x`.
    GradParamsVDotGradX,
    /// `grad_params_score_regression`.
    GradParamsScoreRegression,
    /// `grad_params_sm`.
    GradParamsSm,
    /// `sm_loss_grad_params`.
    SmLossGradParams,
    /// `v_hess_v`.
    VHessV,
    /// `grad_params_v_hess_v`.
    GradParamsVHessV,
    /// One step of `langevin_ula`.
    UlaStep,
    /// One step of `langevin_mala`.
    MalaStep,
    /// The start of one `langevin_mala` call (the first point's energy and score).
    MalaStart,
}

impl Method {
    /// The method's name in the `Energy` trait (`ula_step` and
    /// `mala_step` / `mala_start` for the Langevin parts).
    pub fn name(self) -> &'static str {
        match self {
            Method::Energy => "energy",
            Method::EnergyScore => "energy_score",
            Method::HessDiag => "energy_score_hess_diag",
            Method::GradParamsEnergy => "grad_params_energy",
            Method::GradParamsEnergyWith => "grad_params_energy_with",
            Method::GradParamsVDotGradX => "grad_params_v_dot_grad_x",
            Method::GradParamsScoreRegression => "grad_params_score_regression",
            Method::GradParamsSm => "grad_params_sm",
            Method::SmLossGradParams => "sm_loss_grad_params",
            Method::VHessV => "v_hess_v",
            Method::GradParamsVHessV => "grad_params_v_hess_v",
            Method::UlaStep => "ula_step",
            Method::MalaStep => "mala_step",
            Method::MalaStart => "mala_start",
        }
    }
}

/// F: the forward pass of one sample, 2(d·H₁ + H₁·H₂ + H₂).
pub fn forward(shape: MlpShape) -> f64 {
    let (d, h1, h2) = (shape.dim as f64, shape.hidden[0] as f64, shape.hidden[1] as f64);
    2.0 * (d * h1 + h1 * h2 + h2)
}

/// The modelled FLOPs of one call of `m` on `b` samples (module docs).
pub fn flops(shape: MlpShape, m: Method, b: usize) -> f64 {
    let f = forward(shape);
    let h = shape.hess_diag_flops(1);
    let per = match m {
        Method::Energy => f,
        Method::EnergyScore => 2.0 * f,
        Method::HessDiag => h,
        Method::GradParamsEnergy => 3.0 * f,
        Method::GradParamsEnergyWith => 4.0 * f,
        Method::GradParamsVDotGradX => 6.0 * f,
        Method::GradParamsScoreRegression => 8.0 * f,
        Method::GradParamsSm => 3.0 * h,
        Method::SmLossGradParams => 4.0 * h,
        Method::VHessV => 4.0 * f,
        Method::GradParamsVHessV => 12.0 * f,
        Method::UlaStep | Method::MalaStep | Method::MalaStart => 2.0 * f,
    };
    per * b as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_scale_with_the_batch_and_agree_with_the_hessian_count() {
        let s = MlpShape { dim: 64, hidden: [256, 256] };
        assert_eq!(forward(s), 2.0 * (64.0 * 256.0 + 256.0 * 256.0 + 256.0));
        assert_eq!(flops(s, Method::HessDiag, 1000), s.hess_diag_flops(1000));
        assert_eq!(flops(s, Method::Energy, 10), 10.0 * forward(s));
        assert_eq!(
            flops(s, Method::GradParamsEnergyWith, 3),
            flops(s, Method::Energy, 3) + flops(s, Method::GradParamsEnergy, 3)
        );
        assert_eq!(
            flops(s, Method::SmLossGradParams, 3),
            flops(s, Method::GradParamsSm, 3) + flops(s, Method::HessDiag, 3)
        );
    }
}
