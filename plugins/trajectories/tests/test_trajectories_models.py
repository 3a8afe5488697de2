"""The trajectory energy, the last-state chain starts and the regression baseline."""

from __future__ import annotations

import pytest
import torch
from energyflow_trajectories.baseline import NextStateRegressor, fit
from energyflow_trajectories.buffer import LastStateSpec
from energyflow_trajectories.data import ParticlesSpec
from energyflow_trajectories.energy import TrajectoryEnergySpec

import energyflow
from energyflow import BuildContext
from energyflow.testing import check_energy


@pytest.fixture(scope="module")
def ctx():
    context = BuildContext(generator=torch.Generator().manual_seed(0))
    context.data = ParticlesSpec(num_particles=3, history=2, n_train=6, train_steps=12, n_test=2,
                                 test_steps=12).build(context)
    return context


@pytest.mark.parametrize("pairwise", [False, True])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_energy_keeps_the_contract(ctx, pairwise, spectral_norm):
    torch.manual_seed(0)
    energy = TrajectoryEnergySpec(hidden=(16, 16), pairwise=pairwise, spectral_norm=spectral_norm).build(ctx)
    data = ctx.data
    check_energy(energy, data.train[:6], y=data.train_labels[:6])
    assert energy.accepted_context() == {"y"}
    bound = energy.condition(y=data.train_labels[:6])
    assert not torch.allclose(bound(data.train[:6]), energy(data.train[:6], y=data.train_labels[6:12]))
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 12\)"):
        energy(data.train[:2, :5], y=data.train_labels[:2])


def test_spectral_norm_spares_the_head(ctx):
    energy = TrajectoryEnergySpec(hidden=(8,), spectral_norm=True).build(ctx)
    assert hasattr(energy.body[0], "parametrizations") and not hasattr(energy.head, "parametrizations")
    assert energyflow.SpectralNorm().prepare(energy) is energy  # the regularizer on top changes nothing


def test_pairwise_energy_ignores_particle_labels(ctx):
    torch.manual_seed(0)
    energy = TrajectoryEnergySpec(hidden=(16, 16), pairwise=True).build(ctx)
    data, perm = ctx.data, torch.tensor([2, 0, 1])
    past, _ = data.layout.split(data.train_labels[:4])
    springs, charges = data.train_springs[:1].expand(4, 3, 3), torch.zeros(4, 3)
    x = data.train[:4]
    y = data.layout.make(past, springs, charges)
    y_perm = data.layout.make(past[:, :, perm], springs[:, perm][:, :, perm], charges)
    x_perm = x.view(4, 3, 4)[:, perm].reshape(4, 12)
    torch.testing.assert_close(energy(x, y=y), energy(x_perm, y=y_perm))
    plain = TrajectoryEnergySpec(hidden=(16, 16)).build(ctx)
    assert not torch.allclose(plain(x, y=y), plain(x_perm, y=y_perm))  # the plain MLP does see labels


def test_energy_needs_trajectory_data():
    with pytest.raises(ValueError, match="needs trajectory data"):
        TrajectoryEnergySpec().build(BuildContext())


def test_last_state_starts_sit_at_the_extrapolated_state(ctx):
    data = ctx.data
    y = data.train_labels[:5]
    past, _ = data.layout.split(y)
    quiet = LastStateSpec(noise=0.0).build(ctx)
    assert quiet.uses_labels  # so the core trainer passes the batch's contexts
    torch.testing.assert_close(quiet.sample(5, labels=y).view(5, 3, 4), 2 * past[:, -1] - past[:, -2])
    last = LastStateSpec(noise=0.0, start="last").build(ctx)
    torch.testing.assert_close(last.sample(5, labels=y).view(5, 3, 4), past[:, -1])
    noisy = LastStateSpec(noise=1.0).build(ctx)
    spread = (noisy.sample(5, labels=y, generator=torch.Generator().manual_seed(1)) - quiet.sample(5, labels=y))
    assert 0 < spread.abs().max() < 0.1
    with pytest.raises(ValueError, match="needs labels"):
        noisy.sample(5)
    noisy.push(y[:, :12])
    assert noisy.state_dict() == {"pushed": 5}


def test_the_core_trainer_hands_the_buffer_each_batch_context(ctx):
    data = ctx.data
    torch.manual_seed(0)
    energy = TrajectoryEnergySpec(hidden=(16,)).build(ctx)
    buffer = LastStateSpec(noise=0.0).build(ctx)
    seen = []
    sample = buffer.sample
    buffer.sample = lambda n, **kw: seen.append(kw["labels"]) or sample(n, **kw)
    trainer = energyflow.ContrastiveDivergence(energy, energyflow.Langevin(steps=2, step_size=1e-7, noise=1e-4,
                                                                           grad_clip=None, clamp=None), buffer)
    stats = trainer.step(data.train[:8], data.train_labels[:8], generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen[0], data.train_labels[:8]) and all(map(torch.isfinite, map(torch.tensor, stats.values())))


def test_regression_baseline_learns(ctx):
    data = ctx.data
    torch.manual_seed(0)
    model = NextStateRegressor(data.layout, data.scales(), hidden=(32,))
    before = float(model.loss(data.train_labels, data.train).detach())
    after = fit(model, data.train_labels, data.train, iterations=150, batch_size=32, lr=3e-3,
                generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    assert after < 0.5 * before
    assert model(data.test_labels[:3]).shape == (3, 12)
