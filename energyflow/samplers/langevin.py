"""Langevin dynamics as IGEBM runs it, and the textbook unadjusted Langevin algorithm."""

from __future__ import annotations

import math
from typing import Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.samplers.base import ChainState, Sampler, as_pair, interval, randn_like


@frozen(kw_only=True)
class Langevin(Sampler):
    """Stochastic gradient Langevin dynamics with the IGEBM update (the paper's defaults).

    Each step adds N(0, noise^2) noise, clips the input gradient per element to
    +-``grad_clip``, moves ``x - step_size * grad`` and clamps to ``clamp``. Step size and noise
    are independent, as in the official code. ``noise="ula"`` gives the textbook unadjusted
    Langevin algorithm, ``x - step_size * grad + sqrt(2 * step_size) * N(0, 1)``. The chain
    state returned by a step holds no energy of a point it did not evaluate: IGEBM's step
    evaluates the noised point, not the one it returns. With ``anneal_after``, the step size
    decays after that many transitions of a run (the noise std with its square root), so chains
    run longer than in training refine their state instead of drifting on (see docs/results.md,
    issue 11).
    """

    steps: int = field(default=60, validator=[v.instance_of(int), v.ge(1)],
                       metadata={"help": "Langevin steps per sample"})
    step_size: float = field(default=10.0, converter=float, validator=v.gt(0.0),
                             metadata={"help": "gradient step size (the paper's step_lr)"})
    noise: float | Literal["ula"] = field(default=0.005, validator=v.or_(v.in_(("ula",)), v.ge(0.0)),
                                          metadata={"help": "noise std added each step, or 'ula' for sqrt(2*step_size)"})
    grad_clip: float | None = field(default=0.01, validator=v.optional(v.gt(0.0)),
                                    metadata={"help": "clip each gradient element to +-grad_clip; none to disable"})
    clamp: tuple[float, float] | Literal["data"] | None = field(
        default="data", converter=as_pair, validator=interval,
        metadata={"help": "clamp samples to [low, high] after each step; \"data\": the data's value range "
                          "(no clamp outside a run); none to disable"})

    anneal_after: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]),
                                     metadata={"help": "steps at full step size; after them the step size decays as "
                                                       "(t / anneal_after)^-anneal_power and the noise std as its square "
                                                       "root; none: constant"})
    anneal_power: float = field(default=2.0, converter=float, validator=v.gt(0.0),
                                metadata={"help": "power of the step-size decay after anneal_after (2: the chain "
                                                  "moves at most anneal_after more full steps in all)"})

    def scale(self, step: int) -> float:
        """The step-size multiplier at transition ``step`` (counted from 0 in each run)."""
        if self.anneal_after is None or step < self.anneal_after:
            return 1.0
        return ((step + 1) / self.anneal_after) ** -self.anneal_power

    def _descend(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        step = grad if self.grad_clip is None else grad.clamp(-self.grad_clip, self.grad_clip)
        return x - step_size * step

    def transition(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        scale = self.scale(state.step)
        step_size = self.step_size * scale
        if self.noise == "ula":
            state.evaluate(energy)
            x = self._descend(state.x, state.grad, step_size) + math.sqrt(2.0 * step_size) * randn_like(state.x, generator)
        else:
            noise = self.noise * math.sqrt(scale)
            x = state.x + noise * randn_like(state.x, generator) if noise > 0 else state.x
            _, grad = energy_and_grad(energy, x)
            x = self._descend(x, grad, step_size)
        if self.clamp is not None and self.clamp != "data":
            x = x.clamp(*self.clamp)
        return ChainState(energy.constrain(x)), None
