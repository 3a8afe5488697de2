"""Langevin's step-size annealing: full steps for anneal_after transitions, then a power-law decay."""

import math

import pytest
import torch

import energyflow as ef
from energyflow.samplers.base import ChainState


def test_scale_is_one_then_decays_as_a_power_law():
    sampler = ef.Langevin(anneal_after=20, anneal_power=2.0)
    assert [sampler.scale(t) for t in (0, 10, 19)] == [1.0, 1.0, 1.0]
    assert sampler.scale(39) == pytest.approx(0.25)  # (40 / 20)^-2
    assert sampler.scale(199) == pytest.approx(0.01)
    assert ef.Langevin().scale(10_000) == 1.0  # no annealing by default


def test_drift_on_a_linear_energy_is_the_sum_of_the_scaled_steps():
    # E(x) = sum(x): the gradient is 1 everywhere, so each step moves every coordinate by -step_size * scale(t)
    energy = ef.FunctionEnergy(lambda x: x.flatten(1).sum(1), name="slope")
    sampler = ef.Langevin(step_size=0.01, noise=0.0, grad_clip=None, clamp=None, anneal_after=5, anneal_power=1.0)
    x0 = torch.zeros(3, 2)
    for steps in (3, 5, 50):
        x = sampler.sample(energy, x0, steps=steps)
        expected = -0.01 * sum(sampler.scale(t) for t in range(steps))
        torch.testing.assert_close(x, torch.full_like(x0, expected))
    # power 2: the chain moves at most anneal_after more full steps however long it runs
    stops = ef.Langevin(step_size=0.01, noise=0.0, grad_clip=None, clamp=None, anneal_after=5, anneal_power=2.0)
    far = stops.sample(energy, x0, steps=2000)
    assert -0.01 * 10 < far[0, 0].item() < -0.01 * 9.5


def test_noise_shrinks_as_the_square_root_of_the_scale():
    flat = ef.FunctionEnergy(lambda x: x.flatten(1).sum(1) * 0.0, name="flat")
    sampler = ef.Langevin(noise=0.1, grad_clip=None, clamp=None, anneal_after=1, anneal_power=2.0)
    late = sampler.transition(flat, ChainState(torch.zeros(20000, 1), step=9), torch.Generator().manual_seed(0))[0]
    assert late.x.std().item() == pytest.approx(0.1 * math.sqrt(sampler.scale(9)), rel=0.05)


def test_runs_count_steps_in_the_chain_state():
    seen = []

    class Counting(ef.Langevin):
        def transition(self, energy, state, generator):
            seen.append(state.step)
            return super().transition(energy, state, generator)
    energy = ef.FunctionEnergy(lambda x: x.pow(2).flatten(1).sum(1), name="bowl")
    Counting(steps=4, clamp=None).sample(energy, torch.zeros(2, 2))
    assert seen == [0, 1, 2, 3]


def test_bad_anneal_options_are_refused():
    with pytest.raises((ValueError, TypeError)):
        ef.Langevin(anneal_after=0)
    with pytest.raises(ValueError):
        ef.Langevin(anneal_power=0.0)
