"""The recipe checks, runs end to end at tiny settings, and the plugin lists what it registers."""

from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from energyflow import registry as plugins
from energyflow.cli import make_app
from energyflow.errors import RunError
from energyflow.recipe import load_recipe
from energyflow.runtime import Run
from energyflow.tasks import report

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
RECIPE = PLUGIN_ROOT.parents[1] / "recipes" / "trajectories_particles.toml"
TINY = ["data.num_particles=2", "data.n_train=4", "data.train_steps=8", "data.n_test=3", "data.test_steps=7",
        "energy.hidden=[8]", "sampler.steps=2", "train.iterations=3", "train.batch_size=8", "train.log_every=1",
        "task.num_starts=3", "task.samples=2", "task.horizon=5", "task.horizons=[1, 5, 50]",
        "task.baseline_iterations=3", "task.shown=2"]
REGISTERS = {"dataset": ["particles"], "energy": ["trajectory_mlp"], "buffer": ["last_state"], "task": ["rollout"]}


def test_recipe_opens_with_its_comment_and_checks(trajectories):
    assert RECIPE.read_text().startswith("# trajectories_particles:")
    result = CliRunner().invoke(make_app(), ["check", str(RECIPE)])
    assert result.exit_code == 0, result.output
    recipe = load_recipe(RECIPE)
    assert recipe.run.plugins == ("trajectories",) and recipe.run.threads == 1
    assert (recipe.data.kind, recipe.energy.kind, recipe.buffer.kind, recipe.task.kind) == (
        "particles", "trajectory_mlp", "last_state", "rollout")


def test_recipe_runs_end_to_end_tiny(trajectories, tmp_path):
    metrics = Run(load_recipe(RECIPE, TINY), out_dir=tmp_path, quiet=True).execute()
    for model in ("ebm", "regression", "extrapolation"):
        for score in ("fd", "mse", "energy_drift"):
            assert {f"{model}_{score}_h1", f"{model}_{score}_h5"} <= set(metrics)
    assert "ebm_fd_h50" not in metrics  # beyond the horizon rolled out
    assert {"loss", "e_pos", "e_neg", "gap", "baseline_train_mse", "true_energy_drift_h5", "independent_fd_h5"} <= set(
        metrics)
    assert metrics["extrapolation_mse_h1"] < metrics["extrapolation_mse_h5"]  # free flight drifts off
    assert not any(math.isnan(value) for value in metrics.values()), "a metric is NaN"
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert len(curves["energy"]["fd"]) == len(curves["regression"]["mse"]) == 5
    assert curves["truth"]["mse"] == [0.0] * 5 and len(curves["independent"]["fd"]) == 5
    for name in ("rollouts.png", "horizons.png", "metrics.json", "checkpoint.pt"):
        assert (tmp_path / name).is_file(), name
    said = (tmp_path / "summary.txt").read_text().splitlines()  # the task's sentences, then the run's
    assert said[0].startswith("5 steps ahead of 3 test starts, the Frechet distance of predicted to true states")
    assert f"energy model {metrics['ebm_fd_h5']:.3g}" in said[0] and said[0].endswith("-> horizons.png.")
    assert said[1] == (f"Position MSE 5 steps ahead: energy model {metrics['ebm_mse_h5']:.3g}, regression baseline "
                       f"{metrics['regression_mse_h5']:.3g}, linear extrapolation {metrics['extrapolation_mse_h5']:.3g} "
                       "-> rollouts.png.")
    assert said[2].startswith("Pictures: horizons.png, rollouts.png")


def test_the_rollout_task_explains_its_metrics_in_the_readme(trajectories):
    """Issue 19: every registered task of the plugin explains its numbers, and the README shows the same table."""
    readme = (PLUGIN_ROOT / "README.md").read_text(encoding="utf-8")
    assert "## The rollout task and its metrics" in readme
    tasks = plugins.get_registry("task")
    names = [name for name in tasks.names() if tasks.resolve(name).factory.__module__.startswith("energyflow_trajectories")]
    assert names == ["rollout"]
    for name in names:
        factory = tasks.resolve(name).factory
        assert factory.metrics, f"task {name!r} explains none of its metrics"
        assert report.metrics_table(factory) in readme, f"task {name!r}: its metrics table is not in the README"
    assert "Frechet distance" in report.explain(factory, "independent_fd_h100")
    assert "regression baseline" in report.explain(factory, "regression_energy_drift_h7")


def test_cli_run_with_set_overrides(trajectories, tmp_path):
    args = ["run", str(RECIPE), "--out", str(tmp_path), "--quiet"]
    for item in [*TINY, "energy.pairwise=true", "buffer.start=last", "task.horizon=3", "task.horizons=[2]"]:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "metrics.json").read_text())) >= {"ebm_fd_h2", "regression_fd_h2"}


def test_a_horizon_longer_than_the_test_trajectories_is_one_clear_error(trajectories, tmp_path):
    with pytest.raises(RunError, match="raise data.test_steps to 52"):
        Run(load_recipe(RECIPE, [*TINY, "task.horizon=50"]), out_dir=tmp_path, quiet=True).execute()


def test_plugins_lists_what_it_registers(trajectories):
    result = CliRunner().invoke(make_app(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    record = next(r for r in json.loads(result.output) if r["name"] == "trajectories")
    assert record["registers"] == REGISTERS and record["error"] is None


def test_the_distribution_declares_its_entry_point():
    project = tomllib.loads((PLUGIN_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "energyflow-trajectories"
    assert project["entry-points"]["energyflow"] == {"trajectories": "energyflow_trajectories.plugin"}
    assert {"energyflow", "numpy", "matplotlib"} <= {d.split(">")[0].split("=")[0] for d in project["dependencies"]}
    installed = [ep for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)
                 if ep.name == "trajectories"]
    if not installed:
        pytest.skip("energyflow-trajectories is not pip-installed (pip install -e plugins/trajectories)")
    assert installed[0].value == "energyflow_trajectories.plugin"
    assert installed[0].load().register_tasks is not None
