//! A smoke run on every adapter wgpu lists (not only the selected one):
//! Philox words bit for bit and a fused MLP energy/score/Hessian pass
//! against the CPU twin, each failure naming its adapter. Fails when there
//! is no adapter at all.

mod common;

use ebm_core::mlp::{Activation, Mlp};
use ebm_kernels::{list_adapters, AdapterSelector, GpuDevice, GpuEnergy, INSTALL_HINT};

#[test]
fn kernels_run_on_every_adapter() {
    let all = list_adapters();
    assert!(!all.is_empty(), "no wgpu adapter at all; {INSTALL_HINT}");
    for info in all {
        let label = info.label();
        eprintln!("[kernels_run_on_every_adapter] {info}");
        let dev =
            GpuDevice::new(&AdapterSelector::Index(info.index)).unwrap_or_else(|e| panic!("bringing up {label}: {e}"));
        let kat = [([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])];
        let words = ebm_kernels::philox::philox_blocks(&dev, &kat).unwrap();
        assert_eq!(words[0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1], "Philox KAT on {label}");

        let m = Mlp::<f32>::init(4, &[9, 7], Activation::Silu, 5).unwrap();
        let gpu = GpuEnergy::new(&dev, m.clone()).unwrap();
        let x = common::uniform32(8, 33 * 4, -2.0, 2.0);
        common::check_outputs(&format!("mlp on {label}"), &gpu, &m.cast::<f64>(), &x, 1e-6, 30, true);
    }
}
