"""The three forms of a spec and their options: attrs classes, dataclasses, typed ``__init__``.

A registered factory's options (the recipe table's keys) are read from attrs fields, dataclass
fields, or the parameters of a plain class's ``__init__``, with help text from field metadata
(``{"help": ...}``) or the docstring's ``Args:`` / ``Attributes:`` section.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Any

import attrs
from attrs import frozen

from energyflow.recipe.tomlio import format_toml, toml_ready, type_label


@frozen
class Option:
    """One option of a spec: its key, annotation, default (``attrs.NOTHING`` if required) and help."""

    name: str
    type: Any
    default: Any
    help: str

    def row(self) -> tuple[str, str, str, str]:
        """``(name, type, default, help)`` as ``energyflow describe`` prints them."""
        shown = "(required)" if self.default is attrs.NOTHING else format_toml(toml_ready(self.default))
        return self.name, type_label(self.type), shown, self.help


def options_of(cls: type) -> list[Option]:
    """The options of spec ``cls`` (attrs class, dataclass or typed ``__init__``), in order."""
    documented = _docstring_args(cls)
    if attrs.has(cls):
        hints = _hints(cls)
        return [Option(f.alias, hints.get(f.name, f.type), _default(f.default), f.metadata.get("help")
                       or documented.get(f.alias, "")) for f in attrs.fields(cls) if f.init]
    if dataclasses.is_dataclass(cls):
        hints = _hints(cls)
        return [Option(f.name, hints.get(f.name, f.type), _dataclass_default(f),
                       f.metadata.get("help") or documented.get(f.name, ""))
                for f in dataclasses.fields(cls) if f.init]
    hints = _hints(cls.__init__)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [Option(p.name, hints.get(p.name, Any), attrs.NOTHING if p.default is p.empty else p.default,
                   documented.get(p.name, "")) for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001  an annotation only a type checker can resolve: accept any value
        return {}


def _default(default: Any) -> Any:
    if isinstance(default, attrs.Factory) and not default.takes_self:
        return default.factory()
    return default


def _dataclass_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else attrs.NOTHING


def _docstring_args(cls: type) -> dict[str, str]:
    """Help text per name from a Google-style ``Args:`` (or ``Attributes:``) section."""
    doc = inspect.getdoc(cls) or ""
    if not attrs.has(cls) and not dataclasses.is_dataclass(cls):
        doc += "\n" + (inspect.getdoc(cls.__init__) or "")
    helps: dict[str, str] = {}
    current, section = None, False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Attributes:", "Parameters:"):
            section, current = True, None
        elif section and line.startswith("    ") and not line.startswith("        ") and ":" in line:
            name, _, text = line.strip().partition(":")
            current = name.split("(")[0].strip()
            helps[current] = text.strip()
        elif section and line.startswith("        ") and current:
            helps[current] += " " + line.strip()
        elif section and line.strip() and not line.startswith(" "):
            section = False
    return helps


@functools.cache
def shadow(cls: type) -> type:
    """An attrs class mirroring a plain class's typed ``__init__``, for cattrs to structure into."""
    fields = {o.name: attrs.field(type=o.type, default=o.default, kw_only=True) for o in options_of(cls)}
    return attrs.make_class(f"{cls.__name__}Options", fields)
