"""The samplers' fast path: a compiled energy-and-gradient step, used where it pays.

A sampler made by ``sampler.compiled(mode)`` (a run makes it from ``[run] compile``) evaluates
its chains' ``(E(x), dE/dx)`` in one of three ways:

- ``False``: eager autograd, as `energyflow.core.energy.energy_and_grad` does it.
- ``True``: ``torch.compile`` of ``torch.func.grad(E, has_aux=True)``, traced whole
  (``fullgraph``), once per energy structure and chain shape. An energy that cannot be traced
  whole (data-dependent Python, ``.item()``, autograd inside ``forward``) stays eager, and the
  log says why.
- ``"auto"``: eager until the work still planned is large enough to pay a compile back (the
  measured eager step time times this shape's share of the steps still planned, against an
  estimate of a cold compile; without a plan, or past it, once the eager time already spent would
  have paid), then compiled; a probe then alternates compiled and eager runs (all of them real work) and
  keeps the compiled step only if it is faster.
  Short runs never compile.

On the CPU the compiled step runs its large fp32 matrix products through oneDNN rather than
ATen's BLAS and skips reading inputs a convolution's input gradient does not need
(`energyflow.samplers.cpu_passes`), and 4-d inputs are laid out channels-last, which oneDNN's
convolutions run fastest in; the gradient comes back in the layout of ``x``. Compiled and eager
steps agree to rounding (``allclose``), not bit for bit, so ``"auto"`` trades bit-exact
repetition across runs for speed; ``true`` and ``false`` are deterministic.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from attrs import define, field

from energyflow.core.energy import Energy
from energyflow.samplers.compiled_step import (
    CompiledEnergy,
    CompiledStep,
    frozen_parameters,
)

CompileMode = bool | Literal["auto"]

log = logging.getLogger(__name__)

#: "auto" compiles when this fraction of the eager time still planned exceeds the compile time
#: estimate (with no plan: of the eager time already spent, the ski-rental rule).
ASSUMED_GAIN = 0.2
#: a probed compiled step is kept only if it takes less than this fraction of the eager step time
KEEP_BELOW = 0.97
#: compile time estimate (seconds): a fixed part plus a part per module of the energy, fitted to
#: cold compiles (empty inductor cache) of the benchmark workloads on a busy 2-core CPU (MLP: 9
#: modules, 17 s; digits CNN: 18, 31 s; ResNet32: 57, 42-57 s). Counting modules runs nothing,
#: so an energy with state (spectral norm) sees exactly the calls it would see eager.
COMPILE_BASE_S = 14.0
COMPILE_PER_MODULE_S = 0.6
#: eager runs timed before "auto" decides whether to compile (the first pays one-off costs)
EAGER_RUNS = 3
#: compiled and eager runs, alternating, timed before "auto" settles between them
PROBE_RUNS = 3
#: calls a compiled step may hand to eager (a guard failed) before it is given up
MAX_MISSES = 3


def compile_estimate(energy: Energy) -> float:
    """Seconds a cold compile of ``energy``'s energy-and-gradient step is expected to take."""
    return COMPILE_BASE_S + COMPILE_PER_MODULE_S * sum(1 for _ in energy.modules())


def structure_key(energy: Energy, x: torch.Tensor) -> tuple:
    """What a compiled step is specialised to: the module types, parameter and buffer shapes, and
    the chains' shape, dtype and device (not the values, and not which module instance)."""
    return (
        tuple(type(m) for m in energy.modules()),
        tuple((tuple(t.shape), t.dtype) for t in energy.parameters()),
        tuple((tuple(t.shape), t.dtype) for t in energy.buffers()),
        tuple(x.shape), x.dtype, x.device,
    )


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@define
class StepRecord:
    """One energy structure and chain shape: what its chains ran, how fast, and what was decided."""

    shape: tuple[int, ...]
    state: Literal["eager", "probing", "compiled", "failed", "slower"] = "eager"
    eager_step_s: list[float] = field(factory=list)
    probe_eager_s: list[float] = field(factory=list)
    compiled_step_s: list[float] = field(factory=list)
    eager_total_s: float = 0.0
    steps_done: int = 0
    compile_s: float | None = None
    estimate_s: float | None = None
    reason: str = ""
    step: CompiledStep | None = field(default=None, repr=False)

    def eager_step(self) -> float | None:
        """Median eager seconds per step, the first (warm-up) run left out where there are more."""
        return _median(self.eager_step_s[1:] or self.eager_step_s)

    def summary(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "state": self.state, "compile_s": self.compile_s,
                "compile_estimate_s": self.estimate_s, "eager_step_s": self.eager_step(),
                "probe_eager_step_s": _median(self.probe_eager_s), "compiled_step_s": _median(self.compiled_step_s),
                "steps": self.steps_done, "reason": self.reason}


