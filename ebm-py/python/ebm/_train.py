"""``ebm.train``: the ``ebm train`` command from Python."""

import json
import os
import shutil
import tempfile

import numpy as np

from . import _ebm


def train_defaults():
    """The settings of ``ebm train`` with their defaults, as a dict (the
    keys of ``config.toml``; ``ebm.train`` takes each as a keyword)."""
    return json.loads(_ebm.train_defaults())


def _json(name, v):
    """A setting's value as JSON text (NumPy scalars as Python numbers)."""
    if isinstance(v, np.generic):
        v = v.item()
    elif isinstance(v, (list, tuple)):
        v = [x.item() if isinstance(x, np.generic) else x for x in v]
    try:
        return json.dumps(v, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"`{name}`: {v!r} is not a valid setting value ({e})") from None


def train(data="moons", *, out=None, force=False, quiet=True, **settings):
    r"""Train an energy-based model p(x) = exp(−E(x))/Z as ``ebm train``
    does, and return ``(model, metrics)``.

    ``data`` is a built-in data set name (``moons``, ``rings``, ...,
    ``redwine``), a ``.npy`` / ``.csv`` path, or an array of shape (N, d)
    (float32 or float64, anything ``numpy.asarray`` takes; ebm trains in
    float32, so every value must be finite in float32). Every other keyword
    is a setting of ``ebm train``, named as in its ``config.toml``
    (``ebm.train_defaults()`` lists them with their defaults): ``model``
    (``"mlp:64,64:softplus"``, ``"gaussian"``, ``"gmm:K"``, ...),
    ``estimator`` (cd pcd icd esm dsm ssm ssm-vr nce lsd), ``steps``,
    ``batch``, ``lr``, ``optimizer``, ``seed``, ``backend`` ("cpu" or
    "gpu"), ``heldout``, ``dsm_sigma``, ... The estimators minimise, over
    mini-batches of the training split, e.g. exact score matching (eq 12)

    .. math:: J(θ) = \frac1B \sum_b \tfrac12 \lVert ∇_x E_θ(x_b) \rVert^2 − \operatorname{tr} ∇_x^2 E_θ(x_b),

    with Adam (or SGD); ``docs/equations.md`` states each loss.

    ``out``: the run directory (``config.toml``, ``state.safetensors``,
    ``model.safetensors``, ``metrics.json``, pictures for d = 2, and
    ``data.npy`` for an array), or None for a temporary one removed before
    returning. A directory that holds a run is refused unless ``force``
    (then the run is replaced); ``ebm train --resume OUT`` continues a run.
    ``quiet=False`` shows ``ebm train``'s progress on stderr.

    Returns the model (as ``ebm.load`` gives it) and ``metrics.json`` as a
    dict: ``status``, the loss of every step, held-out losses, and the
    held-out metrics (exact NLL for d ≤ 2, AIS log Z above, KSD², MMD²).

    Raises ValueError naming the bad setting (or the row and column of a
    bad data value), ``ebm.TrainingDiverged`` (a RuntimeError) when the run
    diverges (its last good checkpoint stays in ``out``, even a temporary
    one, which the message names), OSError when a
    file cannot be read or written. The GIL is released while training.
    Ctrl-C cannot stop a run early (ebm-cli stops only on its own SIGINT
    handler, which the ``ebm`` command installs): the KeyboardInterrupt is
    raised when the run ends, naming the directory holding its outputs (a
    temporary one is then kept).
    """
    pairs = [(k, _json(k, v)) for k, v in settings.items()]
    array = None
    if isinstance(data, (str, os.PathLike)):
        pairs.append(("data", _json("data", os.fspath(data))))
    else:
        array = np.asarray(data)
    if out is not None:
        model, metrics = _ebm.train(pairs, os.fspath(out), array, force, quiet)
        return model, json.loads(metrics)
    tmp = tempfile.mkdtemp(prefix="ebm-train-")
    try:
        model, metrics = _ebm.train(pairs, os.path.join(tmp, "run"), array, force, quiet)
    except (KeyboardInterrupt, _ebm.TrainingDiverged):
        raise  # the message names the directory, which holds the run: keep it
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return model, json.loads(metrics)
