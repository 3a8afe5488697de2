"""Bad input, fuzzed: whatever TOML arrives, the only error out of the recipe loader is a RecipeError."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import tomli_w
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energyflow import registry as plugins
from energyflow.errors import RecipeError
from energyflow.recipe import parse_recipe

RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.toml"))
KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
LEAVES = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["none", "langevin", "data", "nope", "mlp", "digits", "ula", ""]),
    st.dates(), st.lists(st.integers(-5, 5), max_size=4),
)
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(KEYS, inner, max_size=3)), max_leaves=12)
TABLE_NAMES = st.sampled_from(["run", "data", "energy", "sampler", "buffer", "regularizers", "train", "task"])
DOCUMENTS = st.dictionaries(st.one_of(TABLE_NAMES, KEYS), st.dictionaries(st.one_of(KEYS, st.just("kind")), VALUES,
                                                                           max_size=4), max_size=6)


def _load(doc: dict) -> None:
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # not expressible as TOML (e.g. a table inside an array of scalars)
        return
    try:
        parse_recipe(text, source="fuzz.toml")
    except RecipeError as e:
        message = str(e)
        assert message.startswith("fuzz.toml") and "\n" not in message.strip(), message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=DOCUMENTS)
def test_arbitrary_documents_raise_only_recipe_errors(doc):
    _load(doc)


def _paths(table: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in table.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += _paths(value, (*prefix, key))
        elif isinstance(value, list) and value and all(isinstance(t, dict) for t in value):
            for i, t in enumerate(value):
                out += _paths(t, (*prefix, key, i))
    return out


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_shipped_recipes_raise_only_recipe_errors_naming_the_key(path, data):
    original = tomllib.loads(path.read_text())
    try:
        parse_recipe(path.read_text(), source=path.name)
    except RecipeError as e:  # a plugin it needs is not installed here; test_every_recipe_passes_check says so
        pytest.skip(f"{path.name} does not load here: {e}")
    doc = copy.deepcopy(original)
    keys = data.draw(st.sampled_from(_paths(doc)))
    node = doc
    for k in keys[:-1]:
        node = node[k]
    action = data.draw(st.sampled_from(["replace", "delete", "unknown_key"]))
    if action == "replace":
        node[keys[-1]] = data.draw(VALUES)
    elif action == "delete":
        del node[keys[-1]]
    else:
        added = data.draw(KEYS)
        node[added] = data.draw(VALUES)
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):
        return
    with plugins.use_plugin_manager(plugins.get_plugin_manager()):
        try:
            parse_recipe(text, source="fuzz.toml")
        except RecipeError as e:
            # the top-level table the mutation touched: at the top level, an added key is itself one
            table = str(added if action == "unknown_key" and len(keys) == 1 else keys[0])
            assert str(e).startswith("fuzz.toml"), str(e)
            assert table in str(e) or "missing table" in str(e) or "unknown table" in str(e), (keys, str(e))
