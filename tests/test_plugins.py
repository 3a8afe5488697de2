"""The plugin system: built-ins, registries, name clashes, entry points and their environment switches."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from attrs import define
from typer.testing import CliRunner

import energyflow
from energyflow import hookspecs, plugins
from energyflow.cli import make_app
from energyflow.hookspecs import hookimpl
from energyflow.models import MLPEnergy
from energyflow.plugins import PluginError, UnknownComponentError
from energyflow.recipe import load_recipe
from energyflow.run import Run
from energyflow.samplers import Langevin
from energyflow.testing import check_energy, fresh_plugin_manager, inline_plugin

BUILTINS = {
    "energy": ["mlp"], "sampler": ["hmc", "langevin", "mala", "sgld"], "buffer": ["replay"],
    "regularizer": ["grad_penalty", "kl", "l2_energy", "spectral_norm"], "dataset": ["toy2d"],
    "task": ["generate", "sample"],
}


def test_hookimpl_marker_is_public():
    assert energyflow.hookimpl is hookspecs.hookimpl


def test_builtins_register_through_the_hooks(plugin_manager):
    assert plugins.DEFAULT_PLUGINS == ("energyflow.builtins",)
    for kind, names in BUILTINS.items():
        registry = plugins.registry(kind)
        assert registry.names() == names
        assert {r.plugin for r in registry} == {"energyflow.builtins"}
    sgld = plugins.registry("sampler").resolve("sgld")
    assert sgld.factory is Langevin and sgld.name == "langevin" and sgld.aliases == ("sgld",)


def test_plugin_manager_is_built_lazily_and_once():
    code = ("import energyflow.cli, energyflow.plugins as p, energyflow.recipe, energyflow.run;"
            "assert p._manager is None; a = p.get_plugin_manager(); assert p.get_plugin_manager() is a")
    env = {**os.environ, plugins.LOAD_ENV: ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_unknown_name_suggests_close_matches(plugin_manager):
    with pytest.raises(UnknownComponentError, match=r"no sampler named 'hcm'; did you mean 'hmc'\? \(known: "):
        plugins.registry("sampler").resolve("hcm")
    with pytest.raises(UnknownComponentError, match="no component kind 'samplers'; did you mean 'sampler'"):
        plugins.registry("samplers")


@define(kw_only=True)
class OtherLangevin(Langevin):
    """A second Langevin, for clash tests."""


class ClashingPlugin:
    @hookimpl
    def register_samplers(self, register):
        register("langevin", OtherLangevin)


def test_two_plugins_claiming_a_name_is_an_error_naming_both(plugin_manager, register_plugin):
    register_plugin(ClashingPlugin(), name="clasher")
    registry = plugins.registry("sampler")
    with pytest.raises(PluginError) as info:
        registry.resolve("langevin")
    assert str(info.value) == (
        "sampler 'langevin' is registered by both 'energyflow.builtins' and 'clasher'; "
        "write 'energyflow.builtins:langevin' or 'clasher:langevin'"
    )
    assert registry.resolve("clasher:langevin").factory is OtherLangevin
    assert registry.resolve("energyflow.builtins:langevin").factory is Langevin
    assert registry.resolve("sgld").factory is Langevin  # only the alias is unambiguous


def test_registration_mistakes_are_errors(plugin_manager):
    class Twice:
        @hookimpl
        def register_samplers(self, register):
            register("twice", OtherLangevin)
            register("twice", OtherLangevin)

    class NotAttrs:
        @hookimpl
        def register_samplers(self, register):
            register("plain", object)

    class BadName:
        @hookimpl
        def register_samplers(self, register):
            register("a:b", OtherLangevin)

    for plugin, message in [(Twice(), "registers sampler 'twice' twice"),
                            (NotAttrs(), "the factory must be an attrs class"),
                            (BadName(), "names use letters, digits")]:
        with inline_plugin(plugin, name="bad"), pytest.raises(PluginError, match=message):
            plugins.registry("sampler")


def test_a_misspelt_hook_is_an_error_with_a_suggestion(plugin_manager):
    class Typo:
        @hookimpl
        def register_sampler(self, register):
            pass

    with inline_plugin(Typo(), name="typo"), pytest.raises(PluginError) as info:
        plugins.load_entry_points(plugin_manager)
    assert str(info.value).startswith(
        "plugin 'typo' implements an unknown hook 'register_sampler'; did you mean 'register_samplers'"
    )


def test_inline_plugin_is_unregistered_afterwards(plugin_manager):
    with pytest.raises(RuntimeError):
        with inline_plugin(ClashingPlugin(), name="clasher"):
            assert "clasher" in plugin_manager.origins
            raise RuntimeError("boom")
    assert plugin_manager.get_plugin("clasher") is None
    assert plugins.registry("sampler").resolve("langevin").factory is Langevin


def test_disable_plugins_blocks_builtins(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "energyflow.builtins")
    with fresh_plugin_manager():
        assert plugins.registry("sampler").names() == []
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
def installed_plugin(tmp_path_factory):
    """pip-install a throwaway distribution with an ``energyflow`` entry point into a --target dir."""
    src, site = tmp_path_factory.mktemp("jumpy-src"), tmp_path_factory.mktemp("jumpy-site")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "ef_jumpy_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(src)],
        check=True, capture_output=True, env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
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
        assert "jumpy" in plugins.registry("sampler").names()


def test_cli_subprocess_lists_the_installed_plugin(installed_plugin):
    env = {**os.environ, plugins.LOAD_ENV: "jumpy",
           "PYTHONPATH": os.pathsep.join([str(installed_plugin), str(Path(energyflow.__file__).parents[1])])}
    out = subprocess.run([sys.executable, "-m", "energyflow", "plugins", "--json"], check=True,
                         capture_output=True, text=True, env=env).stdout
    assert "jumpy" in {r["name"] for r in json.loads(out)}


def test_broken_entry_point_names_the_plugin_and_the_fix(tmp_path, monkeypatch):
    dist = tmp_path / "energyflow_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: energyflow-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[energyflow]\nbroken = ef_no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(plugins.LOAD_ENV, "broken")
    with pytest.raises(PluginError) as info:
        plugins.make_plugin_manager()
    assert str(info.value) == (
        "plugin 'broken' (ef_no_such_module, from energyflow-broken) failed to load: ModuleNotFoundError: "
        "No module named 'ef_no_such_module'; set ENERGYFLOW_DISABLE_PLUGINS=broken to skip it"
    )
