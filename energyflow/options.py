"""Options of attrs specs, read from TOML: type checks, coercion, errors that name the key.

A registered component is an attrs class whose init fields are a recipe table's keys. This
module fits TOML values to the fields' annotations (ints become floats, arrays tuples, the
string ``"none"`` becomes ``None`` where ``None`` is allowed), runs each field's converter and
validator on its own so an error can name its key, and writes values back as TOML.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import json
import math
import re
import types
import typing
from collections import abc as _abc
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from energyflow.plugins import suggest


class RecipeError(ValueError):
    """A recipe is wrong; the message names the file, the key path, the value and a fix."""


@frozen
class Option:
    """One field of a spec, for ``energyflow describe``."""

    name: str
    type: str
    default: str
    help: str


def options_of(cls: type) -> list[Option]:
    """Each init field of attrs class ``cls`` with its type, default and help text."""
    hints = _type_hints(cls)
    rows = []
    for f in attrs.fields(cls):
        if not f.init:
            continue
        default = f.default
        if isinstance(default, attrs.Factory) and not default.takes_self:
            default = default.factory()
        if default is attrs.NOTHING:
            shown = "(required)"
        elif default is None:
            shown = "none"
        else:
            try:
                shown = format_toml(default)
            except TypeError:
                shown = repr(default)
        rows.append(Option(f.alias, type_label(hints.get(f.name, f.type)), shown, f.metadata.get("help", "")))
    return rows


def build_spec(cls: type, options: dict[str, Any], *, what: str, path: str, where: Any = None) -> Any:
    """Instantiate attrs spec ``cls`` from recipe ``options``, naming ``path`` in every error.

    Args:
        cls: the attrs class.
        options: the table's keys (without ``kind``).
        what: how messages name the component (``sampler 'langevin'``).
        path: the table's key path (``sampler``, ``regularizers[0]``).
        where: maps a key path to its origin (file or ``--set``); default: ``"<recipe>"``.
    """
    where = where or (lambda _: "<recipe>")
    fields = {f.alias: f for f in attrs.fields(cls) if f.init}
    hints = _type_hints(cls)
    kwargs = {}
    for key, value in options.items():
        at = f"{path}.{key}"
        if key not in fields:
            raise RecipeError(f"{where(at)}: {at}: unknown option of {what}{suggest(key, sorted(fields))}")
        f, shown = fields[key], format_toml(value)
        try:
            value = coerce(value, hints.get(f.name))
        except TypeMismatch as e:
            raise RecipeError(f"{where(at)}: {at} = {shown}: expected {e}, got {describe_value(value)}") from None
        _check_field(f, value, f"{where(at)}: {at} = {shown}")
        kwargs[key] = value
    for key, f in fields.items():
        if f.default is attrs.NOTHING and key not in kwargs:
            help_text = f.metadata.get("help", "")
            raise RecipeError(f"{where(path)}: {path}.{key}: required option of {what} is missing"
                              + (f" ({help_text})" if help_text else ""))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{where(path)}: [{path}] ({what}): {_message(e)}") from e


def _check_field(f: attrs.Attribute, value: Any, prefix: str) -> None:
    """Run one field's converter and validator alone, so an error can name its key."""
    converter = f.converter
    try:
        if converter is not None and not isinstance(converter, getattr(attrs, "Converter", ())):
            value = converter(value)
        if f.validator is not None:
            f.validator(None, f, value)
    except (TypeError, ValueError) as e:
        raise RecipeError(f"{prefix}: {_message(e, f.name, value)}{_choices_hint(e, value)}") from e
    except Exception:  # noqa: BLE001  a validator that needs the whole instance; checked by cls(**kwargs)
        return


def _choices_hint(e: Exception, value: Any) -> str:
    """``; did you mean 'fifo'?`` for attrs ``in_`` validators, whose error carries the options."""
    if len(e.args) == 4 and isinstance(value, str) and isinstance(e.args[2], (list, tuple, set, frozenset, dict)):
        close = difflib.get_close_matches(value, [str(o) for o in e.args[2]], n=1, cutoff=0.5)
        return f"; did you mean {close[0]!r}?" if close else ""
    return ""


def _message(e: Exception, name: str = "", value: Any = None) -> str:
    """The exception's own sentence, without a repeat of the key and value already shown."""
    msg = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    if name:
        msg = re.sub(rf"^'?{re.escape(name)}'?:?\s+", "", msg)
        for tail in (f", got {value!r}", f": {value!r}", f" (got {value!r})", f", got {value}", f": {value}"):
            msg = msg.removesuffix(tail)
    return msg.rstrip(".")


