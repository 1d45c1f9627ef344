//! A small MLP critic f_φ: ℝᵈ → ℝᵈ for the learned Stein discrepancy
//! ([`crate::lsd`]), with the exact trace of its Jacobian (or a Hutchinson
//! estimate) and the exact φ-gradient of the Stein objective.
//!
//! # Network
//!
//! h₀ = x, aₗ = Wₗhₗ₋₁ + bₗ, hₗ = σ(aₗ) for the hidden layers, f = W_L h_{L−1} + b_L.
//! Parameters (f64) are laid out layer by layer: Wₗ (row-major, outₗ×inₗ),
//! then bₗ. Weights start N(0, 1/inₗ) from Philox, biases 0.
//!
//! # Jacobian trace by forward mode
//!
//! For a direction u the tangent ḣ₀ = u, ȧₗ = Wₗḣₗ₋₁, ḣₗ = σ′(aₗ)⊙ȧₗ,
//! ḟ = W_L ḣ_{L−1} gives J u. The traces are sums Σₖ wₖᵀ J uₖ:
//! exact tr J with (uₖ, wₖ) = (eₖ, eₖ), k = 1..d; Hutchinson's
//! (1/K)Σₖ εₖᵀ J εₖ with (uₖ, wₖ) = (εₖ, εₖ/K), εₖ ~ N(0, I), unbiased
//! because E\[εεᵀ\] = I.
//!
//! # Gradient
//!
//! The per-sample objective O = sᵀf + Σₖ wₖᵀḟₖ − λ‖f‖² is differentiated by
//! reverse mode through the primal and tangent passes: with f̄ = s − 2λf,
//! ḟ̄ₖ = wₖ at the output layer and, going down,
//! ∂Wₗ += āₗhₗ₋₁ᵀ + Σₖ ǡₗₖḣₗ₋₁ₖᵀ, ∂bₗ += āₗ,
//! h̄ₗ₋₁ = Wₗᵀāₗ, ḣ̄ₗ₋₁ₖ = Wₗᵀǡₗₖ,
//! āₗ = σ′(aₗ)⊙h̄ₗ + Σₖ σ″(aₗ)⊙ȧₗₖ⊙ḣ̄ₗₖ, ǡₗₖ = σ′(aₗ)⊙ḣ̄ₗₖ.

use crate::error::{config, Result};
use ebm_core::rng;
use rayon::prelude::*;

/// A smooth activation with its first two derivatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriticActivation {
    /// log(1 + eᵃ).
    Softplus,
    /// tanh a.
    Tanh,
    /// a·sigmoid(a) (SiLU).
    Swish,
}

impl CriticActivation {
    /// (σ(a), σ′(a), σ″(a)).
    pub fn eval(self, a: f64) -> (f64, f64, f64) {
        match self {
            CriticActivation::Softplus => {
                let s = crate::estimator::sigmoid(a);
                (crate::estimator::softplus(a), s, s * (1.0 - s))
            }
            CriticActivation::Tanh => {
                let t = a.tanh();
                let d = 1.0 - t * t;
                (t, d, -2.0 * t * d)
            }
            CriticActivation::Swish => {
                let s = crate::estimator::sigmoid(a);
                let ds = s * (1.0 - s);
                (a * s, s + a * ds, ds * (2.0 + a * (1.0 - 2.0 * s)))
            }
        }
    }
}

/// How tr ∇ₓf is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// The exact trace (d tangent passes).
    Exact,
    /// Hutchinson's estimator with `probes` Gaussian probes.
    Hutchinson {
        /// Probes per sample (K ≥ 1).
        probes: usize,
    },
}

/// The Stein objective's parts, averaged over the batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SteinTerms {
    /// (1/B)Σ sᵀf.
    pub score_dot_f: f64,
    /// (1/B)Σ tr∇ₓf (or its estimate).
    pub trace: f64,
    /// (1/B)Σ ‖f‖².
    pub f_sq: f64,
    /// score_dot_f + trace − λ f_sq.
    pub objective: f64,
}

/// An MLP critic ℝᵈ → ℝᵈ.
#[derive(Debug, Clone, PartialEq)]
pub struct Critic {
    sizes: Vec<usize>,
    act: CriticActivation,
    params: Vec<f64>,
}

