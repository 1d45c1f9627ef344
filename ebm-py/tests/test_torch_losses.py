"""ebm.torch's losses: value and every parameter's gradient against PyTorch
float64 autograd of the same formula."""

import numpy as np
import pytest
import torch

import ebm.torch as et
from reference import (
    ACTIVATIONS,
    WIDTHS,
    assert_close,
    dsm_loss,
    exact_sm_loss,
    make_mlp,
    nce_loss,
    param_grads,
    ssm_loss,
)


def ebm_value_and_grads(net, loss_fn):
    net.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss.detach(), [p.grad.detach().clone() for p in net.parameters()]


def check(net, ours, reference, what):
    value, grads = ebm_value_and_grads(net, ours)
    ref = reference()
    assert_close(value, ref, 1e-5, f"{what} value")
    for i, (g, r) in enumerate(zip(grads, param_grads(net, ref))):
        assert g.shape == r.shape
        assert_close(g, r, 1e-4, f"{what} grad of parameter {i}")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("hidden", WIDTHS, ids=str)
def test_exact_sm_matches_autograd(act, hidden):
    net = make_mlp(3, hidden, act, seed=11)
    x = torch.randn(9, 3, dtype=torch.float64)
    check(net, lambda: et.exact_score_matching_loss(net, x), lambda: exact_sm_loss(net, x), "exact SM")


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dsm_matches_autograd(act):
    net = make_mlp(4, [16, 8], act, seed=12)
    x, noise = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    check(
        net,
        lambda: et.denoising_score_matching_loss(net, x, 0.3, noise=noise),
        lambda: dsm_loss(net, x, 0.3, noise),
        "DSM",
    )


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_ssm_matches_autograd(act):
    net = make_mlp(3, [8, 8], act, seed=13)
    x, v = torch.randn(6, 3, dtype=torch.float64), torch.randn(2, 6, 3, dtype=torch.float64)
    check(
        net,
        lambda: et.sliced_score_matching_loss(net, x, n_projections=2, directions=v),
        lambda: ssm_loss(net, x, v),
        "SSM",
    )


def test_ssm_draws_directions_from_torchs_generator():
    net = make_mlp(2, [8], "tanh", seed=14)
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.manual_seed(0)
    a = et.sliced_score_matching_loss(net, x, n_projections=3)
    torch.manual_seed(0)
    b = et.sliced_score_matching_loss(net, x, n_projections=3)
    assert a.item() == b.item()


def test_float32_module_and_batch():
    net = make_mlp(3, [16], "softplus", seed=15, dtype=torch.float32)
    x = torch.randn(10, 3)
    loss = et.exact_score_matching_loss(net, x)
    assert loss.dtype == torch.float32
    loss.backward()
    net64 = make_mlp(3, [16], "softplus", seed=15)
    ref = exact_sm_loss(net64, x.double())
    assert_close(loss.detach(), ref, 1e-4, "f32 value")
    for p, r in zip(net.parameters(), param_grads(net64, ref)):
        assert p.grad.dtype == torch.float32
        assert_close(p.grad, r, 1e-3, "f32 grad")


def test_backward_scales_by_the_incoming_gradient():
    net = make_mlp(2, [8], "silu", seed=16)
    x = torch.randn(4, 2, dtype=torch.float64)
    (3.0 * et.exact_score_matching_loss(net, x)).backward()
    for p, r in zip(net.parameters(), param_grads(net, exact_sm_loss(net, x))):
        assert_close(p.grad, 3.0 * r, 1e-10, "3 × grad")


def test_an_optimizer_step_lowers_the_loss():
    net = make_mlp(2, [16, 16], "softplus", seed=17)
    x = torch.randn(64, 2, dtype=torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    before = et.exact_score_matching_loss(net, x)
    before.backward()
    opt.step()
    assert et.exact_score_matching_loss(net, x).item() < before.item()


@pytest.mark.parametrize("nu", [1, 3])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_nce_matches_autograd(act, nu):
    net = make_mlp(2, [8, 8], act, seed=18)
    x, noise = torch.randn(6, 2, dtype=torch.float64), 1.5 * torch.randn(6 * nu, 2, dtype=torch.float64)
    log_pn = lambda p: -0.5 * (p / 1.5).pow(2).sum(1) - 2 * np.log(1.5) - np.log(2 * np.pi)
    c = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    net.zero_grad()
    loss = et.nce_loss(net, c, x, noise, log_pn)
    loss.backward()
    ref = nce_loss(net, c, x, noise, log_pn(torch.cat([x, noise])))
    assert_close(loss.detach(), ref, 1e-5, "NCE value")
    (ref_c,) = torch.autograd.grad(ref, c, retain_graph=True)
    assert_close(c.grad, ref_c, 1e-4, "dL/dc")
    for p, r in zip(net.parameters(), param_grads(net, ref)):
        assert_close(p.grad, r, 1e-4, "NCE parameter gradient")
    # The log-densities as a tensor give the same loss.
    assert et.nce_loss(net, 0.3, x, noise, log_pn(torch.cat([x, noise]))).item() == loss.item()
