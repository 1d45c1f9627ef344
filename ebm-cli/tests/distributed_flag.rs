//! `ebm train --distributed` in a build without the `mpi` feature: a typed
//! error naming the rebuild, before anything is written.
#![cfg(not(feature = "mpi"))]

mod common;

use common::{config, ebm, fails, tmp};

#[test]
fn distributed_without_the_mpi_feature_says_how_to_rebuild_and_writes_nothing() {
    let d = tmp("no-mpi");
    let cfg = config(&d, "steps = 2\n");
    let out = d.join("run");
    let mut c = ebm();
    c.args(["train", "-q", "--distributed", "--estimator", "dsm", "--config"]).arg(&cfg).arg("--out").arg(&out);
    fails(&mut c, 1, &["--distributed needs an ebm built with MPI", "--features mpi"]);
    assert!(!out.exists());
}
