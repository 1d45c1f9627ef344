from os import PathLike
from typing import List, Optional, Union

import numpy as np
import numpy.typing as npt

from ._ebm import Model as Model

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
