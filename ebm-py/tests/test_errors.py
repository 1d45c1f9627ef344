"""Bad inputs raise ValueError naming the argument, row or field; nothing
crashes the interpreter; the GPU backend is never silently the CPU."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ebm
import ebm.torch as et
from reference import batch, make_mlp


@pytest.fixture
def model():
    return ebm.Mlp.from_torch(make_mlp(3, [8], "softplus", seed=31))


def test_nan_names_the_row_and_column(model):
    x = batch(4, 3, seed=32)
    x[2, 1] = np.nan
    for method in (model.energy, model.score, model.energy_score_hess_diag):
        with pytest.raises(ValueError, match=r"`x` at sample 2, coordinate 1"):
            method(x)
    x32 = batch(4, 3, seed=32, dtype=np.float32)
    x32[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"sample 3, coordinate 0"):
        model.energy(x32)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((4, 2)), "has 2 columns but the model has dimension 3"),
        (np.zeros(3), r"dtype float64 with 1 dimension"),
        (np.zeros((4, 3), dtype=np.int64), "dtype int64"),
        (np.zeros((4, 3), dtype=np.float16), "dtype float16"),
        (np.asfortranarray(np.arange(12.0).reshape(4, 3)), "C-contiguous"),
        (np.zeros((8, 3))[::2], "C-contiguous"),
        ([[0.0, 0.0, 0.0]], "got an object of type list"),
        (np.zeros((0, 3)), "empty batch"),
    ],
    ids=["columns", "1-D", "int", "float16", "fortran", "strided", "list", "empty"],
)
def test_bad_batches(model, x, message):
    with pytest.raises(ValueError, match=message):
        model.energy(x)


def test_paired_arrays_must_match_x(model):
    x = batch(4, 3, seed=33)
    with pytest.raises(ValueError, match=r"`target`: expected a 2-D array of dtype float64"):
        model.score_regression_loss_grad(x, x.astype(np.float32))
    with pytest.raises(ValueError, match=r"`v` has shape \(3, 3\), expected \(4, 3\)"):
        model.sliced_sm_loss_grad(x, x[:3].copy())
    # M directions per sample: M·B rows of x's width.
    with pytest.raises(ValueError, match=r"`v` has shape \(6, 3\), expected \(4, 3\) like `x`, or \(M·4, 3\)"):
        model.sliced_sm_loss_grad(x, batch(6, 3, seed=34))
    with pytest.raises(ValueError, match=r"`v` has shape \(8, 2\)"):
        model.sliced_sm_loss_grad(x, batch(8, 2, seed=35))
    with pytest.raises(ValueError, match=r"`target` has shape \(8, 3\), expected \(4, 3\) like `x`$"):
        model.score_regression_loss_grad(x, batch(8, 3, seed=36))


@pytest.mark.parametrize(
    "layers, message",
    [
        ([torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)], r"layer 1 \(ReLU\) is not supported"),
        ([torch.nn.Linear(3, 8), torch.nn.GELU(), torch.nn.Linear(8, 1)], r"layer 1 \(GELU\) must use approximate='tanh'"),
        ([torch.nn.Linear(3, 8), torch.nn.Softplus(beta=2), torch.nn.Linear(8, 1)], "beta=1"),
        ([torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)], "must have 1 output"),
        ([torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Dropout(), torch.nn.Linear(8, 1)], "odd number of layers"),
        (
            [torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.LayerNorm(8), torch.nn.Tanh(), torch.nn.Linear(8, 1)],
            r"layer 2 \(LayerNorm\)",
        ),
        (
            [torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1)],
            "one activation throughout",
        ),
        ([torch.nn.Linear(3, 8, bias=False), torch.nn.Tanh(), torch.nn.Linear(8, 1)], "has no bias"),
    ],
    ids=["relu", "gelu-erf", "softplus-beta", "two-outputs", "dropout", "layernorm", "mixed", "no-bias"],
)
def test_unsupported_modules(layers, message):
    with pytest.raises(ValueError, match=message):
        ebm.Mlp.from_torch(torch.nn.Sequential(*layers))


def test_not_a_sequential():
    with pytest.raises(ValueError, match="expected a torch.nn.Sequential, got Linear"):
        ebm.Mlp.from_torch(torch.nn.Linear(3, 1))


def test_non_finite_parameters_are_refused():
    net = make_mlp(2, [4], "tanh", seed=34)
    with torch.no_grad():
        net[0].weight[1, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite value NaN at index 2"):
        ebm.Mlp.from_torch(net)


def test_torch_loss_inputs():
    net = make_mlp(3, [8], "tanh", seed=35)
    x = torch.randn(5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="requires grad"):
        et.exact_score_matching_loss(net, x.clone().requires_grad_(True))
    with pytest.raises(ValueError, match="expected dtype float32 or float64"):
        et.exact_score_matching_loss(net, x.to(torch.bfloat16))
    with pytest.raises(ValueError, match="`sigma` must be positive"):
        et.denoising_score_matching_loss(net, x, 0.0)
    with pytest.raises(ValueError, match="`n_projections` must be at least 1"):
        et.sliced_score_matching_loss(net, x, n_projections=0)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="sample 1, coordinate 2"):
        et.exact_score_matching_loss(net, x)


def test_unknown_backend():
    net = make_mlp(3, [8], "tanh", seed=36)
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'"):
        et.exact_score_matching_loss(net, torch.randn(5, 3), backend="cuda")
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'"):
        ebm.Mlp.from_torch(net).to_backend("tpu")


def test_a_missing_gpu_is_an_error_not_a_cpu_run():
    # A fresh interpreter: the adapter is chosen when the first GPU model is made.
    code = (
        "import ebm, torch\n"
        "net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))\n"
        "try:\n"
        "    ebm.torch.exact_score_matching_loss(net, torch.randn(4, 3), backend='gpu')\n"
        "except RuntimeError as e:\n"
        "    print('RuntimeError:', e)\n"
    )
    env = dict(os.environ, EBM_ADAPTER="no-such-adapter")
    out = subprocess.run([sys.executable, "-c", "import ebm.torch\n" + code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "RuntimeError: gpu: no wgpu adapter matching selector `no-such-adapter`" in out.stdout


def test_sampler_arguments(model):
    x0 = batch(4, 3, seed=37)
    with pytest.raises(ValueError, match='expected "ula" or "mala"'):
        ebm.sample(model, x0, sampler="hmc")
    with pytest.raises(ValueError, match="step"):
        ebm.sample(model, x0, step_size=-1.0)
