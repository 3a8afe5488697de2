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
(`energyflow.cpu_passes`), and 4-d inputs are laid out channels-last, which oneDNN's
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
import types
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from attrs import define, field

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.cpu_passes import PASSES, inductor_options

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
        passes: the `energyflow.cpu_passes` to run (all by default; fewer to measure each one).
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
