"""PyTorch float64 autograd references and random MLPs for the tests."""

import numpy as np
import torch

ACTIVATIONS = {
    "softplus": torch.nn.Softplus,
    "tanh": torch.nn.Tanh,
    "silu": torch.nn.SiLU,
    "gelu-tanh": lambda: torch.nn.GELU(approximate="tanh"),
}

#: Hidden widths of the random MLPs: one, two and three hidden layers.
WIDTHS = [[8], [16, 16], [32, 8, 16]]


def make_mlp(dim, hidden, act, seed, dtype=torch.float64):
    """A random nn.Sequential MLP energy (PyTorch's default init, scaled up
    so that the activations leave their linear range)."""
    torch.manual_seed(seed)
    dims = [dim] + list(hidden) + [1]
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(ACTIVATIONS[act]())
    net = torch.nn.Sequential(*layers).to(dtype)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return net


def batch(n, dim, seed, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(dtype)


def energy_derivs(net, x, create_graph=False):
    """E (B,), grad_x E (B, d) and the Hessian diagonal (B, d) by autograd."""
    x = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
    e = net(x)[:, 0]
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    cols = []
    for i in range(x.shape[1]):
        (gi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        cols.append(gi[:, i])
    return e, g, torch.stack(cols, dim=1)


def exact_sm_loss(net, x):
    """Eq 12 by autograd: the batch mean of ½‖∇ₓE‖² − tr ∇ₓ²E."""
    _, g, h = energy_derivs(net, x, create_graph=True)
    return (0.5 * (g**2).sum(1) - h.sum(1)).mean()


def dsm_loss(net, x, sigma, noise):
    """Eq 13 by autograd."""
    xt = (x + sigma * noise).clone().requires_grad_(True)
    e = net(xt)[:, 0]
    (g,) = torch.autograd.grad(e.sum(), xt, create_graph=True)
    return (0.5 * ((g - noise / sigma) ** 2).sum(1)).mean()


def ssm_loss(net, x, directions):
    """§3.3 by autograd, averaged over the directions (M, B, d)."""
    xt = x.clone().requires_grad_(True)
    e = net(xt)[:, 0]
    (g,) = torch.autograd.grad(e.sum(), xt, create_graph=True)
    total = 0.0
    for v in directions:
        gv = (g * v).sum(1)
        (hv,) = torch.autograd.grad(gv.sum(), xt, create_graph=True)
        total = total + (0.5 * gv**2 - (hv * v).sum(1)).mean()
    return total / len(directions)


def nce_loss(net, log_z, x, noise, log_pn):
    """Eq 22–24 by autograd: logit G = −E − c − log p_n − log ν."""
    nu = noise.shape[0] // x.shape[0]
    points = torch.cat([x, noise])
    g = -net(points)[:, 0] - log_z - log_pn - np.log(nu)
    n = x.shape[0]
    f = torch.nn.functional.softplus
    return (f(-g[:n]).sum() + f(g[n:]).sum()) / points.shape[0]


def param_grads(net, loss):
    """∂loss/∂θ for every parameter (zero for one the loss does not read,
    such as the output bias in the score-based losses)."""
    params = list(net.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]


def assert_close(got, want, rtol, what=""):
    """max|got − want| ≤ rtol · max|want| (relative to the array's scale)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want.detach() if isinstance(want, torch.Tensor) else want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(np.abs(want).max(), 1e-300)
    err = np.abs(got - want).max()
    assert err <= rtol * scale, f"{what}: max error {err:.3e} > {rtol:.0e} × {scale:.3e}"
