"""The shapes composition recipes run end to end, shrunk with --set to seconds, and report every group."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import tomllib
from energyflow_vision.data.shapes import ShapesSpec
from typer.testing import CliRunner
from vision_fixtures import ctx

from energyflow.cli import make_app

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
SHRINK = ["train.iterations=2", "energies.joint.iterations=2", "classifier.iterations=2", "train.batch_size=8",
          "sampler.steps=2", "task.steps=2", "task.samples=3", "data.train_size=60", "data.test_size=18",
          "energy.filters=4", "energy.stem_filters=4", "buffer.capacity=64"]
GROUPS = ("held_out_experts", "held_out_pair", "held_out_joint", "seen_experts", "seen_pair", "seen_joint")
HELD_OUT = {"compose_shapes": 4, "compose_shapes_cross": 6}


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_compose_shapes_recipe_runs_shrunk(name, tmp_path):
    path = RECIPES / f"{name}.toml"
    assert path.read_text().startswith(f"# {name}:"), "each recipe opens with a comment naming it"
    args = ["run", str(path), "--out", str(tmp_path), "--quiet"]
    for item in SHRINK:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "compose.png").is_file() and (tmp_path / "classifier" / "classifier.pt").is_file()
    for energy in ("shape", "colour", "pair", "joint"):
        assert (tmp_path / "energies" / energy / "checkpoint.pt").is_file()
    for group in GROUPS:
        assert 0.0 <= metrics[f"satisfied_mean[{group}]"] <= 1.0
        both = metrics[f"satisfied_realistic_mean[{group}]"]
        assert both <= min(metrics[f"satisfied_mean[{group}]"], metrics[f"realistic_mean[{group}]"]) + 1e-9
    assert all(math.isfinite(v) for v in metrics.values())
    assert {"classifier_accuracy[shape]", "classifier_accuracy[colour]"} <= set(metrics)


def _combination(expr: str, concepts: dict) -> tuple[int, int]:
    values = {}
    for name in expr.split(" & "):
        values.update({k: v for k, v in concepts[name].items() if k != "energy"})
    return values["shape"], values["colour"]


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_held_out_groups_are_the_combinations_no_training_set_holds(name):
    recipe = tomllib.loads((RECIPES / f"{name}.toml").read_text())
    table = {k: v for k, v in recipe["data"].items() if k != "kind"}
    union = ShapesSpec(**table).build(ctx())
    held_out, trained = set(union.held_out), set(union.trained)
    assert len(held_out) == HELD_OUT[name]
    for energy, body in recipe["energies"].items():  # each part a named energy trains on avoids them too
        if "data" in body:
            part = ShapesSpec(**{**table, **body["data"]}).build(ctx())
            assert not {tuple(r.tolist()) for r in part.train_factors} & held_out, energy
    groups = recipe["task"]["groups"]
    for method in ("experts", "pair", "joint"):
        assert {_combination(e, recipe["concepts"]) for e in groups[f"held_out_{method}"]} == held_out
        assert {_combination(e, recipe["concepts"]) for e in groups[f"seen_{method}"]} <= trained


NEW_RECIPES = {
    "compose_position_size": (("held_out_experts", "held_out_joint", "seen_experts", "seen_joint"),
                              ("position", "size", "joint"), []),
    "compose_objects": (("two_objects_composed", "three_objects_composed", "two_objects_joint", "three_objects_joint"),
                        ("position", "cells"), []),
    "compose_faces": (("conjunctions_composed", "conjunctions_joint", "rare_composed", "rare_joint"),
                      ("smiling", "male", "young", "wavy_hair", "black_hair", "eyeglasses", "joint"), []),
}


@pytest.mark.parametrize("name", sorted(NEW_RECIPES))
def test_composition_recipes_run_tiny_and_report_their_groups(name, tmp_path):
    groups, energies, extra = NEW_RECIPES[name]
    path = RECIPES / f"{name}.toml"
    assert path.read_text().startswith(f"# {name}:"), "each recipe opens with a comment naming it"
    shrink = [s for s in SHRINK if not s.startswith("energies.joint") or "joint" in energies]
    args = ["run", str(path), "--out", str(tmp_path), "--quiet"]
    for item in [*shrink, *extra]:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "compose.png").is_file()
    for energy in energies:
        assert (tmp_path / "energies" / energy / "checkpoint.pt").is_file()
    for group in groups:
        for key in ("satisfied_mean", "realistic_mean", "satisfied_realistic_mean", "distance_ratio_mean"):
            assert f"{key}[{group}]" in metrics
        assert metrics[f"satisfied_realistic_mean[{group}]"] <= metrics[f"satisfied_mean[{group}]"] + 1e-9
    assert all(math.isfinite(v) for v in metrics.values())
