"""A PyTorch training loop with ebm's exact score-matching loss recovers a
Gaussian's MLE: on Gaussian data, the exact-SM optimum among Gaussians is
the MLE (sample mean μ̂, precision P̂ = Ĉ⁻¹, 1/n covariance) with loss
J = −½ tr P̂ (eq 12 at the optimum), and an MLP energy trained by exact SM
must match its score −P̂(x − μ̂) and its Hessian diagonal diag P̂ on the
data (the truth test of ebm-estimators/tests/score_matching.rs, through
PyTorch's optimizer)."""

import numpy as np
import torch

import ebm
import ebm.torch as et


def test_exact_sm_training_recovers_the_gaussian_mle():
    torch.manual_seed(0)
    n, d = 2000, 2
    chol = torch.tensor([[1.0, 0.0], [0.6, 0.5]], dtype=torch.float64)
    data = torch.tensor([1.0, -0.5], dtype=torch.float64) + torch.randn(n, d, dtype=torch.float64) @ chol.T
    mean = data.mean(0)
    precision = torch.linalg.inv((data - mean).T @ (data - mean) / n)

    net = torch.nn.Sequential(
        torch.nn.Linear(d, 32), torch.nn.Softplus(), torch.nn.Linear(32, 32), torch.nn.Softplus(), torch.nn.Linear(32, 1)
    ).double()
    steps = 400
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        loss = et.exact_score_matching_loss(net, data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    j_mle = -0.5 * torch.trace(precision).item()
    assert abs(loss.item() - j_mle) < 0.02 * abs(j_mle), (loss.item(), j_mle)
    _, score, hess = ebm.Mlp.from_torch(net).energy_score_hess_diag(data.numpy())
    score_mle = -((data - mean) @ precision).numpy()
    assert np.linalg.norm(score - score_mle) < 0.1 * np.linalg.norm(score_mle)
    np.testing.assert_allclose(hess.mean(0), torch.diag(precision).numpy(), rtol=0.03)
