"""``kind = "cross_class"``: start chains at images of one class under another class's energy.

IGEBM's cross-class experiment: test images of class ``a`` are the chain starts and the energy
is conditioned on class ``b`` (``(a + shift) mod K``, or a fixed ``target``). ``cross_class.png``
shows each chain over time (first column: the start, last column: a real image of the target
class). The dataset's quality classifier scores how many chains end as the target class
(``target_rate_after``) beside how many already looked like it at the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import RunError, Task, TaskContext, train_metrics
from energyflow.tasks import TRAIN_METRICS, percent, save_image_columns
from energyflow_vision.evaluation.quality_classifier import load_or_train, predict
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    require_images,
    trained,
)


@frozen(kw_only=True)
class CrossClassTask(Task):
    """Chains from images of one class under another class's energy; share that become the target class."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "target_rate_before": "share of the starting test images the classifier already puts in their target class",
        "target_rate_after": "share of the chains the classifier puts in their target class after task.steps steps "
                             "(higher: the energy turned them)",
        "source_rate_after": "share of the chains still classified as the class they started from",
        "energy_before": "mean energy of the starting test images under their target class",
        "energy_after": "mean energy of the chains' end under their target class (lower than energy_before: the "
                        "sampler moved them downhill)",
        "classifier_accuracy": "test accuracy of the classifier (trained apart on the data) that judges the chains",
    }

    checkpoint: str | None = checkpoint_field()
    num_images: int = field(default=100, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "chains run"})
    shown: int = field(default=10, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "rows in cross_class.png"})
    steps: int = field(default=300, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "sampler steps per chain"})
    frames: int = field(default=6, validator=[v.instance_of(int), v.ge(2)], metadata={"help": "chain snapshots per row"})
    shift: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                       metadata={"help": "target class = (source class + shift) mod classes"})
    target: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(0)]),
                               metadata={"help": "one target class for every chain; none uses shift"})
    classifier_steps: int = field(default=1000, validator=[v.instance_of(int), v.ge(1)],
                                  metadata={"help": "training steps of the (cached) quality classifier"})
    cache_dir: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                  metadata={"help": "where the quality classifier is cached; none: ~/.cache/energyflow"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "cross_class")
        data = ctx.data
        if not ctx.conditional or data.train_labels.is_floating_point():
            raise RunError("task cross_class needs a class-conditional energy: set energy.conditional = true "
                           "on a dataset with class labels")
        if self.target is not None and self.target >= data.num_classes:
            raise RunError(f"task.target = {self.target}, but the dataset has classes 0..{data.num_classes - 1}")
        trainer = trained(ctx, self.checkpoint)
        images, source = ctx.pick_test(self.num_images)
        target = (torch.full_like(source, self.target) if self.target is not None
                  else (source + self.shift) % data.num_classes)
        bound = ctx.bind(trainer.sampling_energy, target.to(ctx.device))
        every = max(1, self.steps // (self.frames - 1))
        frames = [images]

        def record(step: int, x: torch.Tensor) -> None:
            if (step + 1) % every == 0 and len(frames) < self.frames:
                frames.append(x.cpu())
        with ctx.phase("cross-class chains", self.steps) as advance:
            final = ctx.sampler.sample(bound, images.to(ctx.device), steps=self.steps, generator=ctx.generator,
                                       callback=lambda step, x: (record(step, x), advance(1))).cpu()
        frames[-1] = final
        examples = torch.stack([data.train[(data.train_labels == int(t)).nonzero()[0, 0]] for t in target[: self.shown]])
        steps = [min((i + 1) * every, self.steps) for i in range(len(frames) - 2)] + [self.steps]  # last: the end
        heads = ["start"] + [f"step {s}" for s in steps] + ["target"]
        names = data.class_names or tuple(str(c) for c in range(data.num_classes))
        arrows = [f"{names[s]} \u2192 {names[t]}" for s, t in zip(source[: self.shown].tolist(),
                                                                  target[: self.shown].tolist())]
        save_image_columns(ctx.out_dir / "cross_class.png",
                           [f[: self.shown] for f in frames] + [examples[: self.shown]], col_labels=heads,
                           row_labels=arrows, value_range=data.value_range,
                           title=f"Test images (start) under another class's energy for "
                                 f"{ctx.steps_text(self.steps)}; rows: source class \u2192 target class")
        classifier, accuracy = load_or_train(data, cache_dir=self.cache_dir, steps=self.classifier_steps,
                                             device=ctx.device, log=ctx.log)
        before, after = predict(classifier, images)[1], predict(classifier, final)[1]
        with torch.no_grad():
            e_before, e_after = bound(images.to(ctx.device)).mean(), bound(final.to(ctx.device)).mean()
        return {
            **train_metrics(trainer),
            "target_rate_before": float((before == target).float().mean()),
            "target_rate_after": float((after == target).float().mean()),
            "source_rate_after": float((after == source).float().mean()),
            "energy_before": float(e_before),
            "energy_after": float(e_after),
            "classifier_accuracy": accuracy,
        }

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """How many chains became the target class, beside the start."""
        before, after = percent(metrics["target_rate_before"]), percent(metrics["target_rate_after"])
        return [f"After {self.steps} steps under another class's energy, {after} of the chains from test images "
                f"are classified as the target class ({before} at the start) and "
                f"{percent(metrics['source_rate_after'])} still as their own, by a classifier of test accuracy "
                f"{percent(metrics['classifier_accuracy'])} -> cross_class.png."]
