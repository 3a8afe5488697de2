"""Reflected MALA against a Gaussian truncated to a box whose mass piles onto a face (closed-form moments)."""

import math

import pytest
import torch

import energyflow as ef
from energyflow.samplers.reflection import log_folded_normal, reflect

torch.set_num_threads(1)

MEAN = torch.tensor([-1.0, 0.3])  # the first coordinate's mass piles onto the face x = 0, the drift pushes out
STD = torch.tensor([0.3, 0.6])


def truncated_moments(mu: torch.Tensor, sigma: torch.Tensor, low: float, high: float):
    """Mean and variance of N(mu, sigma^2) truncated to [low, high], coordinate by coordinate."""
    normal = torch.distributions.Normal(0.0, 1.0)
    a, b = (low - mu) / sigma, (high - mu) / sigma
    pa, pb = normal.log_prob(a).exp(), normal.log_prob(b).exp()
    mass = normal.cdf(b) - normal.cdf(a)
    shift = (pa - pb) / mass
    return mu + sigma * shift, sigma**2 * (1 + (a * pa - b * pb) / mass - shift**2)


def chain_moments(sampler, chains=2000, steps=300, burn_in=100, seed=0):
    energy = ef.GaussianEnergy(MEAN, torch.diag(STD**2))
    g = torch.Generator().manual_seed(seed)
    kept = []
    result = sampler.run(energy, torch.zeros(chains, 2), steps=steps, generator=g,  # every chain starts on a face
                         callback=lambda step, x: kept.append(x) if step >= burn_in else None)
    pooled = torch.cat(kept)
    return pooled.mean(0), pooled.var(0), result.stats["acceptance_rate"]


def test_reflect_folds_into_the_box():
    z = torch.tensor([-0.25, 1.25, 2.5, -3.1, 0.4])
    assert torch.allclose(reflect(z, 0.0, 1.0), torch.tensor([0.25, 0.75, 0.5, 0.9, 0.4]), atol=1e-6)


def test_folded_density_integrates_to_one_and_matches_a_histogram():
    mean, std = torch.tensor([[0.05, 0.9, -0.4]]), 0.5
    grid = (torch.arange(4000, dtype=torch.float64) + 0.5) / 4000
    for j in range(3):
        logq = log_folded_normal(grid[:, None], mean[:, j].double().expand(4000, 1), std, 0.0, 1.0)
        density = logq.exp() / math.sqrt(2 * math.pi * std**2)
        assert abs(float(density.mean()) - 1.0) < 1e-6  # a density on [0, 1]
        g = torch.Generator().manual_seed(j)
        y = reflect(mean[0, j] + std * torch.randn(400_000, generator=g), 0.0, 1.0)
        hist = torch.histc(y, bins=10, min=0, max=1) / y.numel() * 10
        bins = density.double().reshape(10, 400).mean(1)
        assert torch.allclose(hist.double(), bins, atol=0.02)


@pytest.mark.parametrize("step_size", [0.005, 0.02])
def test_reflected_mala_matches_the_truncated_gaussian(step_size):
    true_mean, true_var = truncated_moments(MEAN, STD, 0.0, 1.0)
    mean, var, acceptance = chain_moments(ef.MALA(step_size=step_size, bounds=(0.0, 1.0), boundary="reflect"))
    # measured errors below 1e-3; the unfolded Gaussian in the Hastings ratio is off by 0.025 and 0.084
    assert torch.all((mean - true_mean).abs() < 0.005), (mean, true_mean)
    assert torch.all((var - true_var).abs() < 0.002), (var, true_var)
    assert acceptance > 0.3  # the chains move off the face


def test_rejecting_at_the_faces_stalls_high_dimensional_chains_on_a_face_where_reflection_moves():
    energy = ef.GaussianEnergy(torch.full((64,), 0.3), torch.eye(64) * 0.25)
    x0 = torch.zeros(256, 64)  # every coordinate on the face 0, as a digit's background pixels
    runs = {b: ef.MALA(step_size=1e-3, bounds=(0.0, 1.0), boundary=b).run(
        energy, x0, steps=20, generator=torch.Generator().manual_seed(1)) for b in ("reject", "reflect")}
    assert runs["reject"].stats["acceptance_rate"] < 0.01
    assert runs["reflect"].stats["acceptance_rate"] > 0.5


def test_reflect_needs_bounds():
    with pytest.raises(ValueError, match="needs bounds"):
        ef.MALA(boundary="reflect")
