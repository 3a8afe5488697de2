"""A run's named energies, concepts and classifier, trained or loaded when a task first asks.

Each named energy trains as a run of its own inside the run's folder
(``energies/NAME/checkpoint.pt`` and ``events.jsonl``): the recipe's ``[sampler]``, ``[buffer]``,
``[[regularizers]]`` and ``[train]`` with that energy's network, on the dataset with its label
columns coded (`energyflow.compose.LabelCoding`), so checkpoints, ``--resume``, divergence
policies and progress work as for any run. With ``checkpoint = PATH`` it is loaded instead.
The ``[classifier]`` is a conditional energy network trained by cross-entropy over the values of
each column, ``logits = -E(x, column = value)`` with the other columns unobserved.
"""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any, Protocol

import attrs
import torch

from energyflow.compose.concepts import LabelCoding, TermSum, label_columns
from energyflow.compose.judge import Judge
from energyflow.core.energy import Energy
from energyflow.core.nodes import logical_or
from energyflow.errors import RunError
from energyflow.runtime import checkpoints
from energyflow.runtime.checkpoints import CHECKPOINT
from energyflow.training.stats import train_metrics

CLASSIFIER = "classifier.pt"


class OwnerRun(Protocol):
    """What named energies use of the run that owns them (`energyflow.runtime.Run`)."""

    recipe: Any
    device: torch.device
    generator: torch.Generator
    out_dir: Path
    resume: bool

    def build(self, component: Any, *, data: Any = ..., generator: torch.Generator | None = None) -> Any: ...

    def child(self, recipe: Any, out_dir: Path, *, data: Any, energy: Any = None,
              label_transform: Any = None) -> Any: ...

    def log(self, message: str) -> None: ...

    def phase(self, description: str, total: int | None = None) -> Any: ...


class NamedEnergies:
    """The named energies, concepts and classifier of one run (`energyflow.runtime.Run.named`).

    Nothing is trained or loaded until asked for; each is made once.
    """

    def __init__(self, run: OwnerRun):
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
        if id(component) not in self._datasets:  # a dataset is built with a generator of its own, seeded as the run
            generator = torch.Generator().manual_seed(self.recipe.run.seed)
            self._datasets[id(component)] = self.run.build(component, data=None, generator=generator)
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
            nets.append(self.run.build(term_entry.net, data=term_coding.view(data)).to(self.run.device))
            codings.append(term_coding)
        return TermSum(entry.spec.terms, nets, codings, coding).to(self.run.device)

    def _make(self, name: str) -> Energy:
        run, entry = self.run, self.entry(name)
        coding = self.coding(name)
        train = attrs.evolve(run.recipe.train, iterations=entry.spec.iterations) if entry.spec.iterations is not None \
            else run.recipe.train
        recipe = attrs.evolve(
            run.recipe, data=entry.data or run.recipe.data, energy=entry.net,
            energies=(entry, *(self.entry(t) for t in entry.spec.terms)), concepts=(), classifier=None, train=train,
            run=attrs.evolve(run.recipe.run, seed=run.recipe.run.seed + zlib.crc32(name.encode()) % 100_000),
        )
        summed = self._sum(entry, coding) if entry.spec.terms else None
        hide = (lambda labels, generator: coding.drop(labels, entry.spec.drop, generator)) if entry.spec.drop > 0 \
            else None
        child = run.child(recipe, run.out_dir / "energies" / name, data=coding.view(self.dataset(entry.data)),
                          energy=summed, label_transform=hide)
        accepted = child.energy.accepted_context()  # a sum takes y
        if accepted is not None and "y" not in accepted:
            raise RunError(f"{self.recipe.source}: energies.{name}: its network ({entry.net.kind}) takes no labels; "
                           "set conditional = true in its net (or in [energy])")
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
        per_class = getattr(getattr(self.recipe.buffer, "spec", None), "per_class", False)
        for entry in self.recipe.energies:
            coding = self.coding(entry.name)
            if per_class and not coding.as_class and not entry.spec.checkpoint:
                raise RunError(f"{self.recipe.source}: energies.{entry.name} is conditioned on label vectors "
                               f"({', '.join(coding.columns)}), which a per-class replay buffer cannot key; set "
                               "buffer.per_class = false")
        for concept in self.recipe.concepts:
            if concept.marginal:
                continue
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
            out[concept.name] = self._concept_energy(concept).named(concept.name)
        return out

    def _concept_energy(self, concept: Any) -> Energy:
        """The energy bound to the concept's values; with ``posterior``, ``-log p(values | x)``."""
        coding, energy = self.coding(concept.energy), self.energy(concept.energy)

        def bound(values: dict[str, int]) -> Energy:
            try:
                value = coding.encode(values)
            except ValueError as e:
                raise RunError(f"{self.recipe.source}: concepts.{concept.name}: {e}") from e
            return energy.condition(y=value.to(self.run.device))

        if concept.marginal:
            columns = list(coding.columns)
        elif not concept.posterior:
            return bound(concept.values)
        else:
            columns = list(concept.values)
        sizes = [coding.sizes[coding.columns.index(c)] for c in columns]
        every = [bound(dict(zip(columns, combo))) for combo in itertools.product(*(range(n) for n in sizes))]
        return logical_or(*every) if concept.marginal else bound(concept.values) & ~logical_or(*every)

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
        used = {column for concept in self.recipe.concepts for column in concept.judged}
        names, _ = label_columns(self.dataset(self.recipe.classifier.data))
        return tuple(c for c in names if c in used) or names

    def _make_judge(self) -> Judge:
        run, entry = self.run, self.recipe.classifier
        data = self.dataset(entry.data)
        try:
            coding = LabelCoding.of(data, self._judge_columns(), as_class=False)
        except ValueError as e:
            raise RunError(f"{self.recipe.source}: classifier: {e}") from e
        net = run.build(entry.net, data=coding.view(data)).to(run.device)
        judge = Judge(net, coding)
        folder = run.out_dir / "classifier"
        given = Path(entry.spec.checkpoint).expanduser() if entry.spec.checkpoint is not None else None
        if given is None and run.resume and (folder / CLASSIFIER).exists():
            given = folder / CLASSIFIER
        if given is not None:
            path = given / CLASSIFIER if given.is_dir() else given
            judge.load_state_dict(checkpoints.read(path), path)
            run.log(f"loaded classifier {given}")
        else:
            judge.fit(data, entry.spec, run.generator, run.phase)
            folder.mkdir(parents=True, exist_ok=True)
            checkpoints.save(folder / CLASSIFIER, {**judge.state_dict(), "recipe": self.recipe.to_toml()})
        return judge
