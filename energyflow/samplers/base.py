"""The one sampler loop; each sampler supplies a single transition."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs
import torch
from attrs import define, frozen

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.samplers.fast_path import CompileMode, FastPath

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


def interval(instance: Any, attribute: Any, value: Any) -> None:
    """Validator: a ``(low, high)`` pair of numbers with low < high (``None`` and ``"data"`` pass)."""
    if value is None or value == "data":
        return
    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(b, (int, float)) for b in value)):
        raise TypeError(f"must be a [low, high] pair of numbers, none or \"data\", got {value!r}")
    if not value[0] < value[1]:
        raise ValueError(f"must have low < high, got [{value[0]}, {value[1]}]")


def as_pair(value: Any) -> Any:
    """Converter: a list becomes a tuple (TOML and Python callers alike); anything else is kept."""
    return tuple(value) if isinstance(value, list) else value


@define
class ChainState:
    """Positions with the energies and energy gradients *at those positions* (``None`` until computed)."""

    x: torch.Tensor
    energy: torch.Tensor | None = None
    grad: torch.Tensor | None = None
    step: int = 0  # transitions this run has taken to reach x (step-size schedules read it)

    def evaluate(self, energy: Energy) -> ChainState:
        if self.energy is None or self.grad is None:
            self.energy, self.grad = energy_and_grad(energy, self.x)
        return self


@frozen
class SampleResult:
    """What a sampler run returns: the final positions and the run's statistics.

    Attributes:
        x: final chain positions, detached.
        stats: ``acceptance_rate`` (Metropolis samplers) and, when evaluated, ``sample_energy``
            and ``sample_grad_norm`` at ``x``.
        energy, grad: the energies and their gradients at ``x`` where the run has them (the last
            transition computed them, or ``evaluate``), else ``None``.
    """

    x: torch.Tensor
    stats: dict[str, float]
    energy: torch.Tensor | None = None
    grad: torch.Tensor | None = None


class Sampler:
    """Base class: runs ``steps`` transitions from ``x0``.

    Subclasses are specs (attrs classes, dataclasses or plain classes) with a ``steps`` option
    and implement :meth:`transition`. A sampler holds only its settings; what a run measured
    comes back in its `SampleResult`, so one sampler serves training and evaluation alike.
    """

    steps: int

    def build(self, ctx: Any) -> Sampler:
        """The sampler for a run: this spec, with every ``"data"`` range (``clamp``, ``bounds``) set to
        the run's data value range (``None`` where the run has no data), compiled as the run's
        ``compile`` says (`compiled`, with ``ctx.compile``, default ``"auto"``; the planned work is
        ``ctx.iterations`` times ``steps``; decisions go to ``ctx.log``)."""
        built = self
        if attrs.has(type(self)):
            data = getattr(ctx, "data", None)
            value_range = None if data is None else tuple(float(b) for b in data.value_range)
            built = attrs.evolve(self, **{f.alias: value_range for f in attrs.fields(type(self))
                                          if f.init and getattr(self, f.name) == "data"})
        iterations, steps = getattr(ctx, "iterations", None), getattr(built, "steps", None)
        planned = iterations * steps if isinstance(iterations, int) and isinstance(steps, int) else None
        return built.compiled(getattr(ctx, "compile", "auto"), planned_steps=planned, log=getattr(ctx, "log", None))

    def compiled(self, mode: CompileMode = True, *, planned_steps: int | None = None,
                 log: Callable[[str], Any] | None = None) -> Sampler:
        """A copy of this sampler whose chains evaluate the energy and its gradient through a compiled
        step (see `energyflow.samplers.fast_path`): ``mode`` ``True`` compiles at the first run, ``"auto"`` where
        the work pays the compile back (``planned_steps``: transitions expected in all, if known) and
        a probe shows it faster, ``False`` never. Compiled steps are kept per energy structure and
        chain shape, for the copy's lifetime; ``log`` receives the decisions and compile times."""
        if mode not in (True, False, "auto"):
            raise ValueError(f"{type(self).__name__}.compiled: mode must be true, false or \"auto\", got {mode!r}")
        twin = attrs.evolve(self) if attrs.has(type(self)) else copy.copy(self)
        twin.__dict__["_fast_path"] = FastPath(mode, planned_steps=planned_steps, log=log)
        return twin

    def fast_path(self) -> FastPath:
        """This sampler's compiled steps and compile policy (off unless made by `compiled` or `build`)."""
        fast = self.__dict__.get("_fast_path")
        if fast is None:
            fast = self.__dict__["_fast_path"] = FastPath(False)
        return fast

    def transition(
        self, energy: Energy, state: ChainState, generator: torch.Generator | None
    ) -> tuple[ChainState, torch.Tensor | None]:
        """One move; returns the new state and, for Metropolis samplers, per-chain acceptance."""
        raise NotImplementedError

    def sample(self, energy: Energy, x0: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """The final positions of `run` (same arguments), without statistics."""
        return self.run(energy, x0, evaluate=False, **kwargs).x

    def run(
        self,
        energy: Energy,
        x0: torch.Tensor,
        *,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        callback: Callback | None = None,
        evaluate: bool = True,
        start: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> SampleResult:
        """Run chains started at ``x0`` towards exp(-E).

        Args:
            energy: the energy to sample; masked positions stay at their observed values.
            x0: chain starts, shape ``(batch, ...)``; not modified.
            steps: number of transitions (default: the sampler's ``steps``).
            generator: source of all randomness.
            callback: called as ``callback(step, x)`` after every transition.
            evaluate: compute the energy and gradient at the final positions for the statistics
                (one more evaluation, unless the last transition already made it).
            start: the energies and gradients of ``energy`` at ``x0``, if the caller has them, so the
                first transition does not evaluate ``x0`` again (``x0`` must then satisfy the
                energy's constraints: `Energy.constrain` leaves it as it is).
        """
        energy.check_samplable()
        name = type(self).__name__
        if not isinstance(x0, torch.Tensor) or x0.dim() < 1:
            raise ValueError(f"{name}.sample: x0 must be a tensor of shape (batch, ...), got {x0!r}")
        steps = self.steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"{name}.sample: steps must be an integer >= 0, got {steps!r}")
        if start is None:
            state = ChainState(energy.constrain(x0.detach().clone()))
        else:
            state = ChainState(x0.detach().clone(), start[0].detach(), start[1].detach())
        accepted: list[torch.Tensor] = []
        # no graph outlives a step, no .grad is touched, nothing is read back to the host until the end
        with self.fast_path().run(energy, state.x, steps) as chain_energy:
            for step in range(steps):
                state, acceptance = self.transition(chain_energy, state, generator)
                state.step = step + 1
                if acceptance is not None:
                    accepted.append(acceptance.float().mean())
                if callback is not None:
                    callback(step, state.x)
            if evaluate:
                state.evaluate(chain_energy)
        stats: dict[str, float] = {}
        if accepted:
            stats["acceptance_rate"] = float(torch.stack(accepted).mean())
        if evaluate:
            stats["sample_energy"] = float(state.energy.mean())
            stats["sample_grad_norm"] = float(state.grad.flatten(1).norm(dim=1).mean())
        return SampleResult(state.x.detach(), stats, state.energy, state.grad)
