"""TOML out: resolved options as TOML values, documents written by tomli_w, values in messages."""

from __future__ import annotations

import datetime
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

import tomli_w


def toml_ready(value: Any) -> Any:
    """A spec value as TOML can hold it: tuples become lists, paths strings, ``None`` ``"none"``."""
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return [toml_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def toml_options(options: dict[str, Any]) -> dict[str, Any]:
    """Resolved options TOML can hold (a value only a default can hold, such as a function, is left out)."""
    out = {}
    for key, value in options.items():
        ready = toml_ready(value)
        try:
            tomli_w.dumps({"v": ready})
        except TypeError:
            continue
        out[key] = ready
    return out


def toml_document(doc: dict[str, Any], header: str = "") -> str:
    """A document of tables as TOML text (written by tomli_w), ``header`` as comment lines first."""
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + ("\n" if comments else "") + tomli_w.dumps(doc)


def toml_key(key: Any) -> str:
    """A key as TOML writes it: bare when it can be, quoted otherwise (so a message stays one line)."""
    key = str(key)
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else json.dumps(key)


def format_toml(value: Any) -> str:
    """One value in TOML syntax, for messages and tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_toml(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {format_toml(x)}" for k, x in value.items()) + " }"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return repr(value)


def type_label(tp: Any) -> str:
    """An annotation as recipes spell it: ``float | none``, ``[int, ...]``, ``'fifo' | 'reservoir'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join(type_label(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(format_toml(a) for a in args)
    if tp is type(None):
        return "none"
    if origin in (tuple, list) or tp in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "[" + ", ".join(type_label(a) for a in args) + "]"
        return f"[{type_label(args[0]) if args else 'any'}, ...]"
    if origin is dict or tp is dict:
        return "table"
    return "path" if tp is Path else getattr(tp, "__name__", str(tp))


def describe_value(value: Any) -> str:
    """What kind of TOML value this is: ``a string``, ``an integer``, ``an array``."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             tuple: "an array", dict: "a table", datetime.date: "a date", datetime.datetime: "a date-time",
             datetime.time: "a time"}
    return kinds.get(type(value), f"a {type(value).__name__}")
