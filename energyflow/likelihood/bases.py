"""Normalised base distributions for annealing, written as energies E_0(x) = -log p_0(x).

Because the base is normalised (its partition function is 1), the annealing path
``p_beta(x) ∝ p_0(x)^(1 - beta) * exp(-beta * E(x))`` starts at a density whose log Z is 0 and
ends at exp(-E), whose log Z AIS estimates.
"""

from __future__ import annotations

import math

import torch

from energyflow.core.energy import Energy


class BaseDistribution(Energy):
    """An energy that is exactly ``-log p_0(x)`` for a normalised p_0 with exact sampling.

    Attributes:
        bounds: the support ``(low, high)`` in every dimension, or ``None`` for all of R^D;
            transitions must reject proposals outside it.
    """

    bounds: tuple[float, float] | None = None

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p_0(x), one value per sample."""
        return -self(x)

    def sample(self, n: int, shape: tuple[int, ...], generator: torch.Generator | None,
               device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` exact draws of shape ``(n, *shape)`` from ``generator`` (moved to ``device``)."""
        raise NotImplementedError


def _draw(fn, n: int, shape: tuple[int, ...], generator: torch.Generator | None, device) -> torch.Tensor:
    where = generator.device if generator is not None else torch.device("cpu")
    return fn((n, *shape), generator=generator, device=where).to(device)


class GaussianBase(BaseDistribution):
    """N(mean, scale^2 I) on R^D: E_0(x) = |x - mean|^2 / (2 scale^2) + (D/2) log(2 pi scale^2)."""

    def __init__(self, scale: float = 1.0, mean: float = 0.0):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"GaussianBase: scale must be > 0, got {scale}")
        self.scale, self.mean = float(scale), float(mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = ((x - self.mean) / self.scale).flatten(1)
        return 0.5 * (z**2).sum(1) + z.shape[1] * (0.5 * math.log(2 * math.pi) + math.log(self.scale))

    def sample(self, n, shape, generator, device="cpu"):
        return self.mean + self.scale * _draw(torch.randn, n, shape, generator, device)

    def extra_repr(self) -> str:
        return f"mean={self.mean:g}, scale={self.scale:g}"


class UniformBase(BaseDistribution):
    """Uniform on the box ``[low, high]^D``: E_0(x) = D log(high - low) inside (its support is ``bounds``)."""

    def __init__(self, low: float, high: float):
        super().__init__()
        if not high > low:
            raise ValueError(f"UniformBase: expected low < high, got [{low}, {high}]")
        self.bounds = (float(low), float(high))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.bounds
        flat = x.flatten(1)
        return (flat * 0).sum(1) + flat.shape[1] * math.log(high - low)  # keeps x in the graph: gradient 0

    def sample(self, n, shape, generator, device="cpu"):
        low, high = self.bounds
        return low + (high - low) * _draw(torch.rand, n, shape, generator, device)

    def extra_repr(self) -> str:
        return f"low={self.bounds[0]:g}, high={self.bounds[1]:g}"
