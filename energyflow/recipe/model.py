"""A validated recipe: specs for every table, nothing built yet, and the resolved recipe as TOML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from attrs import field, frozen
from attrs import validators as v

from energyflow.recipe.structure import spec_options
from energyflow.recipe.tomlio import toml_document, toml_options
from energyflow.registry.records import Registration

#: component table -> registry kind
COMPONENT_TABLES = {"data": "dataset", "energy": "energy", "sampler": "sampler", "buffer": "buffer",
                    "objective": "objective", "task": "task"}
#: every top-level table, in the order a resolved recipe is written
TABLES = ("run", "data", "energy", "energies", "concepts", "classifier", "sampler", "buffer", "objective", "regularizers",
          "train", "task")
#: the ``[objective]`` table of a recipe that has none
DEFAULT_OBJECTIVE = {"kind": "cd"}
REQUIRED_TABLES = ("data", "energy", "task")


@frozen(kw_only=True)
class RunSpec:
    """The ``[run]`` table: the run's name, seed, device, threads and the plugins it needs."""

    name: str | None = field(default=None, validator=v.optional(v.matches_re(r"^[\w.\-]+$")),
                             metadata={"help": "folder name under runs/; defaults to the recipe file's name"})
    seed: int = field(default=0, validator=[v.instance_of(int), v.ge(0)],
                      metadata={"help": "seeds every generator, so a recipe and seed repeat a run on CPU"})
    device: str = field(default="auto", validator=v.matches_re(r"^(auto|cpu|mps|cuda(:\d+)?)$"),
                        metadata={"help": "auto (cuda when available, else cpu), cpu, cuda, cuda:N or mps"})
    threads: int = field(default=0, validator=[v.instance_of(int), v.ge(0)],
                         metadata={"help": "CPU threads for torch; 0 keeps torch's default (small models: 1 is best)"})
    tensorboard: bool = field(default=False, validator=v.instance_of(bool),
                              metadata={"help": "also write step numbers and metrics to runs/NAME/tensorboard/ "
                                                "(pip install 'energyflow[tensorboard]')"})
    plugins: tuple[str, ...] = field(default=(), converter=tuple,
                                     metadata={"help": "plugins the recipe needs; check names the missing one"})
    compile: bool | Literal["auto"] = field(
        default="auto", validator=v.or_(v.instance_of(bool), v.in_(("auto",))),
        metadata={"help": "compile the samplers' energy-and-gradient step: true, false, or \"auto\" (when the run's "
                          "sampling is long enough to pay the compile back and a probe shows it is faster)"})


@frozen
class Component:
    """One validated component table: where it is, what it names, its spec and resolved options."""

    table: str
    kind: str
    registration: Registration
    spec: Any
    resolved: dict[str, Any]

    def options(self) -> dict[str, Any]:
        """The spec's options, defaults included, as TOML-ready values."""
        return toml_options(self.resolved)


@frozen
class NamedEnergy:
    """One ``[energies.NAME]`` table: its options (`energyflow.compose.NamedEnergySpec`) and its network."""

    name: str
    spec: Any
    resolved: dict[str, Any]
    net: Component
    data: Component | None = None  # its own dataset (``data = {...}`` merged over [data]); None: [data]


@frozen
class Classifier:
    """The ``[classifier]`` table: its options (`energyflow.compose.ClassifierSpec`) and its network."""

    spec: Any
    resolved: dict[str, Any]
    net: Component
    data: Component | None = None


@frozen(kw_only=True)
class Recipe:
    """A validated recipe: specs for every table, nothing built yet.

    ``energy`` is ``None`` only in a recipe of named energies (``[energies.NAME]``) that each name
    their own network. ``objective`` is `DEFAULT_OBJECTIVE` (contrastive divergence) where the
    recipe has no ``[objective]`` table.
    """

    source: str
    run: RunSpec
    data: Component
    energy: Component | None
    task: Component
    energies: tuple[NamedEnergy, ...] = ()
    concepts: tuple[Any, ...] = ()
    classifier: Classifier | None = None
    sampler: Component | None = None
    buffer: Component | None = None
    objective: Component | None = None
    regularizers: tuple[Component, ...] = ()
    train: Any = None
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.run.name or Path(self.source).stem

    def components(self) -> Iterator[Component]:
        """Every component in recipe order."""
        for table in ("data", "energy", "sampler", "buffer", "objective"):
            if getattr(self, table) is not None:
                yield getattr(self, table)
        yield from self.regularizers
        yield self.task

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe: every table with every option, defaults filled in."""
        doc: dict[str, Any] = {"run": {**toml_options(spec_options(self.run)), "name": self.name}}
        for c in self.components():
            entry = {"kind": c.kind, **c.options()}
            if c.table.startswith("regularizers"):
                doc.setdefault("regularizers", []).append(entry)
            else:
                doc[c.table] = entry
        if self.train is not None:
            doc["train"] = toml_options(spec_options(self.train))
        if self.energies:
            doc["energies"] = {e.name: _named_entry(e) for e in self.energies}
        if self.concepts:
            doc["concepts"] = {c.name: {"energy": c.energy, **c.values} for c in self.concepts}
        if self.classifier is not None:
            doc["classifier"] = _named_entry(self.classifier)
        return {table: doc[table] for table in TABLES if table in doc}

    def to_toml(self, header: str = "") -> str:
        """`to_dict` as TOML text, ``header`` (comment lines) first."""
        return toml_document(self.to_dict(), header)


def _named_entry(entry: NamedEnergy | Classifier) -> dict[str, Any]:
    doc = {**toml_options(entry.resolved), "net": {"kind": entry.net.kind, **entry.net.options()}}
    if entry.data is not None:
        doc["data"] = {"kind": entry.data.kind, **entry.data.options()}
    return doc
