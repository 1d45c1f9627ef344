//! The backends a bench runs on: the CPU in f64 (the reference) and f32, and
//! the GPU on every adapter wgpu finds.

use ebm_core::mlp::{Activation, Mlp};
use ebm_core::prelude::*;
use ebm_core::Real;
use ebm_kernels::{AdapterKind, AdapterSelector, DeviceInfo, GpuDevice, GpuEnergy};

use crate::steps::EstimatorStep;
use crate::MlpShape;

/// Why a bench case could not run on a backend (printed by the bench in its
/// `not run on this backend` line).
pub type NotRun = Box<dyn std::error::Error + Send + Sync>;

/// One backend holding one model, behind the `Energy` interface.
pub enum Target {
    /// The CPU reference in f64.
    CpuF64(Mlp<f64>),
    /// The CPU in f32.
    CpuF32(Mlp<f32>),
    /// A GPU adapter (f32 kernels).
    Gpu(Box<GpuEnergy<Mlp<f32>>>, DeviceInfo),
}

/// Scratch buffers for one (target, batch) pair, in the target's precision.
pub struct Io<T> {
    /// The batch x (B×d).
    pub x: Vec<T>,
    /// Per-sample directions v (B×d).
    pub v: Vec<T>,
    /// Per-sample weights (B).
    pub w: Vec<T>,
    /// Energy output (B).
    pub e: Vec<T>,
    /// Score output (B×d).
    pub s: Vec<T>,
    /// Hessian-diagonal output (B×d).
    pub h: Vec<T>,
    /// Parameter-gradient output.
    pub g: Vec<T>,
    /// MALA acceptance counters.
    pub acc: Vec<u32>,
    /// Unit directions of the decomposed Hessian diagonal (B×d scratch).
    pub u: Vec<T>,
    /// One decomposed second-derivative pass's output (B scratch).
    pub q: Vec<T>,
}

impl<T: Real> Io<T> {
    /// Seeded inputs for `b` samples of a model with `d` dims and `p` parameters.
    pub fn new(b: usize, d: usize, p: usize) -> Self {
        Self {
            x: crate::normal_batch(1, b, d),
            v: crate::normal_batch(2, b, d),
            w: vec![T::from_f64(1.0 / b as f64); b],
            e: vec![T::zero(); b],
            s: vec![T::zero(); b * d],
            h: vec![T::zero(); b * d],
            g: vec![T::zero(); p],
            acc: vec![0; b],
            u: vec![T::zero(); b * d],
            q: vec![T::zero(); b],
        }
    }
}

/// A primitive of the `Energy` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// `energy`.
    Energy,
    /// `energy_score`.
    EnergyScore,
    /// `energy_score_hess_diag` (fused).
    HessDiag,
    /// The same outputs decomposed: `energy_score`, then d separate
    /// `v_hess_v` passes with v = eᵢ ([`crate::hess_diag_decomposed`]); the
    /// baseline of `HessDiag`.
    HessDiagDecomposed,
    /// `grad_params_energy`.
    GradParamsEnergy,
    /// `grad_params_v_dot_grad_x`.
    GradParamsVDotGradX,
    /// `grad_params_sm`.
    GradParamsSm,
    /// 20 ULA steps in one call.
    Langevin20,
    /// 20 MALA steps in one call.
    Mala20,
    /// 20 ULA steps as 20 calls of one step (the decomposed twin of `Langevin20`).
    Langevin20Unfused,
}

impl Primitive {
    /// Every primitive, in bench order.
    pub const ALL: [Primitive; 10] = [
        Primitive::Energy,
        Primitive::EnergyScore,
        Primitive::HessDiag,
        Primitive::HessDiagDecomposed,
        Primitive::GradParamsEnergy,
        Primitive::GradParamsVDotGradX,
        Primitive::GradParamsSm,
        Primitive::Langevin20,
        Primitive::Langevin20Unfused,
        Primitive::Mala20,
    ];

