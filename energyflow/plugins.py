"""The plugin manager: built-ins and entry points, loaded lazily, and the component registries.

The manager is built on first use (never at import time): it registers the modules named in
`DEFAULT_PLUGINS`, then every entry point of the ``energyflow`` group, once.
``ENERGYFLOW_LOAD_PLUGINS=a,b`` loads only those entry points (an empty value loads none) and
``ENERGYFLOW_DISABLE_PLUGINS=a,b`` blocks plugins by plugin or distribution name, built-ins
included. Registries are read from the registration hooks each time they are asked for, so a
plugin registered at runtime is seen at once.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pluggy
from attrs import frozen

from energyflow import hookspecs

DEFAULT_PLUGINS: tuple[str, ...] = ("energyflow.builtins",)
ENTRY_POINT_GROUP = "energyflow"
LOAD_ENV = "ENERGYFLOW_LOAD_PLUGINS"
DISABLE_ENV = "ENERGYFLOW_DISABLE_PLUGINS"

#: component kind -> (registration hook, plural used in messages)
KINDS: dict[str, tuple[str, str]] = {
    "energy": ("register_energies", "energies"),
    "sampler": ("register_samplers", "samplers"),
    "buffer": ("register_buffers", "buffers"),
    "regularizer": ("register_regularizers", "regularizers"),
    "dataset": ("register_datasets", "datasets"),
    "task": ("register_tasks", "tasks"),
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class PluginError(Exception):
    """A plugin is broken or two plugins disagree; the message says which and how to fix it."""


class UnknownComponentError(PluginError, LookupError):
    """No registered component has the requested name."""


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
class PluginInfo:
    """Where a plugin came from, for ``energyflow plugins``."""

    name: str
    version: str
    origin: str
    distribution: str = ""


class PluginManager(pluggy.PluginManager):
    """A pluggy manager for the ``energyflow`` project that remembers each plugin's origin."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, PluginInfo] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        if registered is not None and registered not in self.origins:
            version = str(getattr(plugin, "__version__", ""))
            self.origins[registered] = PluginInfo(registered, version, "registered at runtime")
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        name = name or (self.get_name(plugin) if plugin is not None else None)
        self.origins.pop(name, None)
        return super().unregister(plugin, name)


def make_plugin_manager(*, entry_points: bool = True) -> PluginManager:
    """A new manager holding the built-ins and (unless ``entry_points=False``) installed plugins."""
    pm = PluginManager()
    for name in _env_names(DISABLE_ENV) or ():
        pm.set_blocked(name)
    from energyflow import __version__

    for module_name in DEFAULT_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
        pm.origins[module_name] = PluginInfo(module_name, __version__, "built-in")
    if entry_points:
        load_entry_points(pm)
    return pm


