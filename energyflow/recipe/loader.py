"""Recipes: a TOML file (plus ``--set`` overrides) turned into a validated plan.

Each component table (``[data]``, ``[energy]``, ``[sampler]``, ``[buffer]``, ``[objective]``,
``[[regularizers]]``, ``[task]``) names a registered factory with ``kind``; its other keys are the factory's keyword
arguments, checked against the attrs spec: unknown keys, wrong types and out-of-range values are
errors naming the file, the key path, the bad value and close matches. ``[run]`` and ``[train]``
have fixed specs (`RunSpec`, `energyflow.training.TrainSpec`). Nothing is built here; the
`Recipe` holds validated specs, and `Recipe.to_toml` writes the fully resolved recipe (defaults
filled in) that a run saves next to its outputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs

from energyflow.errors import RecipeError, suggest
from energyflow.recipe.model import (
    COMPONENT_TABLES,
    DEFAULT_OBJECTIVE,
    REQUIRED_TABLES,
    TABLES,
    Recipe,
    RunSpec,
)
from energyflow.recipe.named import named_parts
from energyflow.recipe.structure import build_spec
from energyflow.recipe.tables import component
from energyflow.recipe.tomlio import describe_value, format_toml, toml_key
from energyflow.registry.manager import (
    get_plugin_manager,
    get_registry,
    normalize_name,
    use_plugin_manager,
)
from energyflow.training.spec import TrainSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


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
    pm = pm or get_plugin_manager()
    with use_plugin_manager(pm):  # components that name components (a task's dataset tables) see the same
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
    run, _ = build_spec(RunSpec, table.get("run", {}), what="[run]", path="run", where=where)
    _check_plugins(run, where, pm)
    for name in REQUIRED_TABLES:
        if name == "energy" and "energies" in table:
            continue  # every named energy names its own network
        if name not in table:
            kinds = ", ".join(get_registry(COMPONENT_TABLES[name], pm).names())
            raise RecipeError(f"{where.source}: missing table [{name}]; add one with kind = one of: {kinds}")
    parts: dict[str, Any] = {
        name: component(name, table[name], COMPONENT_TABLES[name], where, pm)
        for name in ("data", "energy", "sampler", "buffer") if name in table
    }
    parts["regularizers"] = tuple(
        component(f"regularizers[{i}]", t, "regularizer", where, pm)
        for i, t in enumerate(table.get("regularizers", []))
    )
    parts["objective"] = component("objective", table.get("objective", DEFAULT_OBJECTIVE), "objective", where, pm)
    _check_objective(parts, table, where)
    parts["train"], _ = build_spec(TrainSpec, table.get("train", {}), what="[train]", path="train", where=where)
    parts.setdefault("energy", None)
    if "energies" in table or "concepts" in table or "classifier" in table:
        parts.update(named_parts(table, parts["energy"], where, pm))
    task = component("task", table["task"], "task", where, pm)
    for need in getattr(task.registration.factory, "requires", ()):
        if need not in table:
            raise RecipeError(f"{where.source}: missing table [{need}]; task {task.kind!r} needs it")
    recipe = Recipe(source=where.source, run=run, task=task, overrides=overrides, **parts)
    check = getattr(task.spec, "check_recipe", None)
    if check is not None:  # a task that reads other tables (the compose task's expressions name concepts)
        check(recipe, where)
    return recipe


def _check_objective(parts: dict[str, Any], table: dict[str, Any], where: _Where) -> None:
    """The tables the objective trains with are there, and no regularizer needs samples it does not draw."""
    objective = parts["objective"]
    for need in getattr(objective.spec, "requires", ()):
        if need not in table:
            raise RecipeError(f"{where.source}: missing table [{need}]; objective {objective.kind!r} trains with it "
                              "(add one, or pick an [objective] that needs none)")
    if getattr(objective.spec, "negatives", False):
        return
    for reg in parts["regularizers"]:
        if getattr(reg.spec, "needs_negatives", False):
            raise RecipeError(f"{where(reg.table)}: [{reg.table}] ({reg.kind}) needs model samples, and objective "
                              f"{objective.kind!r} draws none; remove the regularizer or use objective 'cd'")


def _check_plugins(run: RunSpec, where: _Where, pm: Any) -> None:
    loaded = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    loaded |= {info.distribution for info in pm.origins.values() if info.distribution}
    for name in run.plugins:
        if name in loaded or normalize_name(name) in loaded:
            continue
        if (broken := pm.find_broken(name)) is not None:
            raise RecipeError(f"{where('run.plugins')}: run.plugins: the recipe needs plugin {name!r}, which is "
                              f"installed but broken ({broken.origin}): {broken.error}")
        raise RecipeError(f"{where('run.plugins')}: run.plugins: the recipe needs plugin {name!r}, which is not "
                          f"installed or is disabled (loaded: {', '.join(sorted(loaded))})")


