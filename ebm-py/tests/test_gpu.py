"""backend="gpu": ebm's kernels (lavapipe in CI) give the CPU's values and
gradients in float32, and nothing falls back to the CPU silently."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import ebm
import ebm.torch as et
from reference import assert_close, batch, make_mlp


@pytest.fixture(scope="module")
def net():
    return make_mlp(3, [16, 8], "softplus", seed=41, dtype=torch.float32)


def test_numpy_methods_on_the_gpu(net):
    cpu = ebm.Mlp.from_torch(net)
    gpu = cpu.to_backend("gpu")
    assert gpu.backend.startswith("gpu (") and cpu.backend == "cpu"
    x = batch(9, 3, seed=42, dtype=np.float32)
    for got, want, what in zip(gpu.energy_score_hess_diag(x), cpu.energy_score_hess_diag(x.astype(np.float64)), "ESH"):
        assert got.dtype == np.float32
        assert_close(got, want, 1e-4, what)
    with pytest.raises(ValueError, match="on the GPU, which computes in float32"):
        gpu.energy(x.astype(np.float64))


@pytest.mark.parametrize("loss", ["exact", "dsm", "ssm", "nce"])
def test_losses_on_the_gpu_match_the_cpu(net, loss):
    torch.manual_seed(43)
    x, noise, v = torch.randn(8, 3), torch.randn(8, 3), torch.randn(1, 8, 3)
    log_pn = -0.5 * torch.cat([x, noise]).pow(2).sum(1)
    run = {
        "exact": lambda b: et.exact_score_matching_loss(net, x, backend=b),
        "dsm": lambda b: et.denoising_score_matching_loss(net, x, 0.5, noise=noise, backend=b),
        "ssm": lambda b: et.sliced_score_matching_loss(net, x, directions=v, backend=b),
        "nce": lambda b: et.nce_loss(net, 0.1, x, noise, log_pn, backend=b),
    }[loss]
    results = {}
    for backend in ("cpu", "gpu"):
        net.zero_grad()
        value = run(backend)
        value.backward()
        results[backend] = (value.detach(), [p.grad.clone() for p in net.parameters()])
    assert_close(results["gpu"][0], results["cpu"][0], 1e-4, f"{loss} value")
    for g, c in zip(results["gpu"][1], results["cpu"][1]):
        assert_close(g, c, 1e-3, f"{loss} gradient")


def test_gpu_refuses_float64_batches(net):
    with pytest.raises(ValueError, match="backend='gpu' computes in float32"):
        et.exact_score_matching_loss(net, torch.randn(4, 3, dtype=torch.float64), backend="gpu")


def test_sampling_on_the_gpu_is_reproducible(net):
    model = ebm.Mlp.from_torch(net)
    x0 = batch(16, 3, seed=44, dtype=np.float32)
    a = ebm.sample(model, x0, sampler="mala", steps=3, step_size=0.1, seed=5, backend="gpu")
    b = ebm.sample(model, x0, sampler="mala", steps=3, step_size=0.1, seed=5, backend="gpu")
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and np.all(np.isfinite(a)) and not np.array_equal(a, x0)


def test_torch_optimizers_after_the_gpu_opens():
    # triton (loaded by torch.optim) and lavapipe both embed LLVM; triton
    # loaded second used to crash the interpreter. A fresh process, so that
    # the GPU opens before anything imports triton.
    code = (
        "import numpy as np, torch, ebm\n"
        "net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))\n"
        "ebm.Mlp.from_torch(net).to_backend('gpu').energy(np.zeros((1, 2), np.float32))\n"
        "torch.optim.Adam(net.parameters())\n"
        "print('survived')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "survived" in out.stdout, out.stderr[-2000:]
