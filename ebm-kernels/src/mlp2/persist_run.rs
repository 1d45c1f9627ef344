//! The host side of the persistent chains ([`super::persist`]): the plan
//! of a shape (chain tile, shared layout, loop counts), which path a call
//! takes, and the launches.

use super::persist::{meta, persist_kernel, PersistArgsLaunch, PersistCfg, BK, MAX_CHAINS, THREADS};
use super::plan::Shape;
use super::run::buf;
use super::Mlp2;
use crate::chains::{check_steps, launch_steps};
use crate::error::{KernelError, Result};
use crate::launch::upload_u32;
use cubecl::prelude::*;
use cubecl::server::Handle;
use ebm_core::langevin::NoiseAt;

/// Which kernels run a call's Langevin or MALA chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LangevinPath {
    /// [`super::persist`]: ⌈K/k⌉ launches of k steps, `chains` chains per
    /// workgroup kept on chip.
    Persistent {
        /// Chains per workgroup (TB).
        chains: usize,
        /// Steps per launch on this adapter (k; all K when the adapter has
        /// no loop budget — then `None`).
        steps_per_launch: Option<u64>,
    },
    /// [`super::langevin`]: 2L + 1 (ULA) or 2L + 3 (MALA) launches per
    /// step with activations in global memory; taken when one chain's
    /// working set does not fit the adapter's shared memory, or one step
    /// exceeds its loop budget.
    MultiLaunch,
}

/// The plan of the persistent kernel for one shape and chain tile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistPlan {
    /// Chains per workgroup TB.
    pub chains: usize,
    /// Floats of the shared state array.
    pub smem: usize,
    /// The kernel's `meta` buffer (module docs of [`super::persist`]).
    pub meta: Vec<u32>,
    /// Loop iterations per invocation once per launch.
    pub fixed_loops: u64,
    /// Loop iterations per invocation per step.
    pub step_loops: u64,
}

/// Loop iterations of one product over a tile of `chains` chains (K =
/// `k`, N = `n`): per column tile the k tiles and the epilogue's rows.
fn product_loops(k: usize, n: usize, chains: usize) -> u64 {
    n.div_ceil(THREADS) as u64 * (k.div_ceil(BK) as u64 + 1 + chains as u64 + 1) + 1
}

impl PersistPlan {
    /// The plan with the largest chain tile TB (a power of two ≤ 16) whose
    /// working set fits `max_shared_bytes`, or `None` when not even one
    /// chain fits: x and s (d floats each), E, for MALA x′, s′, E′, σ′ of
    /// every hidden layer and min(L, 2) z buffers of the widest layer, per
    /// chain; plus the weight tile (bk × threads) and TB flags.
    pub fn new(shape: &Shape, mala: bool, max_shared_bytes: usize) -> Option<Self> {
        let mut tb = MAX_CHAINS;
        while tb >= 1 {
            let p = Self::with_chains(shape, mala, tb);
            if p.shared_bytes() <= max_shared_bytes {
                return Some(p);
            }
            tb /= 2;
        }
        None
    }

    /// The plan with TB = `chains`.
    pub fn with_chains(shape: &Shape, mala: bool, chains: usize) -> Self {
        let dims = shape.dims();
        let depth = shape.depth();
        let d = shape.d;
        let hmax = shape.hidden.iter().copied().max().unwrap_or(1);
        let mut m = vec![0u32; meta::len(depth)];
        for (l, &w) in dims.iter().enumerate() {
            m[l] = w as u32;
        }
        let mut off = 0;
        for l in 1..=depth {
            m[meta::w(depth, l)] = off as u32;
            m[meta::b(depth, l)] = (off + dims[l] * dims[l - 1]) as u32;
            off += dims[l] * (dims[l - 1] + 1);
        }
        m[meta::w_out(depth)] = off as u32;
        m[meta::b_out(depth)] = (off + dims[depth]) as u32;
        let mut sh = 0;
        let mut take = |floats: usize| {
            let o = sh;
            sh += chains * floats;
            o as u32
        };
        let widths = [d, d, 1, d, d, 1];
        for (which, &w) in widths.iter().enumerate().take(if mala { 6 } else { 3 }) {
            m[meta::state(depth, which)] = take(w);
        }
        for l in 1..=depth {
            m[meta::sig(depth, l)] = take(dims[l]);
        }
        let z0 = take(hmax);
        let z1 = if depth >= 2 { take(hmax) } else { z0 };
        m[meta::z(depth, 2)] = z0;
        m[meta::z(depth, 1)] = z1;
        let score: u64 = (1..=depth)
            .map(|l| product_loops(dims[l - 1], dims[l], chains) + product_loops(dims[l], dims[l - 1], chains))
            .sum();
        let energy = dims[depth] as u64 + 1;
        let rows = (chains * d).div_ceil(THREADS) as u64 + 1;
        let noise = ((chains * d).div_ceil(4) + 1).div_ceil(THREADS) as u64 + 1;
        let (fixed_loops, step_loops) = if mala {
            (2 * rows + score + energy + 2, noise + score + energy + (d as u64 + 1) + rows + 1)
        } else {
            (2 * rows + 1, score + noise + 1)
        };
        Self { chains, smem: sh.max(1), meta: m, fixed_loops, step_loops }
    }

    /// Bytes of workgroup shared memory: the state array, the weight tile
    /// and the TB flags.
    pub fn shared_bytes(&self) -> usize {
        4 * (self.smem + BK * THREADS + self.chains)
    }

