from os import PathLike
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._ebm import Model as Model
from ._ebm import TrainingDiverged as TrainingDiverged

__version__: str

class Mlp:
    """MLP energies E(x) = w_outᵀσ(a_L) + b_out; the constructors return an ebm.Model."""

    @staticmethod
    def from_torch(module: object) -> Model:
        """From an nn.Sequential of Linear layers with Softplus/Tanh/SiLU/GELU(approximate='tanh')
        between them, ending in Linear(·, 1). ValueError names an unsupported layer."""
    @staticmethod
    def new(dim: int, hidden: List[int], activation: str, params: npt.ArrayLike) -> Model:
        """From flat parameters (per layer W (out, in) row-major, then b)."""

def load(path: Union[str, PathLike]) -> Model:
    """Any ebm safetensors model file (every family); a run directory reads its model.safetensors."""

def sample(
    model: Model,
    x0: npt.NDArray[np.floating],
    sampler: str = "ula",
    steps: int = 100,
    step_size: float = 0.01,
    seed: int = 0,
    backend: Optional[str] = None,
) -> npt.NDArray[np.floating]:
    """`steps` ULA (eq 14) or MALA steps from x0 (B, d); returns the chains' end points."""

def on_backend(model: Model, backend: Optional[str]) -> Model:
    """The model itself if it is on `backend` (None: anywhere), else a copy there."""

def train(
    data: Union[str, PathLike, npt.ArrayLike] = "moons",
    *,
    out: Union[str, PathLike, None] = None,
    force: bool = False,
    quiet: bool = True,
    n_data: int = ...,
    heldout: float = ...,
    model: str = ...,
    estimator: str = ...,
    steps: int = ...,
    batch: int = ...,
    lr: float = ...,
    optimizer: str = ...,
    lr_schedule: str = ...,
    lr_decay_steps: int = ...,
    weight_decay: float = ...,
    clip_grad_norm: float = ...,
    seed: int = ...,
    backend: str = ...,
    checkpoint_every: int = ...,
    eval_every: int = ...,
    mcmc_steps: int = ...,
    mcmc_eps: float = ...,
    kl_weight: float = ...,
    pcd_buffer: int = ...,
    pcd_reinit: float = ...,
    l2_energy: float = ...,
    dsm_sigma: float = ...,
    dsm_levels: int = ...,
    dsm_sigma_min: float = ...,
    dsm_antithetic: bool = ...,
    ssm_projections: int = ...,
    nce_nu: int = ...,
    lsd_hidden: List[int] = ...,
    lsd_lambda: float = ...,
    lsd_critic_steps: int = ...,
    lsd_critic_lr: float = ...,
    standardize: bool = ...,
    plot_samples: int = ...,
    plot_sampler_steps: int = ...,
    plot_log: bool = ...,
) -> Tuple[Model, Dict[str, Any]]:
    """`ebm train` with its settings as keywords (defaults: train_defaults()); returns (model, metrics.json)."""

def train_defaults() -> Dict[str, Any]:
    """The settings of `ebm train` and their defaults."""
