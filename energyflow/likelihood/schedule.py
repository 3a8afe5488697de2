"""Annealing schedules: the inverse temperatures 0 = beta_0 < beta_1 < ... < beta_K = 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch

SCHEDULES = ("linear", "geometric")
#: the first nonzero beta of the geometric schedule (as ebmkit's and most AIS codes' default)
GEOMETRIC_START = 1e-4


def betas(schedule: str | Sequence[float] | torch.Tensor = "geometric", temperatures: int = 1000) -> torch.Tensor:
    """The ``temperatures + 1`` inverse temperatures of a schedule, float64, from 0 to 1.

    Args:
        schedule: ``"linear"`` (evenly spaced), ``"geometric"`` (0, then ``temperatures``
            values evenly spaced in log from 1e-4 to 1: dense near 0, where a broad base moves
            fastest), or the betas themselves (increasing, first 0, last 1; ``temperatures``
            is then ignored).
        temperatures: K, the number of annealing steps.
    """
    if isinstance(schedule, str):
        if isinstance(temperatures, bool) or not isinstance(temperatures, int) or temperatures < 1:
            raise ValueError(f"temperatures must be an integer >= 1, got {temperatures!r}")
        if schedule == "linear":
            return torch.linspace(0.0, 1.0, temperatures + 1, dtype=torch.float64)
        if schedule == "geometric":
            tail = torch.logspace(torch.log10(torch.tensor(GEOMETRIC_START)).item(), 0.0, temperatures,
                                  dtype=torch.float64)
            return torch.cat([torch.zeros(1, dtype=torch.float64), tail])
        raise ValueError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)} or a list of betas")
    given = torch.as_tensor(schedule, dtype=torch.float64).flatten()
    if given.numel() < 2 or given[0] != 0 or given[-1] != 1 or bool((given.diff() <= 0).any()):
        raise ValueError("a given schedule must be increasing betas from 0 to 1, e.g. [0, 0.1, 0.5, 1]")
    return given
