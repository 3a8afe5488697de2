"""AIS against energies whose partition function is known: forward below, reverse above, both close."""

from __future__ import annotations

import math

import pytest
import torch

import energyflow as ef
from energyflow.core.energy import Energy
from energyflow.likelihood import (
    GaussianBase,
    UniformBase,
    ais,
    betas,
    class_log_z,
    log_mean_exp,
    marginal_log_likelihood,
    raise_log_likelihood,
    reverse_ais,
)
from energyflow.metrics import grid_nll

torch.set_num_threads(1)


def gaussian(d: int) -> tuple[ef.GaussianEnergy, float, torch.Tensor]:
    """An anisotropic Gaussian energy in ``d`` dimensions, its exact log Z and its Cholesky factor."""
    cov = torch.diag(torch.linspace(0.4, 1.5, d) ** 2) if d > 1 else torch.tensor([[0.5]])
    mean = torch.linspace(-1.0, 1.0, d)
    log_z = 0.5 * (d * math.log(2 * math.pi) + torch.logdet(cov).item())
    return ef.GaussianEnergy(mean, cov), log_z, torch.linalg.cholesky(cov)


def bracket(energy, base, exact_samples, shape, seed, temperatures=300, chains=600, **options):
    g = torch.Generator().manual_seed(seed)
    forward = ais(energy, base, shape, chains=chains, temperatures=temperatures, generator=g, **options)
    reverse = reverse_ais(energy, base, exact_samples, temperatures=temperatures, generator=g,
                          step_sizes=forward.step_sizes, **options)
    return forward, reverse


def assert_brackets(forward, reverse, truth, tolerance):
    assert forward.log_z <= truth + 3 * forward.stderr, (forward.log_z, forward.stderr, truth)
    assert reverse.log_z >= truth - 3 * reverse.stderr, (reverse.log_z, reverse.stderr, truth)
    assert abs(forward.log_z - truth) < tolerance, (forward.log_z, truth)
    assert abs(reverse.log_z - truth) < tolerance, (reverse.log_z, truth)


@pytest.mark.parametrize("d", [1, 2, 10])
def test_gaussian_log_z_is_bracketed_in_several_dimensions(d):
    energy, truth, chol = gaussian(d)
    g = torch.Generator().manual_seed(d)
    exact = energy.mean + torch.randn(600, d, generator=g) @ chol.T
    forward, reverse = bracket(energy, GaussianBase(3.0), exact, (d,), seed=d)
    assert_brackets(forward, reverse, truth, tolerance=0.15)
    assert forward.direction == "forward" and reverse.direction == "reverse"
    assert 1 <= forward.ess <= 600 and forward.log_weights.shape == (600,)
    assert 0.3 < forward.acceptance < 0.9  # the adapted step sizes land near MALA's target


def test_hmc_transitions_bracket_a_gaussian():
    energy, truth, chol = gaussian(2)
    exact = energy.mean + torch.randn(600, 2, generator=torch.Generator().manual_seed(1)) @ chol.T
    hmc = ef.HMC(steps=1, step_size=0.3, leapfrog_steps=3)
    forward, reverse = bracket(energy, GaussianBase(3.0), exact, (2,), seed=5, temperatures=100, sampler=hmc)
    assert_brackets(forward, reverse, truth, tolerance=0.1)


def test_mixture_log_z_sums_the_components():
    a = ef.GaussianEnergy(torch.tensor([-2.0, 0.0]), torch.eye(2) * 0.25)
    b = ef.GaussianEnergy(torch.tensor([2.0, 1.0]), torch.eye(2))
    energy = a | b  # exp(-E) = exp(-E_a) + exp(-E_b), so Z = Z_a + Z_b
    z_a, z_b = 2 * math.pi * 0.25, 2 * math.pi
    g = torch.Generator().manual_seed(2)
    pick = torch.rand(800, generator=g) < z_a / (z_a + z_b)
    exact = torch.where(pick[:, None], a.mean + 0.5 * torch.randn(800, 2, generator=g),
                        b.mean + torch.randn(800, 2, generator=g))
    forward, reverse = bracket(energy, GaussianBase(3.0), exact, (2,), seed=3, chains=800)
    assert_brackets(forward, reverse, math.log(z_a + z_b), tolerance=0.1)


