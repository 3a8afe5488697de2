"""Samplers against an analytic Gaussian, masking exactness, the IGEBM update and argument errors."""

import math

import pytest
import torch

import energyflow as ef

MEAN = torch.tensor([1.0, -1.0])
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]])


def moments(sampler, seed=0, chains=1000, steps=500, burn_in=250):
    """Mean and covariance from the final states and the second half of every chain."""
    energy = ef.GaussianEnergy(MEAN, COV)
    g = torch.Generator().manual_seed(seed)
    kept = []
    sampler.sample(energy, torch.randn(chains, 2, generator=g), steps=steps, generator=g,
                   callback=lambda step, x: kept.append(x) if step >= burn_in else None)
    pooled = torch.cat(kept)
    return pooled.mean(0), torch.cov(pooled.T)


@pytest.mark.parametrize(
    "sampler, tol",
    [
        (ef.MALA(step_size=0.2), 0.05),
        (ef.HMC(step_size=0.3, leapfrog_steps=3), 0.05),
        (ef.Langevin(step_size=0.01, noise="ula", grad_clip=None, clamp=None), 0.1),
    ],
    ids=["mala", "hmc", "ula"],
)
def test_sampler_matches_gaussian(sampler, tol):
    mean, cov = moments(sampler)
    assert torch.all((mean - MEAN).abs() < tol), mean
    assert torch.all((cov - COV).abs() < tol), cov
    if not isinstance(sampler, ef.Langevin):
        stats = sampler.run(ef.GaussianEnergy(MEAN, COV), torch.zeros(200, 2), steps=50).stats
        assert 0.3 < stats["acceptance_rate"] <= 1.0


def test_mala_is_exact_for_large_steps_where_ula_is_biased():
    # h = 0.3 is near ULA's stability limit (2 / largest precision eigenvalue = 0.4).
    _, mala_cov = moments(ef.MALA(step_size=0.3), steps=300, burn_in=100)
    _, ula_cov = moments(ef.Langevin(step_size=0.3, noise="ula", grad_clip=None, clamp=None), steps=300, burn_in=100)
    assert torch.all((mala_cov - COV).abs() < 0.05)
    assert (ula_cov - COV).abs().max() > 0.15  # ULA's O(step) bias is visible at this step size


def test_langevin_update_is_the_igebm_rule():
    energy = ef.FunctionEnergy(lambda x: 0.5 * (x**2).sum(-1), name="half_square")
    x0 = torch.full((3, 4), 0.5)
    x0[0, 0] = 0.001  # small gradient: not clipped
    sampler = ef.Langevin(steps=1, step_size=10.0, noise=0.005, grad_clip=0.01, clamp=(0.0, 1.0))
    g = torch.Generator().manual_seed(3)
    out = sampler.sample(energy, x0, generator=g)
    noised = x0 + 0.005 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
    expected = (noised - 10.0 * noised.clamp(-0.01, 0.01)).clamp(0.0, 1.0)
    torch.testing.assert_close(out, expected)


def test_ula_noise_scale():
    flat = ef.FunctionEnergy(lambda x: 0.0 * x.sum(-1), name="flat")
    sampler = ef.Langevin(steps=1, step_size=0.5, noise="ula", grad_clip=None, clamp=None)
    out = sampler.sample(flat, torch.zeros(20000, 1), generator=torch.Generator().manual_seed(0))
    assert abs(out.std().item() - math.sqrt(2 * 0.5)) < 0.02


@pytest.mark.parametrize("sampler", [
    ef.Langevin(steps=5, step_size=0.1, noise=0.1), ef.MALA(steps=5, step_size=0.1), ef.HMC(steps=3, step_size=0.1),
], ids=["langevin", "mala", "hmc"])
def test_every_sampler_moves_only_free_positions(sampler):
    energy = ef.GaussianEnergy(torch.zeros(4), torch.eye(4))
    mask = torch.tensor([True, False, True, False])
    observed = torch.tensor([0.25, 0.0, 0.75, 0.0])
    x0 = torch.rand(64, 4, generator=torch.Generator().manual_seed(0))
    out = sampler.sample(energy.mask(mask, observed), x0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, mask], observed[mask].expand(64, 2))
    assert not torch.allclose(out[:, ~mask], x0[:, ~mask])


def test_batch_shaped_mask_is_exact():
    energy = ef.GaussianEnergy(torch.zeros(3), torch.eye(3))
    mask = torch.rand(8, 3, generator=torch.Generator().manual_seed(0)) > 0.5
    observed = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    out = ef.Langevin(steps=10, step_size=0.1, clamp=None).sample(energy.mask(mask, observed), torch.zeros(8, 3))
    assert torch.equal(out[mask], observed[mask])


def test_no_graph_and_no_parameter_gradients():
    net = torch.nn.Linear(2, 1)
    energy = ef.FunctionEnergy(lambda x: net(x).squeeze(-1), name="net")
    energy.net = net  # register so parameters are visible
    for sampler in (ef.Langevin(steps=3), ef.MALA(steps=3), ef.HMC(steps=2)):
        out = sampler.sample(energy, torch.rand(5, 2))
        assert not out.requires_grad and out.grad_fn is None
        assert all(p.grad is None for p in energy.parameters())


def test_callback_and_stats():
    seen = []
    sampler = ef.MALA(steps=7, step_size=0.1)
    gaussian = ef.GaussianEnergy(torch.zeros(2), torch.eye(2))
    result = sampler.run(gaussian, torch.zeros(4, 2), callback=lambda i, x: seen.append(i))
    assert seen == list(range(7))
    assert set(result.stats) == {"sample_energy", "sample_grad_norm", "acceptance_rate"}
    # the statistics are those of the returned points, not of a point one step earlier
    assert result.stats["sample_energy"] == pytest.approx(float(gaussian(result.x).mean()), rel=1e-6)
    assert not hasattr(sampler, "last_stats")  # nothing measured lives on the shared sampler


@pytest.mark.parametrize("make, message", [
    (lambda: ef.Langevin(step_size=-1.0), "'step_size' must be > 0.0: -1.0"),
    (lambda: ef.Langevin(steps=0), "'steps' must be >= 1: 0"),
    (lambda: ef.Langevin(noise=-0.1), "satisfied for value -0.1"),
    (lambda: ef.Langevin(clamp=(1.0, 0.0)), r"must have low < high, got \[1.0, 0.0\]"),
    (lambda: ef.HMC(leapfrog_steps=0), "'leapfrog_steps' must be >= 1: 0"),
    (lambda: ef.Langevin().sample(ef.GaussianEnergy(torch.zeros(2), torch.eye(2)), torch.zeros(2, 2), steps=-3),
     "steps must be an integer >= 0, got -3"),
])
def test_bad_arguments_name_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_input_shape_is_reported():
    energy = ef.GaussianEnergy(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match=r"x0 must be a tensor of shape \(batch, ...\)"):
        ef.Langevin().sample(energy, torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"expected mean \(d,\) and cov \(d, d\), got \(2,\) and \(3, 3\)"):
        ef.GaussianEnergy(torch.zeros(2), torch.eye(3))
