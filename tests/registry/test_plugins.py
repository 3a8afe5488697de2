"""The plugin system: built-ins, registries, name clashes, entry points and their environment switches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import attrs
import pytest
import torch
from attrs import define, frozen
from typer.testing import CliRunner

import energyflow
from energyflow import hookimpl
from energyflow import registry as plugins
from energyflow.cli import make_app
from energyflow.errors import PluginError, UnknownComponentError
from energyflow.models import MLPEnergy
from energyflow.recipe import load_recipe
from energyflow.registry import hookspecs
from energyflow.runtime import Run
from energyflow.samplers import Langevin
from energyflow.testing import check_energy, fresh_plugin_manager, inline_plugin

BUILTINS = {
    "energy": ["mlp"], "sampler": ["hmc", "langevin", "mala", "sgld"], "buffer": ["replay"],
    "regularizer": ["entropy", "grad_penalty", "kl", "l2_energy", "repel", "spectral_norm"], "dataset": ["toy2d"],
    "task": ["ais", "compose", "generate", "sample"],
}


def test_hookimpl_marker_is_public():
    assert energyflow.hookimpl is hookspecs.hookimpl


def test_builtins_register_through_the_hooks(plugin_manager):
    assert plugins.DEFAULT_PLUGINS == ("energyflow.registry.builtin_components", "energyflow.registry.tensorboard_logger")
    for kind, names in BUILTINS.items():
        registry = plugins.get_registry(kind)
        assert registry.names() == names
        assert {r.plugin for r in registry} == {"energyflow.registry.builtin_components"}
    sgld = plugins.get_registry("sampler").resolve("sgld")
    assert sgld.factory is Langevin and sgld.name == "langevin" and sgld.aliases == ("sgld",)


def test_plugin_manager_is_built_lazily_and_once():
    code = ("import energyflow.cli, energyflow.registry.manager as p, energyflow.recipe, energyflow.runtime;"
            "assert p._manager is None; a = p.get_plugin_manager(); assert p.get_plugin_manager() is a")
    env = {**os.environ, plugins.LOAD_ENV: ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_unknown_name_suggests_close_matches(plugin_manager):
    with pytest.raises(UnknownComponentError, match=r"no sampler named 'hcm'; did you mean 'hmc'\? \(known: "):
        plugins.get_registry("sampler").resolve("hcm")
    with pytest.raises(UnknownComponentError, match="no component kind 'samplers'; did you mean 'sampler'"):
        plugins.get_registry("samplers")


@define(kw_only=True)
class OtherLangevin(Langevin):
    """A second Langevin, for clash tests."""


class ClashingPlugin:
    @hookimpl
    def register_samplers(self, register):
        register("langevin", OtherLangevin)


def test_two_plugins_claiming_a_name_is_an_error_naming_both(plugin_manager, register_plugin):
    register_plugin(ClashingPlugin(), name="clasher")
    registry = plugins.get_registry("sampler")
    with pytest.raises(PluginError) as info:
        registry.resolve("langevin")
    assert str(info.value) == (
        "sampler 'langevin' is registered by both 'energyflow.registry.builtin_components' and 'clasher'; "
        "write 'energyflow.registry.builtin_components:langevin' or 'clasher:langevin'"
    )
    assert registry.resolve("clasher:langevin").factory is OtherLangevin
    assert registry.resolve("energyflow.registry.builtin_components:langevin").factory is Langevin
    assert registry.resolve("sgld").factory is Langevin  # only the alias is unambiguous


@frozen(kw_only=True)
class EchoSpec:
    """A spec whose component is itself."""

    def build(self, ctx):
        return self


def test_registration_mistakes_are_errors(plugin_manager):
    class Twice:
        @hookimpl
        def register_samplers(self, register):
            register("twice", OtherLangevin)
            register("twice", OtherLangevin)

    class NotAClass:
        @hookimpl
        def register_samplers(self, register):
            register("plain", EchoSpec())

    @define
    class NoBuild:
        steps: int = 1

    class WithoutBuild:
        @hookimpl
        def register_samplers(self, register):
            register("nobuild", NoBuild)

    class BadName:
        @hookimpl
        def register_samplers(self, register):
            register("a:b", OtherLangevin)

    fix = r"the factory must be a spec class \(attrs, dataclass or typed __init__\) with build\(ctx\)"
    for plugin, message in [(Twice(), "^plugin 'bad' registers sampler 'twice' twice$"),
                            (NotAClass(), f"^plugin 'bad' registers sampler 'plain' with EchoSpec\\(\\): {fix}$"),
                            (WithoutBuild(), f"^plugin 'bad' registers sampler 'nobuild' with <class .*NoBuild'>: {fix}$"),
                            (BadName(), "names use letters, digits")]:
        with inline_plugin(plugin, name="bad"), pytest.raises(PluginError, match=message):
            plugins.get_registry("sampler")


def test_dataclass_and_typed_init_specs_with_build_are_factories(register_plugin):
    @dataclass
    class DataSpec:
        """A dataclass spec."""

        steps: int = 3

        def build(self, ctx):
            return self

    class PlainSpec:
        """A plain spec."""

        def __init__(self, steps: int = 3) -> None:
            self.steps = steps

        def build(self, ctx):
            return self

    class Specs:
        @hookimpl
        def register_samplers(self, register):
            register("data_spec", DataSpec)
            register("plain_spec", PlainSpec)

    register_plugin(Specs(), name="specs")
    registry = plugins.get_registry("sampler")
    assert registry.resolve("data_spec").factory is DataSpec
    assert registry.resolve("plain_spec").description == "A plain spec."


def test_a_misspelt_hook_is_an_error_with_a_suggestion(plugin_manager):
    class Typo:
        @hookimpl
        def register_sampler(self, register):
            pass

    with pytest.raises(PluginError) as info:
        plugin_manager.register(Typo(), name="typo")
    assert str(info.value).startswith(
        "plugin 'typo' implements an unknown hook 'register_sampler'; did you mean 'register_samplers'"
    )
    assert plugin_manager.get_plugin("typo") is None  # the failed registration is undone
    assert plugin_manager.hook.register_sampler.get_hookimpls() == []
    plugin_manager.check_pending()

    class ExtraArgument:
        @hookimpl
        def register_samplers(self, register, device):
            pass

    with pytest.raises(PluginError, match="^plugin 'extra' has a bad hook: .*'device'"):
        plugin_manager.register(ExtraArgument(), name="extra")
    assert plugin_manager.get_plugin("extra") is None
    assert len(plugin_manager.hook.register_samplers.get_hookimpls()) == 1  # the built-ins' only


# --------------------------------------------------------------------------- hooks called through pluggy
def test_a_wrapper_sees_the_registration_call_and_can_add_and_modify(register_plugin):
    calls = []

    class Plain:
        @hookimpl
        def register_samplers(self, register):
            calls.append("plain")
            register("plain_echo", EchoSpec)

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_samplers(self, register):
            calls.append("before")
            register("wrapped_echo", EchoSpec)
            result = yield
            calls.append("after")
            for i, r in enumerate(register.registrations):
                if r.name == "plain_echo":
                    register.registrations[i] = attrs.evolve(r, aliases=("echo",), description="edited")
            return result

    register_plugin(Wrapper(), name="wrapper")
    register_plugin(Plain(), name="plain")
    registry = plugins.get_registry("sampler")
    assert calls == ["before", "plain", "after"]
    assert registry.resolve("wrapped_echo").plugin == "wrapper"
    edited = registry.resolve("echo")
    assert (edited.name, edited.plugin, edited.description) == ("plain_echo", "plain", "edited")


def test_tryfirst_and_trylast_order_the_calls_and_the_listing_keeps_registration_order(register_plugin):
    calls = []

    def plugin(label, **opts):
        class Plugin:
            @hookimpl(**opts)
            def register_samplers(self, register):
                calls.append(label)
                register(f"{label}_echo", EchoSpec)
        return Plugin()

    register_plugin(plugin("last", trylast=True), name="last")
    register_plugin(plugin("first", tryfirst=True), name="first")
    register_plugin(plugin("plain"), name="plain")
    registry = plugins.get_registry("sampler")
    assert calls == ["first", "plain", "last"]
    assert [r.plugin for r in registry][-3:] == ["last", "first", "plain"]
    assert next(iter(registry)).plugin == "energyflow.registry.builtin_components"


def _register_via_helper(register, name):
    register(name, EchoSpec)


def test_registrations_are_credited_to_the_plugin_whose_hook_made_them(register_plugin):
    class Helper:
        def __init__(self, name):
            self.name = name

        @hookimpl
        def register_samplers(self, register):
            _register_via_helper(register, self.name)

    register_plugin(Helper("one"), name="helper_one")
    register_plugin(Helper("two"), name="helper_two")  # the same hook function, two plugins
    registry = plugins.get_registry("sampler")
    assert registry.resolve("one").plugin == "helper_one"
    assert registry.resolve("two").plugin == "helper_two"


def test_register_outside_the_hook_is_an_error(register_plugin):
    kept = []

    class Keeper:
        @hookimpl
        def register_samplers(self, register):
            kept.append(register)

    register_plugin(Keeper(), name="keeper")
    plugins.get_registry("sampler")
    with pytest.raises(PluginError, match="called outside a register_samplers hook"):
        kept[0]("late", EchoSpec)


def test_an_error_in_a_hook_names_the_plugin_and_the_hook(register_plugin):
    def fail():
        raise ValueError("no samplers today")

    class Failing:
        @hookimpl
        def register_samplers(self, register):
            fail()

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_samplers(self):
            return (yield)

    register_plugin(Failing(), name="failing")
    register_plugin(Wrapper(), name="wrapper")
    with pytest.raises(PluginError) as info:
        plugins.get_registry("sampler")
    assert str(info.value) == "plugin 'failing' failed in register_samplers: ValueError: no samplers today"
    assert isinstance(info.value.__cause__, ValueError)


def test_a_registry_is_built_once_per_plugin_manager_state(plugin_manager):
    calls = []

    class Counting:
        @hookimpl
        def register_samplers(self, register):
            calls.append(1)

    class Other:
        @hookimpl
        def register_samplers(self, register):
            register("other_echo", EchoSpec)

    plugin_manager.register(Counting(), name="counting")
    first = plugins.get_registry("sampler")
    assert plugins.get_registry("sampler") is first
    plugins.plugin_infos()
    assert len(calls) == 1
    with inline_plugin(Other(), name="other"):
        assert "other_echo" in plugins.get_registry("sampler").names()  # seen at once
        assert len(calls) == 2
    assert "other_echo" not in plugins.get_registry("sampler").names()
    assert len(calls) == 3
    plugin_manager.set_blocked("counting")
    plugins.get_registry("sampler")
    assert len(calls) == 3


def test_inline_plugin_is_unregistered_afterwards(plugin_manager):
    with pytest.raises(RuntimeError), inline_plugin(ClashingPlugin(), name="clasher"):
        assert "clasher" in plugin_manager.origins
        raise RuntimeError("boom")
    assert plugin_manager.get_plugin("clasher") is None
    assert plugins.get_registry("sampler").resolve("langevin").factory is Langevin


def test_disable_plugins_blocks_builtins(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "energyflow.registry.builtin_components,energyflow.registry.tensorboard_logger")
    with fresh_plugin_manager():
        assert plugins.get_registry("sampler").names() == []
        assert plugins.plugin_infos() == []


def test_check_energy_accepts_mlp_and_rejects_batch_coupling():
    check_energy(MLPEnergy(2, hidden=(8,)), torch.randn(5, 2))

    class Coupled(energyflow.Energy):
        def forward(self, x):
            return (x - x.mean(0)).pow(2).sum(1)

    with pytest.raises(AssertionError, match="depends on the rest of the batch"):
        check_energy(Coupled(), torch.randn(5, 2))


# --------------------------------------------------------------------------- a real distribution
PLUGIN_SOURCE = '''
"""A throwaway third-party plugin: a Langevin sampler that takes bigger steps."""

from attrs import define, field

import energyflow
from energyflow.samplers import Langevin

__version__ = "0.3.1"
STARTED = []


@define(kw_only=True)
class JumpyLangevin(Langevin):
    """Langevin whose step size is multiplied by `jump`."""

    jump: float = field(default=2.0, converter=float, metadata={"help": "step size multiplier"})

    def _move(self, energy, x):
        x_new, values, grad = super()._move(energy, x)
        return x + self.jump * (x_new - x), values, grad


@energyflow.hookimpl
def register_samplers(register):
    register("jumpy", JumpyLangevin, description="Langevin with bigger steps")


@energyflow.hookimpl
def on_run_start(run):
    STARTED.append(run.recipe.name)
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "energyflow-jumpy"
version = "0.3.1"

[project.entry-points.energyflow]
jumpy = "ef_jumpy_plugin"

[tool.setuptools]
py-modules = ["ef_jumpy_plugin"]
"""


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory, pip_install_target):
    """pip-install a throwaway distribution with an ``energyflow`` entry point into a --target dir."""
    src, site = tmp_path_factory.mktemp("jumpy-src"), tmp_path_factory.mktemp("jumpy-site")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "ef_jumpy_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    pip_install_target(src, site)
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("ef_jumpy_plugin", None)


