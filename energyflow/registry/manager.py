"""The plugin manager: built-ins and entry points, loaded lazily, and the component registries.

The manager is built on first use: the modules in `DEFAULT_PLUGINS`, then, once, the ``energyflow``
entry points (pluggy's loader; ``ENERGYFLOW_LOAD_PLUGINS=a,b`` loads only those, ``=`` none;
``ENERGYFLOW_DISABLE_PLUGINS=a,b`` blocks plugins or distributions, built-ins included). One that
fails to load is recorded in ``pm.broken``. Each registry is built once per manager state by its
registration hook, called through pluggy (wrappers, ``tryfirst`` and ``trylast`` apply).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pluggy
from attrs import frozen

from energyflow.errors import PluginError, UnknownComponentError, suggest
from energyflow.registry import hookspecs
from energyflow.registry.records import KINDS, Registrar, Registration, Registry
from energyflow.version import __version__

DEFAULT_PLUGINS: tuple[str, ...] = ("energyflow.registry.builtin_components", "energyflow.registry.tensorboard_logger")
ENTRY_POINT_GROUP = "energyflow"
LOAD_ENV = "ENERGYFLOW_LOAD_PLUGINS"
DISABLE_ENV = "ENERGYFLOW_DISABLE_PLUGINS"

@frozen
class PluginInfo:
    """Where a plugin came from, for ``energyflow plugins``; ``error`` is set for a broken plugin."""

    name: str
    version: str
    origin: str
    distribution: str = ""
    error: str = ""


class PluginManager(pluggy.PluginManager):
    """The ``energyflow`` pluggy manager: plugin origins, broken entry points, registries cached per state."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.broken: dict[str, PluginInfo] = {}  #: entry points that failed to load, by name
        self._cache: dict[str, Any] = {}  # registries by kind, and "origins"; cleared on any change
        self._shadowed: list[tuple[object, Any]] = []  # (plugin, dist) loaded past a disabled distribution

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; an unknown hook or a bad hook signature is a PluginError, and undone."""
        self._cache.clear()
        plugin_name = name or self.get_canonical_name(plugin)
        try:
            registered = super().register(plugin, name)
        except pluggy.PluginValidationError as e:
            self.unregister(name=plugin_name)
            raise PluginError(f"plugin {plugin_name!r} has a bad hook: {' '.join(str(e).split())}") from e
        unknown = [c.name for c in self.get_hookcallers(plugin) or () if not c.has_spec()
                   and any(i.plugin is plugin and not i.optionalhook for i in c.get_hookimpls())]
        if unknown:
            self.unregister(name=plugin_name)
            raise PluginError(f"plugin {plugin_name!r} implements an unknown hook {unknown[0]!r}"
                              f"{suggest(unknown[0], hookspecs.hook_names())}")
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self._cache.clear()
        return super().unregister(plugin, name)

    @property
    def origins(self) -> dict[str, PluginInfo]:
        """Each registered plugin's version and origin: built-in, an entry point (pluggy's dist info), runtime."""
        if "origins" not in self._cache:
            dists = {self.get_name(p): d for p, d in [*self.list_plugin_distinfo(), *self._shadowed]}
            self._cache["origins"] = origins = {}
            for name, plugin in self.list_name_plugin():
                if name in dists:
                    origins[name] = _entry_point_info(name, dists[name])
                elif name in DEFAULT_PLUGINS and plugin is sys.modules.get(name):
                    origins[name] = PluginInfo(name, __version__, "built-in")
                elif plugin is not None:  # None: blocked
                    origins[name] = PluginInfo(name, str(getattr(plugin, "__version__", "")), "registered at runtime")
        return dict(self._cache["origins"])

    def find_broken(self, name: str) -> PluginInfo | None:
        """The broken entry point with this plugin or distribution name, if any."""
        return next((b for b in self.broken.values() if name == b.name or normalize_name(name) == b.distribution), None)


def make_plugin_manager(*, entry_points: bool = True) -> PluginManager:
    """A new manager holding the built-ins and (unless ``entry_points=False``) installed plugins."""
    pm = PluginManager()
    for name in _env_names(DISABLE_ENV) or ():
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    if entry_points:
        load_entry_points(pm)
    return pm


def load_entry_points(pm: PluginManager) -> None:
    """Register (with pluggy's loader) each entry point the environment allows; record those that fail.

    Raises:
        PluginError: two distributions, or a distribution and a registered plugin, claim one name.
    """
    only = _env_names(LOAD_ENV)
    wanted = None if only is None else only | {normalize_name(n) for n in only}
    blocked = {normalize_name(n) for n in _env_names(DISABLE_ENV) or ()}
    providers: dict[str, dict[str, Any]] = {}  # entry-point name -> {distribution name: dist}, sys.path order
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            providers.setdefault(ep.name, {}).setdefault(normalize_name(dist.metadata["Name"] or ""), dist)
    for name, found in providers.items():
        allowed = {d: dist for d, dist in found.items() if d not in blocked and (wanted is None or {name, d} & wanted)}
        known = pm.origins.get(name)
        if not allowed or pm.is_blocked(name) or name in pm.broken or known and [known.distribution] == [*allowed]:
            continue  # not wanted, or loaded by an earlier call
        infos = [_entry_point_info(name, dist) for dist in allowed.values()]
        if known is not None or len(infos) > 1:  # pluggy's loader would silently keep the first
            first = known or infos[0]
            raise PluginError(f"two plugins are named {name!r}: {first.origin} and {infos[-1].origin}; "
                              f"uninstall one or set {DISABLE_ENV}={infos[-1].distribution}")
        dist = next(iter(allowed.values()))
        try:
            if next(iter(found.values())) is dist:
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
            else:  # pluggy's loader would take the first distribution on sys.path, a disabled one
                pm.register(plugin := _entry_point(dist, name).load(), name=name)
                pm._shadowed.append((plugin, dist))
        except Exception as e:  # noqa: BLE001  any failure in a plugin's module makes it broken, not us
            error = " ".join((str(e) if isinstance(e, PluginError) else f"{type(e).__name__}: {e}").split())
            pm.broken[name] = attrs.evolve(infos[0], error=error)


def _entry_point(dist: Any, name: str) -> Any:
    return next(iter(dist.entry_points.select(group=ENTRY_POINT_GROUP, name=name)))


def _entry_point_info(name: str, dist: Any) -> PluginInfo:  # dist: a Distribution or pluggy's DistFacade
    dist_name = normalize_name(dist.metadata["Name"] or "")
    origin = f"entry point of {dist_name} ({_entry_point(dist, name).value})"
    return PluginInfo(name, dist.version or "", origin, dist_name)


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
def get_registry(kind: str, pm: PluginManager | None = None) -> Registry:
    """The registry of ``kind``, from its registration hook called through pluggy once per manager state."""
    if kind not in KINDS:
        raise UnknownComponentError(f"no component kind {kind!r}{suggest(kind, list(KINDS))}")
    pm = pm or get_plugin_manager()
    if kind not in pm._cache:
        caller = getattr(pm.hook, KINDS[kind][0])
        register = Registrar(kind, caller.get_hookimpls())
        try:
            caller(register=register)
        except PluginError:
            raise
        except Exception as e:
            raise PluginError(f"plugin {register.culprit(e.__traceback__)!r} failed in {KINDS[kind][0]}: "
                              f"{type(e).__name__}: {e}") from e
        finally:
            register.closed = True
        order = {name: i for i, (name, _) in enumerate(pm.list_name_plugin())}  # registration order
        pm._cache[kind] = Registry(kind, sorted(register.registrations, key=lambda r: order.get(r.plugin, -1)))
    return pm._cache[kind]


def plugin_infos(pm: PluginManager | None = None) -> list[tuple[PluginInfo, list[Registration], list[str]]]:
    """Each plugin with what it registers and the other hooks it implements; broken ones last."""
    pm = pm or get_plugin_manager()
    registrations = [r for kind in KINDS for r in get_registry(kind, pm)]
    registration_hooks = {hook for hook, _ in KINDS.values()}
    rows = []
    for name, info in pm.origins.items():
        callers = pm.get_hookcallers(pm.get_plugin(name)) or ()
        hooks = sorted(c.name for c in callers if c.name not in registration_hooks)
        rows.append((info, [r for r in registrations if r.plugin == name], hooks))
    return rows + [(info, [], []) for info in pm.broken.values()]


def _env_names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    return None if value is None else {n.strip() for n in value.split(",") if n.strip()}


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()
