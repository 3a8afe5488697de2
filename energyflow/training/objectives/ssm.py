"""``kind = "ssm"``: sliced score matching (Song et al. 2019), by default in its variance-reduced form."""

from __future__ import annotations

from typing import Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.training.objectives.base import (
    Objective,
    ObjectiveStep,
    data_batch,
    repeat_for_noise,
)


def sliced_score_matching(grad: torch.Tensor, x: torch.Tensor, directions: torch.Tensor, *,
                          variance_reduced: bool = True) -> torch.Tensor:
    """Per-sample ``mean_v [v^T (ds/dx) v + 1/2 (v^T s)^2]`` with ``s = -dE/dx = -grad`` (attached to ``x``).

    ``directions`` holds the slices, ``(slices, *x.shape)`` with ``E[v v^T] = I``. The
    variance-reduced form replaces ``(v^T s)^2`` by its expectation over ``v``, ``|s|^2``.
    """
    total = None  # no zeros to add to, and no division for one slice: fewer nodes in the graph
    for v_ in directions:
        sv = -(grad * v_).flatten(1).sum(1)  # v^T s
        (jv,) = torch.autograd.grad(sv.sum(), x, create_graph=True)  # (ds/dx)^T v
        square = grad.flatten(1).pow(2).sum(1) if variance_reduced else sv.pow(2)
        term = (jv * v_).flatten(1).sum(1) + 0.5 * square
        total = term if total is None else total + term
    return total if directions.shape[0] == 1 else total / directions.shape[0]


@frozen(kw_only=True)
class SlicedScoreMatching(Objective):
    """Sliced score matching: score matching with the Hessian trace estimated along random directions.

    Needs no sampler and no buffer; each slice costs one more backward pass. With ``sigma`` it
    matches the score of the data blurred by that noise.
    """

    slices: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                        metadata={"help": "random directions per sample"})
    directions: Literal["gaussian", "rademacher"] = field(default="rademacher",
                                                         validator=v.in_(("gaussian", "rademacher")),
                                                         metadata={"help": "distribution of the directions"})
    variance_reduced: bool = field(default=True, validator=v.instance_of(bool),
                                   metadata={"help": "use |s|^2 in place of (v^T s)^2 (SSM-VR)"})
    sigma: float = field(default=0.0, converter=float, validator=v.ge(0.0),
                         metadata={"help": "std of Gaussian noise added to the data first (smooths a density with "
                                           "edges, as DSM's does); 0 for plain SSM"})
    noise_draws: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "noise draws (with sigma) per data point, losses averaged (lower "
                                               "variance, that many times the work)"})

    def __attrs_post_init__(self) -> None:
        if self.noise_draws > 1 and self.sigma == 0:
            raise ValueError(f"noise_draws = {self.noise_draws} needs data noise: set sigma above 0")

    def loss(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ObjectiveStep:
        if self.sigma > 0:
            x = repeat_for_noise(x, self.noise_draws, labels)
            x = x + self.sigma * torch.randn(x.shape, generator=generator).to(x)
        x = x.detach().requires_grad_(True)
        e_pos, grad = energy_and_grad(energy, x, create_graph=True)
        v_ = torch.randn((self.slices, *x.shape), generator=generator).to(x)
        if self.directions == "rademacher":
            v_ = v_.sign()
        loss = sliced_score_matching(grad, x, v_, variance_reduced=self.variance_reduced).mean()
        return ObjectiveStep(loss=loss, batch=data_batch(energy, x, e_pos, generator),
                             stats={"e_pos": float(e_pos.detach().mean())})
