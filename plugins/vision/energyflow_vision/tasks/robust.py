"""``kind = "robust"``: robust accuracy of the energy classifier and the softmax baseline under PGD.

Both classifiers of the ``classify`` task are attacked with PGD (`energyflow_vision.evaluation.attacks`:
random start, L-infinity and L2, cross-entropy and margin losses, an image robust only if it
survives every loss) at every epsilon of a sweep. An image broken at one epsilon is broken at
every larger one (the smaller ball lies inside), so each epsilon attacks only the survivors. The
attack is white-box on each classifier's own logits; ``energy_refined`` (with ``refine_steps``)
classifies, after IGEBM's Langevin refinement, the images crafted against the plain energy
classifier, as IGEBM evaluates it: the last iterate of the first loss's PGD on every test image at
every epsilon (a transfer attack, not an adaptive one through the sampler);
``energy_refined_bpda`` (with ``adaptive_images``) is the refined classifier attacked white-box
through its refinement, whose gradient is taken as the identity (BPDA), on the first
``adaptive_images`` test images (``adaptive_steps`` steps, cross-entropy: each step samples).
Convergence is checked: ``pgd_unconverged`` is the largest share of images an attack broke in its
second half of steps (near 0 when more steps would not break more). Writes ``robust.png``
(accuracy against epsilon, a panel per norm), ``robust.md`` (the table) and ``robust.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import TaskContext
from energyflow.tasks import percent, save_panels
from energyflow_vision.evaluation.attacks import LOSSES, NORMS, pgd
from energyflow_vision.evaluation.energy_classifier import Logits, accuracy
from energyflow_vision.tasks.classify import ClassifyTask

NORM_WORDS = {"linf": "L-infinity", "l2": "L2"}
#: the attacked classifiers, as the metrics name them
ATTACKED = {
    "energy": "the energy classifier, attacked white-box",
    "softmax": "the softmax baseline, attacked white-box",
    "energy_refined": "the refined energy classifier on the images crafted against the plain one (transfer, as "
                      "IGEBM evaluates it)",
    "energy_refined_bpda": "the refined energy classifier attacked through its refinement (BPDA), on the first "
                           "task.adaptive_images test images",
}


def _names(allowed: tuple[str, ...], what: str):
    def convert(value):
        names = tuple(value) if isinstance(value, (list, tuple)) else value
        if not isinstance(names, tuple) or not names or any(not isinstance(n, str) or n not in allowed for n in names):
            raise ValueError(f"{what}: expected a non-empty list of {', '.join(allowed)}, got {value!r}")
        return names
    return convert


def _epsilons(value):
    eps = tuple(value) if isinstance(value, (list, tuple)) else value
    if not isinstance(eps, tuple) or not all(isinstance(e, (int, float)) and e >= 0 for e in eps):
        raise ValueError(f"expected a list of epsilons >= 0, got {value!r}")
    return tuple(sorted({float(e) for e in eps} | {0.0}))


@frozen(kw_only=True)
class RobustTask(ClassifyTask):
    """Robust accuracy against PGD (L-infinity, L2) over an epsilon sweep: energy classifier and softmax baseline."""

    metrics: ClassVar[dict[str, str]] = {
        **ClassifyTask.metrics,
        "pgd_unconverged": "largest share of the test images an attack broke only in its second half of steps "
                           "(near 0: more PGD steps would not break more)",
        **{f"{norm}_{{EPS}}_{name}": f"accuracy under PGD {words} attacks of radius EPS: {text}"
           for norm, words in NORM_WORDS.items() for name, text in ATTACKED.items()},
        **{f"{norm}_{{EPS}}_{name}_subset": f"accuracy under PGD {words} attacks of radius EPS on the first "
                                            f"task.adaptive_images test images only, beside energy_refined_bpda: {text}"
           for norm, words in NORM_WORDS.items() for name, text in ATTACKED.items() if name != "energy_refined_bpda"},
    }

    norms: Any = field(default=NORMS, converter=_names(NORMS, "norms"),
                                   metadata={"help": "list of attack norms: linf, l2"})
    linf_epsilons: tuple[float, ...] = field(default=(0.0, 0.05, 0.1, 0.15, 0.2, 0.3), converter=_epsilons,
                                             metadata={"help": "L-infinity radii (image range units; 0 is always added)"})
    l2_epsilons: tuple[float, ...] = field(default=(0.0, 0.5, 1.0, 1.5, 2.0, 3.0), converter=_epsilons,
                                           metadata={"help": "L2 radii (image range units; 0 is always added)"})
    steps: int = field(default=40, validator=[v.instance_of(int), v.ge(2)], metadata={"help": "PGD steps per attack"})
    losses: Any = field(default=LOSSES, converter=_names(LOSSES, "losses"),
                                    metadata={"help": "list of attack losses: ce, margin (robust = survives all)"})
    step_ratio: float = field(default=2.5, converter=float, validator=v.gt(0.0),
                              metadata={"help": "PGD step = step_ratio * epsilon / steps (Madry et al.: 2.5)"})
    adaptive_images: int = field(default=0, validator=[v.instance_of(int), v.ge(0)],
                                 metadata={"help": "with refine_steps: test images also attacked through the refinement "
                                                   "(BPDA, the refinement's gradient taken as the identity); 0: none"})
    adaptive_steps: int = field(default=10, validator=[v.instance_of(int), v.ge(2)],
                                metadata={"help": "PGD steps of the attack through the refinement (each runs the "
                                                  "sampler on a copy per class; cross-entropy loss only)"})

    def kind_name(self) -> str:
        return "robust"

    def run(self, ctx: TaskContext) -> dict[str, float]:
        metrics, models, through, test, labels = self.prepare(ctx)
        attacked = {name: fn for name, fn in models.items() if name != "energy_refined"}
        adaptive = {f"{name}_bpda": fn for name, fn in through.items()} if self.adaptive_images else {}
        sweeps = {"linf": self.linf_epsilons, "l2": self.l2_epsilons}
        table: dict[str, dict[str, list[float]]] = {}
        subset: dict[str, dict[str, list[float]]] = {}
        unconverged = 0.0
        total = sum(len(sweeps[n]) for n in self.norms) * (len(attacked) * len(self.losses) + len(adaptive))
        with ctx.phase("PGD attacks", total) as advance:
            for norm in self.norms:
                table[norm] = {}
                adversarial = {}
                for name, fn in attacked.items():
                    transfer = name == "energy" and "energy_refined" in models
                    accuracies, images, gap = self._sweep(ctx, fn, test, labels, norm, sweeps[norm], advance,
                                                          transfer=transfer)
                    table[norm][name] = accuracies
                    adversarial[name] = images
                    unconverged = max(unconverged, gap)
                if "energy_refined" in models:
                    table[norm]["energy_refined"] = [
                        self._accuracy(ctx, models["energy_refined"], adversarial["energy"][i], labels)
                        for i in range(len(sweeps[norm]))]
                few, few_labels = test[: self.adaptive_images], labels[: self.adaptive_images]
                if adaptive:  # the other models on the same images, for a like-for-like comparison
                    subset[norm] = {name: [self._accuracy(ctx, models[name], x[: self.adaptive_images], few_labels)
                                           for x in images] for name, images in adversarial.items()}
                for name, fn in adaptive.items():  # white-box through the refinement, on the first images
                    accuracies, images, _ = self._sweep(ctx, fn, few, few_labels, norm, sweeps[norm], advance,
                                                        steps=self.adaptive_steps, losses=self.losses[:1])
                    table[norm][name] = [self._accuracy(ctx, models[name.removesuffix("_bpda")], x, few_labels)
                                         for x in images]
                    subset[norm][name] = table[norm][name]
        metrics["pgd_unconverged"] = unconverged
        for norm, rows in table.items():
            for name, accuracies in rows.items():
                for eps, acc in zip(sweeps[norm], accuracies):
                    metrics[f"{norm}_{eps:g}_{name}"] = acc
        for norm, rows in subset.items():
            for name, accuracies in rows.items():
                if not name.endswith("_bpda"):
                    metrics.update({f"{norm}_{eps:g}_{name}_subset": acc
                                    for eps, acc in zip(sweeps[norm], accuracies)})
        self._report(ctx, table, {n: sweeps[n] for n in self.norms}, subset)
        return metrics

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """Clean accuracy, then each classifier's accuracy at the largest radius of each norm."""
        lines = [self.accuracy_sentence(metrics) + "."]
        short = {"energy": "the energy classifier", "softmax": "the softmax baseline",
                 "energy_refined": "the refined energy classifier (transfer attack)",
                 "energy_refined_bpda": f"the refined one attacked through its refinement ({self.adaptive_images} "
                                        "images)"}
        for norm in self.norms:
            eps = max({"linf": self.linf_epsilons, "l2": self.l2_epsilons}[norm])
            found = [f"{percent(metrics[f'{norm}_{eps:g}_{name}'])} for {words}" for name, words in short.items()
                     if f"{norm}_{eps:g}_{name}" in metrics]
            picture = " -> robust.png (robust.md: every radius)" if norm == self.norms[-1] else ""
            lines.append(f"Under PGD {NORM_WORDS[norm]} attacks of radius {eps:g} ({self.steps} steps): "
                         + ", ".join(found) + picture + ".")
        lines.append(f"At most {percent(metrics['pgd_unconverged'])} of the images broke only in the second half "
                     "of an attack's steps (near 0: the attacks converged).")
        return lines

    def _accuracy(self, ctx: TaskContext, fn: Logits, x: torch.Tensor, labels: torch.Tensor) -> float:
        return accuracy(fn, x, labels, ctx.device, self.batch_size)

    def _sweep(self, ctx: TaskContext, fn: Logits, test: torch.Tensor, labels: torch.Tensor, norm: str,
               epsilons: tuple[float, ...], advance, steps: int | None = None,
               losses: tuple[str, ...] | None = None,
               transfer: bool = False) -> tuple[list[float], list[torch.Tensor], float]:
        """Robust accuracy at each epsilon, the adversarial images at each, and the largest late-break share.

        With ``transfer`` the images are for another classifier (IGEBM's refinement): the first loss
        attacks every image at every epsilon and keeps its last iterate, the highest loss reached,
        rather than the first point that crossed the boundary.
        """
        steps, losses = steps or self.steps, losses or self.losses
        current = test.clone()
        broken = torch.zeros(test.shape[0], dtype=torch.bool)
        accuracies, images, late = [], [], 0.0
        half = steps // 2
        for eps in epsilons:
            for i, loss in enumerate(losses):
                handed_on = transfer and i == 0
                alive = torch.arange(test.shape[0]) if handed_on else (~broken).nonzero().squeeze(1)
                for rows in alive.split(self.batch_size):
                    x, y = test[rows].to(ctx.device), labels[rows].to(ctx.device)
                    adv, history = pgd(fn, x, y, norm=norm, epsilon=eps, steps=steps, generator=ctx.generator,
                                       value_range=ctx.data.value_range, loss=loss, step_ratio=self.step_ratio,
                                       checkpoints=(half, steps), keep_first=not handed_on)
                    if handed_on or not transfer:
                        current[rows] = adv.cpu()
                    broken[rows[history[steps].cpu()]] = True
                    late = max(late, float((history[steps] & ~history[half]).sum()) / test.shape[0])
            advance(len(losses))
            accuracies.append(1.0 - float(broken.float().mean()))
            images.append(current.clone())
        return accuracies, images, late

    def _report(self, ctx: TaskContext, table: dict[str, dict[str, list[float]]],
                sweeps: dict[str, tuple[float, ...]], subset: dict[str, dict[str, list[float]]]) -> None:
        units = {"linf": "L-infinity epsilon", "l2": "L2 epsilon"}
        panels = {f"PGD {norm} ({self.steps} steps)": {name: (sweeps[norm], accs) for name, accs in rows.items()}
                  for norm, rows in table.items()}
        save_panels(ctx.out_dir / "robust.png", panels, ylabel="accuracy under attack",
                    xlabel={f"PGD {norm} ({self.steps} steps)": units[norm] for norm in table},
                    title="Test accuracy under PGD attacks of growing size (epsilon)")
        lines = []
        for norm, rows in table.items():
            lines += _markdown(norm, sweeps[norm], rows)
        for norm, rows in subset.items():
            lines += [f"The first {self.adaptive_images} test images only ({norm}):", "",
                      *_markdown(norm, sweeps[norm], rows)]
        (ctx.out_dir / "robust.md").write_text("\n".join(lines), encoding="utf-8")
        ctx.write_json("robust.json", {"epsilons": sweeps, "accuracy": table, "steps": self.steps,
                                       "losses": list(self.losses), "accuracy_on_adaptive_subset": subset})
        for line in lines:
            ctx.log(line)


def _markdown(norm: str, epsilons: tuple[float, ...], rows: dict[str, list[float]]) -> list[str]:
    """A table of accuracy per epsilon (rows) and model (columns), then a blank line."""
    names = list(rows)
    lines = [f"| {norm} epsilon | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, eps in enumerate(epsilons):
        lines.append(f"| {eps:g} | " + " | ".join(f"{rows[n][i]:.3f}" for n in names) + " |")
    return [*lines, ""]
