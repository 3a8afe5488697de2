"""Gaussian data N(MEAN, COV) and a Gaussian energy with learnable mean and precision: the objectives' closed forms hold for them."""

from __future__ import annotations

import torch
from torch import nn

import energyflow as ef

MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)


class GaussianModel(ef.Energy):
    """E(x) = (x - mu)^T P (x - mu) / 2, with mu and the symmetric P learned."""

    def __init__(self, mu: torch.Tensor, precision: torch.Tensor):
        super().__init__()
        self.mu = nn.Parameter(mu.clone())
        self.precision = nn.Parameter(precision.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self.mu
        return 0.5 * ((d @ self.precision) * d).sum(1)


def draw(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of N(MEAN, COV), float64."""
    g = torch.Generator().manual_seed(seed)
    return MEAN + torch.randn(n, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(COV).T


def gradients(loss: torch.Tensor, model: GaussianModel) -> tuple[torch.Tensor, torch.Tensor]:
    """d loss / d mu and the symmetrised d loss / d P."""
    g_mu, g_p = torch.autograd.grad(loss, [model.mu, model.precision])
    return g_mu, (g_p + g_p.T) / 2
