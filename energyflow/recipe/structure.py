"""Recipe tables to specs by cattrs; its error tree becomes one line that names the key.

A strict `cattrs` converter (no unknown keys, no ``"3"`` for an int, ``"none"`` for ``None``
where allowed) structures a table into a spec (`energyflow.recipe.options`); attrs validators run once per
field, after structuring, so an error can name its key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from energyflow.errors import RecipeError, suggest
from energyflow.recipe.options import Option, options_of, shadow
from energyflow.recipe.tomlio import (
    describe_value,
    format_toml,
    toml_key,
    toml_ready,
    type_label,
)


class WrongType(TypeError):
    """A value does not fit an annotation."""

    def __init__(self, value: Any, tp: Any):
        super().__init__(f"expected {type_label(tp)}, got {describe_value(value)}")


# --------------------------------------------------------------------------- the converter
def _strict(tp: type, accepts: tuple[type, ...]) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if type(value) not in accepts:
            raise WrongType(value, tp)
        return tp(value)

    return structure


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _union_hook(tp: Any) -> Any:
    """Each member in turn; the string ``"none"`` is ``None`` where the union admits it."""
    members = typing.get_args(tp)

    def structure(value: Any, _: Any) -> Any:
        if type(None) in members and (value is None or value == "none"):
            return None
        for member in members:
            if member is not type(None):
                try:
                    return CONVERTER.structure(value, member)
                except Exception:  # noqa: BLE001  cattrs raises many kinds; the next member may fit
                    continue
        raise WrongType(value, tp)

    return structure


def _path(value: Any, _: Any) -> Path:
    if not isinstance(value, str):
        raise WrongType(value, Path)
    return Path(value)


CONVERTER = cattrs.Converter(forbid_extra_keys=True)
for _tp, _accepts in ((int, (int,)), (float, (int, float)), (str, (str,)), (bool, (bool,))):
    CONVERTER.register_structure_hook(_tp, _strict(_tp, _accepts))
CONVERTER.register_structure_hook(Path, _path)
CONVERTER.register_structure_hook_factory(_is_union, _union_hook)

# --------------------------------------------------------------------------- structuring
def origin_of(where: Any, path: str) -> str:
    """``"FILE: "`` (or ``"FILE (--set ...): "``) naming where ``path`` came from; ``""`` without a ``where``."""
    return f"{where(path)}: " if where is not None else ""


def spec_options(spec: Any) -> dict[str, Any]:
    """An attrs spec's options by key (field alias), as `build_spec` resolves them."""
    return {f.alias: getattr(spec, f.name) for f in attrs.fields(type(spec)) if f.init}


def build_spec(cls: type, options: dict[str, Any], *, what: str, path: str, where: Any = None) -> tuple[Any, dict]:
    """Spec ``cls`` from recipe ``options``; returns the spec and its options, defaults filled in.

    Args:
        cls: the spec class (attrs, dataclass or typed ``__init__``).
        options: the table's keys (without ``kind``).
        what: how messages name the component (``sampler 'langevin'``).
        path: the table's key path (``sampler``, ``regularizers[0]``).
        where: maps a key path to its origin (file or ``--set``), which opens each message; without
            it, messages start at the key path.

    Raises:
        RecipeError: one line naming the origin, the key path, the value and what was expected.
    """
    plain = not (attrs.has(cls) or dataclasses.is_dataclass(cls))
    target = shadow(cls) if plain else cls
    try:
        with attrs.validators.disabled():  # validated below, one field at a time, so errors name keys
            structured = CONVERTER.structure(options, target)
    except ClassValidationError as e:
        raise _structure_error(e, options, options_of(cls), what=what, path=path, where=where) from e
    if attrs.has(target):
        for f in attrs.fields(target):
            _validate_field(structured, f, f"{path}.{f.alias}", where, options.get(f.alias, attrs.NOTHING))
        resolved = {f.alias: getattr(structured, f.name) for f in attrs.fields(target) if f.init}
    else:
        resolved = {f.name: getattr(structured, f.name) for f in dataclasses.fields(target) if f.init}
    if not plain:
        return structured, resolved
    try:
        return cls(**resolved), resolved
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{origin_of(where, path)}[{path}] ({what}): {_sentence(e)}") from e


def _validate_field(spec: Any, f: attrs.Attribute, at: str, where: Any, given: Any) -> None:
    if f.validator is None:
        return
    value = getattr(spec, f.name)
    shown = format_toml(toml_ready(value if given is attrs.NOTHING else given))
    try:
        f.validator(spec, f, value)
    except (TypeError, ValueError) as e:
        text = _sentence(e).removeprefix(f"'{f.name}' ").removesuffix(f" (got {value!r})")
        text = text.removesuffix(f": {value!r}").removesuffix(f": {value}")
        close = _close_choice(e, value)
        raise RecipeError(f"{origin_of(where, at)}{at} = {shown}: {text}{close}") from e


def _close_choice(e: Exception, value: Any) -> str:
    """``; did you mean 'fifo'?`` for attrs ``in_`` validators, whose error carries the options."""
    if len(e.args) == 4 and isinstance(value, str) and isinstance(e.args[2], (list, tuple, set, frozenset, dict)):
        close = difflib.get_close_matches(value, [str(o) for o in e.args[2]], n=1, cutoff=0.5)
        return f"; did you mean {close[0]!r}?" if close else ""
    return ""


def _sentence(e: Exception) -> str:
    return (e.args[0] if e.args and isinstance(e.args[0], str) else str(e)).rstrip(".")


def _leaves(e: BaseException, keys: tuple) -> Any:
    """``(key path, exception)`` for every failure in a cattrs error tree."""
    if isinstance(e, (ClassValidationError, IterableValidationError)):
        noted, bare = e.group_exceptions()
        for sub, note in noted:
            yield from _leaves(sub, (*keys, getattr(note, "name", getattr(note, "index", None))))
        for sub in bare:
            yield from _leaves(sub, keys)
    else:
        yield keys, e


def _given(options: dict, keys: tuple) -> tuple[tuple, Any]:
    """The deepest value the recipe gave along ``keys``, and the keys that reach it."""
    node: Any = options
    for depth, key in enumerate(keys):
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return keys[:depth], node
    return keys, node


def _structure_error(e: ClassValidationError, options: dict, known: list[Option], *, what: str, path: str,
                     where: Any) -> RecipeError:
    keys_path, leaf = next(_leaves(e, ()))
    at = path + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys_path)
    if isinstance(leaf, ForbiddenExtraKeysError):
        key = toml_key(sorted(leaf.extra_fields)[0])
        names = sorted(o.name for o in known)
        message = f"{origin_of(where, f'{path}.{key}')}{path}.{key}: unknown option of {what}{suggest(key, names)}"
    elif isinstance(leaf, KeyError):
        help_text = next((o.help for o in known if keys_path and o.name == keys_path[-1]), "")
        message = f"{origin_of(where, path)}{at}: required option of {what} is missing" + (f" ({help_text})" if help_text else "")
    elif isinstance(leaf, WrongType):
        found, value = _given(options, keys_path)
        if found != keys_path:  # cattrs walked into a value of another shape (a table where an array belongs)
            at = path + "".join(f"[{k}]" if isinstance(k, int) else f".{toml_key(k)}" for k in found)
            field = next((o for o in known if found and o.name == found[0]), None)
            if field is not None and len(found) == 1:
                leaf = WrongType(value, field.type)
        message = f"{origin_of(where, at)}{at} = {format_toml(value)}: {leaf}"
    else:
        message = f"{origin_of(where, path)}[{path}] ({what}): {_sentence(leaf)}"
    return RecipeError(message)
