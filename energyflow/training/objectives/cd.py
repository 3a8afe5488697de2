"""``kind = "cd"``: contrastive divergence with chains kept in a replay buffer (IGEBM)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from attrs import frozen

from energyflow.core.energy import Energy
from energyflow.regularizers.base import CDBatch
from energyflow.training.objectives.base import Objective, ObjectiveStep


class Contrastive(Objective):
    """``mean E(x+) - mean E(x-)``, the negatives ``x-`` drawn by the sampler from replay-buffer starts.

    Chain starts are drawn by label when the buffer is per class; the finished chains go back to
    the buffer after the optimizer step.
    """

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    negatives: ClassVar[bool] = True

    def __init__(self, sampler: Any, buffer: Any):
        self.sampler, self.buffer = sampler, buffer

    def loss(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ObjectiveStep:
        by_class = labels if self.buffer.uses_labels else None
        x0 = self.buffer.sample(x.shape[0], labels=by_class, generator=generator, device=x.device)
        chains = self.sampler.run(energy, x0, generator=generator, evaluate=False)
        e_pos, e_neg = energy(x), energy(chains.x)
        batch = CDBatch(energy=energy, x_pos=x, x_neg=chains.x, e_pos=e_pos, e_neg=e_neg, sampler=self.sampler,
                        buffer=self.buffer, generator=generator)
        stats = {"e_pos": float(e_pos.detach().mean()), "e_neg": float(e_neg.detach().mean())}
        return ObjectiveStep(loss=e_pos.mean() - e_neg.mean(), batch=batch, stats=stats, sampler_stats=chains.stats)

    def finish(self, step: ObjectiveStep, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> None:
        self.buffer.push(step.batch.x_neg, labels=labels if self.buffer.uses_labels else None, generator=generator)


@frozen(kw_only=True)
class ContrastiveSpec:
    """Contrastive divergence (IGEBM): Langevin negatives from the [sampler], chains kept in the [buffer]."""

    requires: ClassVar[tuple[str, ...]] = Contrastive.requires
    negatives: ClassVar[bool] = Contrastive.negatives

    def build(self, ctx: Any) -> Contrastive:
        if ctx.sampler is None or ctx.buffer is None:
            raise ValueError("contrastive divergence trains with the [sampler] and [buffer] tables; add both")
        return Contrastive(ctx.sampler, ctx.buffer)