    /// The criterion group name.
    pub fn group(self) -> &'static str {
        match self {
            Primitive::Energy => "energy",
            Primitive::EnergyScore => "energy_score",
            Primitive::HessDiag => "energy_score_hess_diag",
            Primitive::HessDiagDecomposed => "hess_diag_decomposed",
            Primitive::GradParamsEnergy => "grad_params_energy",
            Primitive::GradParamsVDotGradX => "grad_params_v_dot_grad_x",
            Primitive::GradParamsSm => "grad_params_sm",
            Primitive::Langevin20 => "langevin_ula_k20_fused",
            Primitive::Langevin20Unfused => "langevin_ula_k20_unfused",
            Primitive::Mala20 => "mala_k20",
        }
    }

    /// Runs the primitive once; every backend returns only after its results
    /// are on the host, so the device sync is inside the timed region.
    pub fn run<T: Real, E: Model<T>>(self, m: &E, io: &mut Io<T>) -> ebm_core::Result<()> {
        let eps = T::from_f64(0.01);
        match self {
            Primitive::Energy => m.energy(&io.x, &mut io.e),
            Primitive::EnergyScore => m.energy_score(&io.x, &mut io.e, &mut io.s),
            Primitive::HessDiag => m.energy_score_hess_diag(&io.x, &mut io.e, &mut io.s, &mut io.h),
            Primitive::HessDiagDecomposed => {
                crate::hess_diag_decomposed(m, &io.x, &mut io.e, &mut io.s, &mut io.h, &mut io.u, &mut io.q)
            }
            Primitive::GradParamsEnergy => m.grad_params_energy(&io.x, &io.w, &mut io.g),
            Primitive::GradParamsVDotGradX => m.grad_params_v_dot_grad_x(&io.x, &io.v, &io.w, &mut io.g),
            Primitive::GradParamsSm => m.grad_params_sm(&io.x, &io.w, &mut io.g),
            Primitive::Langevin20 => m.langevin_ula(&mut io.x, eps, 20, 7, 0),
            Primitive::Langevin20Unfused => (0..20u64).try_for_each(|k| m.langevin_ula(&mut io.x, eps, 1, 7, k)),
            Primitive::Mala20 => m.langevin_mala(&mut io.x, eps, 20, 7, 0, &mut io.acc).map(|_| ()),
        }
    }
}

impl crate::op::BenchOp for Primitive {
    fn group_name(self) -> &'static str {
        self.group()
    }

    /// The models of [`crate::flops`]: the decomposed Hessian diagonal is one
    /// `energy_score` and d `v_hess_v` passes; a K-step Langevin call is K
    /// steps (MALA adds its start).
    fn flops(self, shape: MlpShape, b: usize) -> Option<f64> {
        use crate::flops::{flops, Method};
        Some(match self {
            Primitive::Energy => flops(shape, Method::Energy, b),
            Primitive::EnergyScore => flops(shape, Method::EnergyScore, b),
            Primitive::HessDiag => flops(shape, Method::HessDiag, b),
            Primitive::HessDiagDecomposed => {
                flops(shape, Method::EnergyScore, b) + shape.dim as f64 * flops(shape, Method::VHessV, b)
            }
            Primitive::GradParamsEnergy => flops(shape, Method::GradParamsEnergy, b),
            Primitive::GradParamsVDotGradX => flops(shape, Method::GradParamsVDotGradX, b),
            Primitive::GradParamsSm => flops(shape, Method::GradParamsSm, b),
            Primitive::Langevin20 | Primitive::Langevin20Unfused => 20.0 * flops(shape, Method::UlaStep, b),
            Primitive::Mala20 => 20.0 * flops(shape, Method::MalaStep, b) + flops(shape, Method::MalaStart, b),
        })
    }

    fn twin(self) -> Option<(&'static str, &'static str)> {
        match self {
            Primitive::HessDiag => Some((Primitive::HessDiagDecomposed.group(), "fused vs decomposed")),
            Primitive::Langevin20 => Some((Primitive::Langevin20Unfused.group(), "fused vs decomposed")),
            _ => None,
        }
    }
}

