"""ebm.train: `ebm train` from Python. Exact score matching on Gaussian data
finds the Gaussian MLE; settings and data are checked with the culprit
named; run directories and files that are not ebm.train's are never
replaced; the GIL is released and a Ctrl-C is not lost."""

import _thread
import json
import signal
import threading
import time

import numpy as np
import pytest

import ebm
from gil import assert_releases_the_gil

FAST = dict(model="mlp:16", estimator="dsm", steps=5, plot_samples=0)


def gaussian_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    a = np.array([[1.0, 0.0, 0.0], [0.6, 0.5, 0.0], [-0.3, 0.2, 0.7]])
    return rng.normal(size=(n, 3)) @ a.T + np.array([1.0, -0.5, 2.0]), a @ a.T


def test_exact_sm_recovers_the_gaussian_mle():
    # Among Gaussians the exact-SM optimum is the MLE: the sample mean and
    # the 1/n sample covariance. Full-batch Adam converges to it; the true
    # covariance differs from it by sampling error (about 2%), far beyond
    # the tolerance, so the test tells the MLE from the truth.
    x, truth = gaussian_data()
    model, metrics = ebm.train(x, model="gaussian", estimator="esm", steps=1000, lr=0.02, batch=len(x), heldout=0)
    assert metrics["status"] == "done" and metrics["steps_done"] == 1000
    assert (model.family, model.dim) == ("gaussian", 3)
    # score(x) = −P(x − μ): read P and μ off the scores at 0 and at e_i.
    s0 = model.score(np.zeros((1, 3)))[0]
    precision = -(model.score(np.eye(3)) - s0).T
    cov, mean = np.linalg.inv(precision), np.linalg.solve(precision, s0)
    mle_cov = np.cov(x.T, bias=True)
    np.testing.assert_allclose(mean, x.mean(0), atol=1e-3)
    assert np.linalg.norm(cov - mle_cov) < 1e-3 * np.linalg.norm(mle_cov)
    assert np.linalg.norm(truth - mle_cov) > 1e-2 * np.linalg.norm(mle_cov)


def test_run_directory_holds_the_run(tmp_path):
    x, _ = gaussian_data(500, seed=1)
    out = tmp_path / "run"
    model, metrics = ebm.train(x, out=out, model="mlp:8", estimator="esm", steps=20, seed=3, plot_samples=0)
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert [t for t, _ in metrics["loss"]] == list(range(20))
    np.testing.assert_array_equal(np.load(out / "data.npy"), x.astype(np.float32))
    config = (out / "config.toml").read_text()
    assert f'data = "{(out / "data.npy").resolve()}"' in config and "seed = 3" in config
    np.testing.assert_array_equal(model.params(), ebm.load(out).params())


def test_same_settings_same_model():
    a, _ = ebm.train(seed=5, **FAST)
    b, _ = ebm.train(seed=5, **FAST)
    c, _ = ebm.train(seed=6, **FAST)
    np.testing.assert_array_equal(a.params(), b.params())
    assert not np.array_equal(a.params(), c.params())


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(stpes=10), "unknown setting `stpes`"),
        (dict(steps="ten"), "`steps`: invalid type"),
        (dict(steps=-1), "`steps`"),
        (dict(lr=float("nan")), "`lr`"),
        (dict(lr=-1.0), "lr must be positive"),
        (dict(batch=0), "batch must be at least 1"),
        (dict(backend="tpu"), "`backend`"),
        (dict(estimator="foo"), "unknown estimator `foo`"),
        (dict(model="mlp:x"), "mlp hidden width"),
        (dict(data="no-such-set"), "no-such-set"),
    ],
)
def test_bad_setting_is_a_value_error_naming_it(tmp_path, settings, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        ebm.train(out=out, **{**FAST, **settings})
    assert not out.exists()


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        (np.nan, np.float64, r"non-finite value \(NaN\) at row 3, column 1"),
        (-np.inf, np.float32, r"non-finite value \(-inf\) at row 3, column 1"),
        (1e300, np.float64, r"beyond float32's range \(1e300\) at row 3, column 1"),
    ],
)
def test_bad_data_value_names_its_row(tmp_path, value, dtype, message):
    x = np.zeros((10, 2), dtype=dtype)
    x[3, 1] = value
    with pytest.raises(ValueError, match=message):
        ebm.train(x, out=tmp_path / "run", **FAST)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros(10), "1 dimension"),
        (np.zeros((10, 2), dtype=np.int64), "int64"),
        (np.zeros((0, 2)), r"shape \(0, 2\)"),
    ],
)
def test_bad_data_shape_or_dtype(data, message):
    with pytest.raises(ValueError, match=message):
        ebm.train(data, **FAST)


def test_a_failed_start_removes_what_it_wrote(tmp_path):
    # The data is written before ebm-cli checks the model string.
    x, _ = gaussian_data(100)
    with pytest.raises(ValueError, match="mlp hidden width"):
        ebm.train(x, out=tmp_path, **{**FAST, "model": "mlp:x"})
    assert list(tmp_path.iterdir()) == []


