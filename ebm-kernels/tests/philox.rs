//! The in-kernel Philox4x32-10 against `ebm_core::rng`, bit for bit.

mod common;

use ebm_core::rng;

#[test]
fn philox_words_match_cpu_bit_for_bit_on_default_adapter() {
    let dev = common::device("philox_words_match_cpu_bit_for_bit_on_default_adapter");
    // Random123's known answers plus 4099 pseudo-random counters and keys.
    let mut inputs = vec![
        ([0u32; 4], [0u32; 2]),
        ([u32::MAX; 4], [u32::MAX; 2]),
        ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    ];
    let mut words = [0u32; 6];
    for i in 0..4099u64 {
        let b = rng::block(0xfeed, 77, i);
        let c = rng::block(0xbeef, 78, i);
        words[..4].copy_from_slice(&b);
        words[4..].copy_from_slice(&c[..2]);
        inputs.push(([words[0], words[1], words[2], words[3]], [words[4], words[5]]));
    }
    let got = ebm_kernels::philox::philox_blocks(&dev, &inputs).expect("launch");
    for (j, ((ctr, key), g)) in inputs.iter().zip(&got).enumerate() {
        let want = rng::philox4x32_10(*ctr, *key);
        assert_eq!(*g, want, "block {j} (ctr {ctr:x?}, key {key:x?}) on {}", dev.info().label());
    }
}

#[test]
fn uniforms_exact_and_normals_close_on_default_adapter() {
    let dev = common::device("uniforms_exact_and_normals_close_on_default_adapter");
    let mut addrs = Vec::new();
    for (seed, stream) in [(0u64, 0u64), (42, 7), (u64::MAX, 1 << 40), (1 << 33, (1 << 63) | 5)] {
        for index in (0..1000u64).chain([(1 << 32) - 2, (1 << 32) - 1, 1 << 32, (1 << 34) + 3, u64::MAX]) {
            addrs.push((seed, stream, index));
        }
    }
    let (u, z) = ebm_kernels::philox::draws(&dev, &addrs).expect("launch");
    let tol = ebm_core::testing::Tolerance::new(2e-6, 2e-6);
    for (j, &(s, t, i)) in addrs.iter().enumerate() {
        let wu = rng::uniform(s, t, i);
        assert_eq!(u[j].to_bits(), wu.to_bits(), "uniform (seed {s}, stream {t}, index {i}) on {}", dev.info().label());
        let wz = rng::normal(s, t, i);
        assert!(
            tol.close(z[j] as f64, wz as f64),
            "normal (seed {s}, stream {t}, index {i}) on {}: got {}, want {}",
            dev.info().label(),
            z[j],
            wz
        );
    }
}
