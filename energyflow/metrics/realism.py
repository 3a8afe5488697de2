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


class RealismReference:
    """Real reference rows, flattened once, with their k-NN radii computed once: score many sample sets
    against one reference (the ``compose`` task scores every expression against the same test images).

    ``anchor(real, noise)`` fixes the distance ratio's 0 and 1 once for all the sample sets.
    """

    def __init__(self, reference: torch.Tensor, k: int = 3):
        self.rows = _flat("reference", reference)
        self.k = k
        self._radii: torch.Tensor | None = None
        self._anchors: tuple[float, float] | None = None

    @property
    def radii(self) -> torch.Tensor:
        """Per reference row, the distance to its ``k``-th nearest *other* reference row."""
        if self._radii is None:  # the 1st nearest is the row itself, at 0
            if not 1 <= self.k < self.rows.shape[0]:
                raise ValueError(f"k = {self.k}: need 1 <= k < the {self.rows.shape[0]} reference rows")
            self._radii = _distances(self.rows, self.rows).kthvalue(self.k + 1, dim=1).values
        return self._radii

    def nearest_distance(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Per row of ``x``, the Euclidean distance to its nearest reference row: ``(N,)``."""
        return _distances(_flat(name, x), self.rows).min(dim=1).values

    def realistic(self, samples: torch.Tensor) -> torch.Tensor:
        """Per sample, whether it lies in the k-NN ball of some reference row (improved precision): ``(N,)`` bool."""
        return (_distances(_flat("samples", samples), self.rows) <= self.radii).any(dim=1)

    def anchor(self, real: torch.Tensor, noise: torch.Tensor) -> RealismReference:
        """Set the distance ratio's 0 (held-out ``real`` rows) and 1 (``noise``); returns ``self``."""
        floor, ceiling = (float(self.nearest_distance(x).mean()) for x in (real, noise))
        if ceiling <= floor:
            raise ValueError("noise is no farther from the reference than real data; the ratio has no scale")
        self._anchors = (floor, ceiling)
        return self

    def distance_ratio(self, samples: torch.Tensor) -> float:
        """``(d(samples) - d(real)) / (d(noise) - d(real))``, ``d`` the mean distance to the nearest reference
        row, with the anchors of `anchor`."""
        if self._anchors is None:
            raise ValueError("RealismReference.distance_ratio: call anchor(real, noise) first")
        floor, ceiling = self._anchors
        return (float(self.nearest_distance(samples, "samples").mean()) - floor) / (ceiling - floor)


def nearest_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per row of ``x``, the Euclidean distance to its nearest row of ``reference``: ``(N,)``."""
    return _distances(_flat("x", x), _flat("reference", reference)).min(dim=1).values


def knn_radii(reference: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per reference row, the distance to its ``k``-th nearest *other* reference row."""
    return RealismReference(reference, k).radii


def realistic(samples: torch.Tensor, reference: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per sample, whether it lies in the k-NN ball of some reference row (improved precision): ``(N,)`` bool."""
    return RealismReference(reference, k).realistic(samples)


def distance_ratio(samples: torch.Tensor, real: torch.Tensor, noise: torch.Tensor, reference: torch.Tensor) -> float:
    """``(d(samples) - d(real)) / (d(noise) - d(real))``, ``d`` the mean distance to the nearest reference row:
    0 for samples as close to the data as held-out real ones, 1 for as far as noise."""
    return RealismReference(reference).anchor(real, noise).distance_ratio(samples)