class ConditionalGaussian(Energy):
    """E(x, y) = |x - mu_y|^2 / (2 sigma_y^2): class y is N(mu_y, sigma_y^2 I)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mu", torch.tensor([[-1.0, 0.5], [2.0, -1.0], [0.0, 0.0]]))
        self.register_buffer("sigma", torch.tensor([0.5, 1.0, 2.0]))

    def forward(self, x, y):
        return ((x - self.mu[y]) ** 2).sum(1) / (2 * self.sigma[y] ** 2)

    def log_z(self, y: int) -> float:
        return math.log(2 * math.pi * float(self.sigma[y]) ** 2)


def test_conditional_energy_gets_log_z_per_class_and_log_p_of_x():
    energy = ConditionalGaussian()
    results = class_log_z(energy, GaussianBase(3.0), (2,), [0, 1, 2], chains=400, temperatures=400,
                          generator=torch.Generator().manual_seed(4))
    for c, result in results.items():
        assert abs(result.log_z - energy.log_z(c)) < 0.05 + 3 * result.stderr, (c, result.log_z, energy.log_z(c))
        assert result.log_weights.shape == (400,)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(6))
    estimated = marginal_log_likelihood(energy, x, {c: r.log_z for c, r in results.items()})
    exact = marginal_log_likelihood(energy, x, {c: energy.log_z(c) for c in range(3)})
    assert torch.allclose(estimated, exact, atol=0.1)
    # exact log p(x) of the equal mixture, written out
    comps = torch.stack([-energy(x, y=torch.full((50,), c)).double() - energy.log_z(c) for c in range(3)])
    assert torch.allclose(exact, torch.logsumexp(comps, 0) - math.log(3))


def test_raise_bounds_the_test_log_likelihood_from_below_and_forward_from_above():
    energy, truth, chol = gaussian(2)
    g = torch.Generator().manual_seed(8)
    test = energy.mean + torch.randn(500, 2, generator=g) @ chol.T
    true_ll = float(energy.log_prob(test).double().mean())
    forward = ais(energy, GaussianBase(3.0), (2,), chains=500, temperatures=500, generator=g)
    forward_ll = float(-energy(test).double().mean()) - forward.log_z
    per_point, _ = raise_log_likelihood(energy, GaussianBase(3.0), test, temperatures=500, generator=g,
                                        step_sizes=forward.step_sizes)
    # each point's estimate is unbiased for p(x), so its log falls short by a Jensen gap on average
    shortfall = per_point - energy.log_prob(test).double()
    reverse_ll, se = float(per_point.mean()), float(shortfall.std() / math.sqrt(500))
    assert reverse_ll <= true_ll + 3 * se and abs(reverse_ll - true_ll) < 0.1
    assert forward_ll >= true_ll - 3 * forward.stderr and abs(forward_ll - true_ll) < 0.1


def test_uniform_base_matches_the_grid_log_z_of_the_box():
    """A bounded base estimates Z over its box only: the same quantity the grid sums."""
    energy = ef.GaussianEnergy(torch.tensor([1.5, 0.0]), torch.eye(2))  # a good share of mass outside [-2, 2]
    exact = grid_nll(energy, torch.zeros(1, 2), value_range=(-2.0, 2.0), resolution=400)["log_z"]
    forward = ais(energy, UniformBase(-2.0, 2.0), (2,), chains=500, temperatures=100,
                  generator=torch.Generator().manual_seed(9))
    assert abs(forward.log_z - exact) < 0.05
    assert forward.samples.abs().max() <= 2.0
    assert math.log(2 * math.pi) - exact > 0.3  # the box really cuts mass off


def test_no_transition_means_plain_importance_sampling_of_the_base():
    """With one temperature the forward estimate is log mean exp(-E(x) - log p_0(x)) over base draws."""
    energy, _, _ = gaussian(2)
    base = GaussianBase(2.0)
    forward = ais(energy, base, (2,), chains=64, schedule=[0.0, 1.0], generator=torch.Generator().manual_seed(0))
    x0 = base.sample(64, (2,), torch.Generator().manual_seed(0))
    expected = log_mean_exp((-energy(x0) + base(x0)).double())
    assert forward.log_z == pytest.approx(float(expected), abs=1e-6)


def test_schedules_and_their_errors():
    assert betas("linear", 4).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    geometric = betas("geometric", 5)
    assert geometric[0] == 0 and geometric[1] == pytest.approx(1e-4) and geometric[-1] == 1
    assert betas([0, 0.5, 1]).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="increasing betas from 0 to 1"):
        betas([0, 0.7, 0.5, 1])
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        betas("cosine", 3)


def test_a_bounded_base_needs_a_transition_that_can_reject():
    energy, _, _ = gaussian(2)
    with pytest.raises(ValueError, match="cannot reject moves outside it; use mala or hmc"):
        ais(energy, UniformBase(-1, 1), (2,), chains=4, temperatures=2, sampler=ef.Langevin(steps=1))


class Counted(Energy):
    """A Gaussian energy that counts its forward passes (one per batch evaluation)."""

    def __init__(self):
        super().__init__()
        self.inner, self.calls = gaussian(3)[0], 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("reverse", [False, True])
def test_each_temperature_costs_the_transitions_evaluations_only(reverse):
    """E(x) for the weight increment is the one the transition computed: one MALA step per temperature
    evaluates the energy once (its proposal), plus one evaluation of the chains' starts."""
    energy, g = Counted(), torch.Generator().manual_seed(0)
    if reverse:
        reverse_ais(energy, GaussianBase(2.0), torch.randn(16, 3, generator=g), temperatures=25, generator=g)
    else:
        ais(energy, GaussianBase(2.0), (3,), chains=16, temperatures=25, generator=g)
    assert energy.calls == 1 + 25


def test_carried_energies_match_fresh_evaluations():
    """The sampler run started from given energies and gradients moves exactly as one that computes them."""
    energy, _, _ = gaussian(3)
    x0 = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    mala = ef.MALA(steps=3, step_size=0.2)
    fresh = mala.run(energy, x0, generator=torch.Generator().manual_seed(2), evaluate=False)
    start = ef.core.energy.energy_and_grad(energy, x0)
    given = mala.run(energy, x0, generator=torch.Generator().manual_seed(2), evaluate=False, start=start)
    assert torch.equal(fresh.x, given.x) and torch.equal(fresh.energy, given.energy)
    torch.testing.assert_close(given.energy, energy(given.x).detach())
    torch.testing.assert_close(given.grad, ef.core.energy.energy_and_grad(energy, given.x)[1])
