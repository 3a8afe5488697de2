"""``kind = "classify"``: the class-conditional energy as a classifier, beside a softmax baseline.

The energy classifier picks ``argmin_y E(x, y)`` (logits ``-E(x, y)``). With ``calibrate`` its
logits become ``-E(x, y) / T + b_y``, with a temperature and per-class biases fitted on the
training split (IGEBM fits such an energy bias before classifying). With ``refine_steps`` the
input is first refined by the recipe's sampler, one copy per class under that class's energy and
kept within ``refine_box`` of the input, as IGEBM refines attacked images. The baseline is a
softmax classifier of the same architecture trained on the same data in the same run
(`energyflow_vision.evaluation.softmax_baseline`). Writes ``classify.png`` (accuracy per class of each
classifier) and the accuracies in ``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import repeat

from energyflow import Energy, Task, TaskContext, UnaryNode, bind_labels, train_metrics
from energyflow.tasks import TRAIN_METRICS, percent, save_panels
from energyflow_vision.evaluation.energy_classifier import (
    Logits,
    accuracy,
    batched,
    calibrate,
    calibrated,
    energy_logits,
    require_classes,
)
from energyflow_vision.evaluation.softmax_baseline import trained_softmax
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    require_images,
    trained,
)

_positive = [v.instance_of(int), v.ge(1)]
#: the classifiers compared, as the metrics name them
CLASSIFIERS = {
    "energy": "the energy classifier (lowest energy over the classes; calibrated with task.calibrate)",
    "softmax": "the softmax baseline (same network, same data, trained in the run)",
    "energy_refined": "the energy classifier after task.refine_steps sampler steps refine each class's copy of the "
                      "input (IGEBM)",
}


class Boxed(UnaryNode):
    """``child`` whose samplers stay inside a per-element box ``[low, high]`` (then within the child's own
    constraints, e.g. its masks), via ``constrain``."""

    def __init__(self, child: Energy, low: torch.Tensor, high: torch.Tensor):
        super().__init__(child)
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor, **context: Any) -> torch.Tensor:
        return self.child(x, **context)

    def constrain(self, x: torch.Tensor) -> torch.Tensor:
        return self.child.constrain(torch.maximum(torch.minimum(x, self.high), self.low))

    def formula(self) -> str:
        return f"box({self.child.formula()})"


@frozen(kw_only=True)
class ClassifyTask(Task):
    """Test accuracy of the energy classifier (argmin over classes of E(x, y)) beside a softmax baseline."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "calibration_temperature": "task.calibrate: the temperature T fitted on the training split (logits "
                                   "-E(x, y) / T + b_y)",
        "calibration_bias_spread": "task.calibrate: standard deviation of the fitted per-class biases b_y",
        **{f"clean_accuracy_{name}": f"test accuracy of {words}" for name, words in CLASSIFIERS.items()},
    }

    checkpoint: str | None = checkpoint_field()
    num_images: int = field(default=1000, validator=_positive, metadata={"help": "test images classified"})
    calibrate: bool = field(default=False, validator=v.instance_of(bool),
                            metadata={"help": "fit a temperature and per-class energy biases on the training split"})
    refine_steps: int = field(default=0, validator=[v.instance_of(int), v.ge(0)],
                              metadata={"help": "sampler steps refining each class's copy of the input before "
                                                "classifying (0: none; IGEBM refines)"})
    refine_box: float = field(default=8 / 255, converter=float, validator=v.gt(0.0),
                              metadata={"help": "refined pixels stay within this distance of the input (IGEBM: 8/255)"})
    baseline_steps: int = field(default=1000, validator=_positive,
                                metadata={"help": "training steps of the softmax baseline"})
    baseline_lr: float = field(default=1e-3, converter=float, validator=v.gt(0.0),
                               metadata={"help": "Adam learning rate of the softmax baseline"})
    batch_size: int = field(default=128, validator=_positive, metadata={"help": "images classified at once"})

    def run(self, ctx: TaskContext) -> dict[str, float]:
        metrics, models, _, test, labels = self.prepare(ctx)
        self._picture(ctx, models, test, labels)
        return metrics

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """The test accuracy of each classifier."""
        return [self.accuracy_sentence(metrics) + " -> classify.png (accuracy per class)."]

    def accuracy_sentence(self, metrics: dict[str, float]) -> str:
        """The clean test accuracies in one sentence, without its full stop."""
        found = [f"{percent(metrics[f'clean_accuracy_{name}'])} for {words}" for name, words in
                 (("energy", "the energy classifier (lowest energy over the classes)"),
                  ("softmax", "a softmax classifier of the same network"),
                  ("energy_refined", f"the energy classifier after {self.refine_steps} refining sampler steps"))
                 if f"clean_accuracy_{name}" in metrics]
        return "Test accuracy: " + ", ".join(found)

    # ------------------------------------------------------------------ the two classifiers
    def prepare(self, ctx: TaskContext) -> tuple[dict[str, float], dict[str, Logits], dict[str, Logits], torch.Tensor,
                                                 torch.Tensor]:
        """Train (or load) the energy and the baseline.

        Returns:
            the clean accuracies (and training numbers), the classifiers by name, differentiable
            stand-ins of those that are not differentiable (the refined classifier's BPDA form),
            and the test images and labels.
        """
        require_images(ctx, self.kind_name())
        classes = require_classes(ctx, self.kind_name())
        trainer = trained(ctx, self.checkpoint)
        energy = trainer.sampling_energy.eval().requires_grad_(False)
        metrics = train_metrics(trainer)
        data = ctx.data
        test, labels = ctx.pick_test(self.num_images)
        scale: Any = lambda logits: logits
        if self.calibrate:
            raw = batched(lambda x: energy_logits(energy, x, classes), data.train, ctx.device, self.batch_size)
            temperature, bias = calibrate(raw, data.train_labels)
            scale = calibrated(lambda logits: logits, temperature, bias)
            metrics.update(calibration_temperature=temperature, calibration_bias_spread=float(bias.std()))
        models: dict[str, Logits] = {"energy": lambda x: scale(energy_logits(energy, x, classes))}
        baseline = trained_softmax(ctx, classes, steps=self.baseline_steps, lr=self.baseline_lr)
        baseline.requires_grad_(False)
        models["softmax"] = baseline
        through: dict[str, Logits] = {}
        if self.refine_steps:
            models["energy_refined"] = self.refined(ctx, energy, scale, classes)
            through["energy_refined"] = self.refined(ctx, energy, scale, classes, straight_through=True)
        with ctx.phase("clean accuracy", len(models)) as advance:
            for name, fn in models.items():
                metrics[f"clean_accuracy_{name}"] = accuracy(fn, test, labels, ctx.device, self.batch_size)
                advance(1)
        return metrics, models, through, test, labels

    def refined(self, ctx: TaskContext, energy: Energy, scale: Any, classes: int,
                straight_through: bool = False) -> Logits:
        """The energy classifier at per-class copies of the input, each first moved ``refine_steps`` sampler
        steps under its own class's energy, within ``refine_box`` of the input (IGEBM).

        With ``straight_through`` the logits carry a gradient to the input that treats the refinement
        as the identity (BPDA, Athalye et al. 2018), so an attack can aim at the refined classifier.
        """
        low, high = ctx.data.value_range

        def refine(x: torch.Tensor) -> torch.Tensor:
            if 0 < x.shape[0] < self.batch_size:  # one chain shape for every call: a compiled sampler step is reused
                return refine(torch.cat([x, x[:1].expand(self.batch_size - x.shape[0], *x.shape[1:])]))[: x.shape[0]]
            copies = repeat(x, "b ... -> (b k) ...", k=classes)
            box_low = (copies - self.refine_box).clamp_min(low).detach()
            box_high = (copies + self.refine_box).clamp_max(high).detach()
            labels = repeat(torch.arange(classes, device=x.device), "k -> (b k)", b=x.shape[0])
            bound = Boxed(bind_labels(energy, labels), box_low, box_high)
            moved = ctx.sampler.sample(bound, copies.detach(), steps=self.refine_steps, generator=ctx.generator)
            if straight_through:
                return scale(-bound(copies + (moved - copies).detach()).view(x.shape[0], classes))
            with torch.no_grad():
                return scale(-bound(moved).view(x.shape[0], classes))
        return refine

    def kind_name(self) -> str:
        return "classify"

    def _picture(self, ctx: TaskContext, models: dict[str, Logits], test: torch.Tensor, labels: torch.Tensor) -> None:
        classes = int(ctx.data.num_classes)
        curves = {}
        for name, fn in models.items():
            right = batched(fn, test, ctx.device, self.batch_size).argmax(1) == labels
            per_class = [float(right[labels == c].float().mean()) if (labels == c).any() else float("nan")
                         for c in range(classes)]
            curves[name] = (list(range(classes)), per_class)
        save_panels(ctx.out_dir / "classify.png", {"": curves}, xlabel="class",
                    ylabel="accuracy on the class's test images", title="Test accuracy per class")
