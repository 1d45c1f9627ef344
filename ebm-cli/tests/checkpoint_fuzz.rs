//! Loading a truncated or corrupted checkpoint returns a typed error and
//! never panics: proptest over truncations, random byte overwrites and
//! digit edits inside the JSON header (which keep the header parseable and
//! so reach the shape, offset and metadata checks).

use ebm_cli::checkpoint::{self, Checkpoint};
use ebm_cli::model::{Model, ModelSpec};
use ebm_core::EnergyExt;
use proptest::prelude::*;
use std::path::Path;

fn base(spec: &str) -> Vec<u8> {
    let mut ck = Checkpoint::new(Model::init(&ModelSpec::parse(spec).unwrap(), 2, 1).unwrap());
    ck.step = 12;
    ck.aux = vec![0.5];
    ck.data_mean = Some(vec![0.0, 1.0]);
    checkpoint::to_bytes(&ck)
}

fn check(bytes: &[u8]) {
    // Any outcome but a panic is fine; an Ok must be a usable model.
    if let Ok(ck) = checkpoint::from_bytes(Path::new("fuzz.safetensors"), bytes) {
        let m = ck.model.energy();
        let mut e = vec![0f32; 1];
        let _ = m.energy(&vec![0.1; m.dim()], &mut e);
    }
}

const SPECS: [&str; 4] = ["mlp:6,5:softplus", "gmm:2", "rbm:3", "gaussian"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn truncations(which in 0..SPECS.len(), cut in 0.0f64..1.0) {
        let b = base(SPECS[which]);
        let n = (cut * b.len() as f64) as usize;
        let r = checkpoint::from_bytes(Path::new("t"), &b[..n]);
        prop_assert!(r.is_err(), "a truncated file loaded");
    }

    #[test]
    fn byte_overwrites(which in 0..SPECS.len(), edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8)) {
        let mut b = base(SPECS[which]);
        let len = b.len();
        for (pos, byte) in edits {
            b[((pos * len as f64) as usize).min(len - 1)] = byte;
        }
        check(&b);
    }

    #[test]
    fn header_digit_edits(which in 0..SPECS.len(), edits in proptest::collection::vec((0.0f64..1.0, 0u8..10), 1..4)) {
        let mut b = base(SPECS[which]);
        let hlen = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let digits: Vec<usize> = (8..8 + hlen).filter(|&i| b[i].is_ascii_digit()).collect();
        for (pos, d) in edits {
            let i = digits[((pos * digits.len() as f64) as usize).min(digits.len() - 1)];
            b[i] = b'0' + d;
        }
        check(&b);
    }
}

/// Hand-picked corruptions with the error kind they must give.
#[test]
fn specific_corruptions_are_typed() {
    use ebm_cli::error::CheckpointError;
    let b = base("mlp:6,5:softplus");
    let p = Path::new("c");
    assert!(matches!(checkpoint::from_bytes(p, &[]), Err(CheckpointError::Format { .. })));
    assert!(matches!(checkpoint::from_bytes(p, &u64::MAX.to_le_bytes()), Err(CheckpointError::Format { .. })));
    let text = String::from_utf8_lossy(&b).into_owned();
    for (from, to) in [
        ("\"activation\":\"softplus\"", "\"activation\":\"softmax!\""),
        ("\"ebm.family\":\"mlp\"", "\"ebm.family\":\"xyz\""),
        ("\"F32\"", "\"I32\""),
    ] {
        let mutated = text.replacen(from, to, 1);
        assert_eq!(mutated.len(), text.len());
        // Only the header is text; splice the edited header onto the data.
        let hlen = 8 + u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
        let mut m = mutated.as_bytes()[..hlen].to_vec();
        m.extend_from_slice(&b[hlen..]);
        match checkpoint::from_bytes(p, &m) {
            Err(CheckpointError::Content { .. }) => {}
            other => panic!("{from} → {to}: {other:?}"),
        }
    }
    let missing = checkpoint::load(Path::new("/nonexistent/model.safetensors")).unwrap_err();
    assert!(matches!(missing, CheckpointError::Io { .. }) && missing.to_string().contains("/nonexistent"));
}