def _type_hints(cls: type) -> dict[str, Any]:
    """Field annotations, resolved where possible (unresolved ones stay strings, which accept anything)."""
    with contextlib.suppress(Exception):  # an annotation naming something only a type checker imports
        attrs.resolve_types(cls)
    return {f.name: f.type for f in attrs.fields(cls)}


def spec_options(spec: Any) -> dict[str, Any]:
    """An attrs spec's init fields as TOML-ready values (tuples become lists, None becomes "none")."""
    hints = _type_hints(type(spec))
    out = {}
    for f in attrs.fields(type(spec)):
        if not f.init:
            continue
        value = getattr(spec, f.name)
        if value is None:
            if not _admits_none(hints.get(f.name)):
                continue
            value = "none"
        try:
            format_toml(value)
        except TypeError:
            continue  # not expressible in TOML; only a default can hold it
        out[f.alias] = list(value) if isinstance(value, tuple) else value
    return out


def _admits_none(tp: Any) -> bool:
    return tp is None or type(None) in typing.get_args(tp)


# --------------------------------------------------------------------------- TOML values and types
class TypeMismatch(TypeError):
    """A value does not fit an annotation; the message is the annotation as recipes spell it."""


def coerce(value: Any, tp: Any) -> Any:
    """``value`` fitted to annotation ``tp`` (ints become floats, arrays tuples, ``"none"`` None).

    Raises:
        TypeMismatch: the value does not fit; ``None`` or an unknown ``tp`` accepts anything.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is None or tp is Any or tp is object or isinstance(tp, (str, typing.TypeVar)):
        return value
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and value == "none":
            return None
        for arg in args:
            try:
                return coerce(value, arg)
            except TypeMismatch:
                continue
    elif tp is type(None):
        if value is None:
            return None
    elif origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif tp is bool or tp is str or tp is int:
        if type(value) is tp:
            return value
    elif tp is float:
        if type(value) in (int, float):
            return float(value)
    elif tp is Path:
        if isinstance(value, str):
            return Path(value)
    elif origin in (tuple, list, typing.Sequence, _abc.Sequence) or tp in (tuple, list):
        if isinstance(value, (list, tuple)):
            items = _coerce_items(value, tp, args)
            return list(items) if origin is list or tp is list else tuple(items)
    elif origin in (dict, _abc.Mapping) or tp is dict:
        if isinstance(value, dict):
            return {k: coerce(x, args[1] if args else None) for k, x in value.items()}
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:
        return value
    raise TypeMismatch(type_label(tp))


def _coerce_items(value: list | tuple, tp: Any, args: tuple) -> list:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return [coerce(x, args[0] if args else None) for x in value]
    if typing.get_origin(tp) is tuple and len(args) != len(value):
        raise TypeMismatch(type_label(tp))
    if typing.get_origin(tp) is tuple:
        return [coerce(x, a) for x, a in zip(value, args, strict=True)]
    return [coerce(x, args[0]) for x in value]


def type_label(tp: Any) -> str:
    """An annotation as recipes spell it: ``float | none``, ``[int, ...]``, ``'fifo' | 'reservoir'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_label(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(format_toml(a) for a in args)
    if tp is type(None):
        return "none"
    if origin in (tuple, list, typing.Sequence, _abc.Sequence):
        if not args or args[-1] is Ellipsis or origin is not tuple:
            return f"[{type_label(args[0]) if args else 'any'}, ...]"
        return "[" + ", ".join(type_label(a) for a in args) + "]"
    if origin in (dict, _abc.Mapping) or tp is dict:
        return "table"
    if tp is Path:
        return "path"
    return getattr(tp, "__name__", str(tp))


def describe_value(value: Any) -> str:
    """What kind of TOML value this is: ``a string``, ``an integer``, ``an array``."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             tuple: "an array", dict: "a table", datetime.date: "a date", datetime.datetime: "a date-time",
             datetime.time: "a time"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def format_toml(value: Any) -> str:
    """``value`` in TOML syntax; raises ``TypeError`` for what TOML cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("-inf" if value < 0 else "inf") if math.isinf(value) else ("nan" if math.isnan(value) else repr(value))
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_toml(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {format_toml(x)}" for k, x in value.items()) + " }"
    raise TypeError(f"{type(value).__name__} has no TOML form")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_document(doc: dict[str, Any], header: str = "") -> str:
    """A document of tables (dicts) and arrays of tables (lists of dicts) as TOML text."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name, body in doc.items():
        for table in body if isinstance(body, list) else [body]:
            lines += ["", f"[[{name}]]" if isinstance(body, list) else f"[{name}]"]
            lines += [f"{_toml_key(k)} = {format_toml(x)}" for k, x in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
