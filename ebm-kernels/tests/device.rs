//! Adapter discovery and selection, and the test build's bounds checking.

mod common;

use ebm_kernels::{list_adapters, AdapterSelector, GpuDevice, KernelError, INSTALL_HINT};

#[test]
fn adapter_is_listed_and_described_on_default_adapter() {
    let dev = common::device("adapter_is_listed_and_described_on_default_adapter");
    let all = list_adapters();
    for a in &all {
        eprintln!("  seen: {a}");
    }
    let info = dev.info();
    assert!(all.contains(info), "{} is among the listed adapters", info.label());
    assert!(!info.name.is_empty());
    let l = &info.limits;
    assert!(l.max_invocations_per_workgroup >= 64, "{}: {l:?}", info.label());
    assert!(l.max_workgroup_storage_bytes > 0 && l.max_workgroups_per_dimension > 0, "{}: {l:?}", info.label());
    eprintln!("  loop budget: {:?}", dev.loop_budget());
    if info.name.contains("llvmpipe") {
        assert_eq!(dev.loop_budget(), Some(65_536), "llvmpipe stops loops after 65 536 iterations");
    }
    // Selecting the same adapter again hands back the same runtime.
    let again = GpuDevice::new(&AdapterSelector::Index(info.index)).unwrap();
    assert_eq!(again.info(), info);
    // So does selecting it by its kind label or by its name.
    let by_name = GpuDevice::new(&AdapterSelector::Name(info.name.clone())).unwrap();
    assert_eq!(by_name.info().name, info.name);
}

#[test]
fn unknown_adapter_is_a_typed_error_with_the_install_hint() {
    let sel: AdapterSelector = "no-such-adapter-7f3a".parse().unwrap();
    match GpuDevice::new(&sel) {
        Err(e @ KernelError::NoAdapter { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(INSTALL_HINT) && msg.contains("mesa-vulkan-drivers"), "{msg}");
            assert!(msg.contains("no-such-adapter-7f3a"), "{msg}");
        }
        other => panic!("expected NoAdapter, got {other:?}"),
    }
    let beyond = GpuDevice::new(&AdapterSelector::Index(10_000));
    assert!(matches!(beyond, Err(KernelError::NoAdapter { .. })), "{beyond:?}");
    assert!(matches!("#x".parse::<AdapterSelector>(), Err(KernelError::BadSelector(_))));
}

#[test]
fn test_builds_run_with_validate_bounds_checking() {
    use ebm_kernels::cubecl::config::compilation::BoundsCheckMode;
    use ebm_kernels::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mode = CubeClRuntimeConfig::get().compilation.check_mode;
    assert!(
        matches!(mode, BoundsCheckMode::Validate),
        "cubecl.toml with check_mode = \"validate\" must be found from {:?}; got {mode:?}",
        std::env::current_dir()
    );
}
