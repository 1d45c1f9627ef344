//! A model trained on standardised data (the default) is used in data
//! units by `ebm sample` and `ebm eval`: the samples land on the data, and
//! the energies are E_z((x − m)/s) + Σ log s.

mod common;
use common::*;
use ebm_cli::standardize::Standardize;
use ebm_core::EnergyExt;

#[test]
fn sample_and_eval_apply_the_stored_map() {
    let dir = tmp("standardize");
    // Pinwheel moved far from the origin and stretched unevenly.
    let (a, b) = ([300.0f64, 0.01], [5e3f64, -7.0]);
    let x: Vec<f32> = ebm_cli::toy::generate("pinwheel", 2048, 3)
        .unwrap()
        .chunks_exact(2)
        .flat_map(|p| [(a[0] * p[0] as f64 + b[0]) as f32, (a[1] * p[1] as f64 + b[1]) as f32])
        .collect();
    let data = dir.join("data.npy");
    std::fs::write(&data, ebm_cli::npy::to_bytes(&x, &[x.len() / 2, 2])).unwrap();
    let cfg = config(&dir, "steps = 300\nmodel = \"mlp:32,32\"\n");
    let run = dir.join("run");
    ok(ebm().args(["train", "-q", "--config"]).arg(&cfg).arg("--data").arg(&data).arg("--out").arg(&run));
    let ck = ebm_cli::checkpoint::load(&run).unwrap();
    let map: &Standardize = ck.standardize.as_ref().expect("the default run stores its map");
    let fitted = Standardize::fit(&x, 2);
    for i in 0..2 {
        // The map is the training split's: close to the whole set's.
        assert!((map.mean[i] - fitted.mean[i]).abs() < 0.1 * fitted.scale[i], "{map:?} vs {fitted:?}");
        assert!((map.scale[i] / fitted.scale[i] - 1.0).abs() < 0.1, "{map:?} vs {fitted:?}");
    }

    // Samples in data units: their moments are the data's (a sampler run
    // in z and not mapped back would sit near 0 with unit spread).
    let samples = dir.join("s.npy");
    ok(ebm().args(["sample", "--n", "1000", "--model"]).arg(&run).arg("--out").arg(&samples));
    let s = ebm_cli::npy::read(&samples).unwrap();
    let got = Standardize::fit(&s.data, 2);
    for i in 0..2 {
        assert!((got.mean[i] - fitted.mean[i]).abs() < 0.5 * fitted.scale[i], "samples {got:?} vs data {fitted:?}");
        assert!((got.scale[i] / fitted.scale[i]).ln().abs() < 1.0, "samples {got:?} vs data {fitted:?}");
    }

    // Energies at the data: E_z(z) + Σ log s, from the model file's E_z.
    let ev = dir.join("ev");
    ok(ebm().args(["eval", "--model"]).arg(&run).arg("--input").arg(&data).arg("--out").arg(&ev));
    let e = ebm_cli::npy::read(&ev.join("energy.npy")).unwrap().data;
    let mut z = x.clone();
    map.to_z(&mut z);
    let mut ez = vec![0f32; e.len()];
    ck.model.energy().energy(&z, &mut ez).unwrap();
    for (i, (&got, &inner)) in e.iter().zip(&ez).enumerate() {
        let want = inner as f64 + map.log_det();
        assert!((got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "row {i}: eval {got}, E_z + log det {want}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
