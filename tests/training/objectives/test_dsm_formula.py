"""Denoising score matching against its closed form on Gaussian data and a Gaussian energy.

With x ~ N(m, S), E = (x-mu)^T P (x-mu)/2 and level sigma, sigma^2/2 E|s(x~) + eps/sigma|^2 is
1/2 [sigma^2 tr(P^2 S) + sigma^2 (m-mu)^T P^2 (m-mu) + tr((I - sigma^2 P)^2)], averaged over the
levels; its optimum is mu = m, P = (sum sigma^2) (sum sigma^2 S + sum sigma^4 I)^-1.
"""

import torch
from gaussian_model import COV, MEAN, GaussianModel, draw, gradients

from energyflow.training.objectives import DenoisingScoreMatching, noise_levels

EYE = torch.eye(2, dtype=torch.float64)


def closed_form(mu: torch.Tensor, p: torch.Tensor, sigmas: torch.Tensor) -> float:
    d = MEAN - mu
    total = 0.0
    for s2 in sigmas.double().pow(2):
        q = EYE - s2 * p
        total += 0.5 * (s2 * (p @ p @ COV).trace() + s2 * d @ p @ p @ d + (q @ q).trace())
    return float(total / len(sigmas))


def optimum(sigmas: torch.Tensor) -> torch.Tensor:
    s2 = sigmas.double().pow(2)
    return s2.sum() * torch.linalg.inv(s2.sum() * COV + s2.pow(2).sum() * EYE)


def _loss(objective, model, n=150_000, seed=1):
    g = torch.Generator().manual_seed(seed)
    return objective.loss(model, draw(n), generator=g).loss


def test_loss_matches_the_closed_form_at_one_level_and_several():
    p = torch.tensor([[2.0, 0.5], [0.5, 1.5]])
    mu = torch.tensor([0.5, 0.0])
    for objective in (DenoisingScoreMatching(sigma=0.3), DenoisingScoreMatching(sigma=0.1, sigma_max=1.0, levels=4),
                      DenoisingScoreMatching(sigma=0.3, noise_draws=3)):
        sigmas = noise_levels(objective.sigma, objective.sigma_max, objective.levels)
        expected = closed_form(mu, p, sigmas)
        assert abs(float(_loss(objective, GaussianModel(mu, p)).detach()) - expected) < 0.01 * expected, objective


def test_gradient_vanishes_at_the_optimum_and_points_to_it_elsewhere():
    objective = DenoisingScoreMatching(sigma=0.1, sigma_max=1.0, levels=2)
    best = optimum(noise_levels(0.1, 1.0, 2))
    g_mu, g_p = gradients(_loss(objective, model := GaussianModel(MEAN, best)), model)
    assert g_mu.abs().max() < 0.01 and g_p.abs().max() < 0.01, (g_mu, g_p)
    shift = torch.tensor([0.3, -0.2])
    g_mu, g_p = gradients(_loss(objective, model := GaussianModel(MEAN + shift, best + 0.3 * EYE)), model)
    assert shift @ g_mu > 0.01  # descent moves mu back towards the data mean
    assert g_p.trace() > 0.05  # and shrinks the too-large precision
    g_mu, g_p = gradients(_loss(objective, model := GaussianModel(MEAN, best - 0.3 * EYE)), model)
    assert g_p.trace() < -0.05


def test_one_level_learns_the_blurred_data():
    objective = DenoisingScoreMatching(sigma=0.3)
    blurred = torch.linalg.inv(COV + 0.09 * EYE)
    _, g_p = gradients(_loss(objective, model := GaussianModel(MEAN, blurred)), model)
    assert g_p.abs().max() < 0.01
    _, g_p = gradients(_loss(objective, model := GaussianModel(MEAN, torch.linalg.inv(COV))), model)
    assert g_p.trace() > 0.02  # the unblurred precision is too large for DSM's target


def test_noise_draws_average_independent_draws_and_refuse_labels():
    import pytest

    model = GaussianModel(MEAN, torch.eye(2))
    one, three = DenoisingScoreMatching(sigma=0.3), DenoisingScoreMatching(sigma=0.3, noise_draws=3)
    losses = [float(_loss(o, model, n=64, seed=s).detach()) for o in (one, three) for s in range(40)]
    spread_one, spread_three = torch.tensor(losses[:40]).std(), torch.tensor(losses[40:]).std()
    assert spread_three < 0.75 * spread_one  # about 1/sqrt(3) of it
    with pytest.raises(ValueError, match="labelled"):
        three.loss(model, draw(8), torch.zeros(8, dtype=torch.long))