def test_a_run_is_replaced_only_with_force(tmp_path):
    ebm.train(out=tmp_path, seed=1, **FAST)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="already holds a training run.*force=True"):
        ebm.train(out=tmp_path, seed=2, **FAST)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    _, metrics = ebm.train(gaussian_data(500)[0], out=tmp_path, force=True, seed=2, **FAST)
    assert metrics["status"] == "done" and (tmp_path / "model.safetensors").read_bytes() != before


def test_a_data_file_that_is_not_a_runs_is_never_replaced(tmp_path):
    mine = tmp_path / "data.npy"
    np.save(mine, np.arange(6.0))
    for force in (False, True):
        with pytest.raises(ValueError, match="data.npy exists and is not part of a training run"):
            ebm.train(np.ones((100, 2)), out=tmp_path, force=force, **FAST)
    np.testing.assert_array_equal(np.load(mine), np.arange(6.0))


def test_temporary_run_directory_is_removed(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ebm.train(**FAST)
    with pytest.raises(ValueError):
        ebm.train(**{**FAST, "estimator": "foo"})
    assert list(tmp_path.iterdir()) == []
    # A diverged run keeps it: the message points to its last checkpoint.
    with pytest.raises(ebm.TrainingDiverged) as e:
        ebm.train(**{**FAST, "estimator": "esm", "lr": 1e3, "steps": 200})
    (kept,) = tmp_path.iterdir()
    assert str(kept / "run") in str(e.value) and (kept / "run" / "model.safetensors").is_file()


def test_divergence_raises_and_keeps_the_last_checkpoint(tmp_path):
    with pytest.raises(ebm.TrainingDiverged, match=r"(?s)diverged at step \d+.*checkpoint \(step 0\)") as e:
        ebm.train(out=tmp_path, model="mlp:32,32", estimator="esm", steps=200, lr=1e3, plot_samples=0)
    assert isinstance(e.value, RuntimeError)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["steps_done"] == 0
    assert ebm.load(tmp_path).num_params > 0


LONG = dict(model="mlp:64,64", estimator="esm", steps=1500, plot_samples=0, checkpoint_every=10_000)


def test_the_gil_is_released_while_training():
    assert_releases_the_gil(lambda: ebm.train(**LONG))


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler for the test's duration. A process started
    in the background by a shell without job control (`cmd &` in a script,
    as a CI runner may) inherits SIGINT ignored, and then Python installs no
    handler and `_thread.interrupt_main()` does nothing."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_during_training_is_raised_with_the_run_directory(tmp_path, sigint_raises):
    # ebm-cli cannot be stopped from outside: the run finishes, then the
    # KeyboardInterrupt says so and where its outputs are.
    def interrupt_once_started():
        while not (tmp_path / "state.safetensors").exists():
            time.sleep(0.001)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt, match=f"it finished \\(1500 steps\\).*in {tmp_path}"):
        ebm.train(out=tmp_path, **LONG)
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "done"


def test_defaults_are_the_clis():
    d = ebm.train_defaults()
    assert d["estimator"] == "dsm" and d["model"] == "mlp:64,64,64:softplus" and d["backend"] == "cpu"
    assert d["standardize"] is True and d["lr_schedule"] == "cosine"
    assert {"data", "steps", "batch", "lr", "seed", "dsm_sigma", "ssm_projections", "nce_nu"} <= set(d)


def test_a_standardised_model_is_used_in_data_units(tmp_path):
    # Data far from the origin with unequal scales; the default run trains
    # E_z on z = (x - mean)/scale and the model's methods are of
    # E_x(x) = E_z(z) + sum(log scale).
    x, _ = gaussian_data(800, seed=4)
    x = x * np.array([1e3, 1.0, 1e-3]) + np.array([5e3, 0.0, -2.0])
    model, _ = ebm.train(x, out=tmp_path, model="mlp:8", steps=30, plot_samples=0)
    mean, scale = (np.array(v) for v in model.standardize)
    assert np.all(np.abs(mean - x.mean(0)) < 0.2 * x.std(0)) and np.all(np.abs(np.log(scale / x.std(0))) < 0.1)
    inner = ebm.Model.mlp(3, [8], "softplus", model.params())
    z = (x - mean) / scale
    np.testing.assert_allclose(model.energy(x), inner.energy(z) + np.log(scale).sum(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.score(x), inner.score(z) / scale, rtol=1e-10, atol=1e-12)
    _, _, h = model.energy_score_hess_diag(x)
    np.testing.assert_allclose(h, inner.energy_score_hess_diag(z)[2] / scale**2, rtol=1e-10, atol=1e-12)
    # Samples come back in data units.
    s = ebm.sample(model, x[:200], steps=5, step_size=0.01, seed=1)
    assert np.all(np.abs(s.mean(0) - x.mean(0)) < 0.5 * x.std(0))
    # The θ-gradient losses are of E_z: refused on x, by name.
    with pytest.raises(ValueError, match="standardised"):
        model.exact_sm_loss_grad(x)
    raw, _ = ebm.train(x, model="mlp:8", steps=3, plot_samples=0, standardize=False)
    assert raw.standardize is None