impl Target {
    /// The backend label in bench IDs: `cpu-f64`, `cpu-f32`, `gpu-<kind>`.
    pub fn label(&self) -> String {
        match self {
            Target::CpuF64(_) => "cpu-f64".into(),
            Target::CpuF32(_) => "cpu-f32".into(),
            Target::Gpu(_, info) => format!(
                "gpu{}-{}-{}",
                info.index,
                info.backend.to_lowercase(),
                if info.kind == AdapterKind::Cpu { "software" } else { info.kind.label() }
            ),
        }
    }

    /// The backend kind, as the summary reads it.
    pub fn backend(&self) -> crate::summary::Backend {
        use crate::summary::Backend;
        match self {
            Target::CpuF64(_) => Backend::CpuF64,
            Target::CpuF32(_) => Backend::CpuF32,
            _ if self.is_software() => Backend::SoftwareGpu,
            Target::Gpu(..) => Backend::Gpu,
        }
    }

    /// Whether this is a software (CPU-emulated) GPU: correctness only.
    pub fn is_software(&self) -> bool {
        matches!(self, Target::Gpu(_, info) if info.kind == AdapterKind::Cpu)
    }

    /// A closure that runs `prim` once on a seeded `b`-sample batch held by
    /// this target, after one warm-up call (and device upload) outside the
    /// timed region. The warm-up's error is returned when the backend cannot
    /// run this primitive at this size (for example a software adapter's
    /// loop budget), so the bench can say so instead of timing nothing.
    ///
    /// A GPU target refuses (`KernelError::NotOnDevice`) what its kernels
    /// cannot hold, so nothing of the CPU is timed under a GPU label.
    pub fn primitive(&self, prim: Primitive, b: usize) -> Result<Box<dyn FnMut() + '_>, NotRun> {
        match self {
            Target::CpuF64(m) => prepared(m, prim, b),
            Target::CpuF32(m) => prepared(m, prim, b),
            Target::Gpu(m, _) => prepared(m.as_ref(), prim, b),
        }
    }

    /// A closure that runs one step of `step` (prepare + `loss_grad`, see
    /// [`crate::steps`]) on a seeded `b`-sample batch with this target's
    /// model, after one warm-up step outside the timed region; the warm-up's
    /// error is returned when the backend cannot run it.
    pub fn estimator_step(&self, step: EstimatorStep, b: usize) -> Result<Box<dyn FnMut() + '_>, NotRun> {
        match self {
            Target::CpuF64(m) => step.prepared(m, b),
            Target::CpuF32(m) => step.prepared(m, b),
            Target::Gpu(m, _) => step.prepared(m.as_ref(), b),
        }
    }
}

fn prepared<'a, T: Real, E: Model<T>>(m: &'a E, prim: Primitive, b: usize) -> Result<Box<dyn FnMut() + 'a>, NotRun> {
    let mut io = Io::<T>::new(b, m.dim(), m.num_params());
    prim.run(m, &mut io)?;
    Ok(Box::new(move || prim.run(m, &mut io).expect("primitive failed after a successful warm-up")))
}

/// The CPU targets for a shape: f64 reference and f32.
pub fn cpu_targets(shape: MlpShape, act: Activation) -> Vec<Target> {
    let m64 = Mlp::<f64>::init(shape.dim, &shape.hidden, act, 42).expect("mlp init");
    let m32 = m64.cast::<f32>();
    vec![Target::CpuF64(m64), Target::CpuF32(m32)]
}

/// One GPU target per adapter wgpu finds, with the same weights as the CPU
/// targets, and one line per adapter for the log.
pub fn gpu_targets(shape: MlpShape, act: Activation) -> (Vec<Target>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let m32 = Mlp::<f64>::init(shape.dim, &shape.hidden, act, 42).expect("mlp init").cast::<f32>();
    for (i, info) in ebm_kernels::list_adapters().into_iter().enumerate() {
        let sel = AdapterSelector::Index(i);
        match GpuDevice::new(&sel).and_then(|dev| GpuEnergy::new(&dev, m32.clone())) {
            Ok(g) => out.push(Target::Gpu(Box::new(g), info)),
            Err(e) => notes.push(format!("adapter {} not benched: {e}", info.name)),
        }
    }
    (out, notes)
}
