"""Runs a validated recipe: seeds, device, built parts, progress, outputs and checkpoints.

A `Run` builds every component of a `energyflow.recipe.Recipe` and hands itself to the task.
It writes to its folder: ``recipe.toml`` (the resolved recipe, to repeat the run),
``metrics.json`` (the task's numbers), ``events.jsonl`` (one line per logged training step),
``checkpoint.pt`` (written atomically every ``train.checkpoint_every`` steps and at the end) and
whatever pictures the task draws.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from energyflow import checkpoints
from energyflow.checkpoints import CHECKPOINT
from energyflow.components import BuildContext, build
from energyflow.distributed import (
    World,
    decided_on_main,
    join_world,
    leave_world,
    rank_generator,
    shard,
)
from energyflow.plugins import get_plugin_manager, use_plugin_manager
from energyflow.recipe import Component, Recipe
from energyflow.stopping import RunInterrupted, stop_requests
from energyflow.tasks.context import RunError, TaskContext

EVENTS = "events.jsonl"
#: a run refuses to start on a disk with less free space than this
MIN_FREE_BYTES = 64 * 2**20
#: files whose presence means a folder holds a run (which a new run must not replace silently)
RUN_FILES = ("recipe.toml", "metrics.json", EVENTS, CHECKPOINT)


def choose_device(name: str, world: World | None = None) -> torch.device:
    """``auto`` picks CUDA when available (under torchrun, the process's local GPU), else CPU; an unavailable
    device is a `RunError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", world.local_rank if world is not None and world.size > 1 else 0)
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"run.device = {name!r}, but CUDA is not available here; use \"auto\" or \"cpu\"")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RunError("run.device = 'mps', but MPS is not available here; use \"auto\" or \"cpu\"")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (for layer initialisation) and return the run's generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class Run:
    """One execution of a recipe: builds the parts, hands the task a `TaskContext`, writes outputs.

    Attributes:
        recipe: the validated recipe.
        data, energy, sampler, buffer, regularizers: the built components (``sampler`` and
            ``buffer`` are ``None`` when the recipe has no such table). ``energy`` is on ``device``;
            the trainer applies the regularizers' ``prepare`` to it, once.
        train_spec: the ``[train]`` spec.
        device: where modules and batches live.
        generator: the run's seeded CPU generator; all randomness after building comes from it.
        out_dir: the run folder.
        quiet: no progress display and no log lines.
        extras: where plugins keep per-run state (the TensorBoard logger keeps its writer here).
    """

    def __init__(self, recipe: Recipe, *, out_dir: str | Path | None = None, quiet: bool = False,
                 resume: bool = False, force: bool = False, pm: Any = None, console: Console | None = None,
                 data: Any = None, energy: Any = None):
        self.recipe = recipe
        self.pm = pm or get_plugin_manager()
        self.out_dir = Path(out_dir) if out_dir is not None else Path("runs") / recipe.name
        self.world = join_world()  # torchrun's processes; a single process otherwise
        try:  # a rank that stops here leaves the process group (its threads must not outlive the interpreter)
            self.quiet = quiet or not self.world.is_main
            self.resume = resume
            self.replace = decided_on_main(self.world, lambda: self._claim_folder(force))  # rank 0 writes the folder
            self.console = console or Console()
            self.train_spec = recipe.train
            self._trainer: Any = None
            self.extras: dict[str, Any] = {}  # per-run state of plugins (a logger's writer)
            self.device = choose_device(recipe.run.device, self.world)
            self.generator = seed_everything(recipe.run.seed)  # the same on every rank while the parts are built
            self.progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                console=self.console, disable=self.quiet,
            )
            ctx = BuildContext(device=self.device, generator=self.generator, data=None, seed=recipe.run.seed,
                               out_dir=self.out_dir, compile=recipe.run.compile,
                               iterations=getattr(recipe.train, "iterations", None), log=self.log)
            self.data = data if data is not None else self._build(recipe.data, ctx)
            ctx.data = self.data
            if energy is not None:  # built by the caller (a sum of named energies)
                self.energy = energy.to(self.device)
            else:
                self.energy = self._build(recipe.energy, ctx).to(self.device) if recipe.energy is not None else None
            #: applied to each training batch's labels with the run's generator (a named energy's hidden columns)
            self.label_transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
            self._named: Any = None
            self.regularizers = [self._build(c, ctx) for c in recipe.regularizers]
            self.sampler = self._build(recipe.sampler, ctx) if recipe.sampler is not None else None
            self.buffer = self._build(recipe.buffer, ctx) if recipe.buffer is not None else None
            self.task = self._build(recipe.task, ctx)
            if self.world.size > 1:  # from here on, each rank draws its own batches and chains
                self.generator = rank_generator(recipe.run.seed, self.world.rank)
            self._shard = shard(self.data.train.shape[0], self.world)
        except BaseException:
            leave_world(self.world)
            raise

    def _claim_folder(self, force: bool) -> bool:
        """Whether an earlier run in ``out_dir`` is to be replaced; a `RunError` if it would be silently,
        or if the folder cannot be written or its disk is nearly full (found now, not at the first checkpoint)."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            probe = self.out_dir / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise RunError(f"cannot write the run folder {self.out_dir}: {e.strerror or e}; "
                           "choose another with --out DIR") from e
        free = shutil.disk_usage(self.out_dir).free
        if free < MIN_FREE_BYTES:
            raise RunError(f"only {free / 2**20:.0f} MiB free on the disk of {self.out_dir}; checkpoints and pictures "
                           f"need at least {MIN_FREE_BYTES / 2**20:.0f} MiB: free some space or choose --out DIR")
        held = [name for name in RUN_FILES if (self.out_dir / name).exists()]
        if not held or self.resume:
            return False
        if not force:
            raise RunError(f"{self.out_dir} holds a run already ({', '.join(held)}); continue it with --resume, "
                           "replace it with --force, or write elsewhere with --out DIR or --set run.name=NEW")
        return True

    def _build(self, component: Component, ctx: BuildContext) -> Any:
        try:
            return build(component.spec, ctx)
        except (ValueError, FileNotFoundError) as e:
            raise RunError(f"{self.recipe.source}: [{component.table}] ({component.kind}): {e}") from e

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
        finally:
            torch.set_num_threads(threads)
            leave_world(self.world)
        metrics = {key: float(value) for key, value in (result or {}).items()}
        if self.world.size > 1:
            metrics["world_size"] = float(self.world.size)
        compiled = self._compile_seconds()
        if compiled is not None:
            metrics["compile_s"] = compiled
        self.write_json("metrics.json", metrics)
        self.log(f"done in {time.perf_counter() - started:.1f} s; wrote {self.out_dir}")
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

    def log(self, message: str) -> None:
        """Print a line above the progress display (nothing when quiet)."""
        if not self.quiet:
            self.console.print(message)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as JSON to ``out_dir/name`` (atomically) and return the path."""
        path = self.out_dir / name
        checkpoints.atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8"))
        return path

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """A line in the progress display for work other than training; yields ``advance(n)``."""
        task = self.progress.add_task(description, total=total, stats="")
        yield lambda n=1: self.progress.advance(task, n)
        self.progress.update(task, completed=total if total is not None else 1, total=total or 1)

    def task_context(self) -> TaskContext:
        """The typed context the task's ``run`` receives."""
        return TaskContext(recipe=self.recipe, data=self.data, energy=self.energy, sampler=self.sampler,
                           buffer=self.buffer, generator=self.generator, device=self.device, out_dir=self.out_dir,
                           log=self.log, phase=self.phase, train=self.train, load_checkpoint=self.load_checkpoint,
                           write_json=self.write_json, named=self.named)

    @property
    def named(self) -> Any:
        """The recipe's named energies, concepts and classifier (`energyflow.ensemble.Named`), built on first use."""
        if self._named is None and (self.recipe.energies or self.recipe.classifier is not None):
            from energyflow.ensemble import Named

            self._named = Named(self)
        return self._named

    @property
    def conditional(self) -> bool:
        """Whether training binds class labels: the data has labels and the energy takes ``y``."""
        if self.energy is None:
            return False
        accepted = self.energy.accepted_context()
        return self.data.conditional and (accepted is None or "y" in accepted)

    # ------------------------------------------------------------------ training
    @property
    def trainer(self) -> Any:
        """The run's `energyflow.train.ContrastiveDivergence` over the built parts (made once)."""
        if self._trainer is None:
            if self.energy is None:
                raise RunError(f"{self.recipe.source}: this task trains the [energy] table's network, and the recipe "
                               "has none; add an [energy] table")
            if self.sampler is None or self.buffer is None:
                raise RunError(f"{self.recipe.source}: training needs [sampler] and [buffer] tables")
            self._trainer = self.train_spec.trainer(self.energy, self.sampler, self.buffer, self.regularizers)
            self.energy = self._trainer.energy
        return self._trainer

    def train(self) -> Any:
        """Train ``train.iterations`` steps (continuing from the checkpoint with ``resume``).

        Every step calls the ``on_step`` hook; every ``log_every`` steps a line goes to
        ``events.jsonl``; every ``checkpoint_every`` steps, at the end, and when stopped by a
        signal, the checkpoint is written. A diverging step (non-finite numbers, or an energy gap
        past ``train.max_gap``) stops the run or rolls back, per ``train.on_divergence``. Returns
        the trainer.
        """
        spec, trainer = self.train_spec, self.trainer
        start = 0
        if self.resume and (self.out_dir / CHECKPOINT).exists():
            start = self._restore(trainer, self.out_dir / CHECKPOINT)
            self.log(f"resuming {self.recipe.name!r} from step {start}")
        elif self.resume:
            self.log(f"no {CHECKPOINT} in {self.out_dir} yet; starting from step 0")
        events = self._events_from(start)
        task = self.progress.add_task("train", total=spec.iterations, completed=start, stats="")
        completed, saved, rollbacks, began, logged = start, start, 0, time.perf_counter(), False
        if spec.on_divergence == "rollback" and not (self.out_dir / CHECKPOINT).exists():
            self.save_checkpoint(trainer, start)  # something to roll back to
        with stop_requests(self.log) as stop:
            try:
                step = start
                while step < spec.iterations:
                    step += 1
                    completed = None  # a step is half done (the generator moved) until trainer.step returns
                    x, labels = self._batch(spec.batch_size)
                    stats = trainer.step(x, labels, generator=self.generator)
                    if (problem := divergence(stats, spec.max_gap)) is not None:
                        rollbacks += 1
                        events = self._diverged(trainer, events, step, problem, saved, rollbacks)
                        step = completed = saved
                        self.progress.update(task, completed=saved)
                        continue
                    completed = step
                    self.progress.update(task, advance=1, stats=_summary(stats))
                    if step % spec.log_every == 0 or step == spec.iterations:
                        line = {"step": step, **stats, "gap": stats["e_neg"] - stats["e_pos"],
                                "elapsed_s": round(time.perf_counter() - began, 3)}
                        if self.world.size > 1 and not logged:
                            line["world_size"] = self.world.size
                        logged = True
                        events.write(json.dumps(line) + "\n")
                        events.flush()
                    if self.world.is_main:
                        self.pm.hook.on_step(run=self, step=step, metrics=stats)
                    if step % spec.checkpoint_every == 0:
                        saved = self.save_checkpoint(trainer, step)
                    if stop:
                        raise RunInterrupted(stop[0])
            except KeyboardInterrupt:
                if completed is not None and completed > saved:
                    self.save_checkpoint(trainer, completed)
                self.log(f"interrupted; continue with --resume (checkpoint at step {completed or saved})")
                raise
            finally:
                events.close()
        if completed != saved or not (self.out_dir / CHECKPOINT).exists():
            self.save_checkpoint(trainer, completed)
        return trainer

    def _diverged(self, trainer: Any, events: Any, step: int, problem: str, saved: int, rollbacks: int) -> Any:
        """Stop (`RunError`) or roll back to the last checkpoint with a lower learning rate; returns the events file."""
        spec = self.train_spec
        record = {"step": step, "event": "diverged", "problem": problem, "policy": spec.on_divergence}
        if spec.on_divergence == "stop" or rollbacks > spec.max_rollbacks:
            events.write(json.dumps(record) + "\n")
            tried = f" after {spec.max_rollbacks} rollbacks" if spec.on_divergence == "rollback" else ""
            raise RunError(f"training diverged at step {step}{tried}: {problem}; lower sampler.step_size or train.lr, "
                           f"or raise the l2_energy weight; the last good checkpoint (step {saved}) is kept")
        events.close()
        restored = self._restore(trainer, self.out_dir / CHECKPOINT)
        lr = spec.lr * spec.rollback_lr_factor**rollbacks
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        events = self._events_from(restored)
        events.write(json.dumps({**record, "rolled_back_to": restored, "lr": lr}) + "\n")
        self.log(f"[yellow]step {step} diverged ({problem}); rolled back to step {restored} with lr {lr:g}")
        return events

    def _batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(self._shard.shape[0], (size,), generator=self.generator)
        if self.world.size > 1:
            idx = self._shard[idx]
        labels = self.data.train_labels[idx].to(self.device) if self.conditional else None
        if labels is not None and self.label_transform is not None:
            labels = self.label_transform(labels, self.generator)
        return self.data.train[idx].to(self.device), labels

    def _events_from(self, start: int) -> Any:
        """``events.jsonl`` opened for appending, holding only the lines up to step ``start`` (rank 0's)."""
        if not self.world.is_main:
            return open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  closed by the training loop
        path = self.out_dir / EVENTS
        kept = []
        if start and path.exists():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= start]
        path.write_text("".join(line + "\n" for line in kept))
        return path.open("a", encoding="utf-8")

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, trainer: Any, step: int) -> int:
        """Write ``checkpoint.pt`` atomically (model, optimizer, EMA, buffer, generators, step); returns ``step``.

        Under torchrun only rank 0 writes (its buffer and generator); every rank resumes from it.
        """
        if not self.world.is_main:
            return step
        checkpoints.save(self.out_dir / CHECKPOINT, {
            "step": step,
            "trainer": trainer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "recipe": self.recipe.to_toml(),
        })
        return step

    def load_checkpoint(self, path: str | Path) -> Any:
        """A trainer holding the weights, optimizer, buffer and EMA saved at ``path``."""
        state = checkpoints.read(Path(path))
        self._load_trainer(state, Path(path))
        self.log(f"loaded {path} (step {self.trainer.step_count})")
        return self.trainer

    def _load_trainer(self, state: dict[str, Any], path: Path) -> None:
        try:
            self.trainer.load_state_dict(state["trainer"])
        except (KeyError, RuntimeError, ValueError) as e:
            first = " ".join(str(e).split())[:240]
            raise RunError(f"checkpoint {path} does not fit this recipe's model: {type(e).__name__}: {first}") from e

    def _restore(self, trainer: Any, path: Path) -> int:
        state = checkpoints.read(path)
        changes = checkpoints.recipe_changes(state.get("recipe", ""), self.recipe.to_toml())
        if blocked := checkpoints.unresumable(changes):
            raise RunError(f"cannot resume from {path}: the recipe changed {', '.join(blocked)} since the checkpoint; "
                           "undo the change, or start over with --force or another run name")
        self._load_trainer(state, path)
        self.generator.set_state(state["generator"])
        if self.world.size > 1 and not self.world.is_main:  # the checkpoint holds rank 0's generator
            self.generator = rank_generator(self.recipe.run.seed, self.world.rank, int(state["step"]))
        torch.set_rng_state(state["torch_rng"])
        if changes:
            self.log(f"[yellow]note: resuming with changed {', '.join(changes)}")
        return int(state["step"])


class _RankDone(Exception):
    """A helper rank finished its share of the run."""


def _rank_done(*_: Any) -> Any:
    raise _RankDone


def divergence(stats: dict[str, float], max_gap: float | None) -> str | None:
    """What is wrong with a training step's numbers (non-finite, or an energy gap past ``max_gap``), if anything."""
    bad = [f"{key} = {value}" for key, value in stats.items() if not math.isfinite(value)]
    if bad:
        return "non-finite " + ", ".join(bad)
    gap = stats["e_neg"] - stats["e_pos"]
    if max_gap is not None and abs(gap) > max_gap:
        return f"energy gap {gap:+.4g} beyond train.max_gap = {max_gap:g}"
    return None


def _summary(stats: dict[str, float]) -> str:
    return f"loss {stats['loss']:+.3f}  gap {stats['e_neg'] - stats['e_pos']:+.3f}"


def run_recipe(recipe: Recipe, **kwargs: Any) -> dict[str, float]:
    """Build and execute a run of ``recipe`` (keyword arguments as for `Run`)."""
    return Run(recipe, **kwargs).execute()
