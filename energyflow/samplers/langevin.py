"""Langevin dynamics as IGEBM runs it, and the textbook unadjusted Langevin algorithm."""

from __future__ import annotations

import math
from typing import Any

import torch
from attrs import define, field

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.samplers.base import (
    ChainState,
    Sampler,
    optional_range,
    positive,
    positive_int,
    randn_like,
)


def _noise(value: Any) -> float | str:
    if value == "ula":
        return "ula"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"noise must be a number >= 0 or 'ula', got {value!r}")
    return float(value)


def _optional_positive(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        positive(instance, attribute, value)


@define(kw_only=True)
class Langevin(Sampler):
    """Stochastic gradient Langevin dynamics with the IGEBM update (the paper's defaults).

    Each step adds N(0, noise^2) noise, clips the input gradient per element to
    +-``grad_clip``, moves ``x - step_size * grad`` and clamps to ``clamp``. Step size and noise
    are independent, as in the official code. ``noise="ula"`` gives the textbook unadjusted
    Langevin algorithm, ``x - step_size * grad + sqrt(2 * step_size) * N(0, 1)``.
    """

    steps: int = field(default=60, validator=positive_int, metadata={"help": "Langevin steps per sample"})
    step_size: float = field(default=10.0, converter=float, validator=positive,
                             metadata={"help": "gradient step size (the paper's step_lr)"})
    noise: float | str = field(default=0.005, converter=_noise,
                               metadata={"help": "noise std added each step, or 'ula' for sqrt(2*step_size)"})
    grad_clip: float | None = field(default=0.01, validator=_optional_positive,
                                    metadata={"help": "clip each gradient element to +-grad_clip; none to disable"})
    clamp: tuple[float, float] | None = field(default=(0.0, 1.0), converter=optional_range,
                                              metadata={"help": "clamp samples to [low, high] after each step; none to disable"})

    def _move(self, energy: Energy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        values, grad = energy_and_grad(energy, x)
        step = grad if self.grad_clip is None else grad.clamp(-self.grad_clip, self.grad_clip)
        return x - self.step_size * step, values, grad

    def transition(self, energy: Energy, state: ChainState, generator: torch.Generator | None):
        x = state.x
        if self.noise == "ula":
            x, values, grad = self._move(energy, x)
            x = x + math.sqrt(2.0 * self.step_size) * randn_like(x, generator)
        else:
            if self.noise > 0:
                x = x + self.noise * randn_like(x, generator)
            x, values, grad = self._move(energy, x)
        if self.clamp is not None:
            x = x.clamp(*self.clamp)
        return ChainState(energy.constrain(x), values, grad), None
