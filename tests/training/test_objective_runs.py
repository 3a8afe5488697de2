"""Objectives in recipes and runs: the default, the tables they need, regularizers, checkpoints, shipped recipes."""

from pathlib import Path

import pytest
import tomllib
import torch

import energyflow as ef
from energyflow.recipe import load_recipe
from energyflow.runtime import Run
from energyflow.runtime.checkpoints import recipe_changes
from energyflow.training.objectives import GaussianNoise, NoiseContrast

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _run(recipe_path, out, *sets, resume=False):
    return Run(load_recipe(recipe_path, ["run.compile=false", *sets]), out_dir=out, quiet=True, resume=resume)


def test_a_recipe_without_an_objective_trains_by_contrastive_divergence(tiny_recipe):
    recipe = load_recipe(tiny_recipe)
    assert recipe.objective.kind == "cd" and recipe.to_dict()["objective"] == {"kind": "cd"}


@pytest.mark.parametrize("table", ['kind = "dsm"', 'kind = "ssm"', 'kind = "nce"',
                                   'kind = "dsm", noise_draws = 2', 'kind = "nce", components = 3, ratio = 2'])
def test_objectives_without_samples_train_resume_and_skip_the_buffer(table, tiny_recipe, tmp_path):
    objective = f"objective={{{table}}}"
    full = _run(tiny_recipe, tmp_path / "full", objective).execute()
    assert "gap" not in full and "energy_replay" not in full and full["nll_gap"] == full["nll_gap"]
    out = tmp_path / "halves"
    _run(tiny_recipe, out, objective, "train.iterations=10").execute()
    resumed = _run(tiny_recipe, out, objective, resume=True).execute()
    assert resumed == full  # the objective's own state (nce's log_z and noise) is checkpointed too


def test_regularizers_that_need_samples_are_refused_with_objectives_that_draw_none(tiny_recipe):
    with pytest.raises(ef.RecipeError, match=r"tiny\.toml \(--set regularizers\[1\]=.*\): \[regularizers\[1\]\] "
                                             r"\(kl\) needs model samples, and objective 'dsm' draws none; remove "
                                             r"the regularizer or use objective 'cd'$"):
        load_recipe(tiny_recipe, ["objective={kind = 'dsm'}", "regularizers[1]={kind = 'kl'}"])
    with pytest.raises(ef.RecipeError, match=r"\(grad_penalty\) needs model samples"):
        load_recipe(tiny_recipe, ["objective={kind = 'ssm'}", "regularizers[1]={kind = 'grad_penalty', on = 'both'}"])
    load_recipe(tiny_recipe, ["objective={kind = 'ssm'}", "regularizers[1]={kind = 'grad_penalty'}"])


def test_a_bad_objective_option_names_its_key(tiny_recipe):
    with pytest.raises(ef.RecipeError,
                       match=r"\[objective\] \(objective 'dsm'\): levels = 3 needs sigma_max above sigma = 0\.1$"):
        load_recipe(tiny_recipe, ["objective={kind = 'dsm', levels = 3}"])


def test_checkpoints_from_before_objectives_load_and_resume(tiny_recipe, tmp_path):
    run = _run(tiny_recipe, tmp_path / "run")
    trainer = run.trainer
    state = trainer.state_dict()
    del state["objective"]  # what a checkpoint written before objectives existed holds
    trainer.load_state_dict(state)
    before = run.recipe.to_toml().replace('[objective]\nkind = "cd"\n', "")
    assert recipe_changes(before, run.recipe.to_toml()) == []


@pytest.mark.parametrize("kind", ["dsm", "ssm", "nce"])
def test_the_objective_recipes_differ_from_toy2d_only_in_their_objective(kind):
    base = tomllib.loads((RECIPES / "toy2d.toml").read_text())
    other = tomllib.loads((RECIPES / f"toy2d_{kind}.toml").read_text())
    assert other.pop("objective")["kind"] == kind
    assert other["run"].pop("name") == f"toy2d_{kind}" and base["run"].pop("name") == "toy2d"  # its own run folder
    assert other == base


def test_the_trainer_trains_an_objectives_own_parameters():
    data = torch.randn(256, 2) * 0.5 + 1.0
    objective = NoiseContrast(GaussianNoise.fit(data, 2.0))
    trainer = ef.Trainer(ef.MLPEnergy(2, hidden=(8,)), objective, lr=0.05)
    stats = trainer.step(data[:64], generator=torch.Generator().manual_seed(0))
    assert objective.log_z.item() != 0.0 and {"loss", "e_pos", "log_z", "accuracy", "grad_norm"} <= set(stats)
