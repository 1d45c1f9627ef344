"""The PyTorch side of the peers: the MLP energy and every operation of
``run.py`` (CPU, with JAX) and ``device_peers.py`` (CUDA), written once.

The energy and the hand-derived derivatives are ``mlp_math.py``'s, shared
with JAX. Everything here is plain PyTorch (no JAX import), and every tensor it makes
is made on the device of its inputs, so the same functions run on the CPU
and on a GPU. The parameters ``p`` are ``[(W, b), ...]`` per layer, as
``split_params`` cuts them from ebm's flat layout.
"""

import math

import torch
import torch.nn.functional as F

import mlp_math

def split_params(theta, dims):
    """theta in ebm's layout (PyTorch state_dict order) -> [(W, b), ...]."""
    layers, at = [], 0
    for inp, out in zip(dims[:-1], dims[1:]):
        w = theta[at : at + out * inp].reshape(out, inp)
        at += out * inp
        b = theta[at : at + out]
        at += out
        layers.append((w, b))
    assert at == theta.shape[0]
    return layers

def t_energy(p, x):
    return mlp_math.energy(p, x, F.softplus)


def t_flat(grads, params=None):
    """Concatenates gradients in layout order; None (an unused parameter,
    like the output bias for derivatives in x) counts as zeros."""
    if params is None:
        params = grads
    return torch.cat([(g if g is not None else torch.zeros_like(t)).reshape(-1) for g, t in zip(grads, params)])


def t_grad_params(loss, params):
    return t_flat(torch.autograd.grad(loss, params, allow_unused=True), params)


def t_score_autograd(p, x):
    x = x.detach().requires_grad_(True)
    e = t_energy(p, x)
    (g,) = torch.autograd.grad(e.sum(), x)
    return e.detach(), -g


def t_hess_autograd(p, x, create_graph=False):
    """E, grad E and the Hessian diagonal by a loop of double backward."""
    x = x.detach().requires_grad_(True)
    e = t_energy(p, x)
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    cols = []
    for i in range(x.shape[1]):
        (hi,) = torch.autograd.grad(g[:, i].sum(), x, retain_graph=True, create_graph=create_graph)
        cols.append(hi[:, i])
    return e, g, torch.stack(cols, 1)


def t_hess_func(p, x):
    """Hessian diagonal by torch.func vmap over the basis of jvp(grad)."""
    gfun = torch.func.grad(lambda y: t_energy(p, y).sum())
    d = x.shape[1]
    basis = torch.eye(d, dtype=x.dtype, device=x.device).unsqueeze(1).expand(d, x.shape[0], d)
    hv = torch.func.vmap(lambda t: torch.func.jvp(gfun, (x,), (t,))[1])(basis)
    return torch.diagonal(hv, dim1=0, dim2=2)  # (B, d): hv[i, b, i]


def t_hand(p, x):
    """Hand-derived E, grad E and Hessian diagonal (ebm's decomposition)."""
    return mlp_math.hand(p, x, F.softplus, torch.sigmoid, torch)


def t_sm_loss_hand(p, x):
    _, g, h = t_hand(p, x)
    return (0.5 * (g * g).sum(1) - h.sum(1)).mean()


def t_sm_loss_func(p, x):
    gfun = torch.func.grad(lambda y: t_energy(p, y).sum())
    g = gfun(x)
    return (0.5 * (g * g).sum(1) - t_hess_func(p, x).sum(1)).mean()


def t_sm_autograd(p, x):
    x = x.detach().requires_grad_(True)
    e = t_energy(p, x)
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    tr = 0
    for i in range(x.shape[1]):
        (hi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
        tr = tr + hi[:, i]
    loss = (0.5 * (g * g).sum(1) - tr).mean()
    params = [t for wb in p for t in wb]
    return loss.detach(), t_grad_params(loss, params)


def t_loss_and_grad(loss_fn, p, *args):
    loss = loss_fn(p, *args)
    params = [t for wb in p for t in wb]
    return loss.detach(), t_grad_params(loss, params)


def t_dsm_loss(p, noisy, target):
    x = noisy.detach().requires_grad_(True)
    e = t_energy(p, x)
    (g,) = torch.autograd.grad(e.sum(), x, create_graph=True)
    r = target - g
    return 0.5 * (r * r).sum() / x.shape[0]


def t_dsm_loss_func(p, noisy, target):
    g = torch.func.grad(lambda y: t_energy(p, y).sum())(noisy)
    r = target - g
    return 0.5 * (r * r).sum() / noisy.shape[0]


def t_grad_x(p, y):
    return torch.func.grad(lambda v: t_energy(p, v).sum())(y)


_T_GRAD_X_COMPILED = None


def t_langevin(p, x, eps, steps, zs=None, how="autograd"):
    """steps ULA moves; zs (steps, B, d) or None to draw with torch.randn.
    how: "autograd" (autograd.grad), "func" (torch.func.grad) or "compile"
    (torch.compile of the torch.func.grad score)."""
    global _T_GRAD_X_COMPILED
    half = 0.5 * eps * eps
    x = x.clone()
    gfun = None
    if how == "func":
        gfun = lambda y: t_grad_x(p, y)  # noqa: E731
    elif how == "compile":
        if _T_GRAD_X_COMPILED is None:
            _T_GRAD_X_COMPILED = torch.compile(t_grad_x, dynamic=False)
        gfun = lambda y: _T_GRAD_X_COMPILED(p, y)  # noqa: E731
    for k in range(steps):
        z = zs[k] if zs is not None else torch.randn_like(x)
        if gfun is None:
            xr = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(t_energy(p, xr).sum(), xr)
        else:
            g = gfun(x)
        x = x - half * g + eps * z
    return x.detach()


def t_cd(p, x, eps, k, zs=None, how="autograd"):
    pd = [(w.detach(), b.detach()) for w, b in p]
    neg = t_langevin(pd, x, eps, k, zs, how)
    e = t_energy(p, torch.cat([x, neg]))
    bsz = x.shape[0]
    loss = e[:bsz].mean() - e[bsz:].mean()
    params = [t for wb in p for t in wb]
    return loss.detach(), t_grad_params(loss, params), neg


def t_nce(p, c, x, noise, lpn_x, lpn_n, nu=1):
    e = t_energy(p, torch.cat([x, noise]))
    bsz = x.shape[0]
    gx = -e[:bsz] - c - lpn_x - math.log(nu)
    gn = -e[bsz:] - c - lpn_n - math.log(nu)
    loss = (F.softplus(-gx).sum() + F.softplus(gn).sum()) / e.shape[0]
    params = [t for wb in p for t in wb] + [c]
    return loss.detach(), t_grad_params(loss, params)
