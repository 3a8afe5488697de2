"""Metropolis-adjusted Langevin: exact for any step size."""

from __future__ import annotations

import math

import torch
from attrs import define, field

from energyflow.core.energy import Energy
from energyflow.samplers.base import (
    ChainState, Sampler, optional_range, per_sample_sum, positive, positive_int, rand, randn_like,
)


def metropolis(log_ratio: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Accept each chain with probability min(1, exp(log_ratio))."""
    log_u = torch.log(rand(log_ratio.shape[0], generator, log_ratio))
    return log_u < log_ratio


def outside(x: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    """Per-chain flag: any coordinate outside ``bounds`` (the target is zero there)."""
    if bounds is None:
        return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    return ((x < bounds[0]) | (x > bounds[1])).flatten(1).any(1)


def select(accept: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    shape = (-1,) + (1,) * (new.dim() - 1)
    return torch.where(accept.view(shape), new, old)


@define(kw_only=True)
class MALA(Sampler):
    """Langevin proposal ``x - h*grad + sqrt(2h)*N(0, 1)`` with a Metropolis-Hastings correction."""

    steps: int = field(default=100, validator=positive_int, metadata={"help": "MALA steps per sample"})
    step_size: float = field(default=0.01, converter=float, validator=positive, metadata={"help": "proposal step size h"})
    bounds: tuple[float, float] | None = field(default=None, converter=optional_range,
                                               metadata={"help": "support [low, high]; proposals outside are rejected"})

    def transition(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        h = self.step_size
        state.evaluate(energy)
        mean = state.x - h * state.grad
        proposal = ChainState(energy.constrain(mean + math.sqrt(2 * h) * randn_like(state.x, generator)))
        proposal.evaluate(energy)
        forward = per_sample_sum((proposal.x - mean) ** 2) / (4 * h)
        backward = per_sample_sum((state.x - proposal.x + h * proposal.grad) ** 2) / (4 * h)
        log_ratio = state.energy - proposal.energy + forward - backward
        log_ratio = log_ratio.masked_fill(outside(proposal.x, self.bounds), -math.inf)
        accept = metropolis(log_ratio, generator)
        new = ChainState(
            select(accept, proposal.x, state.x),
            torch.where(accept, proposal.energy, state.energy),
            select(accept, proposal.grad, state.grad),
        )
        return new, accept
