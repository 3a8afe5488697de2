"""A third party's distribution, written from docs/plugins.md, installed with pip and used end to end.

The complete example's sampler is a plain dataclass and the smallest plugin's a plain class with a
typed ``__init__``; both must install, list, describe, validate and run like the built-ins.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energyflow import registry as plugins
from energyflow.cli import make_app
from energyflow.errors import RecipeError
from energyflow.recipe import parse_recipe
from energyflow.runtime import Run
from energyflow.testing import fresh_plugin_manager

PLUGINS_MD = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()


def _block(language: str, after: str) -> str:
    tail = PLUGINS_MD[PLUGINS_MD.index(after):]
    return re.search(rf"```{language}\n(.*?)```", tail, re.DOTALL).group(1)


@pytest.fixture(scope="module")
def installed_docs_plugins(tmp_path_factory, pip_install_target):
    """pip-install the docs' two plugins (energyflow-extras and energyflow-jitter) into a --target dir."""
    site = tmp_path_factory.mktemp("docs-site")
    smallest = _block("python", "## The smallest plugin")
    projects = {
        "energyflow_extras": (_block("python", "## A complete example plugin"), _block("toml", "And its `pyproject.toml`")),
        "energyflow_jitter": (smallest, _block("toml", "And its `pyproject.toml`")
                              .replace("energyflow-extras", "energyflow-jitter")
                              .replace('extras = "energyflow_extras"', 'jitter = "energyflow_jitter"')
                              .replace('["energyflow_extras"]', '["energyflow_jitter"]')),
    }
    for module, (source, pyproject) in projects.items():
        src = tmp_path_factory.mktemp(module)
        (src / f"{module}.py").write_text(source)
        (src / "pyproject.toml").write_text(pyproject)
        pip_install_target(src, site)
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for module in projects:
            sys.modules.pop(module, None)


@pytest.fixture
def docs_plugins(installed_docs_plugins, monkeypatch):
    monkeypatch.setenv(plugins.LOAD_ENV, "extras,jitter")
    with fresh_plugin_manager(entry_points=True) as pm:
        yield pm


def test_listed_with_what_they_register(docs_plugins):
    result = CliRunner().invoke(make_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["extras"]["registers"]["sampler"] == ["random_walk"]
    assert records["extras"]["version"] == "0.1.0"
    assert records["jitter"]["registers"] == {"sampler": ["jitter"]}


@pytest.mark.parametrize("name, rows", [
    ("random_walk", [("steps", "int", "100", "proposals per sample"), ("scale", "float", "0.1", "proposal standard")]),
    ("jitter", [("steps", "int", "20", "moves per sample"), ("noise", "float", "0.005", "standard deviation")]),
])
def test_described_with_types_defaults_and_help(docs_plugins, name, rows):
    result = CliRunner().invoke(make_app(), ["describe", "sampler", name], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for option, type_, default, help_text in rows:
        line = next(line for line in lines if re.search(rf"│ {option}\s+│", line))
        assert [type_, default] == [cell.strip() for cell in line.split("│")[2:4]], line
        assert help_text in line


@pytest.mark.parametrize("kind", ["random_walk", "jitter"])
def test_a_wrong_type_names_the_key(docs_plugins, kind):
    recipe = _block("toml", "A recipe using all of it").replace('kind = "rwm"', f'kind = "{kind}"')
    with pytest.raises(RecipeError) as info:
        parse_recipe(recipe, source="example.toml", overrides=['sampler.steps="forty"'])
    assert str(info.value) == (
        "example.toml (--set sampler.steps=\"forty\"): sampler.steps = \"forty\": expected int, got a string"
    )
    with pytest.raises(RecipeError, match=r"^example\.toml \(--set sampler\.steps=0\): \[sampler\] \(sampler '\w+'\): need steps >= 1"):
        parse_recipe(recipe, source="example.toml", overrides=["sampler.steps=0"])


@pytest.mark.parametrize("kind", ["random_walk", "jitter"])
def test_the_dataclass_and_the_plain_class_samplers_run(docs_plugins, kind, tmp_path):
    recipe = parse_recipe(_block("toml", "A recipe using all of it"), source="example.toml", overrides=[
        f"sampler.kind={kind}", "sampler.steps=5", "data.n_train=128", "data.n_test=32", "train.iterations=3",
        "train.batch_size=16", "run.threads=1"])
    assert type(recipe.sampler.spec).__module__ == f"energyflow_{'extras' if kind == 'random_walk' else 'jitter'}"
    metrics = Run(recipe, out_dir=tmp_path / kind, quiet=True).execute()
    assert set(metrics) == {"e_test", "e_noise"}
    assert json.loads((tmp_path / kind / "metrics.json").read_text()) == metrics