const CHUNK: usize = 32;

impl Critic {
    /// A critic with the given hidden widths, weights from Philox `seed`.
    pub fn new(dim: usize, hidden: &[usize], act: CriticActivation, seed: u64) -> Result<Self> {
        if dim == 0 || hidden.contains(&0) {
            return config(format!("critic: zero width in dim {dim}, hidden {hidden:?}"));
        }
        let mut sizes = vec![dim];
        sizes.extend_from_slice(hidden);
        sizes.push(dim);
        let n: usize = sizes.windows(2).map(|w| w[1] * w[0] + w[1]).sum();
        let mut params = vec![0.0; n];
        let mut off = 0;
        for (l, w) in sizes.windows(2).enumerate() {
            let nw = w[1] * w[0];
            rng::fill_normal(seed, l as u64, 0, &mut params[off..off + nw]);
            let s = 1.0 / (w[0] as f64).sqrt();
            params[off..off + nw].iter_mut().for_each(|v| *v *= s);
            off += nw + w[1];
        }
        Ok(Self { sizes, act, params })
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.sizes[0]
    }

    /// The flat parameters φ.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Mutable φ.
    pub fn params_mut(&mut self) -> &mut [f64] {
        &mut self.params
    }

    fn layer(&self, l: usize) -> (usize, usize, usize) {
        // (offset of W_l, out, in) for l = 0..L−1 (0-based)
        let off: usize = self.sizes.windows(2).take(l).map(|w| w[1] * w[0] + w[1]).sum();
        (off, self.sizes[l + 1], self.sizes[l])
    }

    /// f(x) for every row of x (B×d).
    pub fn forward(&self, x: &[f64], out: &mut [f64]) {
        let d = self.dim();
        out.par_chunks_mut(d).zip(x.par_chunks(d)).for_each(|(o, xr)| {
            let mut h = xr.to_vec();
            let nl = self.sizes.len() - 1;
            for l in 0..nl {
                let (off, no, ni) = self.layer(l);
                let (w, b) = (&self.params[off..off + no * ni], &self.params[off + no * ni..off + no * ni + no]);
                let mut a: Vec<f64> =
                    (0..no).map(|r| b[r] + (0..ni).map(|c| w[r * ni + c] * h[c]).sum::<f64>()).collect();
                if l + 1 < nl {
                    a.iter_mut().for_each(|v| *v = self.act.eval(*v).0);
                }
                h = a;
            }
            o.copy_from_slice(&h);
        });
    }

