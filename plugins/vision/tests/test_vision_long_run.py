"""Long-run evaluation of generate_images: snapshots, metrics and the ratio plot, on tiny settings."""

from __future__ import annotations

import math

import energyflow_vision.plugin
import pytest
import torch
from energyflow_vision.evaluation.long_run import (
    RATIO_CAP,
    floor_ceiling_ratio,
    run_snapshots,
)
from test_vision_tasks import TINY

from energyflow import FunctionEnergy, Langevin
from energyflow.recipe import parse_recipe
from energyflow.runtime import Run
from energyflow.tasks.context import TaskContext
from energyflow.testing import fresh_plugin_manager, inline_plugin


@pytest.fixture(scope="module")
def pm():
    with fresh_plugin_manager() as manager, inline_plugin(energyflow_vision.plugin, "vision", manager):
        yield manager


def test_floor_ceiling_ratio():
    assert floor_ceiling_ratio({"cfd": 20.0, "cfd_real": 10.0, "cfd_noise": 110.0}) == pytest.approx(9.0)
    assert floor_ceiling_ratio({"cfd": 120.0, "cfd_real": 10.0, "cfd_noise": 110.0}) == pytest.approx(-10 / 110)
    assert floor_ceiling_ratio({"cfd": 9.0, "cfd_real": 10.0, "cfd_noise": 110.0}) == RATIO_CAP  # below the floor
    assert floor_ceiling_ratio({"cfd": 10.05, "cfd_real": 10.0, "cfd_noise": 110.0}) == RATIO_CAP


def test_snapshots_are_the_states_after_that_many_steps(tmp_path):
    energy = FunctionEnergy(lambda x: (x - 0.3).pow(2).flatten(1).sum(1), name="bowl")
    sampler = Langevin(steps=1, step_size=0.1, noise=0.0, grad_clip=None, clamp=None)
    ctx = TaskContext(recipe=None, data=None, energy=energy, sampler=sampler, buffer=None,
                      generator=torch.Generator().manual_seed(0), device=torch.device("cpu"), out_dir=tmp_path)
    x0 = torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    shots = run_snapshots(ctx, energy, x0, None, [3, 1, 7], batch_size=2, description="t")
    assert sorted(shots) == [1, 3, 7]
    for n, x in shots.items():  # gradient descent on the bowl: x_n - 0.3 = (1 - 2 * 0.1)^n (x0 - 0.3)
        assert x.shape == x0.shape
        torch.testing.assert_close(x, 0.3 + 0.8**n * (x0 - 0.3))


@pytest.mark.parametrize("conditional", [False, True])
def test_long_run_writes_metrics_and_plot(pm, tmp_path, conditional):
    task = ('kind = "generate_images"\nnum_samples = 4\neval_samples = 0\nchain_steps = 2\nchain_rows = 0\n'
            'per_class = 0\nnearest = 0\nclassifier_steps = 20\ninception = "off"\n'
            f'cache_dir = "{tmp_path / "cache"}"\nlong_samples = 12\nlong_steps = [2, 5]\nlong_buffer_steps = 6\n')
    recipe = parse_recipe(TINY.format(task=task, conditional=str(conditional).lower()), source="t.toml", pm=pm)
    metrics = Run(recipe, out_dir=tmp_path / "run", quiet=True, pm=pm).execute()
    assert (tmp_path / "run" / "long_run.png").stat().st_size > 1000
    for start, lengths in (("noise", (2, 5)), ("buffer", (2, 5, 6))):
        for n in lengths:
            for figure in ("ratio", "cfd", "class_coverage", "energy"):
                assert math.isfinite(metrics[f"long_{start}_{n}_{figure}"]), (start, n, figure)
            assert (f"long_{start}_{n}_cond_accuracy" in metrics) == conditional
    assert "long_noise_6_ratio" not in metrics and "long_buffer_7_ratio" not in metrics
    assert math.isfinite(metrics["long_energy_data"])
    # chains that moved are scored differently from one length to the next
    assert metrics["long_noise_2_energy"] != pytest.approx(metrics["long_noise_5_energy"])
