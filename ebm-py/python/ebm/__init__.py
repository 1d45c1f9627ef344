"""ebm: energy-based models p(x) = exp(-E(x)) / Z with exact derivatives.

NumPy API (float32 or float64, C-contiguous (B, d) arrays, computed in the
input's dtype with the GIL released):

- ``ebm.load(path)``: any ebm safetensors file, every family;
- ``ebm.Mlp.from_torch(module)``: an ``nn.Sequential`` MLP energy;
- ``model.energy(x)`` -> E (B,), ``model.score(x)`` -> -grad_x E (B, d),
  ``model.energy_score_hess_diag(x)`` -> (E, score, d^2E/dx_i^2);
- ``ebm.sample(model, x0, sampler="ula"|"mala", steps, step_size, seed)``.

PyTorch losses whose value and parameter gradient come from ebm in one
pass: ``ebm.torch`` (imported on demand, needs torch).
"""

from ._ebm import Model, __version__
from ._mlp import Mlp

__all__ = ["Model", "Mlp", "load", "sample", "__version__"]


def load(path):
    """Read an ebm safetensors model file (any family: mlp, gaussian, gmm,
    ica, rbm, formula), as written by ``ebm train`` or by
    ``safetensors.torch.save_file(net.state_dict(), path,
    metadata={"activation": "softplus"})``. A run directory reads its
    ``model.safetensors``. Raises OSError for an unreadable file and
    ValueError for a file that is not an ebm model."""
    import os

    return Model.load(os.fspath(path))


def sample(model, x0, sampler="ula", steps=100, step_size=0.01, seed=0, backend="cpu"):
    """Run ``steps`` Langevin steps on the chains ``x0`` (B, d) and return
    their end points (a new array of x0's dtype; x0 is not modified).

    ULA (eq 14): x <- x - (eps^2 / 2) grad_x E(x) + eps * z, z ~ N(0, I),
    with eps = ``step_size``. MALA proposes the same move and accepts it
    with the Metropolis-Hastings probability, so the chains target
    p(x) exactly. The noise is ebm's counter-based Philox stream of
    ``seed``: the same seed gives the same chains."""
    _check_backend(backend)
    x, _rate = model.langevin(x0, sampler, int(steps), float(step_size), int(seed))
    return x


def _check_backend(backend):
    """Refuse every backend but the CPU: nothing runs elsewhere silently."""
    if backend == "cpu":
        return
    if backend == "gpu":
        raise NotImplementedError(
            "backend='gpu' is not available in this build of the ebm Python package yet "
            "(ebm's GPU kernels are reachable from Rust and the `ebm` CLI's --backend gpu); "
            "use backend='cpu'"
        )
    raise ValueError(f"`backend`: expected 'cpu' or 'gpu', got {backend!r}")
