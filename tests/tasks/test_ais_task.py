"""The ``ais`` task and the AIS figures of the toy 2-D ``generate`` task."""

from __future__ import annotations

import json
import math

import pytest

from energyflow.errors import RecipeError
from energyflow.recipe import load_recipe
from energyflow.runtime import Run
from energyflow.tasks.ais import bits_per_dim


def _run(recipe, out, *overrides):
    return Run(load_recipe(recipe, list(overrides)), out_dir=out, quiet=True).execute()


def test_generate_on_2d_data_reports_ais_bounds_beside_the_grid_log_z(tiny_recipe, tmp_path):
    metrics = _run(tiny_recipe, tmp_path / "gen", "task.resolution=64", "task.ais_temperatures=50",
                   "task.ais_chains=300")
    assert metrics["log_z_exact"] == metrics["log_z"]
    for side in ("forward", "reverse"):
        assert abs(metrics[f"log_z_{side}"] - metrics["log_z_exact"]) < 0.1 + 3 * metrics[f"log_z_{side}_se"]
    skipped = _run(tiny_recipe, tmp_path / "off", "task.ais_temperatures=0")
    assert "log_z_forward" not in skipped and "log_z_exact" in skipped


def test_ais_task_evaluates_a_checkpoint(tiny_recipe, tmp_path):
    _run(tiny_recipe, tmp_path / "gen", "task.ais_temperatures=0")
    checkpoint = tmp_path / "gen" / "checkpoint.pt"
    task = (f'task={{kind="ais", checkpoint="{checkpoint}", temperatures=40, chains=200, test_points=100, '
            'curve=[10]}')
    metrics = _run(tiny_recipe, tmp_path / "ais", task)
    assert json.loads((tmp_path / "ais" / "metrics.json").read_text()) == metrics
    assert (tmp_path / "ais" / "ais.png").is_file()
    assert metrics["test_ll_gap"] == pytest.approx(metrics["test_ll_forward"] - metrics["test_ll_reverse"])
    assert abs(metrics["log_z_forward"] - metrics["log_z_exact"]) < 0.15 + 3 * metrics["log_z_forward_se"]
    assert 1 <= metrics["ess_forward"] <= 200 and metrics["temperatures"] == 40
    assert "test_bpd_forward" not in metrics  # points, not images


def test_bits_per_dim_of_a_uniform_density_is_the_bits_of_a_level():
    assert bits_per_dim(0.0, 64, 256) == pytest.approx(8.0)
    # a density of e^D on [0, 1]^D is e times denser per dimension: log2(256 / e) bits
    assert bits_per_dim(64.0, 64, 256) == pytest.approx(math.log2(256 / math.e))


def test_an_unknown_transition_is_a_recipe_error(tiny_recipe):
    with pytest.raises(RecipeError, match=r"task\.transition.*'malla'.*did you mean 'mala'"):
        load_recipe(tiny_recipe, ['task={kind="ais", transition={kind="malla"}}'])
