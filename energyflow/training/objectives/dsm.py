"""``kind = "dsm"``: denoising score matching (Vincent 2011), at one noise level or several (Song & Ermon 2019)."""

from __future__ import annotations

import math

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


def noise_levels(sigma: float, sigma_max: float | None, levels: int) -> torch.Tensor:
    """``levels`` noise scales from ``sigma_max`` down to ``sigma``, geometrically spaced (``sigma`` alone for one)."""
    if levels == 1 or sigma_max is None:
        return torch.tensor([sigma])
    return torch.logspace(math.log10(sigma_max), math.log10(sigma), levels)


def denoising_score_matching(energy: Energy, x: torch.Tensor, sigmas: torch.Tensor | float,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """``mean sigma^2/2 |s(x~) + eps/sigma|^2 = mean 1/2 |sigma s(x~) + eps|^2`` with ``x~ = x + sigma eps``.

    ``s = -dE/dx``; each sample draws its level uniformly from ``sigmas``, and the ``sigma^2`` weight
    gives every level the same scale (the NCSN weighting; for one level it is a constant factor).
    A single level may be given as a float (no level is drawn then).
    """
    n = x.shape[0]
    if isinstance(sigmas, torch.Tensor) and len(sigmas) == 1:
        sigmas = float(sigmas[0])
    if isinstance(sigmas, torch.Tensor):
        pick = torch.randint(len(sigmas), (n,), generator=generator).to(x.device)
        sigma = sigmas.to(x)[pick].view(n, *[1] * (x.dim() - 1))
    else:
        sigma = sigmas
    eps = torch.randn(x.shape, generator=generator).to(x)
    _, grad = energy_and_grad(energy, x + sigma * eps, create_graph=True)
    return 0.5 * (eps - sigma * grad).flatten(1).pow(2).sum(1).mean()


@frozen(kw_only=True)
class DenoisingScoreMatching(Objective):
    """Denoising score matching: the score -dE/dx matches that of the data blurred by Gaussian noise.

    One level (``levels = 1``) learns the data convolved with N(0, sigma^2); several levels, from
    ``sigma_max`` down to ``sigma``, train one energy on all of them with the sigma^2 weighting.
    Needs no sampler and no buffer.
    """

    sigma: float = field(default=0.1, converter=float, validator=v.gt(0.0),
                         metadata={"help": "noise scale (the smallest, with several levels)"})
    sigma_max: float | None = field(default=None, validator=v.optional(v.gt(0.0)),
                                    metadata={"help": "largest noise scale of several levels; none for one level"})
    levels: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                        metadata={"help": "noise levels, geometric from sigma_max down to sigma"})
    noise_draws: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "noise draws per data point, their losses averaged (lower variance, "
                                               "that many times the work)"})

    def __attrs_post_init__(self) -> None:
        if self.levels > 1 and (self.sigma_max is None or self.sigma_max <= self.sigma):
            raise ValueError(f"levels = {self.levels} needs sigma_max above sigma = {self.sigma:g}")

    def loss(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ObjectiveStep:
        sigmas = self.sigma if self.levels == 1 else noise_levels(self.sigma, self.sigma_max, self.levels)
        loss = denoising_score_matching(energy, repeat_for_noise(x, self.noise_draws, labels), sigmas, generator)
        return ObjectiveStep(loss=loss, batch=lambda: data_batch(energy, x, energy(x), generator))
