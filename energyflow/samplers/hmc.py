"""Hamiltonian Monte Carlo: leapfrog integration with a Metropolis correction."""

from __future__ import annotations

import torch
from attrs import define, field

from energyflow.core.energy import Energy
from energyflow.samplers.base import (
    ChainState,
    Sampler,
    optional_range,
    per_sample_sum,
    positive,
    positive_int,
    randn_like,
)
from energyflow.samplers.mala import metropolis_step


@define(kw_only=True)
class HMC(Sampler):
    """HMC with unit mass: each step draws momentum, runs ``leapfrog_steps`` leapfrog updates and accepts or rejects."""

    steps: int = field(default=100, validator=positive_int, metadata={"help": "HMC transitions per sample"})
    step_size: float = field(default=0.1, converter=float, validator=positive, metadata={"help": "leapfrog step size"})
    leapfrog_steps: int = field(default=10, validator=positive_int, metadata={"help": "leapfrog updates per transition"})
    bounds: tuple[float, float] | None = field(default=None, converter=optional_range,
                                               metadata={"help": "support [low, high]; trajectories ending outside are rejected"})

    def transition(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        eps = self.step_size
        state.evaluate(energy)
        momentum = randn_like(state.x, generator)
        start_h = state.energy + 0.5 * per_sample_sum(momentum**2)
        current = state
        p = momentum - 0.5 * eps * current.grad
        for i in range(self.leapfrog_steps):
            current = ChainState(energy.constrain(current.x + eps * p)).evaluate(energy)
            p = p - (eps if i < self.leapfrog_steps - 1 else 0.5 * eps) * current.grad
        end_h = current.energy + 0.5 * per_sample_sum(p**2)
        return metropolis_step(state, current, start_h - end_h, self.bounds, generator)
