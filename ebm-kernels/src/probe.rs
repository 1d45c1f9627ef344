//! A probe of the adapter's loop-iteration limit.
//!
//! Mesa's llvmpipe (the shader compiler of lavapipe and of its GL driver)
//! stops every loop of an invocation once 65 535 loop iterations have run
//! *in total* in that invocation (gallivm's `LP_MAX_TGSI_LOOP_ITERATIONS`),
//! silently. [`measure_loop_budget`] measures it: one invocation counts
//! the iterations of two loops asked to run far longer.

// `#[cube]` generates undocumented items.
#![allow(missing_docs)]

use cubecl::prelude::*;

#[cube(launch)]
pub fn count_iterations_kernel(out: &mut [u32], n: u32) {
    if ABSOLUTE_POS == 0 {
        let mut c = 0u32;
        for _ in 0..n {
            c += 1u32;
        }
        let mut c2 = 0u32;
        for _ in 0..n {
            c2 += 1u32;
        }
        out[0] = c + c2;
    }
}

/// How many iterations two consecutive loops of `n` iterations each run in
/// one invocation on `client` (`2n` when unlimited).
pub fn iterations_run(client: &Client, n: u32) -> Result<u32, String> {
    let h = client.empty(4);
    // SAFETY: `h` holds one u32.
    unsafe {
        count_iterations_kernel::launch(
            client,
            CubeCount::Static(1, 1, 1),
            CubeDim::new_1d(1),
            BufferArg::from_raw_parts(h.clone(), 1),
            n,
        );
    }
    let bytes = client.read_one(h).map_err(|e| format!("{e:?}"))?;
    Ok(u32::from_bytes(&bytes)[0])
}

/// Loop iterations probed for (per loop): far beyond any budget seen.
pub const PROBE_ITERATIONS: u32 = 1 << 20;

/// The total number of loop iterations one invocation may run on `client`,
/// or `None` when a probe of 2·2²⁰ iterations ran to the end.
pub fn measure_loop_budget(client: &Client) -> Result<Option<u64>, String> {
    let ran = iterations_run(client, PROBE_ITERATIONS)?;
    Ok((ran < 2 * PROBE_ITERATIONS).then_some(ran as u64))
}
