"""Noise-contrastive estimation: the noise's density, the logistic loss by hand, and its optimum at the truth."""

import math

import torch
import torch.nn.functional as F
from gaussian_model import COV, MEAN, GaussianModel, draw, gradients

from energyflow.training.objectives import (
    GaussianMixtureNoise,
    GaussianNoise,
    NoiseContrast,
)

TRUE_LOG_Z = 0.5 * math.log(torch.linalg.det(2 * math.pi * COV).item())


def test_fitted_noise_has_the_datas_moments_and_the_gaussian_density():
    noise = GaussianNoise.fit(draw(50_000), scale=2.0)
    torch.testing.assert_close(noise.mean, MEAN, atol=0.02, rtol=0)
    cov = noise.scale_tril @ noise.scale_tril.T
    torch.testing.assert_close(cov, 4 * COV, atol=0.05, rtol=0)
    x = draw(5, seed=3)
    reference = torch.distributions.MultivariateNormal(noise.mean, scale_tril=noise.scale_tril).log_prob(x)
    torch.testing.assert_close(noise.log_prob(x), reference)


def test_loss_is_the_weighted_logistic_loss_computed_by_hand():
    noise = GaussianNoise.fit(draw(1000), scale=1.5)
    objective = NoiseContrast(noise, ratio=3)
    with torch.no_grad():
        objective.log_z.fill_(0.7)
    model = GaussianModel(MEAN + 0.2, torch.linalg.inv(COV) * 1.2)
    x = draw(8, seed=4)
    loss = objective.loss(model, x, generator=torch.Generator().manual_seed(5)).loss
    y = noise.sample(24, torch.Generator().manual_seed(5))
    points = torch.cat([x, y])
    dist = torch.distributions.MultivariateNormal(noise.mean, scale_tril=noise.scale_tril)
    logits = -model(points) - 0.7 - dist.log_prob(points) - math.log(3)  # log-odds of "data"
    labels = torch.cat([torch.ones(8), torch.zeros(24)])
    expected = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / 8
    torch.testing.assert_close(loss, expected)


def _loss(objective, model, n=100_000):
    return objective.loss(model, draw(n), generator=torch.Generator().manual_seed(1)).loss


def test_gradient_vanishes_at_the_truth_and_points_to_it_elsewhere():
    objective = NoiseContrast(GaussianNoise.fit(draw(20_000, seed=9), scale=1.5), ratio=2)
    truth = torch.linalg.inv(COV)

    def grads(mu, p, log_z):
        with torch.no_grad():
            objective.log_z.fill_(log_z)
        model = GaussianModel(mu, p)
        loss = _loss(objective, model)
        (g_z,) = torch.autograd.grad(loss, objective.log_z, retain_graph=True)
        return (*gradients(loss, model), float(g_z))

    g_mu, g_p, g_z = grads(MEAN, truth, TRUE_LOG_Z)
    assert g_mu.abs().max() < 0.01 and g_p.abs().max() < 0.01 and abs(g_z) < 0.01, (g_mu, g_p, g_z)
    assert grads(MEAN, truth, TRUE_LOG_Z + 0.3)[2] > 0.05  # too large a normaliser: descent lowers it
    assert grads(MEAN, truth, TRUE_LOG_Z - 0.3)[2] < -0.05
    shift = torch.tensor([0.3, -0.2])
    assert shift @ grads(MEAN + shift, truth, TRUE_LOG_Z)[0] > 0.01


def test_mixture_noise_finds_separate_clusters_and_is_a_density():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
    data = torch.cat([c + 0.5 * torch.randn(3000, 2, generator=g, dtype=torch.float64) for c in centres])
    noise = GaussianMixtureNoise.fit(data, 3, scale=2.0)
    order = noise.means[:, 0] * 10 + noise.means[:, 1]
    torch.testing.assert_close(noise.means[order.argsort()], centres[(centres[:, 0] * 10 + centres[:, 1]).argsort()],
                               atol=0.05, rtol=0)
    torch.testing.assert_close(noise.log_weights.exp(), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01, rtol=0)
    covs = noise.scale_trils @ noise.scale_trils.transpose(1, 2)
    torch.testing.assert_close(covs, torch.eye(2, dtype=torch.float64).expand(3, 2, 2), atol=0.1, rtol=0)  # (2*0.5)^2
    grid = torch.linspace(-12, 12, 481, dtype=torch.float64)
    points = torch.cartesian_prod(grid, grid)
    assert abs(float(noise.log_prob(points).exp().sum()) * (24 / 480) ** 2 - 1) < 1e-3
    samples = noise.sample(30_000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(samples.mean(0), centres.mean(0), atol=0.1, rtol=0)
    one = GaussianMixtureNoise.fit(data, 1)
    torch.testing.assert_close(one.log_prob(data[:50]), GaussianNoise.fit(data).log_prob(data[:50]))
