"""The plugin machinery: the pluggy manager, the hook specifications, the component registries.

Every component kind (energy, sampler, buffer, regularizer, objective, dataset, task) has a registry filled
by its ``register_<kind>s(register)`` hook, called through pluggy once per manager state. The
core's own components are a plugin too (`DEFAULT_PLUGINS`: the built-in components and the
TensorBoard logger); installed plugins come from the ``energyflow`` entry-point group, loaded
lazily on first use. `hookspecs` is the reference for every hook.
"""

from energyflow.errors import PluginError, UnknownComponentError, suggest
from energyflow.registry import hookspecs
from energyflow.registry.build import BuildContext, build
from energyflow.registry.hookspecs import Register, RunView, hookimpl, hookspec
from energyflow.registry.manager import (
    DEFAULT_PLUGINS,
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    LOAD_ENV,
    PluginInfo,
    PluginManager,
    get_plugin_manager,
    get_registry,
    load_entry_points,
    make_plugin_manager,
    normalize_name,
    plugin_infos,
    use_plugin_manager,
)
from energyflow.registry.records import KINDS, Registrar, Registration, Registry

__all__ = [
    "DEFAULT_PLUGINS", "DISABLE_ENV", "ENTRY_POINT_GROUP", "KINDS", "LOAD_ENV", "BuildContext", "PluginError",
    "PluginInfo", "PluginManager", "Register", "Registrar", "Registration", "Registry", "RunView",
    "UnknownComponentError", "build", "get_plugin_manager", "get_registry", "hookimpl", "hookspec", "hookspecs",
    "load_entry_points", "make_plugin_manager", "normalize_name", "plugin_infos", "suggest", "use_plugin_manager",
]
