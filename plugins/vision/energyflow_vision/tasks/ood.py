"""``kind = "ood"``: the energy as an out-of-distribution score, beside a softmax baseline.

Scores (higher means "more out of distribution"), each turned into an AUROC of every
out-of-distribution set against the in-distribution test images:

- ``energy``: E(x) of an unconditional model; for a class-conditional model ``energy_min``
  (min over classes, IGEBM's choice), ``energy_lse`` (``-logsumexp(-E(x, y))`` over classes, the
  free energy of the marginal) and ``energy_mean``;
- ``grad_norm``: ``|dE/dx|`` (of ``energy_lse`` for a conditional model);
- ``softmax``: minus the max softmax probability of a classifier of the same architecture
  trained on the same data (`energyflow_vision.evaluation.softmax_baseline.SoftmaxClassifier`), the
  baseline (Hendrycks & Gimpel 2017), trained in the same run.

Sets are dataset tables (``[task.sets.<name>]``, any registered image dataset, brought to the
model's shape) and generated ones (`energyflow_vision.evaluation.ood_sets.GENERATED`). Writes
``ood_auroc.png`` (AUROC per set and score), ``ood_hist_<set>.png`` (score histograms),
``ood_sets.png`` (a row of images per set) and ``ood_auroc.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import RunError, Task, TaskContext, train_metrics
from energyflow.metrics import auroc
from energyflow.tasks import (
    TRAIN_METRICS,
    percent,
    save_histograms,
    save_image_grid,
    save_panels,
)
from energyflow_vision.evaluation.energy_classifier import (
    accuracy,
    batched,
    energy_logits,
)
from energyflow_vision.evaluation.ood_sets import (
    GENERATED,
    build_set,
    dataset_tables,
    generate,
    generated_names,
)
from energyflow_vision.evaluation.softmax_baseline import trained_softmax
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    require_images,
    trained,
)

_positive = [v.instance_of(int), v.ge(1)]
#: the scores, as the metrics name them
SCORES = {
    "energy": "the energy E(x) of an unconditional model",
    "energy_min": "the lowest energy over the classes of a conditional model (IGEBM's score)",
    "energy_lse": "-logsumexp(-E(x, y)) over the classes, the free energy of a conditional model's marginal",
    "energy_mean": "the mean energy over the classes of a conditional model",
    "grad_norm": "the norm of the energy's gradient dE/dx (of energy_lse for a conditional model)",
    "softmax": "minus the top softmax probability of the softmax baseline (Hendrycks & Gimpel 2017)",
}


def energy_scores(energy: Any, x: torch.Tensor, num_classes: int | None) -> dict[str, torch.Tensor]:
    """The energy scores of one batch (see the module docstring), detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        if num_classes is None:
            values = energy(x)
            scores = {"energy": values}
        else:
            energies = -energy_logits(energy, x, num_classes)
            values = -torch.logsumexp(-energies, dim=1)
            scores = {"energy_min": energies.min(1).values, "energy_lse": values, "energy_mean": energies.mean(1)}
        (grad,) = torch.autograd.grad(values.sum(), x)
    scores["grad_norm"] = grad.flatten(1).norm(dim=1)
    return {name: s.detach().cpu() for name, s in scores.items()}


