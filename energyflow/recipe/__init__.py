"""Recipes: a TOML file (plus ``--set`` overrides) turned into a validated plan, and written back as TOML.

`load_recipe` reads, overrides and validates; a `Recipe` holds a validated spec per table and
nothing built. Structuring is cattrs' (`build_spec`); an error is one `RecipeError` line that
names the file, the key path, the value and close matches. `component_table` validates a nested
component table (``kind = "name"`` and its options) the same way, for a task that names
components of its own. `options_of` lists a spec's options (``energyflow describe``); the TOML
helpers write resolved options and values as recipes spell them.
"""

from energyflow.errors import RecipeError
from energyflow.recipe.loader import load_recipe, parse_override, parse_recipe
from energyflow.recipe.model import (
    COMPONENT_TABLES,
    REQUIRED_TABLES,
    TABLES,
    Classifier,
    Component,
    NamedEnergy,
    Recipe,
    RunSpec,
)
from energyflow.recipe.options import Option, options_of
from energyflow.recipe.structure import build_spec, spec_options
from energyflow.recipe.tables import component as component_table
from energyflow.recipe.tomlio import (
    describe_value,
    format_toml,
    toml_document,
    toml_key,
    toml_options,
    type_label,
)

__all__ = [
    "COMPONENT_TABLES", "REQUIRED_TABLES", "TABLES", "Classifier", "Component", "NamedEnergy", "Option", "Recipe",
    "RecipeError", "RunSpec", "build_spec", "component_table", "describe_value", "format_toml", "load_recipe",
    "options_of", "parse_override", "parse_recipe", "spec_options", "toml_document", "toml_key", "toml_options",
    "type_label",
]
