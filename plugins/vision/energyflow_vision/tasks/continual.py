"""``kind = "continual"``: class-incremental learning without replay, energy classifier against softmax.

The classes come in tasks (digits: five tasks of two classes); each model trains on one task's
training images after another and never sees an earlier task's data again. After each task every
model classifies the test images of all classes seen so far, choosing among those classes.

- ``energy``: the recipe's conditional energy trained by the core's contrastive-divergence step
  (`energyflow.training.ContrastiveDivergence.step`, the recipe's sampler, buffer, regularizers and
  ``[train]`` optimiser settings) on the current task's batches; the recipe's ``class_contrast``
  regularizer with ``classes = "batch"`` contrasts only the classes present in the batch, so the
  energies of earlier classes are not pushed up (Li et al. 2020). The replay buffer holds chains
  (model samples), never data.
- ``softmax``: a classifier of the same architecture fine-tuned task after task with a softmax over
  all classes (the catastrophic-forgetting baseline).
- ``ewc``: the same with elastic weight consolidation (Kirkpatrick et al. 2017; online, one anchor,
  Fisher information summed over tasks).
- ``softmax_present`` (``present_baseline``): softmax over the current task's classes only, the
  softmax counterpart of the energy's batch-only contrast, to show what that choice alone buys.

Writes ``continual.png`` (accuracy on the classes seen so far after each task), ``continual.json``
(every model's accuracy on every task after every task) and the numbers in ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v

from energyflow import RunError, Task, TaskContext
from energyflow.tasks import percent, save_panels
from energyflow_vision.evaluation.energy_classifier import (
    batched,
    energy_logits,
    require_classes,
)
from energyflow_vision.evaluation.softmax_baseline import (
    fit_softmax,
    softmax_classifier,
)
from energyflow_vision.evaluation.task_setup import require_images

_positive = [v.instance_of(int), v.ge(1)]
#: the learners compared, as the metrics name them
LEARNERS = {
    "energy": "the energy classifier (contrastive divergence on each task in turn)",
    "softmax": "softmax fine-tuning over all classes (the catastrophic-forgetting baseline)",
    "ewc": "softmax fine-tuning with elastic weight consolidation (task.ewc_lambda > 0)",
    "softmax_present": "softmax over the current task's classes only (task.present_baseline)",
}


def _splits(value: Any) -> tuple[tuple[int, ...], ...]:
    tasks = tuple(tuple(t) if isinstance(t, (list, tuple)) else t for t in value) \
        if isinstance(value, (list, tuple)) else value
    if not isinstance(tasks, tuple) or not tasks or not all(
            isinstance(t, tuple) and t and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in t)
            for t in tasks):
        raise ValueError(f"tasks: expected a list of non-empty lists of class indices, got {value!r}")
    flat = [c for t in tasks for c in t]
    if len(flat) != len(set(flat)):
        raise ValueError(f"tasks: a class appears in two tasks: {value!r}")
    return tasks


class EWC:
    """Online elastic weight consolidation: ``lambda / 2 * sum F (theta - theta*)^2`` with F summed over tasks."""

    def __init__(self, model: torch.nn.Module, strength: float):
        self.model, self.strength = model, strength
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self) -> torch.Tensor:
        total: Any = 0.0
        for name, p in self.model.named_parameters():
            if name in self.fisher:
                total = total + (self.fisher[name] * (p - self.anchor[name]).pow(2)).sum()
        return 0.5 * self.strength * total

    def consolidate(self, x: torch.Tensor, generator: torch.Generator, device: torch.device) -> None:
        """Add this task's Fisher information (labels drawn from the model's own predictions) and re-anchor."""
        params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        self.model.eval()
        for image in x:
            logits = self.model(image[None].to(device))
            label = torch.multinomial(logits.detach().softmax(1).cpu(), 1, generator=generator).to(device)
            grads = torch.autograd.grad(F.cross_entropy(logits, label[0]), list(params.values()), allow_unused=True)
            for (n, _), g in zip(params.items(), grads):
                if g is not None:  # the network's own scalar head is unused by the classifier
                    fisher[n] += g.detach().pow(2) / x.shape[0]
        for n, f in fisher.items():
            self.fisher[n] = self.fisher.get(n, torch.zeros_like(f)) + f
        self.anchor = {n: p.detach().clone() for n, p in params.items()}


@frozen(kw_only=True)
class ContinualTask(Task):
    """Class-incremental learning, no replay: the energy classifier beside softmax fine-tuning and EWC."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **{f"{name}_after_task{{N}}": f"after learning task N: test accuracy of {words} on all classes seen so "
                                      "far, choosing among them" for name, words in LEARNERS.items()},
        **{f"{name}_final_average": f"after the last task: test accuracy of {words} on each task's classes, "
                                    "averaged over the tasks" for name, words in LEARNERS.items()},
    }

    tasks: Any = field(default=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)), converter=_splits,
                                               metadata={"help": "list of tasks, each a list of class indices, in training order"})
    steps_per_task: int | None = field(default=None, validator=v.optional(_positive),
                                       metadata={"help": "contrastive-divergence steps of the energy on each task; "
                                                         "none: train.iterations split evenly over the tasks"})
    baseline_steps_per_task: int = field(default=300, validator=_positive,
                                         metadata={"help": "training steps of each softmax baseline on each task"})
    baseline_lr: float = field(default=1e-3, converter=float, validator=v.gt(0.0),
                               metadata={"help": "Adam learning rate of the softmax baselines"})
    ewc_lambda: float = field(default=1000.0, converter=float, validator=v.ge(0.0),
                              metadata={"help": "EWC strength (0: no EWC baseline)"})
    ewc_samples: int = field(default=200, validator=_positive,
                             metadata={"help": "training images per task for the EWC Fisher information"})
    present_baseline: bool = field(default=True, validator=v.instance_of(bool),
                                   metadata={"help": "also train softmax_present: a softmax over the current task's "
                                                     "classes only"})
    batch_size: int = field(default=256, validator=_positive, metadata={"help": "images classified at once"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "continual")
        classes = require_classes(ctx, "continual")
        data = ctx.data
        unknown = sorted({c for t in self.tasks for c in t if c >= classes})
        if unknown:
            raise RunError(f"task.tasks names classes {unknown}, but the dataset has classes 0..{classes - 1}")
        learners = {"energy": self._energy_learner(ctx, classes)}
        learners["softmax"] = self._softmax_learner(ctx, classes, present=False, seed_offset=1)
        if self.ewc_lambda:
            learners["ewc"] = self._softmax_learner(ctx, classes, present=False, seed_offset=1, ewc=True)
        if self.present_baseline:
            learners["softmax_present"] = self._softmax_learner(ctx, classes, present=True, seed_offset=1)

        seen: list[int] = []
        history: dict[str, list[list[float]]] = {name: [] for name in learners}  # [after task][on task]
        for t, task_classes in enumerate(self.tasks):
            seen += list(task_classes)
            rows = torch.isin(data.train_labels, torch.tensor(task_classes)).nonzero().squeeze(1)
            x, y = data.train[rows], data.train_labels[rows]
            for name, (learn, _) in learners.items():
                steps = self._energy_steps(ctx) if name == "energy" else self.baseline_steps_per_task
                with ctx.phase(f"task {t + 1}/{len(self.tasks)}: {name}", steps) as advance:
                    learn(x, y, task_classes, advance)
            for name, (_, predict) in learners.items():
                history[name].append([self._accuracy(ctx, predict, seen, c) for c in self.tasks[: t + 1]])
            ctx.log(f"after task {t + 1} ({', '.join(map(str, task_classes))}): " + "  ".join(
                f"{name} {self._accuracy(ctx, predict, seen, seen):.3f}" for name, (_, predict) in learners.items()))
        return self._report(ctx, learners, history)

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """Each learner's accuracy after the last task: averaged over the tasks, and on every class seen."""
        short = {"energy": "the energy classifier", "softmax": "softmax fine-tuning", "ewc": "EWC",
                 "softmax_present": "softmax over the current classes"}
        last = len(self.tasks)
        average = [f"{short[n]} {percent(metrics[f'{n}_final_average'])}" for n in short if f"{n}_final_average" in metrics]
        seen = [f"{short[n]} {percent(metrics[f'{n}_after_task{last}'])}" for n in short
                if f"{n}_after_task{last}" in metrics]
        return [f"After learning {last} tasks one after another without replay, mean test accuracy over the tasks: "
                + ", ".join(average) + " -> continual.png.",
                "Accuracy on all the classes seen: " + ", ".join(seen) + "."]

    def _energy_steps(self, ctx: TaskContext) -> int:
        return self.steps_per_task or max(1, ctx.recipe.train.iterations // len(self.tasks))

    # ------------------------------------------------------------------ learners: (learn, predict)
    def _energy_learner(self, ctx: TaskContext, classes: int) -> tuple[Callable, Callable]:
        regularizers = [ctx.build(c) for c in ctx.recipe.regularizers]
        trainer = ctx.recipe.train.trainer(ctx.energy, ctx.sampler, ctx.buffer, regularizers)
        if not any(getattr(r, "classes", None) == "batch" for r in regularizers):
            ctx.log("note: no class_contrast regularizer with classes = \"batch\"; the energy learns each class "
                    "generatively only")

        def learn(x: torch.Tensor, y: torch.Tensor, task_classes: tuple[int, ...], advance) -> None:
            trainer.energy.train()
            for _ in range(self._energy_steps(ctx)):
                idx = torch.randint(x.shape[0], (min(ctx.recipe.train.batch_size, x.shape[0]),),
                                    generator=ctx.generator)
                trainer.step(x[idx].to(ctx.device), y[idx].to(ctx.device), generator=ctx.generator)
                advance(1)

        def predict(images: torch.Tensor, seen: list[int]) -> torch.Tensor:
            energy = trainer.sampling_energy.eval()
            with torch.no_grad():
                logits = batched(lambda b: energy_logits(energy, b, classes, seen), images, ctx.device,
                                 self.batch_size)
            trainer.energy.train()
            return torch.tensor(seen)[logits.argmax(1)]
        return learn, predict

    def _softmax_learner(self, ctx: TaskContext, classes: int, *, present: bool, seed_offset: int,
                         ewc: bool = False) -> tuple[Callable, Callable]:
        model = softmax_classifier(ctx, classes, seed_offset)
        consolidation = EWC(model, self.ewc_lambda) if ewc else None

        def learn(x: torch.Tensor, y: torch.Tensor, task_classes: tuple[int, ...], advance) -> None:
            penalty = consolidation.penalty if consolidation is not None and consolidation.fisher else None
            fit_softmax(model, x, y, steps=self.baseline_steps_per_task, batch_size=ctx.recipe.train.batch_size,
                        lr=self.baseline_lr, generator=ctx.generator, device=ctx.device, advance=advance,
                        penalty=penalty, classes=task_classes if present else None)
            if consolidation is not None:
                picks = torch.randperm(x.shape[0], generator=ctx.generator)[: self.ewc_samples]
                consolidation.consolidate(x[picks], ctx.generator, ctx.device)

        def predict(images: torch.Tensor, seen: list[int]) -> torch.Tensor:
            logits = batched(model, images, ctx.device, self.batch_size)[:, seen]
            return torch.tensor(seen)[logits.argmax(1)]
        return learn, predict

    # ------------------------------------------------------------------ scoring
    def _accuracy(self, ctx: TaskContext, predict: Callable, seen: list[int], classes: Sequence[int]) -> float:
        """Accuracy of ``predict`` (choosing among ``seen``) on the test images of ``classes``."""
        data = ctx.data
        rows = torch.isin(data.test_labels, torch.tensor(classes))
        return float((predict(data.test[rows], seen) == data.test_labels[rows]).float().mean())

    def _report(self, ctx: TaskContext, learners: dict, history: dict[str, list[list[float]]]) -> dict[str, float]:
        data = ctx.data
        counts = [int(torch.isin(data.test_labels, torch.tensor(t)).sum()) for t in self.tasks]
        metrics: dict[str, float] = {}
        curves = {}
        for name, rows in history.items():
            seen_acc = [sum(a * n for a, n in zip(row, counts)) / sum(counts[: len(row)]) for row in rows]
            for t, acc in enumerate(seen_acc):
                metrics[f"{name}_after_task{t + 1}"] = acc
            metrics[f"{name}_final_average"] = sum(rows[-1]) / len(rows[-1])  # mean over tasks after the last
            curves[name] = (list(range(1, len(rows) + 1)), seen_acc)
        save_panels(ctx.out_dir / "continual.png", {"": curves}, xlabel="tasks learned (each adds classes)",
                    ylabel="accuracy on the classes seen so far",
                    title=f"Class-incremental learning of {len(self.tasks)} tasks, no replay")
        ctx.write_json("continual.json", {"tasks": [list(t) for t in self.tasks], "accuracy_after_task_on_task": history})
        return metrics