def load_entry_points(pm: PluginManager) -> None:
    """Register every ``energyflow`` entry point allowed by the environment variables."""
    only = _env_names(LOAD_ENV)
    blocked = {_normalize(n) for n in _env_names(DISABLE_ENV) or ()}
    for dist in importlib.metadata.distributions():
        dist_name = _normalize(dist.metadata["Name"] or "")
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.is_blocked(ep.name) or dist_name in blocked:
                continue
            if only is not None and not {ep.name, dist_name} & (only | {_normalize(n) for n in only}):
                continue
            known = pm.origins.get(ep.name)
            if known is not None:
                if known.distribution == dist_name:
                    continue  # the same distribution found twice on sys.path
                raise PluginError(
                    f"two plugins are named {ep.name!r}: {known.origin} and entry point of "
                    f"{dist_name} ({ep.value}); uninstall one or set {DISABLE_ENV}={dist_name}"
                )
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as e:
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}, from {dist_name}) failed to load: "
                    f"{type(e).__name__}: {e}; set {DISABLE_ENV}={ep.name} to skip it"
                ) from e
            version = dist.version or ""
            pm.origins[ep.name] = PluginInfo(ep.name, version, f"entry point of {dist_name} ({ep.value})", dist_name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        hook = re.search(r"unknown hook '(\w+)'", str(e))
        name = hook.group(1) if hook else "?"
        raise PluginError(f"plugin {pm.get_name(e.plugin)!r} implements an unknown hook {name!r}"
                          f"{suggest(name, hookspecs.hook_names())}") from e


# --------------------------------------------------------------------------- the global manager
_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, built (and entry points loaded) on first call."""
    global _manager
    if _manager is None:
        _manager = make_plugin_manager()
    return _manager


@contextlib.contextmanager
def use_plugin_manager(pm: PluginManager) -> Iterator[PluginManager]:
    """Make ``pm`` the process-wide manager inside the ``with`` block (tests, embedding)."""
    global _manager
    previous, _manager = _manager, pm
    try:
        yield pm
    finally:
        _manager = previous


# --------------------------------------------------------------------------- registries
class Registry:
    """All registrations of one kind, in plugin registration order."""

    def __init__(self, kind: str, registrations: list[Registration]):
        self.kind = kind
        self.registrations = registrations

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
            raise UnknownComponentError(
                f"plugin {plugin!r} registers no {self.kind} {short!r} (it comes from {owners})"
            )
        raise UnknownComponentError(f"no {self.kind} named {name!r}{suggest(short, self.names())}")


def suggest(name: str, choices: list[str]) -> str:
    """``"; did you mean 'x'? (known: ...)"``, the tail of a not-found message."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{hint} (known: {', '.join(choices) or 'none'})"


def registry(kind: str, pm: PluginManager | None = None) -> Registry:
    """Call every plugin's registration hook for ``kind`` and collect the results."""
    if kind not in KINDS:
        raise UnknownComponentError(f"no component kind {kind!r}{suggest(kind, list(KINDS))}")
    pm = pm or get_plugin_manager()
    caller = getattr(pm.hook, KINDS[kind][0])
    registrations: list[Registration] = []
    for impl in caller.get_hookimpls():  # in registration order (pluggy calls them in reverse)
        register = _registrar(kind, impl.plugin_name, registrations)
        try:
            impl.function(*[register] * len(impl.argnames))
        except PluginError:
            raise
        except Exception as e:
            raise PluginError(
                f"plugin {impl.plugin_name!r} failed in {KINDS[kind][0]}: {type(e).__name__}: {e}"
            ) from e
    return Registry(kind, registrations)


def _registrar(kind: str, plugin: str, into: list[Registration]) -> Callable[..., None]:
    def register(
        name: str, factory: type, *, aliases: tuple[str, ...] = (), description: str | None = None
    ) -> None:
        aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
        for n in (name, *aliases):
            if not isinstance(n, str) or not _NAME.match(n):
                raise PluginError(
                    f"plugin {plugin!r} registers {kind} {n!r}: names use letters, digits, '_', '-' and '.'"
                )
        if not (isinstance(factory, type) and attrs.has(factory)):
            raise PluginError(
                f"plugin {plugin!r} registers {kind} {name!r} with {factory!r}: the factory must be "
                "an attrs class (@frozen(kw_only=True)) so recipes can validate its options"
            )
        taken = {n for r in into if r.plugin == plugin for n in r.names()}
        clash = sorted(taken.intersection((name, *aliases)))
        if clash or len(set(aliases) | {name}) != len(aliases) + 1:
            raise PluginError(f"plugin {plugin!r} registers {kind} {(clash or [name])[0]!r} twice")
        doc = (factory.__doc__ or "").strip().splitlines()
        into.append(Registration(kind, name, factory, plugin, aliases, description or (doc[0] if doc else "")))

    return register


def plugin_infos(pm: PluginManager | None = None) -> list[tuple[PluginInfo, list[Registration], list[str]]]:
    """Each plugin with what it registers and the other hooks it implements."""
    pm = pm or get_plugin_manager()
    registrations = [r for kind in KINDS for r in registry(kind, pm)]
    registration_hooks = {hook for hook, _ in KINDS.values()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        info = pm.origins.get(name) or PluginInfo(name, "", "registered at runtime")
        hooks = sorted(
            c.name for c in pm.get_hookcallers(plugin) or () if c.name not in registration_hooks
        )
        rows.append((info, [r for r in registrations if r.plugin == name], hooks))
    return rows


def _env_names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()
