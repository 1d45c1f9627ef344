//! [`Counted`]: a model (`Energy<f32>` and every capability trait) that forwards every call to the model it
//! wraps and records which methods ran, on how many samples, where (on the
//! device or on the CPU twin) and their modelled FLOPs ([`crate::flops`]).
//! `gpu_roofline` runs each primitive and estimator step through it once,
//! so the FLOP count and the "where" of an estimator step are read off the
//! calls the step really makes, not written down by hand.
//!
//! Every trait method, the fused objectives and the samplers included, is
//! forwarded to the wrapped model's own, so what runs is exactly what the
//! model runs.

use crate::flops::{flops, Method};
use crate::MlpShape;
use ebm_core::langevin::NoiseAt;
use ebm_core::mlp::Mlp;
use ebm_core::{
    Batch, Chains, Curvature, Energy, Langevin, Objectives, Outputs, ParamGrad, PerSample, Result, Target, Trainable,
    Weights,
};
use ebm_kernels::{GpuEnergy, Op, Placement};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Where a method of a GPU model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// On the device.
    Device,
    /// Refused by the device model (`KernelError::NotOnDevice`): the call
    /// fails and the case is "not run".
    Refused,
    /// On the CPU twin (only under the opt-in `Fallback::CpuTwin`).
    CpuTwin,
}

impl Place {
    /// `device`, `refused`, `CPU twin`.
    pub fn label(self) -> &'static str {
        match self {
            Place::Device => "device",
            Place::Refused => "refused",
            Place::CpuTwin => "CPU twin",
        }
    }
}

/// Where each method of an MLP on `GpuEnergy` runs, as the model itself
/// says in advance ([`GpuEnergy::placement`]).
pub fn gpu_place(g: &GpuEnergy<Mlp<f32>>, m: Method) -> Place {
    let op = match m {
        Method::Energy => Op::Energy,
        Method::EnergyScore => Op::EnergyScore,
        Method::HessDiag => Op::HessDiag,
        Method::GradParamsEnergy | Method::GradParamsEnergyWith => Op::GradEnergy,
        Method::GradParamsVDotGradX | Method::GradParamsScoreRegression => Op::GradVDotGradX,
        Method::GradParamsSm | Method::SmLossGradParams => Op::GradSm,
        Method::VHessV => Op::VHessV,
        Method::GradParamsVHessV => Op::GradVHessV,
        Method::UlaStep => Op::Ula,
        Method::MalaStep | Method::MalaStart => Op::Mala,
    };
    match g.placement(op) {
        Placement::Device => Place::Device,
        Placement::Refused(_) => Place::Refused,
        Placement::CpuTwin(_) => Place::CpuTwin,
    }
}

/// What one or more calls did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Per method: (calls, samples, place).
    pub calls: BTreeMap<Method, (u64, u64, Option<Place>)>,
    /// Modelled FLOPs per place.
    pub flops: BTreeMap<Place, f64>,
}

impl Tally {
    /// All modelled FLOPs.
    pub fn total_flops(&self) -> f64 {
        self.flops.values().sum()
    }

    /// The places the calls ran on, worst first (CPU twin before device).
    pub fn places(&self) -> Vec<Place> {
        let mut p: Vec<Place> = self.flops.keys().copied().collect();
        p.sort_by(|a, b| b.cmp(a));
        p
    }

    /// `method×calls@place` for every method, e.g. `energy×2@device`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .calls
            .iter()
            .map(|(m, (n, _, p))| format!("{}×{n}@{}", m.name(), p.map_or("?", Place::label)))
            .collect();
        parts.join(", ")
    }
}

/// The wrapper (module docs).
pub struct Counted<E> {
    inner: E,
    shape: MlpShape,
    place: fn(&E, Method) -> Place,
    tally: Mutex<Tally>,
}

impl<E: Energy<f32>> Counted<E> {
    /// Wraps `inner`, an MLP of `shape`, whose methods run where `place` says.
    pub fn new(inner: E, shape: MlpShape, place: fn(&E, Method) -> Place) -> Self {
        Self { inner, shape, place, tally: Mutex::new(Tally::default()) }
    }

    /// The wrapped model.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The calls recorded since the last `take`, and starts afresh.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn note(&self, m: Method, samples: usize, times: u64) {
        let place = (self.place)(&self.inner, m);
        let mut t = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        let e = t.calls.entry(m).or_insert((0, 0, Some(place)));
        e.0 += times;
        e.1 += samples as u64 * times;
        *t.flops.entry(place).or_insert(0.0) += flops(self.shape, m, samples) * times as f64;
    }
}

/// Writes trait methods of [`Counted`], each noting its calls, then
/// forwarding to the wrapped model's method of the same name:
/// `fn name(x: X, arg: A, …) -> R { method => times, … }` notes `times`
/// calls of each `method` on `x`'s rows (`method` and `times` may read the
/// arguments).
macro_rules! counted {
    ($(fn $name:ident($x:ident: $xt:ty $(, $arg:ident: $at:ty)* $(,)?) -> $ret:ty {
        $($method:expr => $times:expr),+ $(,)?
    })*) => {$(
        fn $name(&self, $x: $xt $(, $arg: $at)*) -> $ret {
            $(self.note($method, $x.rows(), $times);)+
            self.inner.$name($x $(, $arg)*)
        }
    )*};
}

