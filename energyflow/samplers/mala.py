"""Metropolis-adjusted Langevin: exact for any step size; optionally with jumps across the support.

With ``jump_prob`` each chain, at each step and independently of its state, proposes a point drawn
uniformly over ``bounds`` instead of a Langevin move (an independence Metropolis proposal,
accepted with probability min(1, exp(E(x) - E(x')))). A state-independent mixture of kernels that
each leave exp(-E) invariant leaves it invariant too; the jumps let chains cross the
zero-density gaps between separated modes (rings, squares), which Langevin moves cannot, so
persistent chains share themselves among the modes by the model's masses, not by where they
happened to start.
"""

from __future__ import annotations

import math
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
    rand,
    randn_like,
)
from energyflow.samplers.reflection import log_folded_normal, reflect


def metropolis_step(
    state: ChainState, proposal: ChainState, log_ratio: torch.Tensor,
    bounds: tuple[float, float] | None, generator: torch.Generator | None,
) -> tuple[ChainState, torch.Tensor]:
    """Accept each chain's proposal with probability min(1, exp(log_ratio)).

    Proposals with a NaN ratio or outside ``bounds`` (where the target is zero) are rejected.
    Returns the new state and the per-chain acceptance.
    """
    log_ratio = log_ratio.nan_to_num(nan=-math.inf)
    if bounds is not None:
        out = ((proposal.x < bounds[0]) | (proposal.x > bounds[1])).flatten(1).any(1)
        log_ratio = log_ratio.masked_fill(out, -math.inf)
    accept = torch.log(rand(log_ratio.shape[0], generator, log_ratio)) < log_ratio
    rows = accept.view((-1,) + (1,) * (state.x.dim() - 1))
    new = ChainState(
        torch.where(rows, proposal.x, state.x),
        torch.where(accept, proposal.energy, state.energy),
        torch.where(rows, proposal.grad, state.grad),
    )
    return new, accept


@frozen(kw_only=True)
class MALA(Sampler):
    """Langevin proposal ``x - h*grad + sqrt(2h)*N(0, 1)`` with a Metropolis-Hastings correction.

    With ``bounds``, ``boundary = "reject"`` rejects proposals outside the box, which stalls chains
    whose coordinates sit on a face (half of every such coordinate's proposals leave the box);
    ``"reflect"`` folds proposals back into the box at its faces and corrects with the folded
    proposal density (`energyflow.samplers.reflection`), so the chain stays exact and moves.
    """

    steps: int = field(default=100, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "MALA steps per sample"})
    step_size: float = field(default=0.01, converter=float, validator=v.gt(0.0), metadata={"help": "proposal step size h"})
    bounds: tuple[float, float] | Literal["data"] | None = field(default=None, converter=as_pair, validator=interval,
                                               metadata={"help": "support [low, high] (see boundary)"})
    boundary: Literal["reject", "reflect"] = field(default="reject", validator=v.in_(("reject", "reflect")),
                                                   metadata={"help": "at the bounds: reject proposals outside, or "
                                                                     "reflect them back in (exact folded density)"})
    jump_prob: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.le(1.0)],
                             metadata={"help": "share of proposals drawn uniformly over bounds instead of a Langevin "
                                               "move, so chains cross between separated modes (needs bounds)"})

    def __attrs_post_init__(self) -> None:
        if self.boundary == "reflect" and self.bounds is None:
            raise ValueError("MALA: boundary = \"reflect\" needs bounds (a [low, high] pair or \"data\")")
        if self.jump_prob > 0 and self.bounds is None:
            raise ValueError("MALA: jump_prob > 0 draws jumps uniformly over bounds; set bounds = [low, high] "
                             '(or "data")')
        if self.jump_prob > 0 and self.boundary == "reflect":
            raise ValueError('MALA: jump_prob works with boundary = "reject" only; set one of them')

    def transition(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        h = self.step_size
        state.evaluate(energy)
        mean = state.x - h * state.grad
        if self.boundary == "reflect" and isinstance(self.bounds, tuple):
            return self._reflected(energy, state, generator)
        moved = mean + math.sqrt(2 * h) * randn_like(state.x, generator)
        jump = None
        if self.jump_prob > 0:
            low, high = self.bounds  # type: ignore[misc]
            jump = rand(state.x.shape[0], generator, state.x) < self.jump_prob
            anywhere = low + (high - low) * rand(state.x.numel(), generator, state.x).view_as(state.x)
            moved = torch.where(jump.view((-1,) + (1,) * (state.x.dim() - 1)), anywhere, moved)
        proposal = ChainState(energy.constrain(moved))
        proposal.evaluate(energy)
        forward = per_sample_sum((proposal.x - mean) ** 2) / (4 * h)
        backward = per_sample_sum((state.x - proposal.x + h * proposal.grad) ** 2) / (4 * h)
        hastings = forward - backward
        if jump is not None:  # a uniform proposal has the same density both ways
            hastings = torch.where(jump, torch.zeros_like(hastings), hastings)
        return metropolis_step(state, proposal, state.energy - proposal.energy + hastings, self.bounds, generator)

    def _reflected(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        """A Langevin proposal folded back into the box, with the folded density in the Hastings ratio."""
        low, high = self.bounds  # type: ignore[misc]
        # a step wider than the box only folds more often: cap it so the folded density's sum stays short
        # (proposal and Hastings ratio use the same capped h, so the kernel stays exact)
        h = min(self.step_size, (high - low) ** 2 / 2)
        mean = state.x - h * state.grad
        step = mean + math.sqrt(2 * h) * randn_like(state.x, generator)
        proposal = ChainState(energy.constrain(reflect(step, low, high))).evaluate(energy)
        forward = -log_folded_normal(proposal.x, mean, math.sqrt(2 * h), low, high)
        backward = -log_folded_normal(state.x, proposal.x - h * proposal.grad, math.sqrt(2 * h), low, high)
        return metropolis_step(state, proposal, state.energy - proposal.energy + forward - backward,
                               self.bounds, generator)
