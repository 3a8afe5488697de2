"""Runs a validated recipe: seeds, device, built parts, progress, outputs and checkpoints.

A `Run` builds every component of a `energyflow.recipe.Recipe` and hands the task a
`energyflow.TaskContext`. It writes to its folder: ``recipe.toml`` (the resolved recipe, to
repeat the run), ``metrics.json`` (the task's numbers), ``events.jsonl`` (one line per logged
training step), ``checkpoint.pt`` (written atomically every ``train.checkpoint_every`` steps and
at the end) and whatever pictures the task draws. The training loop is `TrainingLoop`'s; the
folder claim is `claim_folder`'s; named energies train as child runs (`Run.child`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from energyflow.errors import RunError
from energyflow.recipe.model import Component, Recipe
from energyflow.registry.build import BuildContext
from energyflow.registry.manager import get_plugin_manager, use_plugin_manager
from energyflow.runtime import checkpoints, progress
from energyflow.runtime.distributed import (
    decided_on_main,
    join_world,
    leave_world,
    rank_generator,
)
from energyflow.runtime.environment import choose_device, seed_everything
from energyflow.runtime.folder import claim_folder
from energyflow.runtime.named import NamedEnergies
from energyflow.runtime.training_loop import LabelTransform, TrainingLoop
from energyflow.samplers.starts import takes_labels
from energyflow.tasks import report
from energyflow.tasks.context import TaskContext
from energyflow.training.objectives import ContrastiveSpec
from energyflow.training.trainer import Trainer

#: ``build(..., data=RUN_DATA)``: the run's data (``None`` while the dataset itself is built)
RUN_DATA: Any = object()


class Run:
    """One execution of a recipe: builds the parts, hands the task a `TaskContext`, writes outputs.

    Attributes:
        recipe: the validated recipe.
        data, energy, sampler, buffer, objective, regularizers: the built components (``sampler`` and
            ``buffer`` are ``None`` when the recipe has no such table; ``objective`` is built when
            training starts). ``energy`` is on ``device``; the trainer applies the regularizers'
            ``prepare`` to it, once.
        device: where modules and batches live.
        generator: the run's seeded CPU generator; all randomness after building comes from it.
        out_dir: the run folder.
        quiet: no progress display and no log lines.
        extras: where plugins keep per-run state (the TensorBoard logger keeps its writer here).
    """

    def __init__(self, recipe: Recipe, *, out_dir: str | Path | None = None, quiet: bool = False,
                 resume: bool = False, force: bool = False, pm: Any = None, console: Console | None = None,
                 data: Any = None, energy: Any = None, display: Progress | None = None,
                 label_transform: LabelTransform | None = None):
        self.recipe = recipe
        self.pm = pm or get_plugin_manager()
        self.out_dir = Path(out_dir) if out_dir is not None else Path("runs") / recipe.name
        self.world = join_world()  # torchrun's processes; a single process otherwise
        fresh = not self.out_dir.exists()
        try:  # a rank that stops here leaves the process group (its threads must not outlive the interpreter)
            self.quiet = quiet or not self.world.is_main
            self.resume = resume
            # rank 0 alone decides about the folder it writes
            self.replace = decided_on_main(self.world, lambda: claim_folder(self.out_dir, resume=resume, force=force))
            self.console = console or Console()
            self.extras: dict[str, Any] = {}  # per-run state of plugins (a logger's writer)
            self.label_transform = label_transform  # applied to each training batch's labels (a named energy's)
            self.device = choose_device(recipe.run.device, self.world)
            self.generator = seed_everything(recipe.run.seed)  # the same on every rank while the parts are built
            self.progress = display or progress.make_progress(self.console, quiet=self.quiet)
            self._loop: TrainingLoop | None = None
            self._named: NamedEnergies | None = None
            self.data = data if data is not None else self.build(recipe.data, data=None)
            if energy is not None:  # built by the caller (a sum of named energies)
                self.energy = energy.to(self.device)
            else:
                self.energy = self.build(recipe.energy).to(self.device) if recipe.energy is not None else None
            self.regularizers = [self.build(c) for c in recipe.regularizers]
            self.sampler = self.build(recipe.sampler) if recipe.sampler is not None else None
            self.buffer = self.build(recipe.buffer) if recipe.buffer is not None else None
            self.task = self.build(recipe.task)
            if self.world.size > 1:  # from here on, each rank draws its own batches and chains
                self.generator = rank_generator(recipe.run.seed, self.world.rank)
        except BaseException:
            leave_world(self.world)
            if fresh and self.out_dir.is_dir() and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()  # a run that could not start leaves no empty folder behind
            raise

    # ------------------------------------------------------------------ building
    def build_context(self, *, data: Any = RUN_DATA, generator: torch.Generator | None = None) -> BuildContext:
        """The context a component of this run is built in (its ``data``, or the run's; the run's generator)."""
        return BuildContext(device=self.device, generator=generator or self.generator,
                            data=getattr(self, "data", None) if data is RUN_DATA else data, seed=self.recipe.run.seed,
                            out_dir=self.out_dir, compile=self.recipe.run.compile,
                            iterations=getattr(self.recipe.train, "iterations", None), log=self.log,
                            sampler=getattr(self, "sampler", None), buffer=getattr(self, "buffer", None))

    def build(self, component: Component | Any, *, data: Any = RUN_DATA, generator: torch.Generator | None = None,
              what: str | None = None) -> Any:
        """A recipe component (or a bare spec) built in `build_context`; a bad value is a `RunError` naming
        the table (or ``what``)."""
        spec = component.spec if isinstance(component, Component) else component
        try:
            return spec.build(self.build_context(data=data, generator=generator))
        except (ValueError, FileNotFoundError) as e:
            named = f"[{component.table}] ({component.kind})" if isinstance(component, Component) else what
            raise RunError(f"{self.recipe.source}: {named or type(spec).__name__}: {e}") from e

    def child(self, recipe: Recipe, out_dir: Path, *, data: Any, energy: Any = None,
              label_transform: LabelTransform | None = None) -> Run:
        """A run inside this one (a named energy's training): its own folder and recipe, this run's
        plugins, console, progress display and ``resume``; an existing folder is continued or replaced."""
        return Run(recipe, out_dir=out_dir, quiet=self.quiet, resume=self.resume, force=True, pm=self.pm,
                   console=self.console, data=data, energy=energy, display=self.progress,
                   label_transform=label_transform)

    # ------------------------------------------------------------------ the run
    def execute(self) -> dict[str, float]:
        """Write the resolved recipe, run the task, write ``metrics.json``; returns the metrics.

        Under torchrun, ranks other than 0 train with the others and return ``{}``: they write nothing.
        """
        if not self.world.is_main:
            return self._execute_helper_rank()
        if self.replace:
            shutil.rmtree(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        header = (f"Resolved recipe of run {self.recipe.name!r} (from {self.recipe.source}"
                  + "".join(f" --set {o}" for o in self.recipe.overrides) + "), every option spelled out.\n"
                  f"Repeat the run with: energyflow run {self.out_dir / 'recipe.toml'}")
        (self.out_dir / "recipe.toml").write_text(self.recipe.to_toml(header), encoding="utf-8")
        self.pm.hook.on_run_start(run=self)
        started, threads = time.perf_counter(), torch.get_num_threads()
        try:
            if self.recipe.run.threads:
                torch.set_num_threads(self.recipe.run.threads)
            with self.progress, use_plugin_manager(self.pm):  # a task resolving components sees the run's registries
                result = self.task.run(self.task_context())
        except Exception:
            kept = sorted(p.name for p in self.out_dir.iterdir())
            self.log(f"[yellow]the run stopped; {escape(str(self.out_dir))} keeps what it wrote: {', '.join(kept)}")
            raise
        finally:
            torch.set_num_threads(threads)
            leave_world(self.world)
        metrics = {key: float(value) for key, value in (result or {}).items()}
        if self.world.size > 1:
            metrics["world_size"] = float(self.world.size)
        compiled = self._compile_seconds()
        if compiled is not None:
            metrics["compile_s"] = compiled
        report.check_documented(self.task, metrics)
        self.write_json("metrics.json", metrics)
        self.log(f"done in {time.perf_counter() - started:.1f} s; wrote {self.out_dir}")
        self._summarise(metrics)
        self.pm.hook.on_run_end(run=self, metrics=metrics)
        return metrics

    def _compile_seconds(self) -> float | None:
        """Seconds the sampler spent compiling its energy-and-gradient steps, ``None`` if it compiled none."""
        fast_path = getattr(self.sampler, "fast_path", None)
        times = [r["compile_s"] for r in fast_path().summary() if r["compile_s"] is not None] if fast_path else []
        return float(sum(times)) if times else None

    def _execute_helper_rank(self) -> dict[str, float]:
        """A rank > 0: take part in training (the task's ``train()``), then stop without writing anything."""
        if self.recipe.run.threads:
            torch.set_num_threads(self.recipe.run.threads)
        ctx = self.task_context()
        ctx.load_checkpoint = _rank_done  # evaluation is rank 0's
        ctx.train = lambda: (self.train(), _rank_done())
        try:
            with use_plugin_manager(self.pm):
                self.task.run(ctx)
        except _RankDone:
            pass
        finally:
            leave_world(self.world)
        return {}

    def _summarise(self, metrics: dict[str, float]) -> None:
        """Write ``summary.txt`` (the task's plain sentences, the pictures to open) and print it."""
        lines = report.summary_lines(self.task, metrics, self.out_dir)
        path = self.out_dir / report.SUMMARY
        checkpoints.atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n", encoding="utf-8"))
        for line in lines:
            self.log(escape(line))

    def log(self, message: str) -> None:
        """Print a line above the progress display (nothing when quiet)."""
        if not self.quiet:
            self.console.print(message, soft_wrap=not self.console.is_terminal)  # whole lines in a file

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as JSON to ``out_dir/name`` (atomically) and return the path."""
        path = self.out_dir / name
        checkpoints.atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8"))
        return path

    def phase(self, description: str, total: int | None = None) -> Any:
        """A line in the progress display for work other than training; ``with`` it yields ``advance(n)``."""
        return progress.phase(self.progress, description, total)

    def task_context(self) -> TaskContext:
        """The typed context the task's ``run`` receives."""
        return TaskContext(recipe=self.recipe, data=self.data, energy=self.energy, sampler=self.sampler,
                           buffer=self.buffer, generator=self.generator, device=self.device, out_dir=self.out_dir,
                           log=self.log, phase=self.phase, train=self.train, load_checkpoint=self.load_checkpoint,
                           write_json=self.write_json, named=self.named, builder=self.build)

    @property
    def named(self) -> NamedEnergies | None:
        """The recipe's named energies, concepts and classifier, built on first use (``None`` without them)."""
        if self._named is None and (self.recipe.energies or self.recipe.classifier is not None):
            self._named = NamedEnergies(self)
        return self._named

    # ------------------------------------------------------------------ training
    @property
    def trainer(self) -> Trainer:
        """The run's `Trainer` over the built parts, by the recipe's objective (made once)."""
        return self.loop.trainer

    @property
    def loop(self) -> TrainingLoop:
        """The run's training loop, made with its trainer on first use."""
        if self._loop is None:
            if self.energy is None:
                raise RunError(f"{self.recipe.source}: this task trains the [energy] table's network, and the recipe "
                               "has none; add an [energy] table")
            objective = self.build(self.recipe.objective or ContrastiveSpec(), what="[objective] (cd)")
            trainer = self.recipe.train.trainer(self.energy, regularizers=self.regularizers, objective=objective)
            self.energy = trainer.energy
            self._loop = TrainingLoop(
                recipe=self.recipe, trainer=trainer, data=self.data, conditional=takes_labels(self.energy, self.data),
                device=self.device, generator=self.generator, world=self.world, out_dir=self.out_dir,
                progress=self.progress, log=self.log, label_transform=self.label_transform,
                on_step=lambda step, stats: self.pm.hook.on_step(run=self, step=step, metrics=stats),
            )
        return self._loop

    def train(self) -> Trainer:
        """Train ``train.iterations`` steps (continuing from the checkpoint with ``resume``); see `TrainingLoop`."""
        return self.loop.train(resume=self.resume)

    def load_checkpoint(self, path: str | Path) -> Trainer:
        """A trainer holding the weights, optimizer, buffer and EMA saved at ``path``."""
        state = checkpoints.read(Path(path))
        self.loop.load_trainer(state, Path(path))
        self.log(f"loaded {path} (step {self.trainer.step_count})")
        return self.trainer


class _RankDone(Exception):
    """A helper rank finished its share of the run."""


def _rank_done(*_: Any) -> Any:
    raise _RankDone


def run_recipe(recipe: Recipe, **kwargs: Any) -> dict[str, float]:
    """Build and execute a run of ``recipe`` (keyword arguments as for `Run`)."""
    return Run(recipe, **kwargs).execute()