/// The primitive an `eval` asking for `out` runs.
fn eval_method(out: &Outputs<'_, f32>) -> Method {
    match (out.wants_score(), out.wants_hess_diag()) {
        (_, true) => Method::HessDiag,
        (true, false) => Method::EnergyScore,
        _ => Method::Energy,
    }
}

/// The parameter gradient a `grad_params` of `target` runs.
fn grad_method(target: &Target<'_, f32>) -> Method {
    match target {
        Target::Energy => Method::GradParamsEnergy,
        Target::VDotGradX(_) => Method::GradParamsVDotGradX,
        Target::ScoreMatching => Method::GradParamsSm,
    }
}

impl<E: Energy<f32>> Energy<f32> for Counted<E> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    counted! {
        fn eval(x: Batch<'_, f32>, out: Outputs<'_, f32>) -> Result<()> { eval_method(&out) => 1 }
    }
}

impl<E: Trainable<f32>> Trainable<f32> for Counted<E> {
    fn params(&self) -> &[f32] {
        self.inner.params()
    }
    fn params_mut(&mut self) -> &mut [f32] {
        self.inner.params_mut()
    }
    fn num_params(&self) -> usize {
        self.inner.num_params()
    }
    fn set_params(&mut self, theta: &[f32]) -> Result<()> {
        self.inner.set_params(theta)
    }
    counted! {
        fn grad_params(x: Batch<'_, f32>, target: Target<'_, f32>, w: Weights<'_, f32>, grad: ParamGrad<'_, f32>)
            -> Result<()> { grad_method(&target) => 1 }
    }
}

impl<E: Curvature<f32>> Curvature<f32> for Counted<E> {
    counted! {
        fn eval_v_hess_v(x: Batch<'_, f32>, v: Batch<'_, f32>, out: PerSample<'_, f32>)
            -> Result<()> { Method::VHessV => 1 }
        fn grad_v_hess_v(x: Batch<'_, f32>, v: Batch<'_, f32>, w: Weights<'_, f32>, grad: ParamGrad<'_, f32>)
            -> Result<()> { Method::GradParamsVHessV => 1 }
    }
}

/// Forwards each fused objective to the wrapped model's own (counted as
/// one call of the fused method, whatever the model does inside).
impl<E: Objectives<f32>> Objectives<f32> for Counted<E> {
    counted! {
        fn sm_loss_grad(x: Batch<'_, f32>, w: Weights<'_, f32>, grad: ParamGrad<'_, f32>)
            -> Result<f64> { Method::SmLossGradParams => 1 }
        fn score_regression_grad(
            x: Batch<'_, f32>, target: Batch<'_, f32>, w: Weights<'_, f32>, grad: ParamGrad<'_, f32>,
        ) -> Result<f64> { Method::GradParamsScoreRegression => 1 }
        fn energy_weighted_grad(
            x: Batch<'_, f32>, weight: &(dyn Fn(usize, f32) -> f32 + Sync), energy: PerSample<'_, f32>,
            grad: ParamGrad<'_, f32>,
        ) -> Result<()> { Method::GradParamsEnergyWith => 1 }
    }
}

impl<E: Langevin<f32>> Langevin<f32> for Counted<E> {
    // `ula`/`mala` are these at chain 0 (the trait's provided methods).
    counted! {
        fn ula_at(x: Chains<'_, f32>, eps: f32, steps: usize, at: NoiseAt)
            -> Result<()> { Method::UlaStep => steps as u64 }
        fn mala_at(x: Chains<'_, f32>, eps: f32, steps: usize, at: NoiseAt, accepts: PerSample<'_, u32>)
            -> Result<f64> { Method::MalaStart => 1, Method::MalaStep => steps as u64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::mlp::Activation;
    use ebm_core::EnergyExt;

    #[test]
    fn counts_calls_samples_and_flops_and_forwards_results() {
        let shape = MlpShape { dim: 3, hidden: [4, 5] };
        let m = Mlp::<f32>::init(3, &[4, 5], Activation::Softplus, 1).unwrap();
        let c = Counted::new(m.clone(), shape, |_, _| Place::Device);
        let x = vec![0.5f32; 6];
        let (mut e, mut want) = (vec![0f32; 2], vec![0f32; 2]);
        c.energy(&x, &mut e).unwrap();
        m.energy(&x, &mut want).unwrap();
        assert_eq!(e, want);
        let mut xs = x.clone();
        c.langevin_ula(&mut xs, 0.1, 3, 1, 0).unwrap();
        let t = c.take();
        assert_eq!(t.calls[&Method::Energy], (1, 2, Some(Place::Device)));
        assert_eq!(t.calls[&Method::UlaStep], (3, 6, Some(Place::Device)));
        let want_flops = flops(shape, Method::Energy, 2) + 3.0 * flops(shape, Method::UlaStep, 2);
        assert_eq!(t.total_flops(), want_flops);
        assert_eq!(t.summary(), "energy×1@device, ula_step×3@device");
        assert!(c.take().calls.is_empty(), "take starts afresh");
    }
}
