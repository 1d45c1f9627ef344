"""The GIL is released while ebm computes: another Python thread runs
during the call."""

import ebm
from gil import assert_releases_the_gil
from reference import batch, make_mlp


def test_other_threads_run_during_a_computation():
    model = ebm.Mlp.from_torch(make_mlp(32, [256, 256], "softplus", seed=51))
    x = batch(4096, 32, seed=52)
    assert_releases_the_gil(lambda: model.energy_score_hess_diag(x))
