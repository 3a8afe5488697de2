"""Component registries: what a registration hook's ``register`` records, and name lookup.

`energyflow.registry.get_registry` fills a `Registry` per kind by calling the kind's registration hook
through pluggy with a `Registrar`, which credits each call to the plugin whose hook made it.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

import pluggy
from attrs import frozen

from energyflow.errors import PluginError, UnknownComponentError, suggest

#: component kind -> (registration hook, plural used in messages)
KINDS: dict[str, tuple[str, str]] = {
    "energy": ("register_energies", "energies"),
    "sampler": ("register_samplers", "samplers"),
    "buffer": ("register_buffers", "buffers"),
    "regularizer": ("register_regularizers", "regularizers"),
    "objective": ("register_objectives", "objectives"),
    "dataset": ("register_datasets", "datasets"),
    "task": ("register_tasks", "tasks"),
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@frozen
class Registration:
    """One ``register(name, factory, ...)`` call: a named factory of some kind, from some plugin."""

    kind: str
    name: str
    factory: type
    plugin: str
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def qualified_name(self) -> str:
        """``plugin:name``, the form that picks this registration when a name is claimed twice."""
        return f"{self.plugin}:{self.name}"

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@frozen
class Registry:
    """All registrations of one kind, in plugin registration order (built-ins first)."""

    kind: str
    registrations: list[Registration]

    @property
    def plural(self) -> str:
        return KINDS[self.kind][1]

    def __iter__(self) -> Iterator[Registration]:
        return iter(self.registrations)

    def __len__(self) -> int:
        return len(self.registrations)

    def names(self) -> list[str]:
        """Every name and alias, sorted."""
        return sorted({n for r in self.registrations for n in r.names()})

    def resolve(self, name: str) -> Registration:
        """The registration for ``name`` (``plugin:name`` picks among plugins).

        Raises:
            UnknownComponentError: nothing has that name; the message lists close matches.
            PluginError: more than one plugin claims the name; the message names them all.
        """
        plugin, _, short = name.rpartition(":")
        found = [r for r in self.registrations if short in r.names() and plugin in ("", r.plugin)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            owners = " and ".join(repr(r.plugin) for r in found)
            picks = " or ".join(repr(r.qualified_name) for r in found)
            raise PluginError(f"{self.kind} {short!r} is registered by both {owners}; write {picks}")
        if plugin and any(short in r.names() for r in self.registrations):
            owners = ", ".join(sorted(r.plugin for r in self.registrations if short in r.names()))
            raise UnknownComponentError(f"plugin {plugin!r} registers no {self.kind} {short!r} "
                                        f"(it comes from {owners})")
        raise UnknownComponentError(f"no {self.kind} named {name!r}{suggest(short, self.names())}")


class Registrar:
    """The ``register`` callable handed to one call of a registration hook.

    A call is credited to the plugin whose hook function is the nearest caller on the stack, so a
    helper the hook calls counts as the hook. A ``wrapper=True`` hook may edit ``registrations``
    after its ``yield`` (replace one with ``attrs.evolve``, drop one).
    """

    def __init__(self, kind: str, impls: list[pluggy.HookImpl]):
        self.kind, self.closed = kind, False
        self.registrations: list[Registration] = []
        self._impls: dict[Any, list[pluggy.HookImpl]] = {}  # hook function code -> its hookimpls
        for impl in impls:
            self._impls.setdefault(getattr(impl.function, "__code__", None), []).append(impl)

    def __call__(self, name: str, factory: type, *, aliases: tuple[str, ...] = (),
                 description: str | None = None) -> None:
        kind, frame = self.kind, sys._getframe(1)
        while frame is not None and frame.f_code not in self._impls:
            frame = frame.f_back
        if self.closed or frame is None:
            raise PluginError(f"register({name!r}, ...) was called outside a {KINDS[kind][0]} hook; "
                              "call it while the hook runs")
        plugin = self._owner(frame)
        aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
        if bad := [n for n in (name, *aliases) if not isinstance(n, str) or not _NAME.match(n)]:
            raise PluginError(f"plugin {plugin!r} registers {kind} {bad[0]!r}: names use letters, digits, "
                              "'_', '-' and '.'")
        if not (isinstance(factory, type) and callable(getattr(factory, "build", None))):
            raise PluginError(f"plugin {plugin!r} registers {kind} {name!r} with {factory!r}: the factory must be "
                              "a spec class (attrs, dataclass or typed __init__) with build(ctx)")
        taken = {n for r in self.registrations if r.plugin == plugin for n in r.names()}
        clash = sorted(taken.intersection((name, *aliases)))
        if clash or len(set(aliases) | {name}) != len(aliases) + 1:
            raise PluginError(f"plugin {plugin!r} registers {kind} {(clash or [name])[0]!r} twice")
        doc = [*(factory.__doc__ or "").strip().splitlines(), ""]
        self.registrations.append(Registration(kind, name, factory, plugin, aliases, description or doc[0]))

    def _owner(self, frame: FrameType) -> str:
        """The plugin whose hook function runs in ``frame``."""
        impls = self._impls[frame.f_code]
        if len(impls) > 1 and frame.f_code.co_argcount:  # one class's hook method, several instances
            first = frame.f_locals.get(frame.f_code.co_varnames[0])
            impls = [i for i in impls if i.plugin is first] or impls
        if len(impls) > 1:
            names = " and ".join(repr(i.plugin_name) for i in impls)
            raise PluginError(f"plugins {names} share one {KINDS[self.kind][0]} function; give each its own")
        return impls[0].plugin_name

    def culprit(self, tb: TracebackType | None) -> str:
        """The plugin whose hook function is the innermost in ``tb`` ("?" when none is)."""
        frames = [frame for frame, _ in traceback.walk_tb(tb) if frame.f_code in self._impls]
        return self._owner(frames[-1]) if frames else "?"
