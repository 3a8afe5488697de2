"""Chain starts and label binding: what the trainer, the buffer and every task share."""

from __future__ import annotations

from typing import Any

import torch

from energyflow.core.energy import Energy


def uniform_starts(n: int, sample_shape: tuple[int, ...], value_range: tuple[float, float],
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` uniform-noise samples over ``value_range`` (CPU), the IGEBM chain start."""
    low, high = value_range
    return low + (high - low) * torch.rand((n, *sample_shape), generator=generator)


def takes_labels(energy: Energy | None, data: Any) -> bool:
    """Whether training and sampling bind labels: the data has labels and the energy accepts ``y``."""
    if energy is None:
        return False
    accepted = energy.accepted_context()
    return bool(data.conditional) and (accepted is None or "y" in accepted)


def bind_labels(energy: Energy, labels: torch.Tensor | None, key: str = "y") -> Energy:
    """``energy`` conditioned on class labels ``(n,)`` or attribute vectors ``(n, A)``; unchanged for ``None``."""
    return energy if labels is None else energy.condition(**{key: labels})


def to_device(x: torch.Tensor | None, device: Any) -> torch.Tensor | None:
    """``x`` moved to ``device`` (``None`` stays ``None``)."""
    return None if x is None else x.to(device)
