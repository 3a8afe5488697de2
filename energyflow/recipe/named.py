"""Validation of a recipe's ``[energies.NAME]``, ``[concepts]`` and ``[classifier]`` tables.

Same machinery and voice as every other table (`energyflow.recipe.build_spec`): one line
naming the file (or ``--set``), the key path, the value and the fix.
"""

from __future__ import annotations

from typing import Any

from energyflow.compose.concepts import (
    ClassifierSpec,
    ConceptSpec,
    NamedEnergySpec,
    check_concept_name,
)
from energyflow.errors import RecipeError, suggest
from energyflow.recipe.model import Classifier, Component, NamedEnergy
from energyflow.recipe.structure import build_spec
from energyflow.recipe.tables import component
from energyflow.recipe.tomlio import describe_value, format_toml, toml_key


def named_parts(table: dict[str, Any], default_net: Component | None, where: Any, pm: Any) -> dict[str, Any]:
    """``energies``, ``concepts`` and ``classifier`` of a `energyflow.recipe.Recipe`, validated."""
    energies = tuple(_energy(name, body, default_net, table, where, pm) for name, body in _named(table, "energies", where))
    _check_terms(energies, where)
    concepts = tuple(_concept(name, body, energies, where) for name, body in _named(table, "concepts", where))
    if "concepts" in table and not energies:
        raise RecipeError(f"{where('concepts')}: [concepts] bind named energies, but the recipe has none; "
                          "add [energies.NAME] tables")
    classifier = None
    if "classifier" in table:
        body = dict(table["classifier"])
        net = _net(body.pop("net", None), "classifier", default_net, where, pm)
        data = _data(body.pop("data", None), "classifier", table, where, pm)
        _arrays(body, "classifier", where, ("labels",))
        spec, resolved = build_spec(ClassifierSpec, body, what="[classifier]", path="classifier", where=where)
        classifier = Classifier(spec, resolved, net, data)
    return {"energies": energies, "concepts": concepts, "classifier": classifier}


