//! The cases of `gpu_roofline`: every primitive and estimator step on a GPU
//! MLP over a grid of shapes and batch sizes, each timed with adaptive
//! repetitions within a per-case budget, under one overall deadline.
//!
//! A case is measured, or reported as not run with its reason: the
//! deadline (`not run: deadline`), a method that `GpuEnergy` would run
//! wholly on its CPU twin (only under the opt-in `Fallback::CpuTwin`:
//! nothing of the device to measure), or the error of its warm-up call (a
//! refusal, `KernelError::NotOnDevice`, names the limit). No case is
//! dropped without a line.
//!
//! Timing: one untimed warm-up call (kernel compilation, uploads, buffers;
//! for a step also building the estimator), then timed calls until the
//! case budget is spent, at least 3 and at most 51; the median and the
//! fastest are reported. Every call returns only after its results are on
//! the host (the `Energy` interface), so each time includes the read-back.
//! The FLOPs of a case are those of the calls the first timed call made,
//! through [`crate::counted::Counted`] and the models of [`crate::flops`];
//! so is its "where" (`GpuEnergy::placement` of each method).

use crate::counted::{gpu_place, Counted, Place, Tally};
use crate::flops::Method;
use crate::steps::EstimatorStep;
use crate::targets::{Io, NotRun, Primitive};
use crate::MlpShape;
use ebm_core::mlp::Mlp;
use ebm_core::prelude::*;
use ebm_core::Energy;
use ebm_kernels::GpuEnergy;
use std::time::Instant;

/// The GPU model of a case, counted.
pub type GpuModel = Counted<GpuEnergy<Mlp<f32>>>;

/// One operation of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A primitive of the criterion benches.
    Prim(Primitive),
    /// `v_hess_v` along seeded normal directions.
    VHessV,
    /// `grad_params_v_hess_v` along seeded normal directions.
    GradParamsVHessV,
    /// One estimator training step ([`crate::steps`]).
    Step(EstimatorStep),
}

impl Op {
    /// Every operation, in table order.
    pub fn all() -> Vec<Op> {
        let mut v: Vec<Op> = Primitive::ALL.iter().map(|&p| Op::Prim(p)).collect();
        v.push(Op::VHessV);
        v.push(Op::GradParamsVHessV);
        v.extend(EstimatorStep::ALL.iter().map(|&s| Op::Step(s)));
        v
    }

    /// The operation's name: the criterion group name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Prim(p) => p.group(),
            Op::VHessV => "v_hess_v",
            Op::GradParamsVHessV => "grad_params_v_hess_v",
            Op::Step(s) => s.group(),
        }
    }

    /// The operation named `s`.
    pub fn parse(s: &str) -> Option<Op> {
        Op::all().into_iter().find(|o| o.name() == s)
    }

    /// Whether this is an estimator step.
    pub fn is_step(self) -> bool {
        matches!(self, Op::Step(_))
    }

    /// The methods a primitive calls (empty for steps, whose calls are
    /// read off their warm-up).
    fn methods(self) -> Vec<Method> {
        match self {
            Op::Prim(Primitive::HessDiagDecomposed) => vec![Method::EnergyScore, Method::VHessV],
            Op::VHessV => vec![Method::VHessV],
            Op::GradParamsVHessV => vec![Method::GradParamsVHessV],
            _ => vec![],
        }
    }
}

/// One case of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The operation.
    pub op: Op,
    /// The MLP shape.
    pub shape: MlpShape,
    /// The batch size.
    pub batch: usize,
}

impl Case {
    /// `op shape Bbatch`, e.g. `energy d64_h256-256 B65536`.
    pub fn id(&self) -> String {
        format!("{} {} B{}", self.op.name(), self.shape.id(), self.batch)
    }
}

/// A measured case.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Median seconds per call.
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Timed calls.
    pub reps: usize,
    /// Seconds of the warm-up call (compilation included).
    pub warmup_s: f64,
    /// What one call ran: methods, places, modelled FLOPs.
    pub tally: Tally,
}

impl Timing {
    /// Modelled GFLOP/s at the median.
    pub fn gflops(&self) -> f64 {
        self.tally.total_flops() / self.median_s * 1e-9
    }

    /// Where the call ran: `device`, or every place, worst first.
    pub fn places(&self) -> String {
        let p: Vec<&str> = self.tally.places().into_iter().map(Place::label).collect();
        if p.is_empty() {
            "-".into()
        } else {
            p.join(", ")
        }
    }
}

/// What became of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Measured.
    Ran(Timing),
    /// Not run, with the reason.
    NotRun(String),
}

/// Runs `case` on `m` within `budget_s` seconds of timed calls. Returns
/// `NotRun` with the warm-up's error when the backend refuses the case,
/// or when every method of the case runs on the CPU twin.
pub fn run_case(m: &GpuModel, case: Case, budget_s: f64) -> Outcome {
    let methods = case.op.methods();
    if !methods.is_empty() && methods.iter().all(|&me| gpu_place(m.inner(), me) == Place::CpuTwin) {
        let what: Vec<&str> = methods.iter().map(|me| me.name()).collect();
        return Outcome::NotRun(format!(
            "GpuEnergy runs {} on the CPU twin for this model (Fallback::CpuTwin): nothing of the device to measure",
            what.join(" and ")
        ));
    }
    m.take();
    let t0 = Instant::now();
    let prepared: Result<Box<dyn FnMut() + '_>, NotRun> = match case.op {
        Op::Prim(p) => prepare_prim(m, case.batch, move |m, io| p.run(m, io)),
        Op::VHessV => prepare_prim(m, case.batch, |m, io| m.v_hess_v(&io.x, &io.v, &mut io.q)),
        Op::GradParamsVHessV => {
            prepare_prim(m, case.batch, |m, io| m.grad_params_v_hess_v(&io.x, &io.v, &io.w, &mut io.g))
        }
        Op::Step(s) => s.prepared(m as &dyn Model<f32>, case.batch),
    };
    let mut f = match prepared {
        Ok(f) => f,
        Err(e) => return Outcome::NotRun(format!("{e}")),
    };
    let warmup_s = t0.elapsed().as_secs_f64();
    // The calls of one timed call: the first one's (the warm-up of a step
    // also built its estimator, and NCE's c₀ runs `energy`).
    m.take();
    let mut tally = None;
    let mut times = Vec::new();
    let spent = Instant::now();
    loop {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
        if tally.is_none() {
            tally = Some(m.take());
        }
        let enough = spent.elapsed().as_secs_f64() >= budget_s && times.len() >= 3;
        if enough || times.len() >= 51 {
            break;
        }
    }
    m.take();
    let tally = tally.expect("one call at least");
    times.sort_by(f64::total_cmp);
    Outcome::Ran(Timing { median_s: times[times.len() / 2], min_s: times[0], reps: times.len(), warmup_s, tally })
}

/// A closure running `run` on seeded inputs of `b` samples, after one call.
fn prepare_prim<'a>(
    m: &'a GpuModel,
    b: usize,
    run: impl Fn(&GpuModel, &mut Io<f32>) -> ebm_core::Result<()> + 'a,
) -> Result<Box<dyn FnMut() + 'a>, NotRun> {
    let mut io = Io::<f32>::new(b, m.dim(), m.num_params());
    run(m, &mut io)?;
    Ok(Box::new(move || run(m, &mut io).expect("operation failed after a successful warm-up")))
}
