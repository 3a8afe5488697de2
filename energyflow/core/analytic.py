"""Energies with a closed form: a Gaussian (for checking samplers) and a wrapped function."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from energyflow.core.energy import Energy


class GaussianEnergy(Energy):
    """E(x) = 0.5 (x - mean)^T cov^-1 (x - mean): the negative log-density of N(mean, cov) up to a constant."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.get_default_dtype())
        cov = torch.as_tensor(cov, dtype=torch.get_default_dtype())
        if mean.dim() != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
            raise ValueError(
                f"GaussianEnergy: expected mean (d,) and cov (d, d), got {tuple(mean.shape)} and {tuple(cov.shape)}"
            )
        self.register_buffer("mean", mean)
        self.register_buffer("precision", torch.linalg.inv(cov))
        self.register_buffer("cov", cov)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x - self.mean.to(x.dtype)
        return 0.5 * torch.einsum("bi,ij,bj->b", diff, self.precision.to(x.dtype), diff)

    def extra_repr(self) -> str:
        return f"dim={self.mean.shape[0]}"

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact normalised log-density."""
        d = self.mean.shape[0]
        logdet = torch.logdet(self.cov.to(x.dtype))
        return -self(x) - 0.5 * (d * math.log(2 * math.pi) + logdet)


class FunctionEnergy(Energy):
    """Wrap a plain function ``fn(x, **context) -> (batch,)`` as an energy."""

    def __init__(self, fn: Callable[..., torch.Tensor], name: str | None = None, context_keys: tuple[str, ...] = ()):
        super().__init__()
        self.fn = fn
        self.label = name or getattr(fn, "__name__", "fn")
        self.context_keys = tuple(context_keys)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.fn(x, **context)

    def formula_name(self) -> str:
        return self.label

    def extra_repr(self) -> str:
        return f"name={self.label}"
