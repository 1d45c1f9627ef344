//! Prints every wgpu adapter this machine has, and the one `EBM_ADAPTER`
//! (or the default) selects. Exits with status 1 and the install hint when
//! there is none, so CI logs show which adapter the GPU tests ran on.
//!
//! `cargo run -p ebm-kernels --release --example adapters`

use ebm_kernels::{list_adapters, AdapterSelector, GpuDevice};

fn main() {
    let adapters = list_adapters();
    println!("{} wgpu adapter(s):", adapters.len());
    for a in &adapters {
        println!("  {a}");
    }
    let selector = match AdapterSelector::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    match GpuDevice::new(&selector) {
        Ok(dev) => {
            println!("selected ({selector}): {}", dev.info());
            match dev.loop_budget() {
                Some(n) => println!(
                    "  loop budget: {n} iterations per invocation (software rasterizer; launches are split to fit)"
                ),
                None => println!("  loop budget: unlimited"),
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