    /// The batch-mean Stein objective (1/B)Σ[sᵀf + T − λ‖f‖²] with scores
    /// `score` (B×d), T the exact trace or the Hutchinson estimate with
    /// `probes` (B×K×d normals; required for [`TraceMode::Hutchinson`]), and
    /// its φ-gradient if asked.
    pub fn stein_objective(
        &self,
        x: &[f64],
        score: &[f64],
        lambda: f64,
        trace: TraceMode,
        probes: Option<&[f64]>,
        grad: Option<&mut [f64]>,
    ) -> Result<SteinTerms> {
        let d = self.dim();
        let b = x.len() / d;
        if x.len() != b * d || score.len() != x.len() || b == 0 {
            return config("critic: x and score must both be non-empty B×d");
        }
        let k = match trace {
            TraceMode::Exact => d,
            TraceMode::Hutchinson { probes: k } => {
                if k == 0 || probes.map(|p| p.len()) != Some(b * k * d) {
                    return config("critic: Hutchinson trace needs B×K×d probes, K ≥ 1");
                }
                k
            }
        };
        let want_grad = grad.is_some();
        let np = self.params.len();
        let parts: Vec<(SteinTerms, Vec<f64>)> = (0..b.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let mut g = if want_grad { vec![0.0; np] } else { Vec::new() };
                let mut t = SteinTerms::default();
                let mut uw = vec![0.0; 2 * k * d];
                for j in c * CHUNK..((c + 1) * CHUNK).min(b) {
                    let (u, w) = uw.split_at_mut(k * d);
                    match trace {
                        TraceMode::Exact => {
                            u.iter_mut().for_each(|v| *v = 0.0);
                            w.iter_mut().for_each(|v| *v = 0.0);
                            for i in 0..d {
                                u[i * d + i] = 1.0;
                                w[i * d + i] = 1.0;
                            }
                        }
                        TraceMode::Hutchinson { .. } => {
                            let p = &probes.expect("checked")[j * k * d..(j + 1) * k * d];
                            u.copy_from_slice(p);
                            w.iter_mut().zip(p).for_each(|(a, &e)| *a = e / k as f64);
                        }
                    }
                    let r = j * d..(j + 1) * d;
                    self.sample(&x[r.clone()], &score[r], lambda, k, u, w, &mut t, want_grad.then_some(&mut g[..]));
                }
                (t, g)
            })
            .collect();
        let mut t = SteinTerms::default();
        let mut g = grad;
        if let Some(g) = g.as_deref_mut() {
            g.iter_mut().for_each(|v| *v = 0.0);
        }
        for (pt, pg) in &parts {
            t.score_dot_f += pt.score_dot_f;
            t.trace += pt.trace;
            t.f_sq += pt.f_sq;
            if let Some(g) = g.as_deref_mut() {
                g.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
            }
        }
        let inv = 1.0 / b as f64;
        t.score_dot_f *= inv;
        t.trace *= inv;
        t.f_sq *= inv;
        t.objective = t.score_dot_f + t.trace - lambda * t.f_sq;
        if let Some(g) = g {
            g.iter_mut().for_each(|v| *v *= inv);
        }
        Ok(t)
    }

    /// One sample: accumulates its terms into `t` and its gradient into `g`.
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &self,
        x: &[f64],
        s: &[f64],
        lambda: f64,
        k: usize,
        u: &[f64],
        w: &[f64],
        t: &mut SteinTerms,
        g: Option<&mut [f64]>,
    ) {
        let nl = self.sizes.len() - 1;
        // forward: h[l] (inputs of layer l), a[l], dot-tangents
        let mut hs: Vec<Vec<f64>> = vec![x.to_vec()];
        let mut hts: Vec<Vec<f64>> = vec![u.to_vec()]; // K × in
        let mut as_: Vec<Vec<f64>> = Vec::with_capacity(nl);
        let mut ats: Vec<Vec<f64>> = Vec::with_capacity(nl);
        for l in 0..nl {
            let (off, no, ni) = self.layer(l);
            let wl = &self.params[off..off + no * ni];
            let bl = &self.params[off + no * ni..off + no * ni + no];
            let h = &hs[l];
            let ht = &hts[l];
            let a: Vec<f64> = (0..no).map(|r| bl[r] + (0..ni).map(|c| wl[r * ni + c] * h[c]).sum::<f64>()).collect();
            let mut at = vec![0.0; k * no];
            for q in 0..k {
                for r in 0..no {
                    at[q * no + r] = (0..ni).map(|c| wl[r * ni + c] * ht[q * ni + c]).sum();
                }
            }
            if l + 1 < nl {
                let mut hn = vec![0.0; no];
                let mut htn = vec![0.0; k * no];
                for r in 0..no {
                    let (sv, d1, _) = self.act.eval(a[r]);
                    hn[r] = sv;
                    for q in 0..k {
                        htn[q * no + r] = d1 * at[q * no + r];
                    }
                }
                hs.push(hn);
                hts.push(htn);
            }
            as_.push(a);
            ats.push(at);
        }
        let f = &as_[nl - 1];
        let ft = &ats[nl - 1];
        let d = f.len();
        let sdf: f64 = s.iter().zip(f).map(|(a, b)| a * b).sum();
        let tr: f64 = (0..k).map(|q| (0..d).map(|i| w[q * d + i] * ft[q * d + i]).sum::<f64>()).sum();
        let fsq: f64 = f.iter().map(|v| v * v).sum();
        t.score_dot_f += sdf;
        t.trace += tr;
        t.f_sq += fsq;
        let Some(g) = g else { return };
        // backward
        let mut abar: Vec<f64> = (0..d).map(|i| s[i] - 2.0 * lambda * f[i]).collect();
        let mut atbar: Vec<f64> = w.to_vec(); // K × out
        for l in (0..nl).rev() {
            let (off, no, ni) = self.layer(l);
            if l + 1 < nl {
                // abar/atbar hold h̄ₗ, ḣ̄ₗ of this layer's output: go through σ.
                let a = &as_[l];
                let at = &ats[l];
                let mut na = vec![0.0; no];
                let mut nat = vec![0.0; k * no];
                for r in 0..no {
                    let (_, d1, d2) = self.act.eval(a[r]);
                    let mut v = d1 * abar[r];
                    for q in 0..k {
                        v += d2 * at[q * no + r] * atbar[q * no + r];
                        nat[q * no + r] = d1 * atbar[q * no + r];
                    }
                    na[r] = v;
                }
                abar = na;
                atbar = nat;
            }
            let h = &hs[l];
            let ht = &hts[l];
            {
                let (gw, gb) = g[off..off + no * ni + no].split_at_mut(no * ni);
                for r in 0..no {
                    gb[r] += abar[r];
                    for c in 0..ni {
                        let mut v = abar[r] * h[c];
                        for q in 0..k {
                            v += atbar[q * no + r] * ht[q * ni + c];
                        }
                        gw[r * ni + c] += v;
                    }
                }
            }
            if l > 0 {
                let wl = &self.params[off..off + no * ni];
                let mut hb = vec![0.0; ni];
                let mut htb = vec![0.0; k * ni];
                for c in 0..ni {
                    hb[c] = (0..no).map(|r| wl[r * ni + c] * abar[r]).sum();
                    for q in 0..k {
                        htb[q * ni + c] = (0..no).map(|r| wl[r * ni + c] * atbar[q * no + r]).sum();
                    }
                }
                abar = hb;
                atbar = htb;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objective(c: &Critic, x: &[f64], s: &[f64], tm: TraceMode, p: Option<&[f64]>) -> f64 {
        c.stein_objective(x, s, 0.3, tm, p, None).unwrap().objective
    }

    /// The φ-gradient against central differences, for both trace modes and
    /// every activation; and the exact trace against differences of f.
    #[test]
    fn gradient_and_trace_match_finite_differences() {
        let d = 3;
        let b = 5;
        let x = ebm_core::testing::normal_vec(1, b * d);
        let s = ebm_core::testing::normal_vec(2, b * d);
        let probes = ebm_core::testing::normal_vec(3, b * 2 * d);
        for act in [CriticActivation::Softplus, CriticActivation::Tanh, CriticActivation::Swish] {
            let c = Critic::new(d, &[4, 3], act, 9).unwrap();
            for (tm, p) in [(TraceMode::Exact, None), (TraceMode::Hutchinson { probes: 2 }, Some(&probes[..]))] {
                let mut g = vec![0.0; c.params().len()];
                c.stein_objective(&x, &s, 0.3, tm, p, Some(&mut g)).unwrap();
                let mut probe = c.clone();
                for i in 0..g.len() {
                    let h = 1e-5;
                    probe.params_mut()[i] = c.params()[i] + h;
                    let fp = objective(&probe, &x, &s, tm, p);
                    probe.params_mut()[i] = c.params()[i] - h;
                    let fm = objective(&probe, &x, &s, tm, p);
                    probe.params_mut()[i] = c.params()[i];
                    let fd = (fp - fm) / (2.0 * h);
                    assert!((g[i] - fd).abs() < 1e-7 + 1e-6 * fd.abs(), "{act:?} {tm:?} φ[{i}]: {} vs {fd}", g[i]);
                }
            }
            // exact trace = Σᵢ ∂fᵢ/∂xᵢ by differences of forward
            let t = c.stein_objective(&x, &s, 0.3, TraceMode::Exact, None, None).unwrap();
            let mut tr = 0.0;
            for j in 0..b {
                for i in 0..d {
                    let mut xp = x[j * d..(j + 1) * d].to_vec();
                    let mut xm = xp.clone();
                    xp[i] += 1e-5;
                    xm[i] -= 1e-5;
                    let (mut fp, mut fm) = (vec![0.0; d], vec![0.0; d]);
                    c.forward(&xp, &mut fp);
                    c.forward(&xm, &mut fm);
                    tr += (fp[i] - fm[i]) / 2e-5;
                }
            }
            assert!((t.trace - tr / b as f64).abs() < 1e-7, "{act:?}: {} vs {}", t.trace, tr / b as f64);
        }
    }
}
