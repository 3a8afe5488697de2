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


class GaussianMixtureNoise(nn.Module):
    """A mixture of full-covariance Gaussians fitted to data by k-means: ``sample`` and ``log_prob`` as `GaussianNoise`.

    Closer to a multi-modal density than one Gaussian, so the classifier's task stays informative where
    one Gaussian puts little mass (a checkerboard's corners).
    """

    def __init__(self, means: torch.Tensor, covs: torch.Tensor, weights: torch.Tensor, sample_shape: tuple[int, ...]):
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.register_buffer("means", means)
        self.register_buffer("scale_trils", torch.linalg.cholesky(covs))
        self.register_buffer("log_weights", weights.log())

    @property
    def mean(self) -> torch.Tensor:
        """The mixture's mean (where `NoiseContrast` reads the device from)."""
        return (self.log_weights.exp()[:, None] * self.means).sum(0)

    @classmethod
    def fit(cls, data: torch.Tensor, components: int, scale: float = 1.0, seed: int = 0,
            iterations: int = 25) -> GaussianMixtureNoise:
        """``components`` Gaussians from k-means clusters of ``data`` (each cluster's mean, covariance times
        ``scale^2`` and share of the points); the starting centres are data points drawn with ``seed`` (k-means++)."""
        flat = data.flatten(1).double()
        g = torch.Generator().manual_seed(seed)
        centres = flat[torch.randint(len(flat), (1,), generator=g)]
        while len(centres) < components:  # k-means++: each next centre drawn by squared distance to the others
            d2 = torch.cdist(flat, centres).min(1).values.pow(2)
            centres = torch.cat([centres, flat[torch.multinomial(d2, 1, generator=g)]])
        for _ in range(iterations):
            assign = torch.cdist(flat, centres).argmin(1)
            centres = torch.stack([flat[assign == k].mean(0) if (assign == k).any() else centres[k]
                                   for k in range(components)])
        assign = torch.cdist(flat, centres).argmin(1)
        eye = torch.eye(flat.shape[1], dtype=flat.dtype)
        covs, weights = [], []
        for k in range(components):
            members = flat[assign == k]
            cov = torch.atleast_2d(torch.cov(members.T)) if len(members) > flat.shape[1] else flat.var(0).diag()
            cov = cov * scale**2
            covs.append(cov + 1e-6 * cov.diagonal().mean() * eye)
            weights.append(max(len(members), 1) / len(flat))
        return cls(centres.to(data.dtype), torch.stack(covs).to(data.dtype),
                   torch.tensor(weights, dtype=data.dtype), data.shape[1:])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        pick = torch.multinomial(self.log_weights.exp().cpu(), n, replacement=True, generator=generator)
        z = torch.randn((n, self.means.shape[1]), generator=generator).to(self.means)
        pick = pick.to(self.means.device)
        return (self.means[pick] + (self.scale_trils[pick] @ z[:, :, None])[:, :, 0]).view(n, *self.sample_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.flatten(1)[None] - self.means[:, None]  # (components, n, d)
        z = torch.linalg.solve_triangular(self.scale_trils, diff.transpose(1, 2), upper=False)
        half_log_det = self.scale_trils.diagonal(dim1=1, dim2=2).log().sum(1)
        per = -0.5 * z.pow(2).sum(1) - half_log_det[:, None] - 0.5 * self.means.shape[1] * math.log(2 * math.pi)
        return torch.logsumexp(per + self.log_weights[:, None], 0)


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
        if labels is None:  # one pass over all the noise
            e_noise = energy(y)
        else:  # a chunk per batch: each chunk takes the batch's labels
            e_noise = torch.cat([energy(chunk) for chunk in y.split(x.shape[0])])
        g_data = -e_pos - self.log_z - self.noise.log_prob(x)
        g_noise = -e_noise - self.log_z - self.noise.log_prob(y)
        loss = nce_loss(g_data, g_noise, self.ratio)
        right = torch.cat([g_data > math.log(self.ratio), g_noise < math.log(self.ratio)]).float().mean()
        stats = {"e_pos": float(e_pos.detach().mean()), "log_z": float(self.log_z.detach()), "accuracy": float(right)}
        return ObjectiveStep(loss=loss, batch=data_batch(energy, x, e_pos, generator), stats=stats)


@frozen(kw_only=True)
class NoiseContrastiveEstimation(Objective):
    """Noise-contrastive estimation: tell data from Gaussian noise fitted to it, with a learnt log-normaliser.

    The noise has the training data's mean and covariance (its spread times ``noise_scale``), or with
    ``components`` above 1 is a mixture fitted to k-means clusters of the data. Needs no
    sampler and no buffer; the energy comes out self-normalised, ``-E(x) - log_z ~ log p(x)``.
    """

    ratio: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                       metadata={"help": "noise samples per data sample"})
    noise_scale: float = field(default=1.0, converter=float, validator=v.gt(0.0),
                               metadata={"help": "the noise's standard deviations, relative to the data's"})
    components: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                            metadata={"help": "Gaussians in the noise: 1 fits the data's mean and covariance; more fit "
                                              "a mixture to k-means clusters of the data"})

    def build(self, ctx: Any) -> NoiseContrast:
        if ctx.data is None:
            raise ValueError("nce fits its noise to the training data, and there is none")
        if self.components == 1:
            noise = GaussianNoise.fit(ctx.data.train, self.noise_scale)
        else:
            noise = GaussianMixtureNoise.fit(ctx.data.train, self.components, self.noise_scale, seed=ctx.seed)
        return NoiseContrast(noise.to(ctx.device), self.ratio)
