"""The native module of ebm (Rust, PyO3). Arrays are float32 or float64,
C-contiguous, shape (B, d); every method computes in the input's dtype
with the GIL released and raises ValueError (naming the argument, row and
column) for a bad shape, dtype, order or a non-finite value."""

from os import PathLike
from typing import List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Array = npt.NDArray[np.floating]

class TrainingDiverged(RuntimeError):
    """A training run that diverged; its last good checkpoint stays in the run directory."""

def train(
    settings: List[Tuple[str, str]],
    out: Union[str, PathLike],
    data: Optional[_Array] = None,
    force: bool = False,
    quiet: bool = True,
) -> Tuple["Model", str]:
    """`ebm train` with (name, JSON value) settings; returns the model and metrics.json's text."""

def train_defaults() -> str:
    """The settings of `ebm train` with their defaults, as a JSON object."""


class Model:
    """An energy-based model p(x) = exp(-E(x)) / Z of any ebm family."""

    @staticmethod
    def mlp(dim: int, hidden: List[int], activation: str, params: npt.NDArray[np.float64]) -> "Model":
        """An MLP energy from its flat parameters (per layer W (out, in) row-major, then b)."""
    @staticmethod
    def load(path: Union[str, PathLike]) -> "Model":
        """Reads an ebm safetensors file (OSError if unreadable, ValueError if not a model)."""
    def to_backend(self, backend: str) -> "Model":
        """This model on "cpu" or "gpu" (ebm's kernels, float32 only; RuntimeError if none)."""
    @property
    def backend(self) -> str:
        """"cpu" or "gpu (adapter)"."""
    @property
    def dim(self) -> int:
        """The data dimension d."""
    @property
    def family(self) -> str:
        """mlp, gaussian, gmm, ica, rbm or formula."""
    @property
    def num_params(self) -> int:
        """The length of the flat parameter vector θ."""
    @property
    def standardize(self) -> Optional[Tuple[List[float], List[float]]]:
        """None, or (mean, scale) for a model trained on standardised data: θ is of E_z,
        z = (x - mean) / scale; energy, score, energy_score_hess_diag and sampling are in
        data units, E_x(x) = E_z(z) + Σ log scale; the loss methods refuse it (ValueError)."""
    def params(self) -> npt.NDArray[np.float64]:
        """The flat θ in the family's layout."""
    def energy(self, x: _Array) -> _Array:
        """E(x_b) for every row: shape (B,)."""
    def score(self, x: _Array) -> _Array:
        """The score -∇ₓE(x_b): shape (B, d)."""
    def energy_score(self, x: _Array) -> Tuple[_Array, _Array]:
        """(E (B,), score -∇ₓE (B, d)) in one pass."""
    def energy_score_hess_diag(self, x: _Array) -> Tuple[_Array, _Array, _Array]:
        """(E (B,), score -∇ₓE (B, d), exact Hessian diagonal ∂²E/∂xᵢ² (B, d)) in one pass."""
    def exact_sm_loss_grad(self, x: _Array) -> Tuple[float, _Array]:
        """Eq 12: mean of ½‖∇ₓE‖² − tr ∇ₓ²E over the batch, and its θ-gradient (one pass)."""
    def score_regression_loss_grad(self, x: _Array, target: _Array) -> Tuple[float, _Array]:
        """Eq 13 (DSM): mean of ½‖∇ₓE(x_b) − t_b‖², and its θ-gradient (one pass)."""
    def sliced_sm_loss_grad(self, x: _Array, v: _Array) -> Tuple[float, _Array]:
        """§3.3: mean of ½(v_bmᵀ∇ₓE)² − v_bmᵀ∇ₓ²E v_bm over M directions per sample (v: (M·B, d),
        sample-major), and its θ-gradient (2 + 2M passes)."""
    def nce_loss_grad(
        self, points: _Array, n_data: int, log_pn: npt.NDArray[np.float64], c: float
    ) -> Tuple[float, _Array, float]:
        """Eq 22–24: (L, ∇θL, ∂L/∂c) on B data points then ν·B noise points."""
    def langevin(
        self, x0: _Array, sampler: str, steps: int, step_size: float, seed: int
    ) -> Tuple[_Array, Optional[float]]:
        """ULA (eq 14) or MALA chains from x0: (end points, MALA's acceptance rate or None)."""