@frozen(kw_only=True)
class OodTask(Task):
    """AUROC of energy scores and of a softmax baseline for out-of-distribution sets against the test split."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "energy_accuracy": "conditional models: test accuracy of the energy as a classifier (lowest energy over classes)",
        "softmax_accuracy": "test accuracy of the softmax baseline (same network, same data, trained in the run)",
        **{f"auroc_{{SET}}_{score}": f"AUROC of telling set SET (task.generated or task.sets) from the test split by "
                                     f"{text}: 1 told apart, 0.5 chance" for score, text in SCORES.items()},
    }

    checkpoint: str | None = checkpoint_field()
    sets: Any = field(factory=dict, converter=dataset_tables,
                       metadata={"help": "out-of-distribution datasets: [task.sets.NAME] tables with kind = any "
                                         "registered dataset and its options (size and channels default to the model's)"})
    generated: Any = field(default=GENERATED, converter=generated_names,
                                       metadata={"help": "list of generated sets: " + ", ".join(GENERATED)})
    resolution: int = field(default=4, validator=[v.instance_of(int), v.ge(1)],
                            metadata={"help": "pixels (per side) of the 'resolution' set before it is scaled back up"})
    num_images: int = field(default=1000, validator=_positive,
                            metadata={"help": "test images, and images per out-of-distribution set, scored"})
    score: str = field(default="auto", validator=v.in_(("auto", "energy", "energy_min", "energy_lse", "energy_mean",
                                                          "grad_norm")),
                       metadata={"help": "the energy score pictured and summarised; auto: energy_min for a "
                                         "conditional model (IGEBM), energy otherwise"})
    baseline_steps: int = field(default=1000, validator=v.and_(v.instance_of(int), v.ge(0)),
                                metadata={"help": "training steps of the softmax baseline (0: no baseline)"})
    baseline_lr: float = field(default=1e-3, converter=float, validator=v.gt(0.0),
                               metadata={"help": "Adam learning rate of the softmax baseline"})
    batch_size: int = field(default=256, validator=_positive, metadata={"help": "images scored at once"})
    shown: int = field(default=8, validator=v.and_(v.instance_of(int), v.ge(0)),
                       metadata={"help": "images per set in ood_sets.png (0: no picture)"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "ood")
        data = ctx.data
        classes = int(data.num_classes) if ctx.conditional and not data.train_labels.is_floating_point() else None
        if ctx.conditional and classes is None:
            raise RunError("task ood scores class-conditional energies over their classes; attribute-conditional "
                           "energies are not supported (set energy.conditional = false)")
        score = self.score if self.score != "auto" else ("energy_min" if classes else "energy")
        if score.startswith("energy_") != bool(classes) and score != "grad_norm":
            raise RunError(f"task.score = {score!r} does not fit a{' conditional' if classes else 'n unconditional'} "
                           "energy; use energy for unconditional models, energy_min/_lse/_mean for conditional ones")
        # the sets first: a missing file should stop the run before hours of training, not after
        test, test_labels = ctx.pick_test(self.num_images)
        sets = {"test": test}
        for name in self.generated:
            sets[name] = generate(name, test, data.value_range, ctx.generator, self.resolution)
        for name, table in self.sets.items():
            try:
                sets[name] = build_set(name, table, data.sample_shape, self.num_images, ctx.generator, ctx.log)
            except (ValueError, FileNotFoundError) as e:
                raise RunError(f"{ctx.recipe.source}: [task.sets.{name}]: {e}") from e
        trainer = trained(ctx, self.checkpoint)
        energy = trainer.sampling_energy.eval()
        metrics = train_metrics(trainer)

        scores = {name: self._energy_scores(ctx, energy, images, classes) for name, images in sets.items()}
        if classes is not None and test_labels is not None:
            metrics["energy_accuracy"] = accuracy(lambda x: energy_logits(energy, x, classes), test, test_labels,
                                                  ctx.device, self.batch_size)
        baseline = self._baseline(ctx, metrics)
        if baseline is not None:
            for name, images in sets.items():
                probs = batched(lambda x: baseline(x).softmax(1), images, ctx.device, self.batch_size)
                scores[name]["softmax"] = -probs.max(1).values

        table = {name: {key: auroc(values, scores["test"][key]) for key, values in s.items()}
                 for name, s in scores.items() if name != "test"}
        for name, row in table.items():
            metrics.update({f"auroc_{name}_{key}": value for key, value in row.items()})
            shown = "  ".join(f"{key} {value:.3f}" for key, value in row.items())
            ctx.log(f"AUROC {name}: {shown}")
        ctx.write_json("ood_auroc.json", {"score": score, "auroc": table})
        self._pictures(ctx, sets, scores, table, score)
        return metrics

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """The AUROC of the pictured energy score per set, beside the softmax baseline's."""
        score = self.score
        if score == "auto":
            score = "energy_min" if any(key.endswith("_energy_min") for key in metrics) else "energy"
        sets = [*self.generated, *self.sets]
        lines = []
        for key, words in ((score, f"the energy score ({score})"), ("softmax", "the softmax baseline")):
            found = [f"{name} {metrics[f'auroc_{name}_{key}']:.3f}" for name in sets if f"auroc_{name}_{key}" in metrics]
            if found:
                lines.append(f"AUROC of {words} telling each set from the test images (1: apart, 0.5: chance): "
                             + ", ".join(found) + (" -> ood_auroc.png, ood_hist_<set>.png." if not lines else "."))
        accuracies = [f"{words} {percent(metrics[key])}" for key, words in
                      (("energy_accuracy", "the energy"), ("softmax_accuracy", "the softmax baseline"))
                      if key in metrics]
        if accuracies:
            lines.append("Test accuracy as a classifier: " + ", ".join(accuracies) + ".")
        return lines

    def _energy_scores(self, ctx: TaskContext, energy: Any, images: torch.Tensor,
                       classes: int | None) -> dict[str, torch.Tensor]:
        parts = [energy_scores(energy, chunk.to(ctx.device), classes) for chunk in images.split(self.batch_size)]
        return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}

    def _baseline(self, ctx: TaskContext, metrics: dict[str, float]) -> Any:
        data = ctx.data
        if not self.baseline_steps or data.train_labels is None or data.train_labels.is_floating_point():
            ctx.log("no softmax baseline (baseline_steps = 0 or no class labels)")
            return None
        model = trained_softmax(ctx, int(data.num_classes), steps=self.baseline_steps, lr=self.baseline_lr)
        if data.test_labels is not None:
            metrics["softmax_accuracy"] = accuracy(model, data.test, data.test_labels, ctx.device, self.batch_size)
        return model

    def _pictures(self, ctx: TaskContext, sets: dict[str, torch.Tensor], scores: dict[str, dict[str, torch.Tensor]],
                  table: dict[str, dict[str, float]], score: str) -> None:
        if self.shown:
            rows = torch.cat([images[: self.shown] for images in sets.values()])
            save_image_grid(ctx.out_dir / "ood_sets.png", rows, ncol=self.shown, row_labels=list(sets),
                            value_range=ctx.data.value_range,
                            title=f"{self.shown} images of each set: the test split (in distribution), then the "
                                  "out-of-distribution sets")
        shown_scores = [key for key in (score, "grad_norm", "softmax") if key in scores["test"]]
        for name in table:
            panels = {f"{key}: AUROC {table[name][key]:.3f}": {"test": scores["test"][key], name: scores[name][key]}
                      for key in shown_scores}
            save_histograms(ctx.out_dir / f"ood_hist_{name}.png", panels,
                            title=f"Scores of test images and of {name} images (AUROC 1: told apart, 0.5: chance)")
        names = list(table)
        curves = {key: (names, [table[name][key] for name in names]) for key in shown_scores}
        save_panels(ctx.out_dir / "ood_auroc.png", {"": curves}, xlabel="out-of-distribution set",
                    ylabel="AUROC (0.5: chance, 1: perfect)",
                    title="How well each score tells each set from the test split")
