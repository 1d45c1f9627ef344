//! PyTorch interop: checkpoints written by Python (`tests/fixtures/
//! make_fixtures.py`, numpy + safetensors, PyTorch's `nn.Sequential`
//! `state_dict` layout) load in ebm and give the energies that the same
//! network computes in numpy; ebm writes them back with the same tensors.

use ebm_cli::checkpoint::{self, Checkpoint};
use ebm_cli::npy;
use ebm_core::EnergyExt;
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn energies(ck: &Checkpoint, x: &[f32]) -> Vec<f32> {
    let m = ck.model.energy();
    let mut e = vec![0f32; x.len() / m.dim()];
    m.energy(x, &mut e).unwrap();
    e
}

fn tensor_values(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut v: Vec<_> = st.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn python_fixtures_give_the_same_energies_and_round_trip() {
    for (name, family) in [("mlp_softplus", "mlp"), ("mlp_tanh", "mlp"), ("mlp_gelu", "mlp"), ("gaussian", "gaussian")]
    {
        let path = fixture(&format!("{name}.safetensors"));
        let ck = checkpoint::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ck.model.family(), family);
        let x = npy::read(&fixture(&format!("{name}_x.npy"))).unwrap();
        let want = npy::read(&fixture(&format!("{name}_energy.npy"))).unwrap();
        assert_eq!(x.cols, ck.model.dim(), "{name}");
        let got = energies(&ck, &x.data);
        for (g, w) in got.iter().zip(&want.data) {
            assert!((g - w).abs() <= 2e-5 * (1.0 + w.abs()), "{name}: ebm {g} vs numpy/PyTorch {w}");
        }
        // Written back by ebm: same tensors (names, shapes, bytes) for the
        // MLPs, same energies for all, and the Python metadata kept.
        let bytes = checkpoint::to_bytes(&ck);
        let back = checkpoint::from_bytes(Path::new("mem"), &bytes).unwrap();
        assert_eq!(energies(&back, &x.data), got, "{name}");
        let orig = std::fs::read(&path).unwrap();
        if family == "mlp" {
            assert_eq!(tensor_values(&bytes), tensor_values(&orig), "{name}: tensors differ after the round trip");
            let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
            let (_, ometa) = SafeTensors::read_metadata(&orig).unwrap();
            assert_eq!(
                meta.metadata().as_ref().unwrap()["activation"],
                ometa.metadata().as_ref().unwrap()["activation"]
            );
        } else {
            let (a, b) = (tensor_values(&bytes), tensor_values(&orig));
            assert_eq!(
                a.iter().map(|t| (&t.0, &t.1)).collect::<Vec<_>>(),
                b.iter().map(|t| (&t.0, &t.1)).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn the_eval_command_reproduces_the_python_energies() {
    let out = std::env::temp_dir().join(format!("ebm-interop-{}", std::process::id()));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(["eval", "--model"])
        .arg(fixture("mlp_softplus.safetensors"))
        .arg("--input")
        .arg(fixture("mlp_softplus_x.npy"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let got = npy::read(&out.join("energy.npy")).unwrap();
    let want = npy::read(&fixture("mlp_softplus_energy.npy")).unwrap();
    for (g, w) in got.data.iter().zip(&want.data) {
        assert!((g - w).abs() <= 2e-5 * (1.0 + w.abs()), "{g} vs {w}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}