class FastPath:
    """A sampler's compiled steps, one per energy structure and chain shape, and the "auto" policy.

    Args:
        mode: ``True``, ``False`` or ``"auto"`` (see the module docstring).
        planned_steps: transitions the owner expects to run in all (a run: iterations times
            sampler steps); ``None`` when unknown.
        log: where decisions and compile times are reported (a run's log; default: ``logging``).
    """

    def __init__(self, mode: CompileMode, planned_steps: int | None = None, log: Callable[[str], Any] | None = None):
        self.mode = mode
        self.planned_steps = planned_steps
        self._log = log
        self.records: dict[tuple, StepRecord] = {}
        self.steps_done = 0  # over every structure and shape: the plan is one budget for all of them
        self.make_step: Callable[[], CompiledStep] = CompiledStep  # one per energy structure and shape

    def report(self, message: str) -> None:
        (self._log or log.info)(message)

    def summary(self) -> list[dict[str, Any]]:
        """One entry per energy structure and chain shape seen: state, step times, compile time, reason."""
        return [r.summary() for r in self.records.values()]

    @contextlib.contextmanager
    def run(self, energy: Energy, x: torch.Tensor, steps: int) -> Iterator[Energy]:
        """Yields the energy the chains use for ``steps`` transitions from ``x`` (compiled or not) and
        times the run while the policy still needs times (one clock read per run, not per step)."""
        if self.mode is False or steps == 0:
            yield energy
            return
        record = self.records.setdefault(structure_key(energy, x), StepRecord(tuple(x.shape)))
        if record.state == "eager" and self._should_compile(record, energy):
            record.step = self.make_step()
            record.state = "probing" if self.mode == "auto" else "compiled"
        use = record.state == "compiled" or (
            record.state == "probing" and len(record.compiled_step_s) <= len(record.probe_eager_s))
        compiling = use and record.step.compile_s is None
        timed = not compiling and (record.state == "probing" or (record.state == "eager" and self.mode == "auto"))
        started = time.perf_counter()
        if use:
            with frozen_parameters(energy):  # one graph for the live energy and its frozen EMA copy
                yield CompiledEnergy(energy, record.step)
        else:
            yield energy
        record.steps_done += steps
        self.steps_done += steps
        if use and self._check(record):
            return
        if not timed:
            return
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)  # once per timed run, never per step
        per_step = (time.perf_counter() - started) / steps
        if record.state == "probing":
            (record.compiled_step_s if use else record.probe_eager_s).append(per_step)
            if min(len(record.compiled_step_s), len(record.probe_eager_s)) >= PROBE_RUNS:
                self._settle(record)
        else:
            record.eager_step_s.append(per_step)
            record.eager_total_s += per_step * steps

    def _should_compile(self, record: StepRecord, energy: Energy) -> bool:
        if self.mode is True:
            return True
        if len(record.eager_step_s) < EAGER_RUNS:
            return False
        if record.estimate_s is None:
            record.estimate_s = compile_estimate(energy)
        remaining = 0 if self.planned_steps is None else self.planned_steps - self.steps_done
        if remaining > 0:
            # this shape's expected part of the rest of the plan is its share of the steps so far: a
            # shape met once (a short last batch, an evaluation batch) is not compiled on the plan's word
            share = record.steps_done / self.steps_done
            return ASSUMED_GAIN * record.eager_step() * share * remaining > record.estimate_s
        # no plan, or past it: compile once the eager time already spent would have paid (ski rental)
        return ASSUMED_GAIN * record.eager_total_s > record.estimate_s

    def _check(self, record: StepRecord) -> bool:
        """Report a compile that just happened or failed; True when the compiled step is given up."""
        step, shape = record.step, "x".join(map(str, record.shape))
        if step.failed is not None:
            record.state, record.step, record.reason = "failed", None, step.failed
            self.report(f"compile: the energy-and-gradient step for {shape} stays eager ({step.failed})")
            return True
        if record.compile_s is None and step.compile_s is not None:
            record.compile_s = step.compile_s
            self.report(f"compile: compiled the energy-and-gradient step for {shape} in {step.compile_s:.1f} s")
        if step.misses >= MAX_MISSES:
            record.state, record.step = "failed", None
            record.reason = f"the energy changed between calls {step.misses} times (it would recompile)"
            self.report(f"compile: the energy-and-gradient step for {shape} goes back to eager ({record.reason})")
            return True
        return False

    def _settle(self, record: StepRecord) -> None:
        eager, compiled = statistics.median(record.probe_eager_s), statistics.median(record.compiled_step_s)
        shape = "x".join(map(str, record.shape))
        ratio = eager / compiled if compiled > 0 else math.inf
        if compiled < KEEP_BELOW * eager:
            record.state, record.reason = "compiled", f"{ratio:.2f}x eager"
            self.report(f"compile: keeping the compiled step for {shape} ({ratio:.2f}x eager)")
        else:
            record.state, record.step = "slower", None
            record.reason = f"compiled {ratio:.2f}x eager, not faster"
            self.report(f"compile: the compiled step for {shape} is not faster ({ratio:.2f}x eager); staying eager")
