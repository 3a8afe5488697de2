"""The digits recipes run end to end through the CLI, shrunk with --set to a few seconds each."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energyflow.cli import make_app

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
SHRINK = ["train.iterations=2", "train.batch_size=8", "sampler.steps=2", "energy.filters=4", "energy.stem_filters=4",
          "buffer.capacity=32"]
TASK_SHRINK = {
    "generate_images": ["task.num_samples=4", "task.eval_samples=8", "task.chain_steps=2", "task.chain_rows=2",
                        "task.chain_frames=2", "task.per_class=1", "task.nearest=2", "task.classifier_steps=10",
                        "task.long_samples=4", "task.long_steps=[1, 2]", "task.long_buffer_steps=2"],
    "inpaint": ["task.num_images=4", "task.rounds=1", "task.shown=2"],
    "denoise": ["task.num_images=4", "task.rounds=1", "task.shown=2"],
    "cross_class": ["task.num_images=4", "task.steps=2", "task.frames=2", "task.shown=2", "task.classifier_steps=10"],
    "ais": ["task.temperatures=3", "task.chains=4", "task.test_points=4", "task.curve=[2]"],
}
KEYS = {  # what each task must report (beside the training numbers)
    "generate_images": ("loss", "gap", "energy_buffer", "energy_fresh", "buffer_cfd", "fresh_cfd"),
    "inpaint": ("mse_hidden", "mse_mean_fill", "mse_noise_fill", "visible_max_change"),
    "denoise": ("psnr_corrupted", "psnr_denoised", "mse_corrupted", "mse_denoised"),
    "cross_class": ("target_rate_before", "target_rate_after", "energy_before", "energy_after"),
    "ais": ("test_ll_forward", "test_ll_reverse", "test_bpd_forward", "test_bpd_reverse", "log_z_forward"),
}
EXPECTED = {
    "ais_digits": ("ais", "ais.png"),
    "digits": ("generate_images", "samples_fresh.png"),
    "digits_conditional": ("generate_images", "samples_by_class.png"),
    "inpaint_digits": ("inpaint", "inpaint.png"),
    "denoise_digits": ("denoise", "denoise.png"),
    "cross_class_digits": ("cross_class", "cross_class.png"),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_digits_recipe_runs_shrunk(name, tmp_path, cache):
    path = RECIPES / f"{name}.toml"
    assert path.read_text().startswith(f"# {name}:"), "each recipe opens with a comment naming it"
    task, picture = EXPECTED[name]
    overrides = SHRINK + TASK_SHRINK[task]
    if task in ("generate_images", "cross_class"):
        overrides.append(f"task.cache_dir={json.dumps(str(cache))}")
    args = ["run", str(path), "--out", str(tmp_path), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / picture).is_file()
    assert set(KEYS[task]) <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    if task == "inpaint":
        assert metrics["visible_max_change"] == 0.0


def test_data_path_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(make_app(), ["check", str(RECIPES / "cifar10.toml")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(make_app(), ["run", str(RECIPES / "cifar10.toml"), "--out", str(tmp_path), "--quiet",
                                             "--set", f"data.root={json.dumps(str(tmp_path))}"])
    assert result.exit_code == 1
    assert "data_batch_1" in result.output and "expected cifar-10-batches-py/" in result.output
    assert "Traceback" not in result.output
