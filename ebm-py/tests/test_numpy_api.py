"""ebm.Model on NumPy arrays against PyTorch float64 autograd."""

import numpy as np
import pytest
import torch

import ebm
from reference import ACTIVATIONS, WIDTHS, assert_close, batch, energy_derivs, make_mlp


def test_version_is_the_crate_version():
    assert isinstance(ebm.__version__, str) and ebm.__version__.count(".") == 2


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("hidden", WIDTHS, ids=str)
def test_energy_score_hess_diag_match_autograd(act, hidden):
    d = 3
    net = make_mlp(d, hidden, act, seed=len(hidden))
    x = batch(7, d, seed=1)
    model = ebm.Mlp.from_torch(net)
    assert (model.family, model.dim, model.num_params) == ("mlp", d, sum(p.numel() for p in net.parameters()))
    e, g, h = energy_derivs(net, x)
    e1, s1, h1 = model.energy_score_hess_diag(x)
    assert e1.dtype == np.float64 and e1.shape == (7,) and s1.shape == h1.shape == (7, d)
    assert_close(e1, e, 1e-5, "energy")
    assert_close(s1, -g, 1e-5, "score = -grad_x E")
    assert_close(h1, h, 1e-5, "hess_diag")
    assert_close(model.energy(x), e, 1e-5, "energy()")
    assert_close(model.score(x), -g, 1e-5, "score()")


def test_float32_inputs_compute_in_float32():
    net = make_mlp(4, [16, 16], "tanh", seed=3)
    model = ebm.Mlp.from_torch(net)
    x = batch(5, 4, seed=2, dtype=np.float32)
    e, s, h = model.energy_score_hess_diag(x)
    assert e.dtype == s.dtype == h.dtype == np.float32
    e64, g64, h64 = energy_derivs(net, x.astype(np.float64))
    assert_close(e, e64, 1e-4, "energy f32")
    assert_close(s, -g64, 1e-4, "score f32")
    assert_close(h, h64, 1e-4, "hess f32")


def test_float32_module_reads_the_same_weights():
    net = make_mlp(2, [8], "silu", seed=4, dtype=torch.float32)
    x = batch(6, 2, seed=5)
    want = net.double()(torch.from_numpy(x))[:, 0]
    assert_close(ebm.Mlp.from_torch(net).energy(x), want, 1e-6, "energy")


def test_mlp_new_matches_from_torch():
    net = make_mlp(3, [8, 4], "softplus", seed=6)
    flat = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    x = batch(4, 3, seed=7)
    m = ebm.Mlp.new(3, [8, 4], "softplus", flat)
    np.testing.assert_array_equal(m.params(), flat)
    np.testing.assert_array_equal(m.energy(x), ebm.Mlp.from_torch(net).energy(x))


def test_the_input_is_not_modified_and_outputs_are_fresh():
    model = ebm.Mlp.from_torch(make_mlp(2, [8], "tanh", seed=8))
    x = batch(3, 2, seed=9)
    before = x.copy()
    s = model.score(x)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(s, x)
