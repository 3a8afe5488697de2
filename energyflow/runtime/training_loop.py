"""The training loop of a run: batches, ``events.jsonl``, checkpoints, divergence with rollback, stop signals.

Every step calls ``on_step`` (the run's hook); every ``log_every`` steps a line goes to
``events.jsonl``; every ``checkpoint_every`` steps, at the end, and when stopped by a signal, the
checkpoint is written (model, optimizer, EMA, buffer, objective, generators, step). A diverging step
(non-finite numbers, or an energy gap past ``train.max_gap``) stops the run or rolls back to the
last checkpoint with a lower learning rate, per ``train.on_divergence``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from attrs import define, field
from rich.progress import Progress

from energyflow.errors import RunError, RunInterrupted
from energyflow.runtime import checkpoints
from energyflow.runtime.checkpoints import CHECKPOINT
from energyflow.runtime.distributed import World, rank_generator, shard
from energyflow.runtime.folder import EVENTS
from energyflow.runtime.stopping import stop_requests
from energyflow.training.stats import StepStats, divergence, summary
from energyflow.training.trainer import Trainer

LabelTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@define(kw_only=True)
class TrainingLoop:
    """Trains ``trainer`` per the recipe's ``[train]`` table on ``data`` (this rank's shard of it).

    Attributes:
        recipe: the run's recipe (its ``train`` spec, seed and resolved TOML go into checkpoints).
        trainer: the trainer (its objective forms the loss).
        data: the training data; ``conditional`` says whether its labels are bound.
        generator: the run's generator (draws every batch; restored in place on resume and rollback).
        label_transform: applied to each batch's labels (a named energy hides columns with it).
    """

    recipe: Any
    trainer: Trainer
    data: Any
    conditional: bool
    device: torch.device
    generator: torch.Generator
    world: World
    out_dir: Path
    progress: Progress
    log: Callable[[str], None]
    on_step: Callable[[int, StepStats], None]
    label_transform: LabelTransform | None = None
    _shard: torch.Tensor = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._shard = shard(self.data.train.shape[0], self.world)

    def train(self, *, resume: bool) -> Trainer:
        """Train ``train.iterations`` steps (continuing from the checkpoint with ``resume``); returns the trainer."""
        spec, trainer = self.recipe.train, self.trainer
        start = 0
        if resume and (self.out_dir / CHECKPOINT).exists():
            start = self.restore(self.out_dir / CHECKPOINT)
            self.log(f"resuming {self.recipe.name!r} from step {start}")
        elif resume:
            self.log(f"no {CHECKPOINT} in {self.out_dir} yet; starting from step 0")
        events = self._events_from(start)
        task = self.progress.add_task("train", total=spec.iterations, completed=start, stats="")
        completed, saved, rollbacks, began, logged = start, start, 0, time.perf_counter(), False
        if spec.on_divergence == "rollback" and not (self.out_dir / CHECKPOINT).exists():
            self.save_checkpoint(start)  # something to roll back to
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
                        events = self._diverged(events, step, problem, saved, rollbacks)
                        step = completed = saved
                        self.progress.update(task, completed=saved)
                        continue
                    completed = step
                    self.progress.update(task, advance=1, stats=summary(stats))
                    if step % spec.log_every == 0 or step == spec.iterations:
                        line = {"step": step, **stats, "elapsed_s": round(time.perf_counter() - began, 3)}
                        if self.world.size > 1 and not logged:
                            line["world_size"] = self.world.size
                        logged = True
                        events.write(json.dumps(line) + "\n")
                        events.flush()
                    if self.world.is_main:
                        self.on_step(step, stats)
                    if step % spec.checkpoint_every == 0:
                        saved = self.save_checkpoint(step)
                    if stop:
                        raise RunInterrupted(stop[0])
            except KeyboardInterrupt:
                if completed is not None and completed > saved:
                    self.save_checkpoint(completed)
                self.log(f"interrupted; continue with --resume (checkpoint at step {completed or saved})")
                raise
            finally:
                events.close()
        if completed != saved or not (self.out_dir / CHECKPOINT).exists():
            self.save_checkpoint(completed)
        return trainer

    def _diverged(self, events: IO[str], step: int, problem: str, saved: int, rollbacks: int) -> IO[str]:
        """Stop (`RunError`) or roll back to the last checkpoint with a lower learning rate; returns the events file."""
        spec = self.recipe.train
        record = {"step": step, "event": "diverged", "problem": problem, "policy": spec.on_divergence}
        if spec.on_divergence == "stop" or rollbacks > spec.max_rollbacks:
            events.write(json.dumps(record) + "\n")
            tried = f" after {spec.max_rollbacks} rollbacks" if spec.on_divergence == "rollback" else ""
            raise RunError(f"training diverged at step {step}{tried}: {problem}; lower sampler.step_size or train.lr, "
                           f"or raise the l2_energy weight; the last good checkpoint (step {saved}) is kept")
        events.close()
        restored = self.restore(self.out_dir / CHECKPOINT)
        lr = spec.lr * spec.rollback_lr_factor**rollbacks
        for group in self.trainer.optimizer.param_groups:
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

    def _events_from(self, start: int) -> IO[str]:
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
    def save_checkpoint(self, step: int) -> int:
        """Write ``checkpoint.pt`` atomically (model, optimizer, EMA, buffer, generators, step); returns ``step``.

        Under torchrun only rank 0 writes (its buffer and generator); every rank resumes from it.
        """
        if not self.world.is_main:
            return step
        checkpoints.save(self.out_dir / CHECKPOINT, {
            "step": step,
            "trainer": self.trainer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "recipe": self.recipe.to_toml(),
        })
        return step

    def load_trainer(self, state: dict[str, Any], path: Path) -> None:
        """Load a checkpoint's trainer state; a `RunError` naming the file when it does not fit the model."""
        try:
            self.trainer.load_state_dict(state["trainer"])
        except (KeyError, RuntimeError, ValueError) as e:
            first = " ".join(str(e).split())[:240]
            raise RunError(f"checkpoint {path} does not fit this recipe's model: {type(e).__name__}: {first}") from e

    def restore(self, path: Path) -> int:
        """Resume from the checkpoint at ``path`` (trainer, generators); returns its step."""
        state = checkpoints.read(path)
        changes = checkpoints.recipe_changes(state.get("recipe", ""), self.recipe.to_toml())
        if blocked := checkpoints.unresumable(changes):
            raise RunError(f"cannot resume from {path}: the recipe changed {', '.join(blocked)} since the checkpoint; "
                           "undo the change, or start over with --force or another run name")
        self.load_trainer(state, path)
        self.generator.set_state(state["generator"])
        if self.world.size > 1 and not self.world.is_main:  # the checkpoint holds rank 0's generator
            self.generator.set_state(rank_generator(self.recipe.run.seed, self.world.rank, int(state["step"])).get_state())
        torch.set_rng_state(state["torch_rng"])
        if changes:
            self.log(f"[yellow]note: resuming with changed {', '.join(changes)}")
        return int(state["step"])
