from typing import Callable, Optional, Union

import torch

def exact_score_matching_loss(module: torch.nn.Sequential, x: torch.Tensor, backend: str = "cpu") -> torch.Tensor:
    """Eq 12: the batch mean of ½‖∇ₓE‖² − tr ∇ₓ²E; value and parameter gradient from ebm in one pass."""

def denoising_score_matching_loss(
    module: torch.nn.Sequential,
    x: torch.Tensor,
    sigma: float,
    noise: Optional[torch.Tensor] = None,
    backend: str = "cpu",
) -> torch.Tensor:
    """Eq 13 with x̃ = x + σ·noise: the batch mean of ½‖∇ₓE(x̃) − (x̃ − x)/σ²‖²."""

def sliced_score_matching_loss(
    module: torch.nn.Sequential,
    x: torch.Tensor,
    n_projections: int = 1,
    directions: Optional[torch.Tensor] = None,
    backend: str = "cpu",
) -> torch.Tensor:
    """§3.3: the mean over samples and directions v of ½(vᵀ∇ₓE)² − vᵀ∇ₓ²E v."""

def nce_loss(
    module: torch.nn.Sequential,
    log_z: Union[torch.Tensor, float],
    x: torch.Tensor,
    noise: torch.Tensor,
    noise_log_prob: Union[Callable[[torch.Tensor], torch.Tensor], torch.Tensor],
    backend: str = "cpu",
) -> torch.Tensor:
    """Eq 22–24: logistic loss of data against ν·B noise points with logit G = −E − c − log p_n − log ν."""
