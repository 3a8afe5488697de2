"""Recipes: every shipped recipe checks, golden error messages, --set overrides, resolved TOML."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest
import tomllib

from energyflow import registry as plugins
from energyflow.errors import RecipeError
from energyflow.recipe import load_recipe, parse_override, parse_recipe
from energyflow.samplers import MALA
from energyflow.testing import fresh_plugin_manager

pytestmark = pytest.mark.usefixtures("plugin_manager")

RECIPES_DIR = Path(__file__).parents[2] / "recipes"
RECIPES = sorted(RECIPES_DIR.rglob("*.toml"))


def _needed_plugins(path: Path) -> list[str]:
    """The plugins a recipe needs: those in [run] plugins, else "vision" if it names a kind the core lacks."""
    table = tomllib.loads(path.read_text())
    declared = list(table.get("run", {}).get("plugins", []))
    if declared:
        return declared
    tables = [table.get(name, {}) for name in ("data", "energy", "sampler", "buffer", "task")]
    kinds = {t.get("kind") for t in [*tables, *table.get("regularizers", [])] if t.get("kind")}
    with fresh_plugin_manager():
        builtin = {name for kind in plugins.KINDS for name in plugins.get_registry(kind).names()}
    return ["vision"] if kinds - builtin else []


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_passes_check(path, monkeypatch):
    needed = _needed_plugins(path)
    if needed:
        # a recipe names a plugin by its entry point ("vision") or its distribution ("energyflow-vision")
        installed = {name for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)
                     for name in (ep.name, plugins.normalize_name(ep.dist.name))}
        missing = sorted(n for n in needed if n not in installed and plugins.normalize_name(n) not in installed)
        if missing:
            pytest.skip(f"{path.name} needs plugin(s) {missing}, not installed (pip install -e plugins/vision)")
        monkeypatch.setenv(plugins.LOAD_ENV, ",".join(needed))  # installed, so they must load
        pm = plugins.make_plugin_manager()
    else:
        pm = plugins.get_plugin_manager()
    recipe = load_recipe(path, pm=pm)
    assert recipe.name
    assert path.read_text().startswith("#"), "each recipe opens with a comment: what, how long, what it writes"


def test_toy2d_recipe_is_the_documented_one():
    recipe = load_recipe(RECIPES_DIR / "toy2d.toml")
    assert (recipe.data.kind, recipe.energy.kind, recipe.task.kind) == ("toy2d", "mlp", "generate")
    sampler = recipe.sampler.spec
    assert isinstance(sampler, MALA) and sampler.bounds == (-4.0, 4.0) and sampler.jump_prob == 0.1
    assert recipe.energy.options()["hidden"] == [256, 256, 256]


# --------------------------------------------------------------------------- golden messages
BASE = """\
[data]
kind = "toy2d"

[energy]
kind = "mlp"

[sampler]
kind = "langevin"
{sampler}

[buffer]
kind = "replay"

