"""``kind = "nce"``: noise-contrastive estimation (Gutmann & Hyvärinen 2010) against a Gaussian fitted to the data."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v
from torch import nn

from energyflow.core.energy import Energy
from energyflow.training.objectives.base import Objective, ObjectiveStep, data_batch


class GaussianNoise(nn.Module):
    """A full-covariance Gaussian: ``sample(n, generator)`` and ``log_prob(x)`` on flattened samples."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.register_buffer("mean", mean)
        self.register_buffer("scale_tril", torch.linalg.cholesky(cov))

    @classmethod
    def fit(cls, data: torch.Tensor, scale: float = 1.0) -> GaussianNoise:
        """The Gaussian with ``data``'s mean and covariance, its standard deviations times ``scale``."""
        flat = data.flatten(1).double()
        cov = torch.atleast_2d(torch.cov(flat.T)) * scale**2
        cov = cov + 1e-6 * cov.diagonal().mean() * torch.eye(cov.shape[0], dtype=cov.dtype)
        return cls(flat.mean(0).to(data.dtype), cov.to(data.dtype), data.shape[1:])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn((n, self.mean.numel()), generator=generator).to(self.mean)
        return (self.mean + z @ self.scale_tril.T).view(n, *self.sample_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        diff = (x.flatten(1) - self.mean).T
        z = torch.linalg.solve_triangular(self.scale_tril, diff, upper=False)
        half_log_det = self.scale_tril.diagonal().log().sum()
        return -0.5 * z.pow(2).sum(0) - half_log_det - 0.5 * self.mean.numel() * math.log(2 * math.pi)


def nce_loss(log_ratio_data: torch.Tensor, log_ratio_noise: torch.Tensor, ratio: int) -> torch.Tensor:
    """The NCE logistic loss, per data sample: ``-mean log sig(G(x)) - ratio * mean log sig(-G(y))``.

    ``log_ratio_*`` are ``log p_model - log q`` at data ``x`` and noise ``y`` (``ratio`` noise samples per
    data sample); ``G = log_ratio - log ratio`` is the log-odds that a point is data.
    """
    log_nu = math.log(ratio)
    return F.softplus(log_nu - log_ratio_data).mean() + ratio * F.softplus(log_ratio_noise - log_nu).mean()


class NoiseContrast(nn.Module, Objective):
    """NCE with a learnt log-normaliser: ``log p(x) = -E(x) - log_z``, data told apart from ``noise`` samples."""

    def __init__(self, noise: GaussianNoise, ratio: int = 1):
        nn.Module.__init__(self)
        self.noise, self.ratio = noise, ratio
        self.log_z = nn.Parameter(torch.zeros((), device=noise.mean.device))

    def loss(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> ObjectiveStep:
        y = self.noise.sample(x.shape[0] * self.ratio, generator)
        e_pos = energy(x)
        e_noise = torch.cat([energy(chunk) for chunk in y.split(x.shape[0])])  # each chunk takes the batch's labels
        g_data = -e_pos - self.log_z - self.noise.log_prob(x)
        g_noise = -e_noise - self.log_z - self.noise.log_prob(y)
        loss = nce_loss(g_data, g_noise, self.ratio)
        right = torch.cat([g_data > math.log(self.ratio), g_noise < math.log(self.ratio)]).float().mean()
        stats = {"e_pos": float(e_pos.detach().mean()), "log_z": float(self.log_z.detach()), "accuracy": float(right)}
        return ObjectiveStep(loss=loss, batch=data_batch(energy, x, e_pos, generator), stats=stats)


@frozen(kw_only=True)
class NoiseContrastiveEstimation(Objective):
    """Noise-contrastive estimation: tell data from Gaussian noise fitted to it, with a learnt log-normaliser.

    The noise has the training data's mean and covariance (its spread times ``noise_scale``). Needs no
    sampler and no buffer; the energy comes out self-normalised, ``-E(x) - log_z ~ log p(x)``.
    """

    ratio: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                       metadata={"help": "noise samples per data sample"})
    noise_scale: float = field(default=1.0, converter=float, validator=v.gt(0.0),
                               metadata={"help": "the noise's standard deviations, relative to the data's"})

    def build(self, ctx: Any) -> NoiseContrast:
        if ctx.data is None:
            raise ValueError("nce fits its noise to the training data, and there is none")
        return NoiseContrast(GaussianNoise.fit(ctx.data.train, self.noise_scale).to(ctx.device), self.ratio)
