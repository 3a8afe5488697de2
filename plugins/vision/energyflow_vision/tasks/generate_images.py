"""``kind = "generate_images"``: train (or load), then sample, draw and score an image energy.

Writes to the run folder:

- ``samples.png``: chains restarted from the replay buffer (one sampler run each);
- ``samples_fresh.png``: long chains (``chain_steps``) started from uniform noise;
- ``chains.png``: rows of fresh chains, columns at even intervals of chain time, and
  ``chain_energy.png``: their mean energy over chain time;
- ``samples_by_class.png`` (class-conditional models): a row per class, chains restarted from
  the replay buffer under each class (or from noise, ``class_rows_from = "noise"``);
- ``nearest.png``: samples (first column) beside their nearest training images, the
  memorisation check, with ``nearest_l2`` vs ``nearest_l2_test`` in the metrics;
- the offline quality figures (see `energyflow_vision.evaluation.sample_quality`) of both sample sets,
  prefixed ``buffer_`` and ``fresh_``;
- with ``long_samples`` > 0, the long-run figures (`energyflow_vision.evaluation.long_run`): chains from
  noise scored at each of ``long_steps``, chains continued from the buffer for
  ``long_buffer_steps``, prefixed ``long_noise_<steps>_`` / ``long_buffer_<steps>_``, and
  ``long_run.png`` (floor/ceiling ratio against chain length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import Task, TaskContext, train_metrics
from energyflow.tasks import (
    TRAIN_METRICS,
    percent,
    save_curves,
    save_image_columns,
    save_image_grid,
)
from energyflow_vision.evaluation.long_run import (
    LONG_RUN_FIGURES,
    RATIO_MEANING,
    floor_ceiling_ratio,
    long_run,
)
from energyflow_vision.evaluation.sample_quality import (
    QUALITY_FIGURES,
    ImageQuality,
    evenly_spaced,
)
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    nearest,
    require_images,
    trained,
)

_count = [v.instance_of(int), v.ge(0)]
_positive = [v.instance_of(int), v.ge(1)]


def _inception_choice(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be 'auto', 'on', 'off' or a path, got {value!r}")


#: the two sample sets scored, as the metrics name them
SETS = {"buffer": "replay-buffer samples", "fresh": "chains from noise"}
LONG_STARTS = {"noise": "chains from noise", "buffer": "chains continued from the buffer"}


@frozen(kw_only=True)
class GenerateImagesTask(Task):
    """Train, then draw sample grids, chains, class rows and nearest neighbours, and score the samples."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "energy_buffer": "mean energy of the replay-buffer samples (its states after one more sampler run; lower: "
                         "more likely under the model)",
        "energy_fresh": "mean energy of the samples of long chains from uniform noise (task.chain_steps steps)",
        "energy_data": "mean energy of as many held-out test images, to compare the two above with",
        "chain_energy_start": "mean energy of the chains of chains.png at their start in uniform noise",
        "chain_energy_end": "mean energy of the same chains after task.chain_steps steps (chain_energy.png: the way)",
        "nearest_l2": "mean pixel L2 distance from up to 500 replay-buffer samples to their nearest training image",
        "nearest_l2_test": "the same for as many held-out test images: what a sample that copies nothing scores",
        "nearest_ratio": "nearest_l2 / nearest_l2_test: well below 1 when samples copy training images "
                         "(memorisation; nearest.png shows them)",
        **{f"{name}_{key}": f"{words}: {text}" for name, words in SETS.items()
           for key, text in {**QUALITY_FIGURES, "ratio": RATIO_MEANING}.items()},
        "long_energy_data": "long-run evaluation (task.long_samples): mean energy of held-out test images",
        **{f"long_{start}_{{STEPS}}_{key}": f"long run, {words} after STEPS steps: {text}"
           for start, words in LONG_STARTS.items() for key, text in LONG_RUN_FIGURES.items()},
    }

    checkpoint: str | None = checkpoint_field()
    num_samples: int = field(default=64, validator=_positive, metadata={"help": "images in each sample grid"})
    eval_samples: int = field(default=500, validator=_count,
                              metadata={"help": "samples scored per set (0: no scores; 50000 for a published-style FID)"})
    chain_steps: int = field(default=200, validator=_positive, metadata={"help": "steps of the long chains from noise"})
    chain_rows: int = field(default=8, validator=_count, metadata={"help": "chains shown in chains.png (0: none)"})
    chain_frames: int = field(default=10, validator=[v.instance_of(int), v.ge(2)],
                              metadata={"help": "columns (moments of chain time) in chains.png"})
    per_class: int = field(default=8, validator=_count,
                           metadata={"help": "samples per class row in samples_by_class.png (0: none)"})
    max_classes: int = field(default=10, validator=_positive, metadata={"help": "class rows shown at most"})
    class_rows_from: str = field(default="buffer", validator=v.in_(("buffer", "noise")),
                                 metadata={"help": "class rows start from the replay buffer (one sampler run) or "
                                                   "from noise (chain_steps)"})
    nearest: int = field(default=8, validator=_count, metadata={"help": "samples shown in nearest.png (0: none)"})
    neighbours: int = field(default=5, validator=_positive, metadata={"help": "training images beside each sample"})
    batch_size: int = field(default=256, validator=_positive, metadata={"help": "chains run at once"})
    classifier_steps: int = field(default=1000, validator=_positive,
                                  metadata={"help": "training steps of the (cached) quality classifier"})
    inception: str = field(default="auto", validator=_inception_choice,
                           metadata={"help": "FID/KID network: auto (if installed and on a GPU), on, off, or a TorchScript path"})
    fid_reference: int = field(default=10000, validator=_positive,
                               metadata={"help": "training images in the FID/KID reference set"})
    cache_dir: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                  metadata={"help": "where the quality classifier is cached; none: ~/.cache/energyflow"})

    long_samples: int = field(default=0, validator=_count,
                              metadata={"help": "chains in the long-run evaluation (0: none; see long_run.png)"})
    long_steps: tuple[int, ...] = field(default=(100, 500, 1000), converter=tuple,
                                        validator=v.deep_iterable(v.and_(v.instance_of(int), v.ge(1))),
                                        metadata={"help": "chain lengths from noise scored in the long-run evaluation"})
    long_buffer_steps: int = field(default=1000, validator=_count,
                                   metadata={"help": "steps of chains continued from buffer states (0: none)"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "generate_images")
        trainer = trained(ctx, self.checkpoint)
        energy = trainer.sampling_energy
        metrics = train_metrics(trainer)
        n = max(self.num_samples, self.eval_samples, self.nearest, 2)
        labels = ctx.draw_labels(n)
        sets = {
            "buffer": ctx.sample(energy, ctx.chain_starts(n, "buffer", labels=labels), labels,
                                 batch_size=self.batch_size, description="sample from buffer"),
            "fresh": ctx.sample(energy, ctx.chain_starts(n), labels, steps=self.chain_steps,
                                batch_size=self.batch_size, description="long chains from noise"),
        }
        # samples.png, the picture every energyflow run leaves, is the replay-buffer grid
        shown = min(self.num_samples, n)
        titles = {"buffer": f"{shown} samples: replay-buffer states after {ctx.steps_text()}",
                  "fresh": f"{shown} samples: uniform noise after {ctx.steps_text(self.chain_steps)}"}
        for name, picture in (("buffer", "samples.png"), ("fresh", "samples_fresh.png")):
            save_image_grid(ctx.out_dir / picture, sets[name][:shown], title=titles[name],
                            value_range=ctx.data.value_range)
            metrics[f"energy_{name}"] = ctx.mean_energy(energy, sets[name], labels)
        test_labels = ctx.data.test_labels[:n] if ctx.conditional else None
        metrics["energy_data"] = ctx.mean_energy(energy, ctx.data.test[:n], test_labels)
        if self.chain_rows:
            metrics.update(self._chains(ctx, energy))
        if self.per_class and ctx.conditional and not ctx.data.train_labels.is_floating_point():
            self._class_rows(ctx, energy)
        if self.nearest:
            metrics.update(self._nearest(ctx, sets["buffer"]))
        quality = None
        if self.eval_samples or self.long_samples:
            quality = ImageQuality.prepare(ctx.data, cache_dir=self.cache_dir, classifier_steps=self.classifier_steps,
                                           inception=self.inception, device=ctx.device, log=ctx.log,
                                           fid_reference_count=self.fid_reference)
            if quality.classifier_accuracy is not None:
                ctx.log(f"quality classifier test accuracy {quality.classifier_accuracy:.3f}")
        if self.eval_samples:
            for name, samples in sets.items():
                subset = labels[: self.eval_samples] if labels is not None else None
                scores = quality.evaluate(samples[: self.eval_samples], subset, generator=ctx.generator)
                metrics.update({f"{name}_{k}": val for k, val in scores.items()})
                if "cfd" in scores:
                    metrics[f"{name}_ratio"] = floor_ceiling_ratio(scores)
        if self.long_samples:
            metrics.update(long_run(ctx, energy, quality, samples=self.long_samples, steps=self.long_steps,
                                    buffer_steps=self.long_buffer_steps, batch_size=self.batch_size))
        return metrics

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """How often samples are their class, how close to real images, memorisation and long-run quality."""
        def both(key: str, form: str, show: Any = percent) -> str:
            return " and ".join(form.format(v=show(metrics[f"{name}_{key}"]), w=w) for name, w in SETS.items()
                                if f"{name}_{key}" in metrics)
        lines = []
        if both("cond_accuracy", ""):
            picture = "samples_by_class.png" if (out_dir / "samples_by_class.png").exists() else "samples.png"
            judge = next(metrics[f"{n}_classifier_accuracy"] for n in SETS if f"{n}_classifier_accuracy" in metrics)
            if any(key.endswith("class_coverage") for key in metrics):
                lines.append(f"{both('cond_accuracy', '{v} of {w}')} are classified as the class they were drawn "
                             f"for by a classifier trained apart on the data (test accuracy {percent(judge)}) "
                             f"-> {picture}.")
            else:
                lines.append(f"{both('cond_accuracy', '{v} of the attributes of {w}')} match those they were drawn "
                             f"for, by a classifier trained apart on the data (test accuracy {percent(judge)}) "
                             f"-> {picture}.")
        if both("cfd", ""):
            floor = next(metrics[f"{n}_cfd_real"] for n in SETS if f"{n}_cfd_real" in metrics)
            ceiling = next(metrics[f"{n}_cfd_noise"] for n in SETS if f"{n}_cfd_noise" in metrics)
            fid = f"; FID {both('fid', '{w} {v}', '{:.2f}'.format)}" if both("fid", "") else ""
            lines.append(f"Frechet distance to the training images in that classifier's features: "
                         f"{both('cfd', '{w} {v}', '{:.3g}'.format)}, against {floor:.3g} for held-out real images "
                         f"and {ceiling:.3g} for uniform noise{fid} -> samples.png, samples_fresh.png.")
        if "nearest_ratio" in metrics:
            lines.append(f"Replay-buffer samples lie {metrics['nearest_ratio']:.2f} times as far from their nearest "
                         "training image as held-out images do (1: as novel as real images; well below 1 would "
                         "mean copies) -> nearest.png.")
        long = {start: ", ".join(f"{metrics[key]:.3g} after {steps} steps" for steps, key in sorted(
                    (int(key.split("_")[2]), key) for key in metrics if key.startswith(f"long_{start}_")
                    and key.endswith("_ratio"))) for start in LONG_STARTS}
        if any(long.values()):
            shown = "; ".join(f"{LONG_STARTS[start]} {text}" for start, text in long.items() if text)
            lines.append(f"Floor/ceiling ratio of long chains (higher is better, noise 0): {shown} -> long_run.png.")
        if not lines:
            lines.append(f"Mean energy of replay-buffer samples {metrics['energy_buffer']:.3g}, of chains from noise "
                         f"{metrics['energy_fresh']:.3g}, of held-out images {metrics['energy_data']:.3g} "
                         "(lower: more likely) -> samples.png, samples_fresh.png.")
        return lines

    def _chains(self, ctx: TaskContext, energy: Any) -> dict[str, float]:
        rows = self.chain_rows
        labels = ctx.draw_labels(rows)
        bound = ctx.bind(energy, None if labels is None else labels.to(ctx.device))
        every = max(1, self.chain_steps // (self.chain_frames - 1))
        x0 = ctx.chain_starts(rows).to(ctx.device)
        frames, energies = [x0.cpu()], [float(_energy(bound, x0).mean())]

        def record(step: int, x: torch.Tensor) -> None:
            if (step + 1) % every == 0 and len(frames) < self.chain_frames:
                frames.append(x.cpu())
                energies.append(float(_energy(bound, x).mean()))
        with ctx.phase("chain pictures", self.chain_steps) as advance:
            ctx.sampler.sample(bound, x0, steps=self.chain_steps, generator=ctx.generator,
                               callback=lambda step, x: (record(step, x), advance(1)))
        steps = [min(i * every, self.chain_steps) for i in range(len(frames))]
        by_class = labels is not None and not labels.is_floating_point()
        names = class_words(ctx, labels) if by_class else [f"chain {i + 1}" for i in range(rows)]
        save_image_columns(ctx.out_dir / "chains.png", frames, col_labels=[f"step {s}" for s in steps],
                           row_labels=names, value_range=ctx.data.value_range,
                           title=f"{rows} chains from uniform noise, {ctx.steps_text(self.chain_steps)}")
        save_curves(ctx.out_dir / "chain_energy.png", {"mean energy": (steps, energies)},
                    xlabel=f"{ctx.sampler_name} step", ylabel="mean energy (lower: more likely)",
                    title=f"Mean energy of the {rows} chains of chains.png, started from uniform noise")
        return {"chain_energy_start": energies[0], "chain_energy_end": energies[-1]}

    def _class_rows(self, ctx: TaskContext, energy: Any) -> None:
        classes = min(ctx.data.num_classes, self.max_classes)
        labels = torch.arange(classes).repeat_interleave(self.per_class)
        if self.class_rows_from == "buffer":
            x0, steps = ctx.chain_starts(labels.shape[0], "buffer", labels=labels), None
            start = "replay-buffer states"
        else:
            x0, steps, start = ctx.chain_starts(labels.shape[0]), self.chain_steps, "uniform noise"
        samples = ctx.sample(energy, x0, labels, steps=steps, batch_size=self.batch_size, description="class rows")
        save_image_grid(ctx.out_dir / "samples_by_class.png", samples, ncol=self.per_class,
                        row_labels=class_words(ctx, torch.arange(classes)), value_range=ctx.data.value_range,
                        title=f"{self.per_class} samples per class: {start} after {ctx.steps_text(steps)}")

    def _nearest(self, ctx: TaskContext, samples: torch.Tensor) -> dict[str, float]:
        reference = evenly_spaced(ctx.data.train, 20000)
        shown = samples[: self.nearest]
        _, idx = nearest(shown, reference, k=self.neighbours)
        columns = [shown] + [reference[idx[:, j]] for j in range(idx.shape[1])]
        heads = ["sample"] + [f"nearest {j + 1}" for j in range(idx.shape[1])]
        save_image_columns(ctx.out_dir / "nearest.png", columns, col_labels=heads, value_range=ctx.data.value_range,
                           title=f"{shown.shape[0]} replay-buffer samples and their {idx.shape[1]} nearest training "
                                 "images (pixel L2 distance)")
        scored = samples[:500]
        test = ctx.data.test[: scored.shape[0]]
        sample_d = nearest(scored, reference)[0].mean()
        test_d = nearest(test, reference)[0].mean()
        return {"nearest_l2": float(sample_d), "nearest_l2_test": float(test_d),
                "nearest_ratio": float(sample_d / test_d.clamp_min(1e-12))}


def class_words(ctx: TaskContext, labels: torch.Tensor) -> list[str]:
    """Row labels for class ``labels``: the dataset's class names (``"class 3"`` where a name is a number)."""
    names = ctx.data.class_names or tuple(str(c) for c in range(ctx.data.num_classes))
    return [f"class {names[c]}" if names[c].isdigit() else names[c] for c in labels.tolist()]


def _energy(energy: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return energy(x)
