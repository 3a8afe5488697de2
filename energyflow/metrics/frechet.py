"""Frechet distance between Gaussians fitted to two feature sets (as in FID)."""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange


def _features(name: str, feats: Any) -> torch.Tensor:
    feats = torch.as_tensor(feats).detach().to("cpu", torch.float64)
    if feats.dim() < 2:
        raise ValueError(f"frechet_distance: {name} must be (N, D) features, got shape {tuple(feats.shape)}")
    feats = rearrange(feats, "n ... -> n (...)")
    if feats.shape[0] < 2:
        raise ValueError(f"frechet_distance: {name} needs at least 2 samples, got {feats.shape[0]}")
    return feats


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_from_stats(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)), computed in float64.

    ``tr((C1 C2)^(1/2))`` is the sum of square roots of the eigenvalues of the symmetric PSD
    matrix ``C1^(1/2) C2 C1^(1/2)`` (same spectrum as ``C1 C2``), so the result stays real.
    """
    mu1, mu2, cov1, cov2 = (torch.as_tensor(t).to("cpu", torch.float64) for t in (mu1, mu2, cov1, cov2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(
            f"frechet_from_stats: expected means (D,) and covariances (D, D), got {tuple(mu1.shape)}, "
            f"{tuple(cov1.shape)}, {tuple(mu2.shape)}, {tuple(cov2.shape)}"
        )
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = ((mu1 - mu2) ** 2).sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt
    return max(value.item(), 0.0)


def frechet_distance(feats_a: Any, feats_b: Any) -> float:
    """Frechet distance between Gaussians fitted to ``feats_a`` and ``feats_b`` ``(N, D)``.

    Means and unbiased covariances are computed in float64. Zero for identical sets.
    """
    a, b = _features("feats_a", feats_a), _features("feats_b", feats_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: feature sizes differ: {a.shape[1]} and {b.shape[1]}")
    return frechet_from_stats(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
