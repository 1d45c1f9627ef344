"""ebm.load on safetensors files and ebm.sample's Langevin chains."""

import numpy as np
import pytest

import ebm
from reference import assert_close, batch, make_mlp
from safetensors_file import save


def test_load_an_mlp_state_dict(tmp_path):
    net = make_mlp(3, [8, 8], "tanh", seed=21)
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    save(tmp_path / "m.safetensors", state, {"activation": "tanh", "format": "pt"})
    model = ebm.load(tmp_path / "m.safetensors")
    assert (model.family, model.dim) == ("mlp", 3)
    x = batch(5, 3, seed=22)
    want = ebm.Mlp.from_torch(net.float()).energy(x)
    assert_close(model.energy(x), want, 1e-12, "energy of the loaded MLP")


def test_load_a_run_directory_and_a_gaussian(tmp_path):
    mean = np.array([1.0, -2.0])
    precision = np.array([[2.0, 0.5], [0.5, 1.0]])
    save(tmp_path / "model.safetensors", {"mean": mean, "precision": precision})
    model = ebm.load(tmp_path)
    assert model.family == "gaussian"
    x = batch(4, 2, seed=23)
    _, score, hess = model.energy_score_hess_diag(x)
    assert_close(score, -(x - mean) @ precision, 1e-6, "Gaussian score")
    assert_close(hess, np.tile(np.diag(precision), (4, 1)), 1e-6, "Gaussian Hessian diagonal")


def test_load_errors(tmp_path):
    with pytest.raises(OSError):
        ebm.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        ebm.load(tmp_path / "bad.safetensors")


def standard_gaussian(tmp_path, d=2):
    save(tmp_path / "g.safetensors", {"mean": np.zeros(d), "precision": np.eye(d)})
    return ebm.load(tmp_path / "g.safetensors")


@pytest.mark.parametrize("sampler", ["ula", "mala"])
def test_chains_sample_a_standard_gaussian(tmp_path, sampler):
    model = standard_gaussian(tmp_path)
    x0 = np.full((4000, 2), 3.0)
    x = ebm.sample(model, x0, sampler=sampler, steps=200, step_size=0.5, seed=1)
    assert x.shape == x0.shape and np.all(x0 == 3.0)
    n = x.shape[0]
    # ULA's stationary law with eps = 0.5 has variance 1/(1 - eps²/4) ≈ 1.067.
    var = 1.0 / (1.0 - 0.25 / 4) if sampler == "ula" else 1.0
    assert np.all(np.abs(x.mean(0)) < 5 * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) - var) < 5 * var * np.sqrt(2.0 / n))


def test_sampling_is_reproducible_and_keeps_the_dtype(tmp_path):
    model = standard_gaussian(tmp_path)
    x0 = batch(8, 2, seed=24, dtype=np.float32)
    a = ebm.sample(model, x0, steps=5, step_size=0.1, seed=7)
    b = ebm.sample(model, x0, steps=5, step_size=0.1, seed=7)
    c = ebm.sample(model, x0, steps=5, step_size=0.1, seed=8)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mala_reports_its_acceptance_rate(tmp_path):
    model = standard_gaussian(tmp_path)
    _, rate = model.langevin(batch(100, 2, seed=25), "mala", 10, 0.5, 3)
    assert 0.5 < rate < 1.0
