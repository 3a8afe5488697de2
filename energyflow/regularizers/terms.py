"""Loss-term regularizers: L2 energy magnitude, gradient penalty, the improved-CD KL term."""

from __future__ import annotations

import torch
from attrs import field, frozen
from attrs import validators as v
from torch.func import functional_call

from energyflow.core.energy import energy_and_grad
from energyflow.regularizers.base import CDBatch, Regularizer

_weight = {"converter": float, "validator": v.ge(0.0)}


@frozen(kw_only=True)
class L2Energy(Regularizer):
    """``weight * mean(E(x+)^2 + E(x-)^2)``: keeps energies near zero (IGEBM, weight 1.0)."""

    weight: float = field(default=1.0, **_weight, metadata={"help": "coefficient of the squared energies"})

    def loss(self, batch: CDBatch) -> torch.Tensor:
        return self.weight * (batch.e_pos.pow(2).mean() + batch.e_neg.pow(2).mean())


@frozen(kw_only=True)
class GradPenalty(Regularizer):
    """``weight * mean(|dE/dx|^2)`` at the data (and optionally the samples): smooths the energy."""

    weight: float = field(default=0.1, **_weight, metadata={"help": "coefficient of the squared input-gradient norm"})
    on: str = field(default="data", validator=v.in_(("data", "samples", "both")),
                    metadata={"help": "where to penalise: data, samples or both"})

    def loss(self, batch: CDBatch) -> torch.Tensor:
        points = {"data": [batch.x_pos], "samples": [batch.x_neg], "both": [batch.x_pos, batch.x_neg]}[self.on]
        total = 0.0
        for x in points:
            _, grad = energy_and_grad(batch.energy, x, create_graph=True)
            total = total + grad.flatten(1).pow(2).sum(1).mean()
        return self.weight * total / len(points)


@frozen(kw_only=True)
class KLTerm(Regularizer):
    """The KL term of improved contrastive divergence (Du et al., 2021).

    Takes one more Langevin step from the negatives, differentiable in x through the current
    parameters, and scores the result with the parameters frozen. Its gradient pushes the
    sampler's output towards low energy, the part of the CD gradient usually dropped.
    """

    weight: float = field(default=1.0, **_weight, metadata={"help": "coefficient of the KL term"})

    def loss(self, batch: CDBatch) -> torch.Tensor:
        step_size = getattr(batch.sampler, "step_size", None)
        if step_size is None:
            raise ValueError("regularizer kl needs a sampler with a step_size (langevin, mala)")
        x = batch.x_neg.detach().requires_grad_(True)
        _, grad = energy_and_grad(batch.energy, x, create_graph=True)
        clip = getattr(batch.sampler, "grad_clip", None)
        if clip is not None:
            grad = grad.clamp(-clip, clip)
        x_kl = x - step_size * grad
        frozen_params = {name: p.detach() for name, p in batch.energy.named_parameters()}
        return self.weight * functional_call(batch.energy, frozen_params, (x_kl,)).mean()
