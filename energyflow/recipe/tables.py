"""One component table (``kind = "name"`` and the spec's options) validated into a `Component`."""

from __future__ import annotations

from typing import Any

from energyflow.errors import PluginError, RecipeError
from energyflow.recipe.model import Component
from energyflow.recipe.structure import build_spec, origin_of
from energyflow.recipe.tomlio import describe_value, format_toml
from energyflow.registry.manager import get_registry


def component(table_name: str, table: dict[str, Any], kind: str, where: Any = None, pm: Any = None) -> Component:
    """The component a table names, with its validated spec.

    Args:
        table_name: the table's key path (``sampler``, ``task.sets.svhn``), which messages name.
        table: the table: ``kind`` and the spec's options.
        kind: the component kind (``dataset``, ``energy``, ...), whose registry resolves ``kind``.
        where: maps a key path to its origin (a recipe file, a ``--set``); without it, messages
            start at the key path.
        pm: the plugin manager (default: the process-wide one).

    Raises:
        RecipeError: one line naming the key path, the value and the fix.
    """
    options = dict(table)
    name = options.pop("kind", None)
    registry = get_registry(kind, pm)
    if name is None:
        raise RecipeError(f"{origin_of(where, table_name)}[{table_name}] has no kind; known {registry.plural}: "
                          f"{', '.join(registry.names())}")
    if not isinstance(name, str):
        raise RecipeError(f"{origin_of(where, table_name + '.kind')}{table_name}.kind = {format_toml(name)}: expected a "
                          f"string, got {describe_value(name)}")
    try:
        registration = registry.resolve(name)
    except PluginError as e:
        raise RecipeError(f"{origin_of(where, table_name + '.kind')}{table_name}.kind = {format_toml(name)}: {e}") from e
    spec, resolved = build_spec(registration.factory, options, what=f"{kind} {registration.name!r}", path=table_name,
                                where=where)
    return Component(table_name, name, registration, spec, resolved)
