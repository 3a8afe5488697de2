"""Proposals reflected at the faces of a box, and their exact (folded) Gaussian density.

A Gaussian step ``z ~ N(m, s^2)`` reflected into ``[low, high]`` lands at ``y = fold(z)``; the
folded density of ``y`` sums the Gaussian over every preimage of ``y``, ``low + 2nw + (y - low)``
and ``low + 2nw - (y - low)`` (``w = high - low``), coordinate by coordinate. For a symmetric
random walk (no drift) the folded density is symmetric, but for MALA's drifted mean it is not,
so the Metropolis-Hastings ratio needs this density, not the unfolded Gaussian, to leave the
target invariant.
"""

from __future__ import annotations

import math

import torch


def reflect(z: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Fold ``z`` into ``[low, high]`` by reflecting at the faces as often as needed."""
    width = high - low
    u = torch.remainder(z - low, 2 * width)
    return low + width - (u - width).abs()


def log_folded_normal(y: torch.Tensor, mean: torch.Tensor, std: float, low: float, high: float) -> torch.Tensor:
    """Per-sample log density of ``reflect(N(mean, std^2))`` at ``y`` (in the box), up to the constant
    ``-D/2 log(2 pi std^2)``, which is the same for forward and backward moves of one step size.

    Preimages are summed for ``n`` within ``N = 3 + ceil(4 std / w)`` of the nearest one to
    ``mean``: the nearest preimage is within ``w`` of ``mean``, and every one left out is at least
    ``2 N w`` away, so the omitted mass is below ``exp(-(4 N^2 - 1) w^2 / (2 std^2)) < e^-30`` of the
    kept mass, below float64's resolution (exact to the arithmetic, not an approximation that
    matters for small steps only).
    """
    width = high - low
    reach = 3 + math.ceil(4 * std / width)
    centre = torch.round((mean - low) / (2 * width))
    n = centre.unsqueeze(-1) + torch.arange(-reach, reach + 1, dtype=y.dtype, device=y.device)
    offset = (y - low).unsqueeze(-1)
    images = torch.cat([low + 2 * width * n + offset, low + 2 * width * n - offset], dim=-1)
    log_terms = -((images - mean.unsqueeze(-1)) ** 2) / (2 * std**2)
    return torch.logsumexp(log_terms, dim=-1).flatten(1).sum(1)