def test_entry_point_plugin_adds_a_sampler_a_recipe_uses(installed_plugin, tiny_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv(plugins.LOAD_ENV, "jumpy")  # hermetic: no other installed plugin
    with fresh_plugin_manager(entry_points=True) as pm:
        info = pm.origins["jumpy"]
        assert (info.version, info.origin) == ("0.3.1", "entry point of energyflow-jumpy (ef_jumpy_plugin)")
        recipe = load_recipe(tiny_recipe, ["sampler.kind=jumpy", "sampler.jump=3", "train.iterations=2"])
        assert type(recipe.sampler.spec).__name__ == "JumpyLangevin" and recipe.sampler.spec.jump == 3.0
        assert recipe.sampler.registration.plugin == "jumpy"
        Run(recipe, out_dir=tmp_path / "run", quiet=True).execute()
        assert sys.modules["ef_jumpy_plugin"].STARTED == ["tiny"]

        result = CliRunner().invoke(make_app(), ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        records = {r["name"]: r for r in json.loads(result.stdout)}
        assert records["jumpy"]["registers"] == {"sampler": ["jumpy"]}
        assert records["jumpy"]["hooks"] == ["on_run_start"]
        assert records["jumpy"]["version"] == "0.3.1"
        table = CliRunner().invoke(make_app(), ["plugins"], env={"COLUMNS": "200"}).stdout
        assert "jumpy" in table and "energyflow-jumpy" in table


def test_entry_points_obey_load_and_disable(installed_plugin, monkeypatch):
    monkeypatch.setenv(plugins.LOAD_ENV, "")
    with fresh_plugin_manager(entry_points=True) as pm:
        assert "jumpy" not in pm.origins
    monkeypatch.setenv(plugins.LOAD_ENV, "energyflow-jumpy")  # a distribution name works too
    monkeypatch.setenv(plugins.DISABLE_ENV, "jumpy")
    with fresh_plugin_manager(entry_points=True) as pm:
        assert "jumpy" not in pm.origins
    monkeypatch.delenv(plugins.DISABLE_ENV)
    with fresh_plugin_manager(entry_points=True) as pm:
        assert "jumpy" in plugins.get_registry("sampler").names()


def test_cli_subprocess_lists_the_installed_plugin(installed_plugin):
    env = {**os.environ, plugins.LOAD_ENV: "jumpy",
           "PYTHONPATH": os.pathsep.join([str(installed_plugin), str(Path(energyflow.__file__).parents[1])])}
    out = subprocess.run([sys.executable, "-m", "energyflow", "plugins", "--json"], check=True,
                         capture_output=True, text=True, env=env).stdout
    assert "jumpy" in {r["name"] for r in json.loads(out)}


ECHO_PLUGIN = """
import energyflow

class Echo:
    \"\"\"Echo from {name}.\"\"\"

    def build(self, ctx):
        return self

@energyflow.hookimpl
def register_samplers(register):
    register("{name}_echo", Echo)
"""


def test_a_plugin_that_fails_to_load_is_listed_as_broken(tmp_path, monkeypatch, fake_distribution):
    fake_distribution(tmp_path, "energyflow-broken", {"broken": "ef_no_such_module"})
    fake_distribution(tmp_path, "energyflow-raising", {"raising": "ef_raising_plugin"},
                      {"ef_raising_plugin": "raise RuntimeError('boom at import')"})
    fake_distribution(tmp_path, "energyflow-typo", {"typo": "ef_typo_plugin"}, {"ef_typo_plugin": """
        import energyflow

        @energyflow.hookimpl
        def register_sampler(register):
            pass
        """})
    fake_distribution(tmp_path, "energyflow-fine", {"fine": "ef_fine_plugin"},
                      {"ef_fine_plugin": ECHO_PLUGIN.format(name="fine")})
    monkeypatch.setenv(plugins.LOAD_ENV, "broken,raising,typo,fine")
    with fresh_plugin_manager(entry_points=True) as pm:
        assert pm.broken["broken"] == plugins.PluginInfo(
            "broken", "1.0", "entry point of energyflow-broken (ef_no_such_module)", "energyflow-broken",
            "ModuleNotFoundError: No module named 'ef_no_such_module'")
        assert pm.broken["raising"].error == "RuntimeError: boom at import"
        assert pm.broken["typo"].error.startswith(
            "plugin 'typo' implements an unknown hook 'register_sampler'; did you mean 'register_samplers'")
        assert set(pm.broken) == {"broken", "raising", "typo"}
        assert pm.get_plugin("typo") is None and "typo" not in pm.origins
        assert pm.find_broken("energyflow-raising") is pm.broken["raising"]
        assert pm.find_broken("fine") is None
        assert plugins.get_registry("sampler").resolve("fine_echo").plugin == "fine"

        rows = {info.name: (info, regs) for info, regs, _ in plugins.plugin_infos()}
        assert rows["raising"] == (pm.broken["raising"], [])
        assert rows["fine"][0].error == "" and [r.name for r in rows["fine"][1]] == ["fine_echo"]

        result = CliRunner().invoke(make_app(), ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        records = {r["name"]: r for r in json.loads(result.stdout)}
        assert records["broken"]["error"] == "ModuleNotFoundError: No module named 'ef_no_such_module'"
        assert records["broken"]["origin"] == "entry point of energyflow-broken (ef_no_such_module)"
        assert records["fine"]["error"] is None and records["fine"]["registers"] == {"sampler": ["fine_echo"]}
        table = CliRunner().invoke(make_app(), ["plugins"], env={"COLUMNS": "300"})
        assert table.exit_code == 0
        assert "broken: RuntimeError: boom at import" in table.stdout


def test_two_distributions_with_one_entry_point_name_clash(tmp_path, monkeypatch, fake_distribution):
    first, second = tmp_path / "a", tmp_path / "b"
    fake_distribution(second, "energyflow-dup-b", {"dup": "ef_dup_b"}, {"ef_dup_b": ECHO_PLUGIN.format(name="b")})
    fake_distribution(first, "energyflow-dup-a", {"dup": "ef_dup_a"}, {"ef_dup_a": ECHO_PLUGIN.format(name="a")})
    monkeypatch.setenv(plugins.LOAD_ENV, "dup")
    with pytest.raises(PluginError) as info:
        plugins.make_plugin_manager()
    assert str(info.value) == (
        "two plugins are named 'dup': entry point of energyflow-dup-a (ef_dup_a) and entry point of "
        "energyflow-dup-b (ef_dup_b); uninstall one or set ENERGYFLOW_DISABLE_PLUGINS=energyflow-dup-b"
    )
    for kept, dropped in [("a", "b"), ("b", "a")]:  # either fix works, also past pluggy's first-found pick
        monkeypatch.setenv(plugins.DISABLE_ENV, f"energyflow-dup-{dropped}")
        with fresh_plugin_manager(entry_points=True) as pm:
            assert pm.origins["dup"].distribution == f"energyflow-dup-{kept}"
            names = plugins.get_registry("sampler").names()
            assert f"{kept}_echo" in names and f"{dropped}_echo" not in names


def test_an_entry_point_named_like_a_loaded_plugin_is_a_clash(tmp_path, monkeypatch, fake_distribution):
    fake_distribution(tmp_path, "energyflow-shadow", {"energyflow.registry.builtin_components": "ef_shadow"},
                      {"ef_shadow": ECHO_PLUGIN.format(name="shadow")})
    monkeypatch.setenv(plugins.LOAD_ENV, "energyflow-shadow")
    with pytest.raises(PluginError, match=r"^two plugins are named 'energyflow.registry.builtin_components': built-in and entry point "
                                          r"of energyflow-shadow \(ef_shadow\); .*=energyflow-shadow$"):
        plugins.make_plugin_manager()
