"""Loss-term regularizers: L2 energy magnitude, gradient penalty, the improved-CD KL and entropy terms."""

from __future__ import annotations

from typing import ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v
from torch.func import functional_call

from energyflow.core.energy import energy_and_grad
from energyflow.regularizers.base import CDBatch, Regularizer

_weight = {"converter": float, "validator": v.ge(0.0)}


@frozen(kw_only=True)
class L2Energy(Regularizer):
    """``weight * mean(E(x+)^2 + E(x-)^2)``: keeps energies near zero (IGEBM, weight 1.0); data only without samples."""

    weight: float = field(default=1.0, **_weight, metadata={"help": "coefficient of the squared energies"})

    def loss(self, batch: CDBatch) -> torch.Tensor:
        squares = batch.e_pos.pow(2).mean()
        if batch.e_neg is not None:
            squares = squares + batch.e_neg.pow(2).mean()
        return self.weight * squares


@frozen(kw_only=True)
class GradPenalty(Regularizer):
    """``weight * mean(|dE/dx|^2)`` at the data (and optionally the samples): smooths the energy."""

    weight: float = field(default=0.1, **_weight, metadata={"help": "coefficient of the squared input-gradient norm"})
    on: str = field(default="data", validator=v.in_(("data", "samples", "both")),
                    metadata={"help": "where to penalise: data, samples or both"})

    @property
    def needs_negatives(self) -> bool:
        return self.on != "data"

    def loss(self, batch: CDBatch) -> torch.Tensor:
        points = {"data": [batch.x_pos], "samples": [batch.x_neg], "both": [batch.x_pos, batch.x_neg]}[self.on]
        total = 0.0
        for x in points:
            _, grad = energy_and_grad(batch.energy, x, create_graph=True)
            total = total + grad.flatten(1).pow(2).sum(1).mean()
        return self.weight * total / len(points)


def sampler_step(batch: CDBatch) -> torch.Tensor:
    """One more sampler step from the negatives, differentiable in the parameters through dE/dx.

    The step is the Langevin descent the sampler takes (its ``step_size``, per-element
    ``grad_clip`` and ``clamp``), without noise. Computed once per training step and shared by the
    terms that need it (`KLTerm`, `EntropyTerm`).
    """
    if "sampler_step" in batch.shared:
        return batch.shared["sampler_step"]
    step_size = getattr(batch.sampler, "step_size", None)
    if step_size is None:
        raise ValueError("regularizers kl and entropy need a sampler with a step_size (langevin, mala)")
    x = batch.x_neg.detach().requires_grad_(True)
    _, grad = energy_and_grad(batch.energy, x, create_graph=True)
    clip = getattr(batch.sampler, "grad_clip", None)
    if clip is not None:
        grad = grad.clamp(-clip, clip)
    x_step = x - step_size * grad
    clamp = getattr(batch.sampler, "clamp", None)
    if isinstance(clamp, tuple):
        x_step = x_step.clamp(*clamp)
    batch.shared["sampler_step"] = x_step
    return x_step


@frozen(kw_only=True)
class KLTerm(Regularizer):
    """The KL term of improved contrastive divergence (Du et al., 2021).

    Takes one more Langevin step from the negatives, differentiable in x through the current
    parameters (`sampler_step`), and scores the result with the parameters frozen. Its gradient
    pushes the sampler's output towards low energy, the part of the CD gradient usually dropped.
    """

    needs_negatives: ClassVar[bool] = True

    weight: float = field(default=1.0, **_weight, metadata={"help": "coefficient of the KL term"})

    def loss(self, batch: CDBatch) -> torch.Tensor:
        x_kl = sampler_step(batch)
        frozen_params = {name: p.detach() for name, p in batch.energy.named_parameters()}
        return self.weight * functional_call(batch.energy, frozen_params, (x_kl,)).mean()


def nearest_neighbour_entropy(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean log distance from each row of ``x`` to its nearest row of ``reference``.

    Up to constants, the nearest-neighbour (Kozachenko-Leonenko) estimate of the entropy of the
    distribution ``x`` is drawn from; larger when the samples spread out.
    """
    distances = torch.cdist(x.flatten(1), reference.flatten(1).to(x))
    return distances.min(dim=1).values.clamp_min(1e-8).log().mean()


@frozen(kw_only=True)
class EntropyTerm(Regularizer):
    """The entropy ("repel") term of improved contrastive divergence (Du et al., 2021).

    Adds ``-weight * mean log min_j |x_kl - b_j|``: the sampler's next step from the negatives
    (`sampler_step`, differentiable in the parameters) against ``compare`` replay-buffer states.
    Minimising it trains the energy so that the sampler's moves spread the samples apart instead
    of piling them onto a few modes. Off until the buffer holds ``min_buffer`` states.
    """

    needs_negatives: ClassVar[bool] = True

    weight: float = field(default=0.3, **_weight, metadata={"help": "coefficient of the entropy term (Du et al.: 0.3)"})
    compare: int = field(default=100, validator=[v.instance_of(int), v.ge(1)],
                         metadata={"help": "replay-buffer states each sample is compared with"})
    min_buffer: int = field(default=1000, validator=[v.instance_of(int), v.ge(1)],
                            metadata={"help": "buffer states needed before the term switches on"})

    def loss(self, batch: CDBatch) -> torch.Tensor | None:
        buffer = batch.buffer
        if buffer is None:
            raise ValueError("regularizer entropy needs a replay buffer ([buffer] table)")
        if len(buffer) < self.min_buffer:
            return None
        labels = None
        if buffer.per_class:
            labels = torch.randint(buffer.num_classes, (self.compare,), generator=batch.generator)
        reference = buffer.sample(self.compare, labels=labels, generator=batch.generator, reinit_prob=0.0)
        return -self.weight * nearest_neighbour_entropy(sampler_step(batch), reference)
