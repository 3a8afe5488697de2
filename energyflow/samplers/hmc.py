"""Hamiltonian Monte Carlo: leapfrog integration with a Metropolis correction."""

from __future__ import annotations

from typing import Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.core.energy import Energy
from energyflow.samplers.base import (
    ChainState,
    Sampler,
    as_pair,
    interval,
    per_sample_sum,
    randn_like,
)
from energyflow.samplers.mala import metropolis_step


@frozen(kw_only=True)
class HMC(Sampler):
    """HMC with unit mass: each step draws momentum, runs ``leapfrog_steps`` leapfrog updates and accepts or rejects."""

    steps: int = field(default=100, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "HMC transitions per sample"})
    step_size: float = field(default=0.1, converter=float, validator=v.gt(0.0), metadata={"help": "leapfrog step size"})
    leapfrog_steps: int = field(default=10, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "leapfrog updates per transition"})
    bounds: tuple[float, float] | Literal["data"] | None = field(default=None, converter=as_pair, validator=interval,
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
