"""PyTorch losses computed by ebm: the value and the gradient with respect
to every parameter of an ``nn.Sequential`` MLP energy E(x) = module(x)[:, 0]
come from ebm in one call, as a ``torch.autograd.Function``, so that
``loss.backward()`` fills each parameter's ``.grad`` and any optimizer
does the rest.

Every loss is a batch mean. It runs on CPU tensors (float32 or float64:
ebm computes in x's dtype; gradients are cast to each parameter's dtype).
``backend="gpu"`` runs it on ebm's GPU kernels in float32, through host
memory (θ and x copied to the device, the loss and gradient back); a GPU
that cannot be opened or cannot hold an operation is a RuntimeError, never
a silent CPU run.
No gradient flows to ``x`` (a tensor x that requires grad is refused). The
module must be what ``ebm.Mlp.from_torch`` accepts.
"""

import numpy as np
import torch as _torch

from . import on_backend
from ._ebm import Model
from ._mlp import flat_params, torch_mlp_layout

__all__ = [
    "exact_score_matching_loss",
    "denoising_score_matching_loss",
    "sliced_score_matching_loss",
    "nce_loss",
]


class _EbmLoss(_torch.autograd.Function):
    """A scalar loss whose value and parameter gradient ``run()`` returns;
    backward scales the stored gradient by the incoming one."""

    @staticmethod
    def forward(ctx, run, x, *params):
        loss, grad = run()
        grad = _torch.from_numpy(grad)
        ctx.grads = []
        offset = 0
        for p in params:
            n = p.numel()
            ctx.grads.append(grad[offset : offset + n].reshape(p.shape).to(dtype=p.dtype, device=p.device))
            offset += n
        return _torch.tensor(loss, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        return (None, None, *[grad_out.to(g.dtype) * g for g in ctx.grads])


def _prepare(module, x, backend, name="x"):
    """The ebm model of ``module`` on ``backend``, its parameters and x as
    a NumPy view."""
    if backend not in ("cpu", "gpu"):
        raise ValueError(f"`backend`: expected 'cpu' or 'gpu', got {backend!r}")
    xs = _array(x, name)
    if backend == "gpu" and x.dtype != _torch.float32:
        raise ValueError(f"`{name}`: backend='gpu' computes in float32, got {x.dtype}")
    dim, hidden, act, params = torch_mlp_layout(module)
    model = on_backend(Model.mlp(dim, hidden, act, flat_params(params)), backend)
    return model, params, xs


def _array(x, name):
    if not isinstance(x, _torch.Tensor):
        raise ValueError(f"`{name}`: expected a torch.Tensor, got {type(x).__name__}")
    if x.device.type != "cpu":
        raise ValueError(f"`{name}` is on {x.device}; ebm's losses take CPU tensors (backend='gpu' copies them to its device)")
    if x.requires_grad:
        raise ValueError(f"`{name}` requires grad, but ebm's losses give no gradient with respect to it: pass {name}.detach()")
    if x.dtype not in (_torch.float32, _torch.float64):
        raise ValueError(f"`{name}`: expected dtype float32 or float64, got {x.dtype}")
    return x.contiguous().numpy()


def _apply(run, x, params):
    return _EbmLoss.apply(run, x, *params)


def exact_score_matching_loss(module, x, backend="cpu"):
    r"""Exact (Hyvärinen) score matching, eq 12:

    .. math:: J = \frac1B \sum_b \sum_i \tfrac12 (\partial_i E(x_b))^2 - \partial^2_{ii} E(x_b),

    i.e. the batch mean of ½‖∇ₓE‖² − tr ∇ₓ²E with the exact Hessian
    diagonal. Its value and ∇θJ come from ebm in one pass."""
    model, params, xs = _prepare(module, x, backend)
    return _apply(lambda: model.exact_sm_loss_grad(xs), x, params)


def denoising_score_matching_loss(module, x, sigma, noise=None, backend="cpu"):
    r"""Denoising score matching, eq 13, with the Gaussian kernel
    N(x, σ²I): x̃ = x + σ·noise (noise ~ N(0, I) from torch's generator
    when not given) and

    .. math:: L = \frac1B \sum_b \tfrac12 \lVert \nabla_x E(\tilde x_b) - (\tilde x_b - x_b)/\sigma^2 \rVert^2 .

    Its value and ∇θL come from ebm in one pass."""
    sigma = float(sigma)
    if not sigma > 0.0 or sigma == float("inf"):
        raise ValueError(f"`sigma` must be positive and finite, got {sigma}")
    if noise is None:
        noise = _torch.randn_like(x)
    elif noise.shape != x.shape:
        raise ValueError(f"`noise` has shape {tuple(noise.shape)}, expected {tuple(x.shape)} like `x`")
    noise = noise.to(x.dtype)
    x_noisy = (x + sigma * noise).detach()
    model, params, xs = _prepare(module, x_noisy, backend)
    target = _array((noise / sigma).detach(), "noise")
    return _apply(lambda: model.score_regression_loss_grad(xs, target), x, params)


def sliced_score_matching_loss(module, x, n_projections=1, directions=None, backend="cpu"):
    r"""Sliced score matching (§3.3) with ``n_projections`` standard normal
    directions v per sample (from torch's generator, or ``directions`` of
    shape (n_projections, B, d)):

    .. math:: J = \frac{1}{MB} \sum_{m,b} \tfrac12 (v_{mb}^\top \nabla_x E(x_b))^2 - v_{mb}^\top \nabla_x^2 E(x_b)\, v_{mb} .

    Its value and ∇θJ come from ebm in 2 + 2M passes over the batch (the
    score, the first term's gradient for all M directions at once, then
    vᵀ∇ₓ²E v and its gradient), as ``ebm train --estimator ssm``."""
    n_projections = int(n_projections)
    if n_projections < 1:
        raise ValueError(f"`n_projections` must be at least 1, got {n_projections}")
    if directions is None:
        directions = _torch.randn((n_projections,) + tuple(x.shape), dtype=x.dtype)
    elif tuple(directions.shape) != (n_projections,) + tuple(x.shape):
        raise ValueError(
            f"`directions` has shape {tuple(directions.shape)}, expected {(n_projections,) + tuple(x.shape)}"
        )
    model, params, xs = _prepare(module, x, backend)
    # Sample-major (B·M, d): row M·b + m is direction m of sample b.
    v = _array(directions.detach().to(x.dtype).transpose(0, 1).reshape(-1, x.shape[1]), "directions")
    return _apply(lambda: model.sliced_sm_loss_grad(xs, v), x, params)


def nce_loss(module, log_z, x, noise, noise_log_prob, backend="cpu"):
    r"""Noise-contrastive estimation (eq 22–24) of p(x) = exp(−E(x) − c)
    with c = ``log_z`` learned: B data points ``x`` (B, d), ν·B noise
    points ``noise`` (ν ≥ 1 an integer) drawn from p_n, and
    ``noise_log_prob``, log p_n either as a callable on a (n, d) tensor or
    as a tensor of its values at ``x`` then ``noise`` ((1 + ν)B,). With the
    logit G = −E − c − log p_n − log ν,

    .. math:: L = \frac{1}{(1+\nu)B}\Big[\sum_\text{data} \operatorname{softplus}(-G) + \sum_\text{noise} \operatorname{softplus}(G)\Big].

    The gradient reaches the module's parameters and ``log_z`` (a tensor;
    a Python float gets none)."""
    _array(x, "x")
    if tuple(noise.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"`noise` has shape {tuple(noise.shape)}, expected (nu * B, {x.shape[1]})")
    points = _torch.cat([x.detach(), noise.detach().to(x.dtype)])
    if callable(noise_log_prob):
        with _torch.no_grad():
            log_pn = noise_log_prob(points)
    else:
        log_pn = noise_log_prob
    log_pn = _torch.as_tensor(log_pn).detach().to(_torch.float64).reshape(-1)
    if log_pn.numel() != points.shape[0]:
        raise ValueError(f"`noise_log_prob` gives {log_pn.numel()} values, expected one per point of x and noise ({points.shape[0]})")
    model, params, ps = _prepare(module, points, backend, "x")
    lp = log_pn.contiguous().numpy()
    learned_c = isinstance(log_z, _torch.Tensor)
    c = float(log_z.detach()) if learned_c else float(log_z)

    def run():
        loss, grad, dc = model.nce_loss_grad(ps, x.shape[0], lp, c)
        return loss, (np.concatenate([grad, np.array([dc], dtype=grad.dtype)]) if learned_c else grad)

    return _apply(run, x, params + [log_z] if learned_c else params)
