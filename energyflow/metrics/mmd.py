"""Unbiased squared maximum mean discrepancy with a Gaussian (RBF) kernel."""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange

#: Rows used (evenly spaced, deterministic) to estimate the median-heuristic bandwidth.
MEDIAN_SUBSET = 2000


def _points(name: str, values: Any) -> torch.Tensor:
    points = rearrange(torch.as_tensor(values).detach().to("cpu", torch.float64), "n ... -> n (...)")
    if points.shape[0] < 2:
        raise ValueError(f"mmd: {name} needs at least 2 samples, got {points.shape[0]}")
    return points


def median_bandwidth(z: torch.Tensor) -> float:
    """Median pairwise Euclidean distance among (a deterministic subset of) the rows of ``z``."""
    if z.shape[0] > MEDIAN_SUBSET:
        z = z[torch.linspace(0, z.shape[0] - 1, MEDIAN_SUBSET).long()]
    i, j = torch.triu_indices(z.shape[0], z.shape[0], offset=1)
    median = torch.cdist(z, z)[i, j].median().item()
    return median if median > 0 else 1.0


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, bandwidth: float, block: int = 2048) -> float:
    total = 0.0
    for chunk in a.split(block):
        total += torch.exp(-torch.cdist(chunk, b).square() / (2 * bandwidth**2)).sum().item()
    return total


def mmd(x: Any, y: Any, bandwidth: float | None = None) -> float:
    """Unbiased estimate of MMD^2 between samples ``x`` (m, ...) and ``y`` (n, ...).

    Kernel ``k(a, b) = exp(-|a - b|^2 / (2 bandwidth^2))``; by default ``bandwidth`` is the
    median pairwise distance of the pooled sample. The unbiased estimate leaves out the
    ``k(x_i, x_i)`` terms, so it is about 0 (and may be slightly negative) for equal distributions.
    """
    x, y = _points("x", x), _points("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd: feature sizes differ: {x.shape[1]} and {y.shape[1]}")
    if bandwidth is None:
        bandwidth = median_bandwidth(torch.cat([x, y]))
    elif not bandwidth > 0:
        raise ValueError(f"mmd: bandwidth must be > 0, got {bandwidth}")
    m, n = x.shape[0], y.shape[0]
    # k(a, a) = 1, so the diagonal of each within-set sum is exactly its size.
    xx = (_kernel_sum(x, x, bandwidth) - m) / (m * (m - 1))
    yy = (_kernel_sum(y, y, bandwidth) - n) / (n * (n - 1))
    xy = _kernel_sum(x, y, bandwidth) / (m * n)
    return xx + yy - 2 * xy
