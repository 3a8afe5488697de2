"""The one sampler loop; each sampler supplies a single transition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from attrs import define, field

from energyflow.core.energy import Energy, energy_and_grad

Callback = Callable[[int, torch.Tensor], Any]


def randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, drawn from ``generator`` wherever it lives."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def rand(n: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """``n`` uniforms on [0, 1) on ``like``'s device and dtype."""
    device = generator.device if generator is not None else like.device
    return torch.rand(n, generator=generator, device=device, dtype=like.dtype).to(like.device)


def per_sample_sum(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


@define
class ChainState:
    """Positions with their energies and energy gradients (``None`` until computed)."""

    x: torch.Tensor
    energy: torch.Tensor | None = None
    grad: torch.Tensor | None = None

    def evaluate(self, energy: Energy) -> ChainState:
        if self.energy is None or self.grad is None:
            self.energy, self.grad = energy_and_grad(energy, self.x)
        return self


def positive_int(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def positive(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{attribute.name} must be a number > 0, got {value!r}")


def optional_range(value: Any) -> tuple[float, float] | None:
    """Converter: ``None`` or a ``(low, high)`` pair with low < high."""
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"expected a [low, high] pair or none, got {value!r}") from e
    if not low < high:
        raise ValueError(f"expected low < high, got [{low}, {high}]")
    return (low, high)


@define(kw_only=True)
class Sampler:
    """Base class: runs ``steps`` transitions from ``x0`` and records statistics.

    Subclasses define the fields ``steps`` and their own options, and implement
    :meth:`transition`. ``last_stats`` holds the statistics of the most recent ``sample`` call.
    """

    last_stats: dict[str, float] = field(factory=dict, init=False, repr=False, eq=False)

    def transition(
        self, energy: Energy, state: ChainState, generator: torch.Generator | None
    ) -> tuple[ChainState, torch.Tensor | None]:
        """One move; returns the new state and, for Metropolis samplers, per-chain acceptance."""
        raise NotImplementedError

    def sample(
        self,
        energy: Energy,
        x0: torch.Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
    ) -> torch.Tensor:
        """Draw approximate samples from exp(-E) by running chains started at ``x0``.

        Args:
            energy: the energy to sample; masked positions stay at their observed values.
            x0: chain starts, shape ``(batch, ...)``; not modified.
            steps: number of transitions (default: the sampler's ``steps``).
            generator: source of all randomness.
            callback: called as ``callback(step, x)`` after every transition.

        Returns:
            The final chain positions, detached from any graph.
        """
        energy.check_samplable()
        if not isinstance(x0, torch.Tensor) or x0.dim() < 1:
            raise ValueError(f"{type(self).__name__}.sample: x0 must be a tensor of shape (batch, ...), got {x0!r}")
        steps = self.steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"{type(self).__name__}.sample: steps must be an integer >= 0, got {steps!r}")
        state = ChainState(energy.constrain(x0.detach().clone()))
        accepted: list[torch.Tensor] = []
        for step in range(steps):
            state, acceptance = self.transition(energy, state, generator)
            if acceptance is not None:
                accepted.append(acceptance.float().mean())
            if callback is not None:
                callback(step, state.x)
        self.last_stats = self.statistics(state, accepted)
        return state.x.detach()

    def statistics(self, state: ChainState, accepted: list[torch.Tensor]) -> dict[str, float]:
        stats: dict[str, float] = {}
        if state.energy is not None:
            stats["sample_energy"] = float(state.energy.mean())
        if state.grad is not None:
            stats["sample_grad_norm"] = float(state.grad.flatten(1).norm(dim=1).mean())
        if accepted:
            stats["acceptance_rate"] = float(torch.stack(accepted).mean())
        return stats
