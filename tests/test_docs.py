"""The docs: every hook has its section, the example plugin works as printed, recipes.md covers the format."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energyflow import registry as plugins
from energyflow.cli import make_app
from energyflow.recipe import TABLES, parse_recipe
from energyflow.registry import hookspecs
from energyflow.runtime import Run
from energyflow.testing import check_energy, inline_plugin

DOCS = Path(__file__).parent.parent / "docs"
PLUGINS_MD = (DOCS / "plugins.md").read_text()
RECIPES_MD = (DOCS / "recipes.md").read_text()

pytestmark = pytest.mark.usefixtures("plugin_manager")


@pytest.mark.parametrize("hook", hookspecs.hook_names())
def test_every_hook_has_a_section(hook):
    assert re.search(rf"^### `{hook}\(", PLUGINS_MD, re.MULTILINE), f"docs/plugins.md has no '### `{hook}(...)`'"


def test_hook_sections_follow_hookspecs_order():
    found = re.findall(r"^### `(\w+)\(", PLUGINS_MD, re.MULTILINE)
    assert found == hookspecs.hook_names()


def _block(language: str, after: str) -> str:
    tail = PLUGINS_MD[PLUGINS_MD.index(after):]
    return re.search(rf"```{language}\n(.*?)```", tail, re.DOTALL).group(1)


@pytest.fixture
def example_plugin(tmp_path):
    path = tmp_path / "energyflow_extras.py"
    path.write_text(_block("python", "## A complete example plugin"))
    spec = importlib.util.spec_from_file_location("energyflow_extras", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["energyflow_extras"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("energyflow_extras", None)


def test_example_plugin_implements_every_hook_and_runs(example_plugin, tmp_path):
    assert {name for name in hookspecs.hook_names() if hasattr(example_plugin, name)} == set(hookspecs.hook_names())
    example_recipe = _block("toml", "A recipe using all of it")
    with inline_plugin(example_plugin, name="extras"):
        names = {kind: plugins.get_registry(kind).names() for kind in plugins.KINDS}
        assert "rwm" in names["sampler"] and "blobs" in names["dataset"] and "train_only" in names["task"]
        recipe = parse_recipe(example_recipe, source="example.toml", overrides=[
            "data.n_train=256", "data.n_test=64", "train.iterations=6", "train.batch_size=16", "run.threads=1",
        ])
        run = Run(recipe, out_dir=tmp_path / "runs" / "example", quiet=True)
        check_energy(run.energy, run.data.test[:8])
        metrics = run.execute()
        assert set(metrics) == {"e_test", "e_noise"}
        assert "exact_sm" in names["objective"]
        by_objective = parse_recipe(example_recipe, source="example.toml", overrides=[
            "data.n_train=256", "data.n_test=64", "train.iterations=6", "train.batch_size=16", "run.threads=1",
            'objective={kind = "exact_sm"}'])
        stats = Run(by_objective, out_dir=tmp_path / "runs" / "by_objective", quiet=True).train().last_stats
        assert set(stats) == {"loss", "e_pos", "grad_norm"}
        ledger = [json.loads(line) for line in (tmp_path / "runs" / "ledger.jsonl").read_text().splitlines()]
        assert ledger[0]["e_test"] == metrics["e_test"]
        best = CliRunner().invoke(make_app(), ["best", str(tmp_path / "runs"), "--metric", "e_test"])
        assert best.exit_code == 0 and best.stdout.startswith("example: e_test = ")


def test_recipes_md_documents_every_table_and_override_syntax():
    for table in TABLES:
        assert f"[{table}]" in RECIPES_MD or f"[[{table}]]" in RECIPES_MD, table
    for topic in ("--set", '"none"', "plugin:name", "--resume", "recipe.toml", "metrics.json", "events.jsonl",
                  "checkpoint.pt", "samples.png"):
        assert topic in RECIPES_MD, topic


def test_the_plugin_api_table_lists_each_modules_declared_names():
    """docs/plugins.md's plugin API table names, per module, exactly that module's ``__all__``."""
    section = PLUGINS_MD[PLUGINS_MD.index("## The plugin API"):PLUGINS_MD.index("## The smallest plugin")]
    rows = re.findall(r"^\| `(energyflow[\w.]*)` \|[^|]*\| (.*) \|$", section, re.MULTILINE)
    assert len(rows) >= 10
    for module, names in rows:
        listed = set(re.findall(r"`([\w]+)`", names))
        assert listed == set(importlib.import_module(module).__all__), module