[task]
kind = "generate"
"""


def _error(tmp_path, monkeypatch, sampler_lines: str = "", text: str | None = None) -> str:
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text(text if text is not None else BASE.format(sampler=sampler_lines))
    with pytest.raises(RecipeError) as info:
        load_recipe("bad.toml")
    return str(info.value)


def test_golden_unknown_kind_with_suggestion(tmp_path, monkeypatch):
    text = BASE.format(sampler="").replace('kind = "langevin"', 'kind = "langevn"')
    assert _error(tmp_path, monkeypatch, text=text) == (
        "bad.toml: sampler.kind = \"langevn\": no sampler named 'langevn'; did you mean 'langevin'? "
        "(known: hmc, langevin, mala, sgld)"
    )


def test_golden_unknown_key(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, "step_sise = 0.1") == (
        "bad.toml: sampler.step_sise: unknown option of sampler 'langevin'; did you mean 'step_size' or "
        "'steps'? (known: anneal_after, anneal_power, clamp, grad_clip, noise, step_size, steps)"
    )


def test_golden_wrong_type(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, 'steps = "sixty"') == (
        'bad.toml: sampler.steps = "sixty": expected int, got a string'
    )


def test_golden_out_of_range(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, "step_size = -1.0") == (
        "bad.toml: sampler.step_size = -1.0: must be > 0.0"
    )


def test_golden_choice_with_suggestion(tmp_path, monkeypatch):
    text = BASE.format(sampler="").replace('kind = "replay"', 'kind = "replay"\npolicy = "lifo"')
    assert _error(tmp_path, monkeypatch, text=text) == (
        "bad.toml: buffer.policy = \"lifo\": must be in ('fifo', 'reservoir'); did you mean 'fifo'?"
    )


def test_golden_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError, match=r"^recipe file not found: nowhere\.toml$"):
        load_recipe("nowhere.toml")


def test_golden_unknown_table_and_missing_table_and_bad_toml(tmp_path, monkeypatch):
    assert _error(tmp_path, monkeypatch, text=BASE.format(sampler="") + "[smapler]\n") == (
        "bad.toml: unknown table [smapler]; did you mean 'sampler'? "
        "(known: run, data, energy, energies, concepts, classifier, sampler, buffer, objective, regularizers, train, task)"
    )
    assert _error(tmp_path, monkeypatch, text=BASE.format(sampler="").replace("[energy]\nkind = \"mlp\"\n", "")) == (
        "bad.toml: missing table [energy]; add one with kind = one of: mlp"
    )
    assert _error(tmp_path, monkeypatch, text="[run\n").startswith(
        "bad.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 5)"
    )


def test_task_requirements_and_plugins_are_checked(tmp_path, monkeypatch):
    without_buffer = BASE.format(sampler="").replace('[buffer]\nkind = "replay"\n', "")
    assert _error(tmp_path, monkeypatch, text=without_buffer) == (
        "bad.toml: missing table [buffer]; objective 'cd' trains with it (add one, or pick an [objective] that "
        "needs none)"
    )
    without_sampler = BASE.format(sampler="").replace('[sampler]\nkind = "langevin"\n', "")
    assert _error(tmp_path, monkeypatch, text=without_sampler + '[objective]\nkind = "cd"\n').startswith(
        "bad.toml: missing table [sampler]; "
    )
    needs = '[run]\nplugins = ["nonexistent"]\n' + BASE.format(sampler="")
    assert _error(tmp_path, monkeypatch, text=needs).startswith(
        "bad.toml: run.plugins: the recipe needs plugin 'nonexistent', which is not installed or is disabled"
    )


def test_toml_dates_are_reported_not_crashed_on(tiny_recipe):
    with pytest.raises(RecipeError, match=r"run\.name = 2024-01-01: expected str \| none, got a date$"):
        load_recipe(tiny_recipe, ["run.name=2024-01-01"])


def test_none_string_means_none_where_allowed(tmp_path, monkeypatch):
    recipe = parse_recipe(BASE.format(sampler='grad_clip = "none"\nclamp = "none"'))
    assert recipe.sampler.spec.grad_clip is None and recipe.sampler.spec.clamp is None
    assert "expected int, got a string" in _error(tmp_path, monkeypatch, 'steps = "none"')


# --------------------------------------------------------------------------- --set overrides
def test_parse_override_uses_toml_values_and_bare_words():
    assert parse_override("sampler.step_size=0.1") == (("sampler", "step_size"), 0.1)
    assert parse_override("regularizers[0].weight=2") == (("regularizers", 0, "weight"), 2)
    assert parse_override("sampler.kind=mala") == (("sampler", "kind"), "mala")
    assert parse_override("sampler.clamp=[-1, 1]") == (("sampler", "clamp"), [-1, 1])
    with pytest.raises(RecipeError, match="expected key.path=value"):
        parse_override("sampler.step_size")


def test_set_overrides_keys_tables_and_array_entries(tiny_recipe):
    recipe = load_recipe(tiny_recipe, [
        "sampler.step_size=0.5", "regularizers[0].weight=0.25", "regularizers.1.kind=grad_penalty",
        'sampler={ kind = "mala", steps = 3 }', "run.seed=11",
    ])
    assert isinstance(recipe.sampler.spec, MALA) and recipe.sampler.spec.steps == 3
    assert recipe.regularizers[0].spec.weight == 0.25
    assert recipe.regularizers[1].registration.name == "grad_penalty"
    assert recipe.run.seed == 11
    assert recipe.overrides[-1] == "run.seed=11"


def test_set_errors_name_the_override(tiny_recipe):
    with pytest.raises(RecipeError) as info:
        load_recipe(tiny_recipe, ["sampler.steps=0"])
    assert str(info.value) == f"{tiny_recipe} (--set sampler.steps=0): sampler.steps = 0: must be >= 1"
    with pytest.raises(RecipeError, match=r"regularizers\[5\]: no such entry \(the array has 1\)"):
        load_recipe(tiny_recipe, ["regularizers[5].weight=1"])
    with pytest.raises(RecipeError, match=r"data\.kind is not a table"):
        load_recipe(tiny_recipe, ["data.kind.x=1"])


# --------------------------------------------------------------------------- resolved recipes
def test_resolved_recipe_round_trips_with_defaults_filled_in(tiny_recipe):
    recipe = load_recipe(tiny_recipe, ["sampler.kind=sgld"])
    text = recipe.to_toml("a header\nsecond line")
    assert text.startswith("# a header\n# second line\n")
    resolved = tomllib.loads(text)
    assert resolved["buffer"]["policy"] == "fifo" and resolved["sampler"]["kind"] == "sgld"
    assert resolved["train"]["grad_clip"] == "none"
    again = parse_recipe(text, source="resolved.toml")
    assert again.to_dict() == recipe.to_dict()
    assert [c.spec for c in again.components()] == [c.spec for c in recipe.components()]
    assert again.train == recipe.train and again.run == recipe.run


def test_plugin_qualified_kind_picks_one_registration(tiny_recipe):
    recipe = load_recipe(tiny_recipe, ["sampler.kind=energyflow.registry.builtin_components:langevin"])
    assert recipe.sampler.registration.name == "langevin"
    with pytest.raises(RecipeError, match="plugin 'nope' registers no sampler 'langevin'"):
        load_recipe(tiny_recipe, ["sampler.kind=nope:langevin"])


def test_recipe_name_defaults_to_file_stem(tmp_path):
    path = tmp_path / "my-experiment.toml"
    path.write_text(BASE.format(sampler=""))
    assert load_recipe(path).name == "my-experiment"
    assert os.fspath(path) == load_recipe(path).source


def test_a_recipe_needing_a_broken_plugin_says_why(tmp_path, monkeypatch, fake_distribution):
    fake_distribution(tmp_path / "site", "energyflow-broken", {"broken": "ef_no_such_module"})
    monkeypatch.setenv(plugins.LOAD_ENV, "broken")
    text = '[run]\nplugins = ["broken"]\n' + BASE.format(sampler="")
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, source="bad.toml", pm=plugins.make_plugin_manager())
    assert str(info.value).startswith(
        "bad.toml: run.plugins: the recipe needs plugin 'broken', which is installed but broken (entry point of "
        "energyflow-broken")
    assert str(info.value).endswith("ModuleNotFoundError: No module named 'ef_no_such_module'")


def test_a_table_where_an_array_belongs_names_the_key_and_both_shapes(tiny_recipe):
    # found by tests/test_recipe_fuzz.py: cattrs iterates a table's keys as if it were the array
    with pytest.raises(RecipeError, match=r"energy\.hidden = \{ \"a\" = 1 \}: expected \[int, \.\.\.\], got a table$"):
        load_recipe(tiny_recipe, ["energy.hidden={a=1}"])
    with pytest.raises(RecipeError, match=r"^<recipe>: unknown table \[\"two\\nlines\"\]"):
        parse_recipe(BASE.format(sampler="") + '\n["two\\nlines"]\nx = 1\n')
