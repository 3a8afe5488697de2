"""A run's named energies, concepts and classifier, trained or loaded when a task first asks.

Each named energy trains as a run of its own inside the run's folder
(``energies/NAME/checkpoint.pt`` and ``events.jsonl``): the recipe's ``[sampler]``, ``[buffer]``,
``[[regularizers]]`` and ``[train]`` with that energy's network, on the dataset with its label
columns coded (`energyflow.concepts.LabelCoding`), so checkpoints, ``--resume``, divergence
policies and progress work as for any run. With ``checkpoint = PATH`` it is loaded instead.
The ``[classifier]`` is a conditional energy network trained by cross-entropy over the values of
each column, ``logits = -E(x, column = value)`` with the other columns unobserved.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import torch
import torch.nn.functional as F

from energyflow import checkpoints
from energyflow.checkpoints import CHECKPOINT
from energyflow.components import BuildContext, build
from energyflow.concepts import LabelCoding, TermSum, concept_truth, label_columns
from energyflow.core.energy import Energy
from energyflow.tasks.context import RunError, train_metrics

if TYPE_CHECKING:
    from energyflow.run import Run

CLASSIFIER = "classifier.pt"


class Named:
    """The named energies, concepts and classifier of one run (`energyflow.run.Run.named`).

    Nothing is trained or loaded until asked for; each is made once.
    """

    def __init__(self, run: Run):
        self.run = run
        self.recipe = run.recipe
        self._energies: dict[str, Energy] = {}
        self._judge: Judge | None = None
        self._datasets: dict[int, Any] = {}
        #: per named energy trained or loaded here, its last training step's numbers
        self.train_stats: dict[str, dict[str, float]] = {}

    # ------------------------------------------------------------------ energies
    def entry(self, name: str) -> Any:
        for entry in self.recipe.energies:
            if entry.name == name:
                return entry
        raise RunError(f"{self.recipe.source}: no named energy {name!r}; the recipe names: "
                       f"{', '.join(e.name for e in self.recipe.energies)}")

    def dataset(self, component: Any) -> Any:
        """The run's data, or a named energy's (classifier's) own ``data`` table, built once."""
        if component is None:
            return self.run.data
        if id(component) not in self._datasets:
            run = self.run
            ctx = BuildContext(device=run.device, generator=torch.Generator().manual_seed(run.recipe.run.seed),
                               seed=run.recipe.run.seed, out_dir=run.out_dir)
            try:
                self._datasets[id(component)] = build(component.spec, ctx)
            except (ValueError, FileNotFoundError) as e:
                raise RunError(f"{self.recipe.source}: [{component.table}] ({component.kind}): {e}") from e
        return self._datasets[id(component)]

    def owner(self, name: str) -> Any:
        """The sum (``terms = [...]``) energy ``name`` is trained in, or ``None``."""
        return next((e for e in self.recipe.energies if name in e.spec.terms), None)

    def coding(self, name: str) -> LabelCoding:
        """How energy ``name`` sees the label columns (a sum: one-hot blocks over its terms' columns)."""
        entry = self.entry(name)
        owner = self.owner(name)
        data = self.dataset((owner or entry).data)
        try:
            if entry.spec.terms:
                columns = tuple(dict.fromkeys(c for t in entry.spec.terms for c in self.coding(t).columns))
                return LabelCoding.of(data, columns, as_class=False)
            columns = LabelCoding.of(data, entry.spec.labels).columns
            return LabelCoding.of(data, columns, as_class=len(columns) == 1 and entry.spec.drop == 0)
        except ValueError as e:
            raise RunError(f"{self.recipe.source}: energies.{name}: {e}") from e

    def energy(self, name: str) -> Energy:
        """Named energy ``name``, ready to sample (its EMA weights when kept), trained or loaded on first use."""
        if name not in self._energies:
            owner = self.owner(name)
            if owner is not None:
                self.energy(owner.name)  # trains the sum, which sets its terms
            else:
                self._energies[name] = self._make(name)
        return self._energies[name]

    def _sum(self, entry: Any, coding: LabelCoding) -> TermSum:
        """The untrained sum of ``entry``'s terms, each network built for its own columns."""
        data, nets, codings = self.dataset(entry.data), [], []
        for term in entry.spec.terms:
            term_entry, term_coding = self.entry(term), self.coding(term)
            ctx = BuildContext(device=self.run.device, generator=self.run.generator, data=term_coding.view(data),
                               seed=self.run.recipe.run.seed, out_dir=self.run.out_dir)
            try:
                nets.append(build(term_entry.net.spec, ctx).to(self.run.device))
            except (ValueError, FileNotFoundError) as e:
                raise RunError(f"{self.recipe.source}: energies.{term}.net ({term_entry.net.kind}): {e}") from e
            codings.append(term_coding)
        return TermSum(entry.spec.terms, nets, codings, coding).to(self.run.device)

    def _make(self, name: str) -> Energy:
        from energyflow.run import Run

        run, entry = self.run, self.entry(name)
        coding = self.coding(name)
        train = attrs.evolve(run.recipe.train, iterations=entry.spec.iterations) if entry.spec.iterations is not None \
            else run.recipe.train
        recipe = attrs.evolve(
            run.recipe, data=entry.data or run.recipe.data, energy=entry.net,
            energies=(entry, *(self.entry(t) for t in entry.spec.terms)), concepts=(),
            classifier=None, train=train,
            train_options={**run.recipe.train_options, "iterations": train.iterations},
            run=attrs.evolve(run.recipe.run, seed=run.recipe.run.seed + zlib.crc32(name.encode()) % 100_000),
        )
        summed = self._sum(entry, coding) if entry.spec.terms else None
        child = Run(recipe, out_dir=run.out_dir / "energies" / name, quiet=run.quiet, resume=run.resume, force=True,
                    pm=run.pm, console=run.console, data=coding.view(self.dataset(entry.data)), energy=summed)
        child.progress = run.progress
        accepted = child.energy.accepted_context()  # a sum takes y
        if accepted is not None and "y" not in accepted:
            raise RunError(f"{self.recipe.source}: energies.{name}: its network ({entry.net.kind}) takes no labels; "
                           "set conditional = true in its net (or in [energy])")
        if entry.spec.drop > 0:
            child.label_transform = lambda labels, generator: coding.drop(labels, entry.spec.drop, generator)
        if entry.spec.checkpoint is not None:
            path = Path(entry.spec.checkpoint).expanduser()
            trainer = child.load_checkpoint(path / CHECKPOINT if path.is_dir() else path)
        else:
            run.log(f"training energy {name!r} on {', '.join(coding.columns)}")
            trainer = child.train()
        self.train_stats[name] = train_metrics(trainer)
        energy = trainer.sampling_energy.requires_grad_(False).eval()  # a fixed function (spectral norm stops iterating)
        if entry.spec.terms:
            what = f"sum of {', '.join(entry.spec.terms)}"
            if not isinstance(energy, TermSum):
                raise RunError(f"{self.recipe.source}: energies.{name}: the {what} came back as "
                               f"{type(energy).__name__}; a regularizer replaced the sum node")
            for term, net in zip(energy.names, energy.terms):
                self._energies[term] = net
        return energy

    def check(self) -> None:
        """Every energy's columns, every concept's values and the classifier's columns exist in the data.

        Cheap (no training); a task calls it first, so a typo in the last energy is found before the
        first one trains.
        """
        for entry in self.recipe.energies:
            self.coding(entry.name)
        for concept in self.recipe.concepts:
            try:
                self.coding(concept.energy).encode(concept.values)
            except ValueError as e:
                raise RunError(f"{self.recipe.source}: concepts.{concept.name}: {e}") from e
        if self.recipe.classifier is not None:
            try:
                LabelCoding.of(self.dataset(self.recipe.classifier.data), self._judge_columns())
            except ValueError as e:
                raise RunError(f"{self.recipe.source}: classifier: {e}") from e

    # ------------------------------------------------------------------ concepts
    def concept_spec(self, name: str) -> Any:
        for concept in self.recipe.concepts:
            if concept.name == name:
                return concept
        raise RunError(f"{self.recipe.source}: no concept {name!r}")

    def concepts(self, names: list[str] | None = None) -> dict[str, Energy]:
        """Concept name -> its energy bound to its values (only ``names``, when given, are made)."""
        out = {}
        for concept in self.recipe.concepts:
            if names is not None and concept.name not in names:
                continue
            coding = self.coding(concept.energy)
            try:
                value = coding.encode(concept.values)
            except ValueError as e:
                raise RunError(f"{self.recipe.source}: concepts.{concept.name}: {e}") from e
            out[concept.name] = self.energy(concept.energy).condition(y=value.to(self.run.device))
        return out

    # ------------------------------------------------------------------ classifier
    def classifier(self) -> Judge | None:
        """The ``[classifier]``, trained or loaded on first use; ``None`` without the table."""
        if self.recipe.classifier is None:
            return None
        if self._judge is None:
            self._judge = self._make_judge()
        return self._judge

    def _judge_columns(self) -> tuple[str, ...]:
        given = self.recipe.classifier.spec.labels
        if given:
            return tuple(given)
        used = {column for concept in self.recipe.concepts for column in concept.values}
        names, _ = label_columns(self.dataset(self.recipe.classifier.data))
        return tuple(c for c in names if c in used) or names

    def _make_judge(self) -> Judge:
        run, entry = self.run, self.recipe.classifier
        data = self.dataset(entry.data)
        try:
            coding = LabelCoding.of(data, self._judge_columns(), as_class=False)
        except ValueError as e:
            raise RunError(f"{self.recipe.source}: classifier: {e}") from e
        ctx = BuildContext(device=run.device, generator=run.generator, data=coding.view(data),
                           seed=run.recipe.run.seed, out_dir=run.out_dir)
        try:
            net = build(entry.net.spec, ctx).to(run.device)
        except (ValueError, FileNotFoundError) as e:
            raise RunError(f"{self.recipe.source}: [classifier] ({entry.net.kind}): {e}") from e
        judge = Judge(net, coding)
        folder = run.out_dir / "classifier"
        given = Path(entry.spec.checkpoint).expanduser() if entry.spec.checkpoint is not None else None
        if given is None and run.resume and (folder / CLASSIFIER).exists():
            given = folder / CLASSIFIER
        if given is not None:
            judge.load(given / CLASSIFIER if given.is_dir() else given)
            run.log(f"loaded classifier {given}")
        else:
            judge.fit(data, entry.spec, run.generator, run.phase)
            folder.mkdir(parents=True, exist_ok=True)
            judge.save(folder / CLASSIFIER, self.recipe.to_toml())
        return judge


class Judge:
    """A conditional energy network used as a classifier of label columns (``-E`` are the logits)."""

    def __init__(self, net: Energy, coding: LabelCoding):
        self.net = net
        self.coding = coding
        self.queries = [[coding.encode({column: value}) for value in range(size)]
                        for column, size in zip(coding.columns, coding.sizes)]
        self._all = torch.cat([q for column in self.queries for q in column])  # (Q, width)

    def logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per column, ``-E(x, column = value)`` for every value: ``(batch, values)``."""
        batch, queries = x.shape[0], self._all.to(x.device)
        xs = x.repeat_interleave(queries.shape[0], dim=0)
        ys = queries.repeat(batch, 1)
        scores = -self.net(xs, y=ys).reshape(batch, queries.shape[0])
        return list(scores.split(list(self.coding.sizes), dim=1))

    def fit(self, data: Any, spec: Any, generator: torch.Generator, phase: Any) -> None:
        """Cross-entropy over each column's values, Adam, ``spec.iterations`` steps of ``spec.batch_size``."""
        device = next(self.net.parameters()).device
        _, columns = label_columns(data)
        targets = columns[:, list(self.coding.indices)].round().long()
        optimizer = torch.optim.Adam(self.net.parameters(), lr=spec.lr)
        with phase("train classifier", spec.iterations) as advance:
            for _ in range(spec.iterations):
                idx = torch.randint(data.train.shape[0], (spec.batch_size,), generator=generator)
                logits = self.logits(data.train[idx].to(device))
                target = targets[idx].to(device)
                loss = sum(F.cross_entropy(lg, target[:, j]) for j, lg in enumerate(logits))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                advance(1)
        self.net.requires_grad_(False).eval()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """Column -> predicted value per sample (CPU)."""
        device = next(self.net.parameters()).device
        parts: list[list[torch.Tensor]] = [[] for _ in self.coding.columns]
        for chunk in x.split(batch_size):
            for j, lg in enumerate(self.logits(chunk.to(device))):
                parts[j].append(lg.argmax(1).cpu())
        return {c: torch.cat(p) if p else torch.zeros(0, dtype=torch.long) for c, p in zip(self.coding.columns, parts)}

    def accuracy(self, data: Any, limit: int = 1000) -> dict[str, float]:
        """Per column, the share of test images classified right (at most ``limit``)."""
        if data.test_labels is None or data.test.shape[0] == 0:
            return {}
        _, columns = label_columns(data, "test")
        predicted = self.predict(data.test[:limit])
        return {c: float((predicted[c] == columns[:limit, i].round().long()).float().mean())
                for c, i in zip(self.coding.columns, self.coding.indices)}

    def satisfied(self, values: dict[str, int], predicted: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per sample, whether the classifier gives every column of a concept its value."""
        missing = [c for c in values if c not in predicted]
        if missing:
            raise RunError(f"the classifier does not classify {missing[0]!r}; add it to classifier.labels")
        return concept_truth(values, predicted)

    def save(self, path: Path, recipe: str) -> None:
        checkpoints.save(path, {"net": self.net.state_dict(), "columns": list(self.coding.columns),
                                "sizes": list(self.coding.sizes), "recipe": recipe})

    def load(self, path: Path) -> None:
        state = checkpoints.read(path)
        mine = (list(self.coding.columns), list(self.coding.sizes))
        theirs = (state.get("columns"), state.get("sizes"))
        if theirs != mine:
            raise RunError(f"classifier {path} classifies {theirs[0]} with {theirs[1]} values, but this recipe needs "
                           f"{mine[0]} with {mine[1]}; set classifier.labels or train a new one")
        try:
            self.net.load_state_dict(state["net"])
        except (KeyError, RuntimeError) as e:
            raise RunError(f"classifier {path} does not fit classifier.net: {' '.join(str(e).split())[:200]}") from e
        self.net.requires_grad_(False).eval()
