"""Sliced score matching on a Gaussian energy: each slice by hand, the expectation in closed form.

For E = (x-mu)^T P (x-mu)/2, s = -P(x-mu) and ds/dx = -P, so a slice v gives
-v^T P v + 1/2 |P(x-mu)|^2 (variance-reduced) or -v^T P v + 1/2 (v^T P(x-mu))^2; either way the
expectation is -tr P + 1/2 [tr(P^2 S) + (m-mu)^T P^2 (m-mu)], least at mu = m, P = S^-1.
"""

import torch
from gaussian_model import COV, MEAN, GaussianModel, draw, gradients

from energyflow.core import energy_and_grad
from energyflow.training.objectives import SlicedScoreMatching, sliced_score_matching

P = torch.tensor([[2.0, 0.5], [0.5, 1.5]], dtype=torch.float64)
MU = torch.tensor([0.5, 0.0], dtype=torch.float64)


def test_each_slice_matches_the_hand_computation_with_and_without_variance_reduction():
    x = draw(6).requires_grad_(True)
    directions = torch.tensor([[[1.0, -1.0]] * 6, [[-1.0, -1.0]] * 6])
    _, grad = energy_and_grad(GaussianModel(MU, P), x, create_graph=True)
    r = (x - MU) @ P
    trace = -torch.stack([(v[0] @ P @ v[0]) for v in directions]).mean()
    vr = sliced_score_matching(grad, x, directions)
    torch.testing.assert_close(vr, trace + 0.5 * r.pow(2).sum(1))
    plain = sliced_score_matching(grad, x, directions, variance_reduced=False)
    torch.testing.assert_close(plain, trace + 0.5 * torch.stack([(r @ v[0]).pow(2) for v in directions]).mean(0))


def _loss(objective, model, n=150_000):
    return objective.loss(model, draw(n), generator=torch.Generator().manual_seed(1)).loss


def test_expected_loss_matches_the_closed_form():
    d = MEAN - MU
    expected = float(-P.trace() + 0.5 * ((P @ P @ COV).trace() + d @ P @ P @ d))
    for objective in (SlicedScoreMatching(), SlicedScoreMatching(directions="gaussian", variance_reduced=False)):
        assert abs(float(_loss(objective, GaussianModel(MU, P)).detach()) - expected) < 0.02, objective


def test_gradient_vanishes_at_the_truth_and_points_to_it_elsewhere():
    truth = torch.linalg.inv(COV)
    g_mu, g_p = gradients(_loss(SlicedScoreMatching(), model := GaussianModel(MEAN, truth)), model)
    assert g_mu.abs().max() < 0.02 and g_p.abs().max() < 0.02, (g_mu, g_p)
    shift = torch.tensor([0.3, -0.2])
    g_mu, g_p = gradients(_loss(SlicedScoreMatching(), model := GaussianModel(MEAN + shift, 1.3 * truth)), model)
    assert shift @ g_mu > 0.05 and g_p.trace() > 0.05
    _, g_p = gradients(_loss(SlicedScoreMatching(), model := GaussianModel(MEAN, 0.7 * truth)), model)
    assert g_p.trace() < -0.05


def test_noise_draws_need_data_noise():
    import pytest

    with pytest.raises(ValueError, match="sigma"):
        SlicedScoreMatching(noise_draws=2)
    assert SlicedScoreMatching(sigma=0.1, noise_draws=2).noise_draws == 2
