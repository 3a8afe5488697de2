"""Per-sample realism against real data, by nearest neighbours (no trained network needed).

``realistic`` is the improved precision of Kynkaenniemi et al. (2019): a sample is realistic when
it lies inside the ball around some real reference point whose radius is that point's distance to
its k-th nearest other reference point. ``distance_ratio`` places the samples' mean distance to
their nearest reference point between two anchors: held-out real images (0) and uniform noise
(1), as the image tasks' floor/ceiling ratios do for Frechet distances.
"""

from __future__ import annotations

import torch


def _flat(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    return x.detach().reshape(x.shape[0], -1).double().cpu()


def _distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    return torch.cat([torch.cdist(part, b) for part in a.split(chunk)])


def nearest_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per row of ``x``, the Euclidean distance to its nearest row of ``reference``: ``(N,)``."""
    return _distances(_flat("x", x), _flat("reference", reference)).min(dim=1).values


def knn_radii(reference: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per reference row, the distance to its ``k``-th nearest *other* reference row."""
    ref = _flat("reference", reference)
    if not 1 <= k < ref.shape[0]:
        raise ValueError(f"k = {k}: need 1 <= k < the {ref.shape[0]} reference rows")
    return _distances(ref, ref).kthvalue(k + 1, dim=1).values  # the 1st is the row itself, at 0


def realistic(samples: torch.Tensor, reference: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per sample, whether it lies in the k-NN ball of some reference row (improved precision): ``(N,)`` bool."""
    radii = knn_radii(reference, k)
    return (_distances(_flat("samples", samples), _flat("reference", reference)) <= radii).any(dim=1)


def distance_ratio(samples: torch.Tensor, real: torch.Tensor, noise: torch.Tensor, reference: torch.Tensor) -> float:
    """``(d(samples) - d(real)) / (d(noise) - d(real))``, ``d`` the mean distance to the nearest reference row:
    0 for samples as close to the data as held-out real ones, 1 for as far as noise."""
    floor, ceiling = (float(nearest_distance(x, reference).mean()) for x in (real, noise))
    if ceiling <= floor:
        raise ValueError("noise is no farther from the reference than real data; the ratio has no scale")
    return (float(nearest_distance(samples, reference).mean()) - floor) / (ceiling - floor)
