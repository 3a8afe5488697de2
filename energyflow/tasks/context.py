"""`TaskContext`: what a task receives, and the helpers every task needs once.

A task's ``run(ctx)`` gets the built parts (data, energy, sampler, buffer), the run's generator,
device and folder, a logger and progress phases, and ``train()`` / ``load_checkpoint(path)``,
which give a `energyflow.train.ContrastiveDivergence`. The helpers bind labels, draw chain starts
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

from energyflow.chains import bind_labels, on, uniform_starts
from energyflow.core.energy import Energy
from energyflow.data.dataset import TensorData

if TYPE_CHECKING:
    from energyflow.buffers.replay import ReplayBuffer
    from energyflow.recipe import Recipe
    from energyflow.samplers.base import Sampler
    from energyflow.train import ContrastiveDivergence

Advance = Callable[[int], None]
ChainInit = Literal["uniform", "mean", "buffer"]


class Task:
    """Base of task specs: ``build(ctx)`` returns the spec itself; ``run(ctx)`` returns the metrics.

    ``requires`` names the recipe tables the task needs (``energyflow check`` insists on them).
    """

    requires: tuple[str, ...] = ()

    def build(self, ctx: Any) -> Task:
        return self

    def run(self, ctx: TaskContext) -> dict[str, float]:
        raise NotImplementedError


class RunError(RuntimeError):
    """A run or task cannot go on for a reason the user can fix; the CLI prints it as one line."""


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
        named: the recipe's named energies, concepts and classifier (`energyflow.ensemble.Named`),
            trained or loaded on first use; ``None`` when the recipe declares none.
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
    train: Callable[[], ContrastiveDivergence] = field(default=None)
    load_checkpoint: Callable[[str | Path], ContrastiveDivergence] = field(default=None)
    write_json: Callable[[str, Any], Path] = field(default=None)
    named: Any = field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.phase is None:
            self.phase = _silent_phase

    # ------------------------------------------------------------------ labels
    @property
    def conditional(self) -> bool:
        """Whether the data has labels and the energy takes ``y``: tasks bind labels then."""
        if self.energy is None:
            return False
        accepted = self.energy.accepted_context()
        return self.data.conditional and (accepted is None or "y" in accepted)

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
                or ``buffer`` states (by ``labels`` when the buffer is per class).
            labels: the classes of the starts, for a per-class buffer.
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
        by_class = labels if self.buffer.per_class else None
        if self.buffer.per_class and by_class is None:
            by_class = self.draw_labels(n)
        return self.buffer.sample(n, labels=by_class, generator=self.generator, reinit_prob=reinit_prob)

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
                labelled = self.bind(batch_energy, on(None if labels is None else labels[rows], self.device))
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
            bound = self.bind(energy, on(None if labels is None else labels[rows], self.device))
            values.append(bound(x[rows].to(self.device)).cpu())
        return float(torch.cat(values).mean())

    def pick_test(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` test samples (and their labels) chosen with the run's generator."""
        test = self.data.test
        idx = torch.randperm(test.shape[0], generator=self.generator)[: min(n, test.shape[0])]
        return test[idx], (self.data.test_labels[idx] if self.data.test_labels is not None else None)


def train_metrics(trainer: ContrastiveDivergence) -> dict[str, float]:
    """The last training step's loss, energies and gap (empty for a trainer that never stepped)."""
    stats = trainer.last_stats
    out = {k: float(stats[k]) for k in ("loss", "e_pos", "e_neg") if k in stats}
    if "e_pos" in out and "e_neg" in out:
        out["gap"] = out["e_neg"] - out["e_pos"]
    return out


@contextlib.contextmanager
def _silent_phase(description: str, total: int | None = None) -> Iterator[Advance]:
    yield lambda n=1: None
