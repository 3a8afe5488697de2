"""Recipes: a TOML file (plus ``--set`` overrides) turned into a validated plan.

Each component table (``[data]``, ``[energy]``, ``[sampler]``, ``[buffer]``, ``[[regularizers]]``,
``[task]``) names a registered factory with ``kind``; its other keys are the factory's keyword
arguments, checked against the attrs spec: unknown keys, wrong types and out-of-range values are
errors naming the file, the key path, the bad value and close matches. ``[run]`` and ``[train]``
have fixed specs (`RunSpec`, `energyflow.train.TrainSpec`). Nothing is built here; `Recipe`
holds validated specs, and `Recipe.to_toml` writes the fully resolved recipe (defaults filled in)
that a run saves next to its outputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import field, frozen
from attrs import validators as v

from energyflow import plugins
from energyflow.options import RecipeError, build_spec
from energyflow.plugins import PluginError, Registration, suggest
from energyflow.tomlio import (
    describe_value,
    format_toml,
    toml_document,
    toml_key,
    toml_options,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

#: component table -> registry kind
COMPONENT_TABLES = {"data": "dataset", "energy": "energy", "sampler": "sampler", "buffer": "buffer", "task": "task"}
#: every top-level table, in the order a resolved recipe is written
TABLES = ("run", "data", "energy", "energies", "concepts", "classifier", "sampler", "buffer", "regularizers", "train",
          "task")
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
    """One ``[energies.NAME]`` table: its options (`energyflow.concepts.NamedEnergySpec`) and its network."""

    name: str
    spec: Any
    resolved: dict[str, Any]
    net: Component
    data: Component | None = None  # its own dataset (``data = {...}`` merged over [data]); None: [data]


@frozen
class Classifier:
    """The ``[classifier]`` table: its options (`energyflow.concepts.ClassifierSpec`) and its network."""

    spec: Any
    resolved: dict[str, Any]
    net: Component
    data: Component | None = None


@frozen(kw_only=True)
class Recipe:
    """A validated recipe: specs for every table, nothing built yet.

    ``energy`` is ``None`` only in a recipe of named energies (``[energies.NAME]``) that each name
    their own network.
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
    regularizers: tuple[Component, ...] = ()
    train: Any = None
    train_options: dict[str, Any] = attrs.Factory(dict)
    run_options: dict[str, Any] = attrs.Factory(dict)
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.run.name or Path(self.source).stem

    def components(self) -> Iterator[Component]:
        """Every component in recipe order."""
        for table in ("data", "energy", "sampler", "buffer"):
            if getattr(self, table) is not None:
                yield getattr(self, table)
        yield from self.regularizers
        yield self.task

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe: every table with every option, defaults filled in."""
        doc: dict[str, Any] = {"run": {**toml_options(self.run_options), "name": self.name}}
        for c in self.components():
            entry = {"kind": c.kind, **c.options()}
            if c.table.startswith("regularizers"):
                doc.setdefault("regularizers", []).append(entry)
            else:
                doc[c.table] = entry
        if self.train is not None:
            doc["train"] = toml_options(self.train_options)
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


# --------------------------------------------------------------------------- loading
def load_recipe(path: str | Path, overrides: tuple[str, ...] | list[str] = (), pm: Any = None) -> Recipe:
    """Read, override and validate a recipe file.

    Args:
        path: the TOML file.
        overrides: ``key.path=value`` strings (TOML value syntax; bare words are strings).
        pm: the plugin manager to resolve kinds with (default: the process-wide one).

    Raises:
        RecipeError: the file is missing, is not TOML, or does not validate.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise RecipeError(f"recipe file not found: {source}") from e
    except OSError as e:
        raise RecipeError(f"cannot read recipe {source}: {e.strerror or e}") from e
    return parse_recipe(text, source=source, overrides=overrides, pm=pm)


