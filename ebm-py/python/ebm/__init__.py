"""ebm: energy-based models p(x) = exp(-E(x)) / Z with exact derivatives.

NumPy API (float32 or float64, C-contiguous (B, d) arrays, computed in the
input's dtype with the GIL released):

- ``ebm.load(path)``: any ebm safetensors file, every family;
- ``ebm.Mlp.from_torch(module)``: an ``nn.Sequential`` MLP energy;
- ``model.energy(x)`` -> E (B,), ``model.score(x)`` -> -grad_x E (B, d),
  ``model.energy_score_hess_diag(x)`` -> (E, score, d^2E/dx_i^2);
- ``ebm.sample(model, x0, sampler="ula"|"mala", steps, step_size, seed)``;
- ``ebm.train(data, model=..., estimator=..., steps=..., ...)`` -> (model,
  metrics): ``ebm train`` with its settings as keywords.

PyTorch losses whose value and parameter gradient come from ebm in one
pass: ``ebm.torch`` (imported on demand, needs torch).
"""

from ._ebm import Model, TrainingDiverged, __version__
from ._mlp import Mlp
from ._train import train, train_defaults

__all__ = [
    "Model",
    "Mlp",
    "TrainingDiverged",
    "load",
    "sample",
    "train",
    "train_defaults",
    "on_backend",
    "__version__",
]


def load(path):
    """Read an ebm safetensors model file (any family: mlp, gaussian, gmm,
    ica, rbm, formula), as written by ``ebm train`` or by
    ``safetensors.torch.save_file(net.state_dict(), path,
    metadata={"activation": "softplus"})``. A run directory reads its
    ``model.safetensors``. Raises OSError for an unreadable file and
    ValueError for a file that is not an ebm model."""
    import os

    return Model.load(os.fspath(path))


def sample(model, x0, sampler="ula", steps=100, step_size=0.01, seed=0, backend=None):
    """Run ``steps`` Langevin steps on the chains ``x0`` (B, d) and return
    their end points (a new array of x0's dtype; x0 is not modified).

    ULA (eq 14): x <- x - (eps^2 / 2) grad_x E(x) + eps * z, z ~ N(0, I),
    with eps = ``step_size``. MALA proposes the same move and accepts it
    with the Metropolis-Hastings probability, so the chains target
    p(x) exactly. The noise is ebm's counter-based Philox stream of
    ``seed``: the same seed gives the same chains.

    ``backend``: None runs where the model is; "cpu" or "gpu" (ebm's
    kernels, float32 only) moves a copy of it there first."""
    x, _rate = on_backend(model, backend).langevin(x0, sampler, int(steps), float(step_size), int(seed))
    return x


def on_backend(model, backend):
    """``model`` itself when it is on ``backend`` (None: wherever it is),
    otherwise a copy on it. Anything but "cpu" or "gpu" is a ValueError;
    a GPU that cannot be opened or cannot hold the model is a RuntimeError
    (nothing silently runs on the CPU)."""
    if backend is None or model.backend.split()[0] == backend:
        return model
    if backend not in ("cpu", "gpu"):
        raise ValueError(f"`backend`: expected 'cpu' or 'gpu', got {backend!r}")
    return model.to_backend(backend)
