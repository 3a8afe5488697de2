"""`TaskContext`: what a task receives, and the helpers every task needs once.

A task's ``run(ctx)`` gets the built parts (data, energy, sampler, buffer), the run's generator,
device and folder, a logger and progress phases, and ``train()`` / ``load_checkpoint(path)``,
which give a `energyflow.training.Trainer`. The helpers bind labels, draw chain starts
(uniform noise, the training mean, or replay-buffer states with a restart share) and run the
sampler in batches with progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from attrs import define, field

from energyflow.core.energy import Energy
from energyflow.data.dataset import TensorData
from energyflow.errors import RunError
from energyflow.registry.build import BuildContext
from energyflow.samplers.starts import (
    bind_labels,
    takes_labels,
    to_device,
    uniform_starts,
)

if TYPE_CHECKING:
    from energyflow.buffers.replay import ReplayBuffer
    from energyflow.recipe.model import Recipe
    from energyflow.samplers.base import Sampler
    from energyflow.training.trainer import Trainer

Advance = Callable[[int], None]
_RUN_DATA: Any = object()
ChainInit = Literal["uniform", "mean", "buffer"]


@define(kw_only=True)
class TaskContext:
    """What a task's ``run(ctx)`` receives.

    Attributes:
        recipe: the validated recipe.
        data: the built dataset.
        energy: the built energy (before training; use the trainer's ``sampling_energy`` after).
        sampler, buffer: the built sampler and replay buffer (``None`` without such a table).
        generator: the run's seeded CPU generator; draw every random number from it.
        device: where modules and batches live.
        out_dir: the run folder (pictures, JSON).
        log: prints a line above the progress display (nothing when quiet).
        phase: ``with ctx.phase("name", total) as advance:`` shows a progress line.
        train: trains per ``[train]`` (resuming when asked) and returns the trainer.
        load_checkpoint: a trainer holding the weights saved at a path.
        write_json: writes an object as JSON into ``out_dir`` (atomically).
        named: the recipe's named energies, concepts and classifier (`energyflow.runtime.NamedEnergies`),
            trained or loaded on first use; ``None`` when the recipe declares none.
        builder: builds a component or spec in the run's context (see `build`).
    """

    recipe: Recipe
    data: TensorData
    energy: Energy | None
    sampler: Sampler | None
    buffer: ReplayBuffer | None
    generator: torch.Generator
    device: torch.device
    out_dir: Path
    log: Callable[[str], None] = field(default=lambda message: None)
    phase: Callable[..., contextlib.AbstractContextManager[Advance]] = field(default=None)
    train: Callable[[], Trainer] = field(default=None)
    load_checkpoint: Callable[[str | Path], Trainer] = field(default=None)
    write_json: Callable[[str, Any], Path] = field(default=None)
    named: Any = field(default=None)
    builder: Callable[..., Any] | None = field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.phase is None:
            self.phase = _silent_phase

    def build(self, component: Any, *, data: Any = _RUN_DATA, generator: torch.Generator | None = None,
              what: str | None = None) -> Any:
        """A component built as the run builds its own: a recipe `energyflow.recipe.Component` or a bare spec,
        with the run's device, seed and folder, ``data`` (default: the run's) and ``generator`` (default:
        the run's). A spec's ``ValueError`` becomes a `RunError` naming its table (or ``what``)."""
        if self.builder is not None:
            kwargs = {} if data is _RUN_DATA else {"data": data}
            return self.builder(component, generator=generator, what=what, **kwargs)
        spec = getattr(component, "spec", component)
        ctx = BuildContext(device=self.device, generator=generator or self.generator,
                           data=self.data if data is _RUN_DATA else data,
                           seed=getattr(getattr(self.recipe, "run", None), "seed", 0), out_dir=self.out_dir)
        try:
            return spec.build(ctx)
        except (ValueError, FileNotFoundError) as e:
            raise RunError(f"{what or type(spec).__name__}: {e}") from e

    # ------------------------------------------------------------------ labels
    @property
    def conditional(self) -> bool:
        """Whether the data has labels and the energy takes ``y``: tasks bind labels then."""
        return takes_labels(self.energy, self.data)

    def draw_labels(self, n: int) -> torch.Tensor | None:
        """Labels for ``n`` samples, drawn like the training labels (``None`` if unconditional)."""
        if not self.conditional:
            return None
        idx = torch.randint(self.data.train.shape[0], (n,), generator=self.generator)
        return self.data.train_labels[idx]

    @staticmethod
    def bind(energy: Energy, labels: torch.Tensor | None) -> Energy:
        """``energy`` conditioned on labels or attribute vectors (unchanged for ``None``)."""
        return bind_labels(energy, labels)

    # ------------------------------------------------------------------ chains
    def chain_starts(self, n: int, init: ChainInit = "uniform", *, labels: torch.Tensor | None = None,
                     reinit_prob: float = 0.0) -> torch.Tensor:
        """``n`` chain starts on the CPU.

        Args:
            n: how many.
            init: ``uniform`` noise over the data's value range (IGEBM), the training ``mean``,
                or ``buffer`` states (by ``labels`` when the buffer takes labels).
            labels: the classes (or contexts) of the starts, for a buffer that takes labels.
            reinit_prob: with ``buffer``, the share restarted from the buffer's noise.
        """
        if init == "uniform":
            return uniform_starts(n, self.data.sample_shape, self.data.value_range, self.generator)
        if init == "mean":
            return self.data.train.mean(0, keepdim=True).expand(n, *self.data.sample_shape).clone()
        if init != "buffer":
            raise ValueError(f"chain_starts: init must be uniform, mean or buffer, got {init!r}")
        if self.buffer is None:
            raise RunError(f"{self.recipe.source}: starting chains from the buffer needs a [buffer] table")
        by_class = labels if self.buffer.uses_labels else None
        if self.buffer.uses_labels and by_class is None:
            by_class = self.draw_labels(n)
        return self.buffer.sample(n, labels=by_class, generator=self.generator, reinit_prob=reinit_prob)

    @property
    def sampler_name(self) -> str:
        """The recipe's sampler as picture titles and axes name it (``"Langevin"``, ``"MALA"``)."""
        kind = getattr(getattr(self.recipe, "sampler", None), "kind", "sampler")
        return " ".join(SAMPLER_WORDS.get(word, word) for word in kind.split("_"))

    def steps_text(self, steps: int | None = None) -> str:
        """``"20 Langevin steps"``: ``steps`` (default: the sampler's own) of the recipe's sampler, for titles."""
        n = getattr(self.sampler, "steps", 0) if steps is None else steps
        return f"{n} {self.sampler_name} step{'' if n == 1 else 's'}"

    def sample(self, energy: Energy, x0: torch.Tensor, labels: torch.Tensor | None = None, *,
               steps: int | None = None, batch_size: int = 256, description: str = "sample",
               energy_for: Callable[[Energy, slice], Energy] | None = None) -> torch.Tensor:
        """Run the recipe's sampler from ``x0`` in batches; the final states on the CPU.

        Each batch samples ``energy`` bound to its ``labels``; ``energy_for(energy, rows)`` may
        give each batch its own energy first (say, a mask over those rows).
        """
        if self.sampler is None:
            raise RunError(f"{self.recipe.source}: sampling needs a [sampler] table")
        steps = self.sampler.steps if steps is None else steps
        out = []
        with self.phase(description, x0.shape[0] * steps) as advance:
            for start in range(0, x0.shape[0], batch_size):
                rows = slice(start, start + batch_size)
                batch_energy = energy_for(energy, rows) if energy_for else energy
                labelled = self.bind(batch_energy, to_device(None if labels is None else labels[rows], self.device))
                x = x0[rows].to(self.device)
                out.append(self.sampler.sample(labelled, x, steps=steps, generator=self.generator,
                                               callback=lambda *_, c=x.shape[0]: advance(c)).cpu())
        return torch.cat(out) if out else x0[:0]

    @torch.no_grad()
    def mean_energy(self, energy: Energy, x: torch.Tensor, labels: torch.Tensor | None = None,
                    batch_size: int = 512) -> float:
        """The mean energy of ``x`` (bound to ``labels``), evaluated in batches on the device."""
        values = []
        for start in range(0, x.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            bound = self.bind(energy, to_device(None if labels is None else labels[rows], self.device))
            values.append(bound(x[rows].to(self.device)).cpu())
        return float(torch.cat(values).mean())

    def pick_test(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` test samples (and their labels) chosen with the run's generator."""
        test = self.data.test
        idx = torch.randperm(test.shape[0], generator=self.generator)[: min(n, test.shape[0])]
        return test[idx], (self.data.test_labels[idx] if self.data.test_labels is not None else None)


#: How sampler kinds read in picture titles.
SAMPLER_WORDS = {"langevin": "Langevin", "mala": "MALA", "hmc": "HMC"}


@contextlib.contextmanager
def _silent_phase(description: str, total: int | None = None) -> Iterator[Advance]:
    yield lambda n=1: None