def parse_recipe(text: str, *, source: str = "<recipe>", overrides: tuple[str, ...] | list[str] = (),
                 pm: Any = None) -> Recipe:
    """Validate recipe text; ``source`` names it in error messages."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{source}: not valid TOML: {e}") from e
    where = _Where(source, {})
    for item in overrides:
        try:
            path, value = parse_override(item)
        except RecipeError as e:
            raise RecipeError(f"{source}: {e}") from None
        _apply_override(table, path, value, f"{source} (--set {item})")
        where.overrides[_path_text(path)] = item
    pm = pm or plugins.get_plugin_manager()
    with plugins.use_plugin_manager(pm):  # components that name components (a task's dataset tables) see the same
        return _validate(table, where, tuple(overrides), pm)


def parse_override(text: str) -> tuple[tuple[str | int, ...], Any]:
    """``"sampler.step_size=0.1"`` -> ``(("sampler", "step_size"), 0.1)``."""
    key, sep, raw = text.partition("=")
    parts = re.sub(r"\[(\d+)\]", r".\1", key.strip()).split(".")
    if not sep or not all(parts):
        raise RecipeError(f"--set {text!r}: expected key.path=value, e.g. --set sampler.step_size=0.1")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: --set sampler.kind=mala
    return tuple(int(p) if p.isdigit() else p for p in parts), value


def _apply_override(table: dict[str, Any], path: tuple[str | int, ...], value: Any, origin: str) -> None:
    node: Any = table
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        here = _path_text(path[: depth + 1])
        if isinstance(node, list):
            if not isinstance(part, int) or part > len(node):
                raise RecipeError(f"{origin}: {here}: no such entry (the array has {len(node)})")
            if part == len(node):
                node.append({})
        elif not isinstance(node, dict) or isinstance(part, int):
            raise RecipeError(f"{origin}: {_path_text(path[:depth])} is not a table")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = [] if isinstance(path[depth + 1], int) else {}
            node = node[part]


def _path_text(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


@attrs.define
class _Where:
    """Names the origin of a key: the file, or the ``--set`` that changed it."""

    source: str
    overrides: dict[str, str]

    def __call__(self, path: str) -> str:
        for key, text in self.overrides.items():
            if path == key or path.startswith((key + ".", key + "[")) or key.startswith((path + ".", path + "[")):
                return f"{self.source} (--set {text})"
        return self.source


# --------------------------------------------------------------------------- validation
def _validate(table: dict[str, Any], where: _Where, overrides: tuple[str, ...], pm: Any) -> Recipe:
    for key, value in table.items():
        if key not in TABLES:
            raise RecipeError(f"{where(key)}: unknown table [{toml_key(key)}]{suggest(key, list(TABLES))}")
        expected = list if key == "regularizers" else dict
        if not isinstance(value, expected) or (expected is list and not all(isinstance(t, dict) for t in value)):
            form = "[[regularizers]] tables" if expected is list else f"a table [{key}]"
            raise RecipeError(
                f"{where(key)}: {key} = {format_toml(value)}: expected {form}, got {describe_value(value)}"
            )
    run, run_options = build_spec(RunSpec, table.get("run", {}), what="[run]", path="run", where=where)
    _check_plugins(run, where, pm)
    for name in REQUIRED_TABLES:
        if name == "energy" and "energies" in table:
            continue  # every named energy names its own network
        if name not in table:
            kinds = ", ".join(plugins.registry(COMPONENT_TABLES[name], pm).names())
            raise RecipeError(f"{where.source}: missing table [{name}]; add one with kind = one of: {kinds}")
    parts: dict[str, Any] = {
        name: _component(name, table[name], COMPONENT_TABLES[name], where, pm)
        for name in ("data", "energy", "sampler", "buffer") if name in table
    }
    parts["regularizers"] = tuple(
        _component(f"regularizers[{i}]", t, "regularizer", where, pm)
        for i, t in enumerate(table.get("regularizers", []))
    )
    from energyflow.train import TrainSpec

    parts["train"], parts["train_options"] = build_spec(TrainSpec, table.get("train", {}), what="[train]",
                                                        path="train", where=where)
    parts.setdefault("energy", None)
    if "energies" in table or "concepts" in table or "classifier" in table:
        from energyflow.recipe_named import named_parts

        parts.update(named_parts(table, parts["energy"], where, pm))
    task = _component("task", table["task"], "task", where, pm)
    for need in getattr(task.registration.factory, "requires", ()):
        if need not in table:
            raise RecipeError(f"{where.source}: missing table [{need}]; task {task.kind!r} needs it")
    recipe = Recipe(source=where.source, run=run, run_options=run_options, task=task, overrides=overrides, **parts)
    check = getattr(task.spec, "check_recipe", None)
    if check is not None:  # a task that reads other tables (the compose task's expressions name concepts)
        check(recipe, where)
    return recipe


def _check_plugins(run: RunSpec, where: _Where, pm: Any) -> None:
    loaded = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    loaded |= {info.distribution for info in pm.origins.values() if info.distribution}
    for name in run.plugins:
        if name in loaded or plugins._normalize(name) in loaded:
            continue
        if (broken := pm.find_broken(name)) is not None:
            raise RecipeError(f"{where('run.plugins')}: run.plugins: the recipe needs plugin {name!r}, which is "
                              f"installed but broken ({broken.origin}): {broken.error}")
        raise RecipeError(f"{where('run.plugins')}: run.plugins: the recipe needs plugin {name!r}, which is not "
                          f"installed or is disabled (loaded: {', '.join(sorted(loaded))})")


def _component(table_name: str, table: dict[str, Any], kind: str, where: _Where, pm: Any) -> Component:
    options = dict(table)
    name = options.pop("kind", None)
    registry = plugins.registry(kind, pm)
    if name is None:
        raise RecipeError(f"{where(table_name)}: [{table_name}] has no kind; known {registry.plural}: "
                          f"{', '.join(registry.names())}")
    if not isinstance(name, str):
        raise RecipeError(f"{where(table_name + '.kind')}: {table_name}.kind = {format_toml(name)}: expected a "
                          f"string, got {describe_value(name)}")
    try:
        registration = registry.resolve(name)
    except PluginError as e:
        raise RecipeError(f"{where(table_name + '.kind')}: {table_name}.kind = {format_toml(name)}: {e}") from e
    spec, resolved = build_spec(registration.factory, options, what=f"{kind} {registration.name!r}", path=table_name,
                                where=where)
    return Component(table_name, name, registration, spec, resolved)