    /// Steps per launch within `budget` loop iterations per invocation
    /// (9/10 of it planned, as everywhere), at most `steps`; an error when
    /// one step does not fit.
    pub fn steps_per_launch(&self, steps: u64, budget: Option<u64>) -> Result<u64> {
        crate::plan::steps_per_launch(steps, self.step_loops, self.fixed_loops, budget)
            .map_err(KernelError::Unsupported)
    }
}

impl Mlp2 {
    /// The persistent plan of this model for ULA (`mala = false`) or MALA
    /// on this adapter, when the chains can run on it.
    pub fn persist_plan(&self, mala: bool) -> Option<PersistPlan> {
        let shared = self.dev.info().limits.max_workgroup_storage_bytes as usize;
        let p = PersistPlan::new(&self.shape, mala, shared)?;
        p.steps_per_launch(1, self.dev.loop_budget()).ok()?;
        Some(p)
    }

    /// Which kernels [`Mlp2::ula_auto`] (`mala = false`) or
    /// [`Mlp2::mala_auto`] use for this model on this adapter (both on the
    /// device).
    pub fn langevin_path(&self, mala: bool) -> LangevinPath {
        match self.persist_plan(mala) {
            Some(p) => LangevinPath::Persistent {
                chains: p.chains,
                steps_per_launch: self.dev.loop_budget().map(|b| p.steps_per_launch(u64::MAX, Some(b)).unwrap_or(1)),
            },
            None => LangevinPath::MultiLaunch,
        }
    }

    /// Caps the steps of one persistent launch (`None`: as many as the loop
    /// budget allows). Tests use it to force several launches.
    pub fn set_max_steps_per_launch(&mut self, cap: Option<u64>) {
        self.persist_cap = cap;
    }

    /// `steps` ULA steps on the `batch` chains of the device buffer `x`
    /// (in place) on the path of [`Mlp2::langevin_path`]: the persistent
    /// kernel when it applies, else [`Mlp2::ula_device`].
    pub fn ula_auto_device(&self, x: &Handle, batch: usize, eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        match self.persist_plan(false) {
            Some(p) => self.persist(&p, x, None, batch, eps, steps, at),
            None => self.ula_device(x, batch, eps, steps, at),
        }
    }

    /// As [`Mlp2::ula`] on the path of [`Mlp2::langevin_path`].
    pub fn ula_auto(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt) -> Result<()> {
        self.ula_host(x, eps, |hx, b| self.ula_auto_device(hx, b, eps, steps, at))
    }

    /// `steps` MALA steps on the device chains (as [`Mlp2::mala_device`])
    /// on the path of [`Mlp2::langevin_path`].
    #[allow(clippy::too_many_arguments)]
    pub fn mala_auto_device(
        &self,
        x: &Handle,
        accepts: &Handle,
        batch: usize,
        eps: f32,
        steps: usize,
        at: NoiseAt,
    ) -> Result<()> {
        match self.persist_plan(true) {
            Some(p) => self.persist(&p, x, Some(accepts), batch, eps, steps, at),
            None => self.mala_device(x, accepts, batch, eps, steps, at),
        }
    }

    /// As [`Mlp2::mala`] on the path of [`Mlp2::langevin_path`].
    pub fn mala_auto(&self, x: &mut [f32], eps: f32, steps: usize, at: NoiseAt, accepts: &mut [u32]) -> Result<f64> {
        self.mala_host(x, eps, steps, accepts, |hx, ha, b| self.mala_auto_device(hx, ha, b, eps, steps, at))
    }

    #[allow(clippy::too_many_arguments)]
    fn persist(
        &self,
        p: &PersistPlan,
        x: &Handle,
        accepts: Option<&Handle>,
        batch: usize,
        eps: f32,
        steps: usize,
        at: NoiseAt,
    ) -> Result<()> {
        self.check_chains(x, batch)?;
        if let Some(a) = accepts {
            Self::need(a, "accepts", batch)?;
        }
        super::langevin::check_step(eps)?;
        crate::chains::check_noise(at, batch, self.shape.d)?;
        let k = check_steps(steps)?;
        let mut chunk = p.steps_per_launch(steps as u64, self.dev.loop_budget())?;
        if let Some(cap) = self.persist_cap {
            chunk = chunk.min(cap.max(1));
        }
        let tiles = batch.div_ceil(p.chains);
        let max = (self.dev.info().limits.max_workgroups_per_dimension as usize).max(1);
        let gy = tiles.div_ceil(max);
        let count = self.groups(tiles.div_ceil(gy), gy, 1, "persistent Langevin")?;
        let cfg = PersistCfg {
            depth: self.shape.depth(),
            chains: p.chains,
            smem: p.smem,
            act: self.act,
            mala: accepts.is_some(),
        };
        let hm = upload_u32(&self.dev, &p.meta);
        let acc = accepts.unwrap_or(&self.dummy);
        let (h, inv_2eps2) = (eps * eps * 0.5, 1.0 / (2.0 * eps * eps));
        launch_steps(k, chunk, at, |n, rng| {
            let args = PersistArgsLaunch::new(batch as u32, n, h, eps, inv_2eps2);
            persist_kernel::launch(
                self.dev.client(),
                count.clone(),
                CubeDim::new_1d(THREADS as u32),
                buf(x, 1),
                buf(acc, 1),
                buf(&self.theta, 1),
                buf(&hm, 1),
                args,
                rng,
                cfg,
            );
            self.counted();
        });
        Ok(())
    }
}
