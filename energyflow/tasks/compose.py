"""``kind = "compose"``: sample concept expressions (``"young & female & ~smiling"``) from noise.

Each expression is parsed over the recipe's ``[concepts]`` (`energyflow.compose.parse`), its
named energies trained or loaded on first use (`energyflow.runtime.NamedEnergies`), and sampled from
uniform noise with the recipe's sampler: a composed energy has no replay buffer of its own. As
the papers' code does (``celeba_combine.py``: ``step_lr / len(models)``), the step size is divided
by the number of concept terms (``divide_step``): the gradient of a sum of n energies is about n
times larger.
With a ``[classifier]``, each expression gets the share of samples the classifier judges to satisfy
each of its top-level ``&`` terms and the whole expression.
A classifier can be fooled (it may read a colour and ignore the rest), so on images each expression
also gets how realistic its samples are (`energyflow.metrics.realism`, in pixel space against the
dataset's test images): ``realistic[EXPR]`` (the share inside the real data's k-NN balls),
``distance_ratio[EXPR]`` (0 as close as held-out real images, 1 as far as noise) and
``satisfied_realistic[EXPR]``, the share both satisfied and realistic: the figure a target counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attrs
import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow.compose.concepts import concept_truth
from energyflow.compose.expressions import build, conjuncts, evaluate, names, parse_tree
from energyflow.errors import CompositionError, RecipeError, RunError
from energyflow.metrics.realism import RealismReference
from energyflow.recipe.tables import component as component_table
from energyflow.tasks import pictures as viz
from energyflow.tasks.base import Task
from energyflow.tasks.context import TaskContext
from energyflow.tasks.image_tables import save_labelled_rows
from energyflow.tasks.report import TRAIN_METRICS, percent

PICTURE = "compose.png"


def _expressions(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("expected at least one expression, e.g. [\"young & ~smiling\"]")
    for i, expr in enumerate(value):
        try:
            parse_tree(expr)
        except CompositionError as e:
            raise ValueError(f"expressions[{i}]: {e}") from None


@frozen(kw_only=True)
class ComposeTask(Task):
    """Sample each expression over the recipe's concepts from noise; a labelled row each, and classifier shares."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "concepts")
    metrics: ClassVar[dict[str, str]] = {
        **{f"{key}[{{NAME}}]": f"named energy NAME trained in the run: {text}" for key, text in TRAIN_METRICS.items()},
        "classifier_accuracy[{CONCEPT}]": "the judging classifier's accuracy on held-out data for that label column",
        "energy[{EXPR}]": "mean energy of the expression's samples under the expression's energy",
        "satisfied[{EXPR}]": "share of the expression's samples the classifier says satisfy the whole expression",
        "satisfied[{EXPR}][{TERM}]": "share of the expression's samples that satisfy one conjunct of it",
        "realistic[{EXPR}]": "images: share of samples inside the k-NN balls of real test images (improved precision)",
        "satisfied_realistic[{EXPR}]": "images: share of samples both satisfying the expression and realistic",
        "distance_ratio[{EXPR}]": "images: distance to the nearest real image, scaled so real images score 0 "
                                  "and uniform noise 1",
        "realistic_of_data": "images: the realism score of held-out real images (the ceiling of realistic[...])",
        "realistic_of_noise": "images: the realism score of uniform noise (the floor)",
        **{f"{key}_mean[{{GROUP}}]": f"the mean of {key}[EXPR] over the expressions of task.groups.GROUP"
           for key in ("satisfied", "realistic", "satisfied_realistic", "distance_ratio")},
    }

    expressions: tuple[str, ...] = field(converter=tuple, validator=[v.deep_iterable(v.instance_of(str)), _expressions],
                                         metadata={"help": "concept expressions: names, numbers, &, |, ~, * and "
                                                           "parentheses, e.g. \"young & female & ~smiling\""})
    samples: int = field(default=16, validator=[v.instance_of(int), v.ge(1)],
                         metadata={"help": "samples per expression (one row of the picture; the classifier's shares)"})
    steps: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]),
                              metadata={"help": "sampler steps from noise; none: the sampler's steps"})
    divide_step: bool = field(default=True, validator=v.instance_of(bool),
                              metadata={"help": "divide the sampler's step size by the number of concept terms "
                                                "(as the compositional-generation paper's code does)"})
    picture_columns: int = field(default=16, validator=[v.instance_of(int), v.ge(1)],
                                 metadata={"help": "samples shown per row of compose.png"})
    batch_size: int = field(default=256, validator=[v.instance_of(int), v.ge(1)],
                            metadata={"help": "chains sampled at once"})
    exclusive: bool = field(default=False, validator=v.instance_of(bool),
                            metadata={"help": "a sample satisfies an expression only if every column the classifier "
                                              "judges that none of its concepts names is 0: nothing more than asked "
                                              "(e.g. no object in a cell not asked for)"})
    quality: bool = field(default=True, validator=v.instance_of(bool),
                          metadata={"help": "on images, score each expression's samples for realism against the "
                                            "test split (realistic, distance_ratio, satisfied_realistic)"})
    quality_k: int = field(default=3, validator=[v.instance_of(int), v.ge(1)],
                           metadata={"help": "k of the k-NN balls that make a sample realistic (improved precision)"})
    reference: dict[str, Any] = field(factory=dict, validator=v.instance_of(dict),
                                      metadata={"help": "the realism reference: [data] with these keys changed (say "
                                                        "{ objects = 3 }); {}: the run's own test split"})
    reference_size: int = field(default=1000, validator=[v.instance_of(int), v.ge(2)],
                                metadata={"help": "test images in the real reference of the realism scores"})
    groups: dict[str, tuple[str, ...]] = field(
        factory=dict, validator=v.deep_mapping(v.instance_of(str), v.deep_iterable(v.instance_of(str))),
        metadata={"help": "named lists of expressions; metrics.json gets satisfied_mean[GROUP], the mean of their "
                          "satisfied[EXPR] (needs a [classifier])"})

    @groups.validator
    def _groups_name_expressions(self, attribute: Any, value: dict[str, tuple[str, ...]]) -> None:
        for group, members in value.items():
            for expr in members:
                if expr not in self.expressions:
                    raise ValueError(f"group {group!r} lists {expr!r}, which is not one of the expressions")

    def check_recipe(self, recipe: Any, where: Any) -> None:
        """Every name in every expression is a concept of the recipe; ``reference`` is a valid dataset."""
        if self.reference:
            try:
                self._reference(recipe)
            except RecipeError as e:
                raise RecipeError(f"{where('task.reference')}: {e}") from None
        known = [c.name for c in recipe.concepts]
        for i, expr in enumerate(self.expressions):
            for name in names(parse_tree(expr)):
                if name not in known:
                    at = f"task.expressions[{i}]"
                    from energyflow.errors import suggest

                    raise RecipeError(f"{where(at)}: {at} = {expr!r}: unknown concept {name!r}{suggest(name, known)}; "
                                      "declare it in [concepts]")

    def run(self, ctx: TaskContext) -> dict[str, float]:
        named = ctx.named
        if named is None:
            raise RunError(f"{ctx.recipe.source}: the compose task needs [energies.NAME] and [concepts] tables")
        named.check()
        trees = [parse_tree(expr) for expr in self.expressions]
        used = sorted({name for tree in trees for name in names(tree)})
        concepts = named.concepts(used)
        judge = named.classifier()
        metrics: dict[str, float] = {}
        for name, stats in named.train_stats.items():
            metrics.update({f"{key}[{name}]": value for key, value in stats.items()})
        if judge is not None:
            judged = named.dataset(ctx.recipe.classifier.data)
            metrics.update({f"classifier_accuracy[{c}]": acc for c, acc in judge.accuracy(judged).items()})
        rows: dict[str, torch.Tensor] = {}
        satisfied: dict[str, torch.Tensor] = {}
        for expr, tree in zip(self.expressions, trees):
            energy = build(tree, concepts.__getitem__)
            if (reason := energy.why_not_samplable()) is not None:
                raise RunError(f"{ctx.recipe.source}: cannot sample {expr!r}: {reason}")
            terms = len(names(tree))
            sampler = ctx.sampler
            if self.divide_step and terms > 1:
                sampler = attrs.evolve(sampler, step_size=sampler.step_size / terms)
            x0 = ctx.chain_starts(self.samples, "uniform")
            x = attrs.evolve(ctx, sampler=sampler).sample(energy, x0, steps=self.steps, batch_size=self.batch_size,
                                                          description=f"compose {expr}")
            rows[expr] = x
            metrics[f"energy[{expr}]"] = ctx.mean_energy(energy, x)
            if judge is not None:
                shares, satisfied[expr] = _shares(expr, tree, x, judge, named, self.exclusive)
                metrics.update(shares)
        real = self._realism(ctx, rows, satisfied, metrics)
        for group, members in self.groups.items():
            for key in ("satisfied", "realistic", "satisfied_realistic", "distance_ratio"):
                if f"{key}[{members[0]}]" in metrics:
                    metrics[f"{key}_mean[{group}]"] = sum(metrics[f"{key}[{e}]"] for e in members) / len(members)
        self._draw(ctx, rows if real is None else {"data (held out)": real, **rows})
        return metrics

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """Per expression, the share of samples that satisfy it (with a classifier), and the picture."""
        lines = [f"compose.png: one labelled row of samples from noise per expression ({len(self.expressions)})."]
        shares = [f"{expr} {percent(metrics[f'satisfied[{expr}]'])}" for expr in self.expressions
                  if f"satisfied[{expr}]" in metrics]
        if shares:
            lines.append("Samples the classifier says satisfy their expression: " + "; ".join(shares) + ".")
        means = [f"{group} {percent(metrics[f'satisfied_mean[{group}]'])}" for group in self.groups
                 if f"satisfied_mean[{group}]" in metrics]
        if means:
            lines.append("Mean per group: " + "; ".join(means) + ".")
        return lines

    def _reference(self, recipe: Any) -> Any:
        """``[data]`` with the ``reference`` keys changed, as a validated dataset component."""
        same = self.reference.get("kind", recipe.data.kind) == recipe.data.kind  # a new kind replaces [data]
        table = {"kind": recipe.data.kind, **recipe.data.options(), **self.reference} if same else self.reference
        return component_table("task.reference", table, "dataset")

    def _realism(self, ctx: TaskContext, rows: dict[str, torch.Tensor], satisfied: dict[str, torch.Tensor],
                 metrics: dict[str, float]) -> torch.Tensor | None:
        """Realism scores of every expression against the test split; returns the held-out real images."""
        if not self.quality or ctx.data.kind != "image":
            return None
        test = ctx.data.test
        if self.reference:
            generator = torch.Generator().manual_seed(ctx.recipe.run.seed)
            test = ctx.build(self._reference(ctx.recipe), data=None, generator=generator, what="task.reference").test
        if test.shape[0] < 2 * (self.quality_k + 1):
            return None
        held = min(self.samples, test.shape[0] // 2)
        real, reference = test[:held], test[held:held + self.reference_size]
        low, high = ctx.data.value_range
        noise = low + (high - low) * torch.rand(real.shape, generator=ctx.generator)
        scores = RealismReference(reference, self.quality_k).anchor(real, noise)  # radii and anchors once
        for name, x in (("data", real), ("noise", noise)):
            metrics[f"realistic_of_{name}"] = float(scores.realistic(x).float().mean())
        for expr, x in rows.items():
            inside = scores.realistic(x)
            metrics[f"realistic[{expr}]"] = float(inside.float().mean())
            metrics[f"distance_ratio[{expr}]"] = scores.distance_ratio(x)
            if expr in satisfied:
                metrics[f"satisfied_realistic[{expr}]"] = float((inside & satisfied[expr]).float().mean())
        return real

    def _draw(self, ctx: TaskContext, rows: dict[str, torch.Tensor]) -> None:
        data = ctx.data
        if data.kind == "image":
            shown = min(self.picture_columns, self.samples)
            save_labelled_rows(ctx.out_dir / PICTURE, rows, value_range=data.value_range, ncol=shown,
                               title=f"{shown} samples per expression (one row each): uniform noise after "
                                     f"{ctx.steps_text(self.steps)}")
        elif data.kind == "points" and data.num_features == 2:
            viz.save_point_panels(ctx.out_dir / PICTURE, rows, value_range=data.value_range,
                                  title=f"{self.samples} samples per expression (red) over the data (grey): "
                                        f"uniform noise after {ctx.steps_text(self.steps)}",
                                  reference=data.test[:2000])


def _shares(expr: str, tree: Any, x: torch.Tensor, judge: Any, named: Any,
            exclusive: bool = False) -> tuple[dict[str, float], torch.Tensor]:
    """``satisfied[expr]`` and ``satisfied[expr][conjunct]``: shares of samples the classifier agrees with; and
    per sample, whether it satisfies the expression."""
    predicted = judge.predict(x)
    truth = {}
    for name in names(tree):
        concept = named.concept_spec(name)
        if not concept.judged:  # a marginal: true of every sample
            truth[name] = torch.ones(x.shape[0], dtype=torch.bool)
            continue
        missing = [c for c in concept.judged if c not in predicted]
        if missing:
            raise RunError(f"concept {name!r} uses {missing[0]!r}, which the classifier does not classify; "
                           "add it to classifier.labels")
        truth[name] = concept_truth(concept.judged, predicted)
    whole = evaluate(tree, truth)
    if exclusive:  # nothing more than asked: every column no concept of the expression names is 0
        named_columns = {c for name in names(tree) for c in named.concept_spec(name).judged}
        for column, values in predicted.items():
            if column not in named_columns:
                whole = whole & (values == 0)
    out = {f"satisfied[{expr}]": float(whole.float().mean())}
    parts = conjuncts(tree)
    if len(parts) > 1:
        for part in parts:
            out[f"satisfied[{expr}][{part}]"] = float(evaluate(part, truth).float().mean())
    return out, whole