def _named(table: dict[str, Any], key: str, where: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, body in table.get(key, {}).items():
        path = f"{key}.{toml_key(name)}"
        if not isinstance(body, dict):
            example = 'labels = ["Smiling"]' if key == "energies" else 'energy = "smiling", Smiling = 1'
            raise RecipeError(f"{where(path)}: {path} = {format_toml(body)}: expected a table "
                              f"({{ {example} }}), got {describe_value(body)}")
        out.append((name, body))
    return out


def _net(net: Any, path: str, default_net: Component | None, where: Any, pm: Any) -> Component:
    if net is None:
        if default_net is None:
            raise RecipeError(f"{where(path)}: {path} has no network: give it net = {{ kind = ... }} or add an "
                              "[energy] table (the default network of named energies)")
        return default_net
    if not isinstance(net, dict):
        raise RecipeError(f"{where(path + '.net')}: {path}.net = {format_toml(net)}: expected a table "
                          f"{{ kind = ..., ... }} naming an energy network, got {describe_value(net)}")
    return component(f"{path}.net", net, "energy", where, pm)


def _data(override: Any, path: str, table: dict[str, Any], where: Any, pm: Any) -> Component | None:
    """A table's own dataset: ``data = {...}`` merged key by key over ``[data]`` (a new ``kind`` replaces it)."""
    if override is None:
        return None
    if not isinstance(override, dict):
        raise RecipeError(f"{where(path + '.data')}: {path}.data = {format_toml(override)}: expected a table of "
                          f"[data] options to change, e.g. {{ part = \"A\" }}, got {describe_value(override)}")
    base = table.get("data", {})
    same = "kind" not in override or override["kind"] == base.get("kind")
    return component(f"{path}.data", {**base, **override} if same else dict(override), "dataset", where, pm)


def _arrays(body: dict[str, Any], path: str, where: Any, keys: tuple[str, ...]) -> None:
    """``labels`` and ``terms`` are arrays of names (a bare string would be read letter by letter)."""
    for key in keys:
        if key in body and not (isinstance(body[key], list) and all(isinstance(n, str) for n in body[key])):
            at = f"{path}.{key}"
            raise RecipeError(f"{where(at)}: {at} = {format_toml(body[key])}: expected an array of names, e.g. "
                              f"[\"Smiling\"], got {describe_value(body[key])}")


def _energy(name: str, body: dict[str, Any], default_net: Component | None, table: dict[str, Any], where: Any,
            pm: Any) -> NamedEnergy:
    path = f"energies.{toml_key(name)}"
    if (reason := check_concept_name(name)) is not None:
        raise RecipeError(f"{where(path)}: {path}: {reason.replace('concept', 'energy')}")
    body = dict(body)
    net = _net(body.pop("net", None), path, default_net, where, pm)
    data = _data(body.pop("data", None), path, table, where, pm)
    _arrays(body, path, where, ("labels", "terms"))
    spec, resolved = build_spec(NamedEnergySpec, body, what=f"named energy {name!r}", path=path, where=where)
    return NamedEnergy(name, spec, resolved, net, data)


def _check_terms(energies: tuple[NamedEnergy, ...], where: Any) -> None:
    """A sum's terms are other named energies of their own, each in one sum, trained there (no checkpoint)."""
    by_name = {e.name: e for e in energies}
    owner: dict[str, str] = {}
    for entry in energies:
        path = f"energies.{toml_key(entry.name)}"
        if not entry.spec.terms:
            continue
        if entry.spec.labels:
            raise RecipeError(f"{where(path + '.labels')}: {path}.labels: a sum of terms is conditioned on its terms' "
                              "labels; leave labels out")
        for term in entry.spec.terms:
            at = f"{path}.terms"
            if term not in by_name or term == entry.name:
                known = [n for n in by_name if n != entry.name]
                raise RecipeError(f"{where(at)}: {at}: {term!r} is not another named energy{suggest(term, known)}")
            if by_name[term].spec.terms:
                raise RecipeError(f"{where(at)}: {at}: {term!r} is itself a sum; list its terms instead")
            if term in owner:
                raise RecipeError(f"{where(at)}: {at}: {term!r} is already a term of energies.{owner[term]}; an energy "
                                  "is trained in one sum")
            if by_name[term].spec.checkpoint is not None or by_name[term].data is not None:
                key = "checkpoint" if by_name[term].spec.checkpoint is not None else "data"
                raise RecipeError(f"{where(at)}: {at}: {term!r} is trained in this sum, on its data; remove "
                                  f"energies.{toml_key(term)}.{key} (or load the whole sum with {path}.checkpoint)")
            owner[term] = entry.name


def _labels(entry: NamedEnergy, energies: tuple[NamedEnergy, ...]) -> tuple[str, ...]:
    """The columns an energy is conditioned on (a sum: its terms' columns, in order)."""
    if not entry.spec.terms:
        return entry.spec.labels
    by_name = {e.name: e for e in energies}
    return tuple(dict.fromkeys(c for t in entry.spec.terms for c in by_name[t].spec.labels))


def _concept(name: str, body: dict[str, Any], energies: tuple[NamedEnergy, ...], where: Any) -> ConceptSpec:
    path = f"concepts.{toml_key(name)}"
    if (reason := check_concept_name(name)) is not None:
        raise RecipeError(f"{where(path)}: {path}: {reason}")
    body = dict(body)
    energy = body.pop("energy", None)
    known = [e.name for e in energies]
    if energy is None:
        raise RecipeError(f"{where(path)}: {path}: required key 'energy' is missing (the named energy it binds; "
                          f"one of: {', '.join(known)})")
    if not isinstance(energy, str) or energy not in known:
        hint = suggest(energy, known) if isinstance(energy, str) else f" (known: {', '.join(known)})"
        raise RecipeError(f"{where(path + '.energy')}: {path}.energy = {format_toml(energy)}: not a named energy "
                          f"(an [energies.NAME] table){hint}")
    named = next(e for e in energies if e.name == energy)
    judge = _judge_values(body.pop("judge", None), f"{path}.judge", where)
    posterior, marginal = (_flag(body.pop(key, False), f"{path}.{key}", where) for key in ("posterior", "marginal"))
    if marginal:
        if body or judge is not None or posterior:
            extra = next(iter(body), "judge" if judge is not None else "posterior")
            raise RecipeError(f"{where(path)}: {path}: a marginal concept binds no value; remove {extra}")
        return ConceptSpec(name, energy, {}, None, False, True)
    values: dict[str, int] = {}
    for column, value in body.items():
        at = f"{path}.{toml_key(column)}"
        value = _label_value(value, at, where)
        labels = _labels(named, energies)
        if labels and column not in labels:
            raise RecipeError(f"{where(at)}: {at}: energies.{toml_key(energy)} is not conditioned on {column!r}"
                              f"{suggest(column, list(labels))}")
        values[column] = value
    unobserved = [c for c in _labels(named, energies) if c not in values]
    if named.spec.terms:  # a term left wholly unobserved drops out of the sum; half a term needs drop
        by_name = {e.name: e for e in energies}
        unobserved = [c for t in named.spec.terms if any(k in values for k in by_name[t].spec.labels)
                      for c in by_name[t].spec.labels if c not in values]
        if not values:
            raise RecipeError(f"{where(path)}: {path} binds no column of the sum {energy!r}: every term would drop "
                              "out; give at least one value")
    if unobserved and named.spec.drop == 0:
        raise RecipeError(f"{where(path)}: {path} leaves {', '.join(unobserved)} unobserved, but energy {energy!r} "
                          f"was trained with every label observed; give {unobserved[0]} a value or set "
                          f"energies.{toml_key(energy)}.drop > 0 (say 0.5)")
    return ConceptSpec(name, energy, values, judge, posterior)


def _flag(value: Any, path: str, where: Any) -> bool:
    if not isinstance(value, bool):
        raise RecipeError(f"{where(path)}: {path} = {format_toml(value)}: expected true or false, got "
                          f"{describe_value(value)}")
    return value


def _judge_values(table: Any, path: str, where: Any) -> dict[str, int] | None:
    """A concept's ``judge = { column = value, ... }``: what the classifier checks instead of its values."""
    if table is None:
        return None
    if not isinstance(table, dict) or not table:
        raise RecipeError(f"{where(path)}: {path} = {format_toml(table)}: expected a table of label columns and "
                          "values the classifier checks, e.g. { cell_tl = 1 }")
    return {column: _label_value(value, f"{path}.{toml_key(column)}", where) for column, value in table.items()}


def _label_value(value: Any, at: str, where: Any) -> int:
    """A label value of a concept or its judge: an integer >= 0 (true / false are 1 / 0)."""
    value = int(value) if isinstance(value, bool) else value
    if not isinstance(value, int) or value < 0:
        raise RecipeError(f"{where(at)}: {at} = {format_toml(value)}: expected a label value (an integer >= 0, "
                          f"or true/false), got {describe_value(value)}")
    return value
