//! The loss-term launches ([`crate::terms`]) and read-backs of the fused
//! objectives, shared by the device models ([`crate::GpuEnergy`] on either
//! kernel set, [`crate::GpuSym`]): each takes the outputs of the model's
//! own energy kernels and leaves its results on the device.

use crate::device::GpuDevice;
use crate::error::Result;
use crate::launch::{arg, grid, upload_f32};
use crate::nce::{NceArgsLaunch, NceOutsLaunch};
use crate::on_device::copy_out;
use crate::reduce::sum_on_device;
use crate::terms::{nce_energy_kernel, score_terms_kernel};
use cubecl::bytes::Bytes;
use cubecl::server::Handle;

/// Reads `hs` back from the device.
pub(crate) fn read(dev: &GpuDevice, hs: Vec<Handle>) -> Result<Vec<Bytes>> {
    dev.client().read(hs).map_err(|e| dev.exec_err(e))
}

/// The first f32 of a read-back buffer, widened.
pub(crate) fn first(b: &Bytes) -> f64 {
    bytemuck::cast_slice::<u8, f32>(b)[0] as f64
}

/// The score-regression residual r = ∇ₓE − t and the sum of the terms
/// w·½‖r‖² of `batch` samples: `(r, Σ terms)`.
pub(crate) fn residual_loss(
    dev: &GpuDevice,
    score: &Handle,
    t: &Handle,
    w: &Handle,
    batch: usize,
    d: usize,
) -> Result<(Handle, Handle)> {
    let r = dev.client().empty(batch * d * 4);
    let loss = score_loss(dev, [score, t, w, &r], batch, d, true)?;
    Ok((r, loss))
}

/// The score-matching loss Σ w𝒥 of `batch` samples from their score and
/// Hessian diagonal.
pub(crate) fn sm_loss(
    dev: &GpuDevice,
    score: &Handle,
    hess: &Handle,
    w: &Handle,
    batch: usize,
    d: usize,
) -> Result<Handle> {
    let dummy = dev.client().empty(4);
    score_loss(dev, [score, hess, w, &dummy], batch, d, false)
}

/// Σ of the terms of [`score_terms_kernel()`] over `batch` samples from
/// `[score, other, w, r]` (`r`: B×d for `regression`, else 1 element).
fn score_loss(
    dev: &GpuDevice,
    [score, other, w, r]: [&Handle; 4],
    batch: usize,
    d: usize,
    regression: bool,
) -> Result<Handle> {
    let terms = dev.client().empty(batch * 4);
    let (count, dim) = grid(dev, batch)?;
    let r_len = if regression { batch * d } else { 1 };
    // SAFETY: every handle was allocated with the length passed with it.
    unsafe {
        score_terms_kernel::launch(
            dev.client(),
            count,
            dim,
            arg(score, batch * d),
            arg(other, batch * d),
            arg(w, batch),
            arg(r, r_len),
            arg(&terms, batch),
            batch as u32,
            d,
            regression,
        );
    }
    sum_on_device(dev, &terms, batch)
}

/// What every NCE launch over the N points of `log_pn` needs besides the
/// model: log p_n on the device, the outputs `[logits, terms, weights]`
/// (N each) and the scalars (N, B = `n_data`, c + log ν, 1/N).
pub(crate) struct NceLaunch {
    pub n: usize,
    pub log_pn: Handle,
    pub out: [Handle; 3],
    pub args: NceArgsLaunch,
}

impl NceLaunch {
    /// The outputs as kernel arguments.
    ///
    /// # Safety
    /// The handles were allocated with N floats each ([`Self::new`]).
    pub(crate) unsafe fn outs(&self) -> NceOutsLaunch {
        let [logits, terms, weights] = &self.out;
        // SAFETY: see above.
        unsafe { NceOutsLaunch::new(arg(logits, self.n), arg(terms, self.n), arg(weights, self.n)) }
    }

    pub(crate) fn new(dev: &GpuDevice, log_pn: &[f32], n_data: usize, c: f64, nu: usize) -> Self {
        let n = log_pn.len();
        let cl = dev.client();
        let out = [cl.empty(n * 4), cl.empty(n * 4), cl.empty(n * 4)];
        let args = NceArgsLaunch::new(n as u32, n_data as u32, (c + (nu as f64).ln()) as f32, (1.0 / n as f64) as f32);
        NceLaunch { n, log_pn: upload_f32(dev, log_pn), out, args }
    }
}

/// The NCE logits, loss terms and gradient weights of the points whose
/// energies are `e` (the first `n_data` data, then noise; conventions of
/// [`crate::nce`]): `[logits, terms, weights]`.
pub(crate) fn nce_terms(
    dev: &GpuDevice,
    e: &Handle,
    log_pn: &[f32],
    n_data: usize,
    c: f64,
    nu: usize,
) -> Result<[Handle; 3]> {
    let l = NceLaunch::new(dev, log_pn, n_data, c, nu);
    let n = l.n;
    let (count, dim) = grid(dev, n)?;
    // SAFETY: every handle was allocated with the length passed with it.
    unsafe {
        nce_energy_kernel::launch(dev.client(), count, dim, arg(e, n), arg(&l.log_pn, n), l.outs(), l.args);
    }
    Ok(l.out)
}

/// Reads a loss and its θ-gradient back together: ∇θ into `grad`, L
/// returned.
pub(crate) fn read_loss_grad(dev: &GpuDevice, loss: Handle, g: Handle, grad: &mut [f32]) -> Result<f64> {
    let out = read(dev, vec![loss, g])?;
    copy_out(grad, &out[1]);
    Ok(first(&out[0]))
}

/// Reads the energies and Σ w∇θE back together into `energy` and `grad`.
pub(crate) fn read_energy_grad(
    dev: &GpuDevice,
    e: Handle,
    g: Handle,
    energy: &mut [f32],
    grad: &mut [f32],
) -> Result<()> {
    let out = read(dev, vec![e, g])?;
    copy_out(energy, &out[0]);
    copy_out(grad, &out[1]);
    Ok(())
}
