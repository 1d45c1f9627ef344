"""The README's PyTorch snippet (section "The `ebm` command line and PyTorch
interop"), run as written on models `ebm train` wrote: for every activation,
and with the default standardisation, its E_x equals ebm's energy."""

import pathlib
import re

import numpy as np
import pytest
import torch

import ebm

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def snippet():
    section = README.read_text().split("## The `ebm` command line and PyTorch interop")[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize("act", ["softplus", "tanh", "silu", "gelu-tanh", "relu"])
@pytest.mark.parametrize("standardize", [True, False])
def test_the_snippet_reproduces_ebms_energy(tmp_path, act, standardize):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)) * np.array([50.0, 0.2]) + np.array([10.0, -3.0])
    model, _ = ebm.train(
        x, out=tmp_path, model=f"mlp:8,8:{act}", steps=20, plot_samples=0, standardize=standardize
    )
    code = snippet()
    assert 'path = "run/model.safetensors"' in code
    scope = {}
    exec(code.replace('"run/model.safetensors"', repr(str(tmp_path / "model.safetensors"))), scope)
    got = scope["E_x"](torch.tensor(x, dtype=torch.float32)).detach().double().numpy()
    want = model.energy(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
