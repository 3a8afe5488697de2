"""A training step's numbers, computed in one place: loss, mean energies of data and samples, and their gap.

The energy gap ``E(x-) - E(x+)`` (samples minus data) is what contrastive divergence drives
towards zero; a gap far from zero, or a non-finite number, is a diverging step. Objectives that
draw no samples report no ``e_neg`` and no gap; only non-finite numbers count for them.
"""

from __future__ import annotations

import math
from typing import Protocol, TypedDict


class StepStats(TypedDict, total=False):
    """What `Trainer.step` returns (the objective's other numbers and the sampler's statistics beside these)."""

    loss: float
    e_pos: float  #: mean energy of the data batch
    e_neg: float  #: mean energy of the samples (objectives that sample: cd)
    gap: float  #: e_neg - e_pos (where there is e_neg)
    grad_norm: float  #: global norm of the parameter gradient, before clipping
    acceptance_rate: float  #: Metropolis samplers only


def with_gap(stats: dict[str, float]) -> StepStats:
    """``stats`` with ``gap = e_neg - e_pos`` added (when both energies are there)."""
    if "e_pos" in stats and "e_neg" in stats:
        stats = {**stats, "gap": stats["e_neg"] - stats["e_pos"]}
    return stats  # type: ignore[return-value]


def step_stats(*, loss: float, stats: dict[str, float], grad_norm: float, sampler: dict[str, float]) -> StepStats:
    """One step's numbers: the loss, the objective's numbers, the gradient norm, the sampler's statistics."""
    return with_gap({"loss": loss, **stats, "grad_norm": grad_norm, **sampler})


class Trained(Protocol):
    """A trainer, as far as its numbers go (`energyflow.training.Trainer`)."""

    last_stats: StepStats


def train_metrics(trainer: Trained) -> dict[str, float]:
    """The last training step's loss, energies and gap (empty for a trainer that never stepped)."""
    stats = trainer.last_stats
    return {k: float(stats[k]) for k in ("loss", "e_pos", "e_neg", "gap") if k in stats}


def divergence(stats: StepStats, max_gap: float | None) -> str | None:
    """What is wrong with a training step's numbers (non-finite, or an energy gap past ``max_gap``), if anything."""
    bad = [f"{key} = {value}" for key, value in stats.items() if not math.isfinite(value)]
    if bad:
        return "non-finite " + ", ".join(bad)
    if max_gap is not None and "gap" in stats and abs(stats["gap"]) > max_gap:
        return f"energy gap {stats['gap']:+.4g} beyond train.max_gap = {max_gap:g}"
    return None


def summary(stats: StepStats) -> str:
    """The progress line's numbers: loss and gap (where there is one)."""
    gap = f"  gap {stats['gap']:+.3f}" if "gap" in stats else ""
    return f"loss {stats['loss']:+.3f}{gap}"
