"""The compiled energy-and-gradient step: ``torch.compile`` of ``torch.func.grad(E, has_aux=True)``.

`CompiledStep` traces an energy whole (``fullgraph``), once per energy structure and chain
shape, and runs the CPU passes of `energyflow.samplers.cpu_passes`; 4-d inputs go channels-last.
`CompiledEnergy` is the energy a chain sees while a compiled step serves it. When to compile is
`energyflow.samplers.fast_path`'s decision.
"""

from __future__ import annotations

import contextlib
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.samplers.cpu_passes import PASSES, inductor_options


def _value_and_grad(energy: Energy, x: torch.Tensor, context: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    def total(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = energy(x, **context)
        return values.sum(), values

    grad, values = torch.func.grad(total, has_aux=True)(x)
    return values, grad


def _fresh_function(fn: Callable) -> Callable:
    """A copy of ``fn`` with its own code object, so dynamo keeps a separate cache (and recompile
    budget) for each compiled step instead of one shared by every energy and shape."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


class CompiledStep:
    """``(energy, x, **context) -> (E(x), dE/dx)`` through one ``torch.compile``d graph.

    The first call compiles (timed in ``compile_s``) and is the chain's own evaluation, not an
    extra one, so energies with state (spectral norm's power iteration) see the same calls as
    eager. If the energy cannot be traced whole, that call and every later one run eager and
    ``failed`` says why. Afterwards a call that would need another graph (a guard failed: another
    structure, a changed Python attribute) is not recompiled: it runs eager and ``misses`` counts
    it, so a compiled step never spends compile time its owner did not plan for.

    Args:
        passes: the `energyflow.samplers.cpu_passes` to run (all by default; fewer to measure each one).
        channels_last: lay 4-d CPU inputs out channels-last for the graph.
    """

    def __init__(self, passes: tuple[str, ...] = tuple(PASSES), channels_last: bool = True) -> None:
        self._fn = torch.compile(_fresh_function(_value_and_grad), dynamic=False, fullgraph=True,
                                 options=inductor_options(passes))
        self.channels_last = channels_last
        self.compile_s: float | None = None
        self.failed: str | None = None
        self.misses = 0

    def __call__(self, energy: Energy, x: torch.Tensor, **context: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.compile_s is not None:
            try:
                with torch.compiler.set_stance("fail_on_recompile"):
                    return self._call(energy, x, context)
            except Exception:  # noqa: BLE001  a guard failed (or the energy raised, and eager says so again)
                self.misses += 1
                return energy_and_grad(energy, x, **context)
        if self.failed is None:
            started = time.perf_counter()
            try:
                out = self._call(energy, x, context)
            except Exception as e:  # noqa: BLE001  dynamo and inductor raise many kinds; eager always works
                text = str(e).strip()
                self.failed = f"{type(e).__name__}: {text.splitlines()[0][:200] if text else ''}"
            else:
                self.compile_s = time.perf_counter() - started
                return out
        return energy_and_grad(energy, x, **context)

    def _call(self, energy: Energy, x: torch.Tensor, context: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        four_d_cpu = self.channels_last and x.dim() == 4 and x.device.type == "cpu"
        inp = x.contiguous(memory_format=torch.channels_last) if four_d_cpu else x
        with torch.no_grad():
            values, grad = self._fn(energy, inp, context)
        if inp is not x and x.is_contiguous():
            grad = grad.contiguous()
        return values, grad


class CompiledEnergy(Energy):
    """``energy`` whose `energy_and_grad` runs through ``step`` (what a sampler's chains see).

    Everything else (calling, ``constrain``, masks, context, printing) is ``energy``'s own.
    """

    def __init__(self, energy: Energy, step: Callable[..., tuple[torch.Tensor, torch.Tensor]]):
        super().__init__()
        self.energy = energy
        self._step = step

    def compiled_step(self, x: torch.Tensor, **context: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self._step(self.energy, x, **context)

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.energy(x, **context)

    def accepted_context(self) -> frozenset[str] | None:
        return self.energy.accepted_context()

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy.constrain(x)

    def clamps(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        return self.energy.clamps()

    def why_not_samplable(self) -> str | None:
        return self.energy.why_not_samplable()

    def formula(self) -> str:
        return self.energy.formula()


@contextlib.contextmanager
def frozen_parameters(module: torch.nn.Module) -> Iterator[None]:
    """Parameters stop requiring grad inside the block, then are restored.

    Compiled runs freeze them, so a guard on ``requires_grad`` does not split the live energy and
    its frozen EMA copy into two graphs (the graph runs without autograd either way). Eager runs do
    not: freezing saves the activations kept for weight gradients (about 15% of the peak memory
    of the ResNet benchmark) but made its eager steps 6-9% slower (`BENCHMARKS.md`).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
