"""What a regularizer sees each training step, and the default (no-op) hooks."""

from __future__ import annotations

from typing import Any

import torch
from attrs import field, frozen

from energyflow.core.energy import Energy


@frozen(kw_only=True)
class CDBatch:
    """One training step, as regularizers see it (named after contrastive divergence, the objective with most parts).

    Attributes:
        energy: the energy being trained, with the batch's labels bound.
        x_pos: data samples. x_neg: sampler output (detached); ``None`` for objectives that draw no
            samples (``dsm``, ``ssm``, ``nce``).
        e_pos, e_neg: their energies, still attached to the parameters (``e_neg`` ``None`` with ``x_neg``).
        sampler: the sampler that produced ``x_neg`` (``None`` without one).
        buffer: the replay buffer the chains started from (before this step's push), if any.
        generator: the training step's generator.
        shared: work several terms reuse within the step (say, the differentiable sampler step).
    """

    energy: Energy
    x_pos: torch.Tensor
    x_neg: torch.Tensor | None = None
    e_pos: torch.Tensor
    e_neg: torch.Tensor | None = None
    sampler: Any = None
    buffer: Any = None
    generator: torch.Generator | None = None
    shared: dict[str, Any] = field(factory=dict)


class Regularizer:
    """Base: ``prepare`` may transform the energy; ``loss`` adds a term each step.

    Subclasses are specs (attrs classes, dataclasses or plain classes); a recipe's regularizer is
    what ``build(ctx)`` returns, by default the spec itself. ``needs_negatives`` (a class attribute
    or a property) says the term reads ``batch.x_neg``: a recipe pairing it with an objective that
    draws no samples is refused when loaded.
    """

    needs_negatives: bool = False

    def build(self, ctx: Any) -> Regularizer:
        """The regularizer for a run: this spec."""
        return self

    def prepare(self, energy: Energy) -> Energy:
        """Transform the energy before training (e.g. wrap layers); the trainer calls it once."""
        return energy

    def loss(self, batch: CDBatch) -> torch.Tensor | None:
        return None
