"""What an objective is: the part of a training step that turns a batch of data into a loss.

The trainer (`energyflow.training.Trainer`) keeps the rest of the step (regularizers, optimizer,
gradient averaging under torchrun, EMA, divergence checks, checkpoints) and works the same for
every objective.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from attrs import field, frozen

from energyflow.core.energy import Energy
from energyflow.regularizers.base import CDBatch


@frozen(kw_only=True)
class ObjectiveStep:
    """One evaluation of an objective.

    Attributes:
        loss: the scalar to minimise (the regularizers' terms are added to it).
        batch: what the regularizers see (``x_neg`` and ``e_neg`` are ``None`` without negatives), or a
            function making it, called only when there are regularizers (saves a forward pass).
        stats: the objective's numbers, listed after ``loss`` (``e_pos``, and ``e_neg`` where there are samples).
        sampler_stats: the sampler's statistics, listed last (sampling objectives only).
    """

    loss: torch.Tensor
    batch: CDBatch | Callable[[], CDBatch]
    stats: dict[str, float] = field(factory=dict)
    sampler_stats: dict[str, float] = field(factory=dict)


class Objective:
    """Base of objectives; specs that subclass it are their own objective (``build`` returns ``self``).

    An objective provides ``loss(energy, x, labels, generator) -> ObjectiveStep`` (``energy`` has the
    batch's labels bound already) and may override the defaults here: ``finish`` (after the optimizer
    step), ``parameters`` (trained with the energy, by the same optimizer), ``state_dict`` and
    ``load_state_dict`` (checkpointed beside the energy).

    Attributes:
        requires: the recipe tables training needs (`Contrastive` needs ``sampler`` and ``buffer``).
        negatives: whether ``batch.x_neg`` holds samples of the model, which regularizers such as
            ``kl`` and ``entropy`` need.
        sampler, buffer: the sampler and replay buffer the objective trains with, if any.
    """

    requires: ClassVar[tuple[str, ...]] = ()
    negatives: ClassVar[bool] = False
    sampler: Any = None
    buffer: Any = None

    def build(self, ctx: Any) -> Objective:
        """The objective for a run: this spec."""
        return self

    def loss(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ObjectiveStep:
        raise NotImplementedError

    def finish(self, step: ObjectiveStep, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> None:
        """Called after the optimizer step (contrastive divergence pushes its chains to the buffer here)."""

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Learnable parameters of the objective itself (NCE's log-normaliser); none by default."""
        return iter(())

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def data_batch(energy: Energy, x: torch.Tensor, e_pos: torch.Tensor, generator: torch.Generator | None) -> CDBatch:
    """The regularizers' batch of an objective without negatives: the data and its energies only."""
    return CDBatch(energy=energy, x_pos=x, e_pos=e_pos, generator=generator)


def repeat_for_noise(x: torch.Tensor, draws: int, labels: torch.Tensor | None) -> torch.Tensor:
    """``x`` stacked ``draws`` times, so each data point gets that many independent noise draws (their
    losses averaged: a lower-variance estimate of the same objective); labelled batches are not repeated."""
    if draws == 1:
        return x
    if labels is not None:
        raise ValueError(f"noise_draws = {draws} is not supported with labelled data (the energy's labels are "
                         "bound to the batch); use noise_draws = 1")
    return x.repeat(draws, *[1] * (x.dim() - 1))

