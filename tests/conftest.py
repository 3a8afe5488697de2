"""Shared fixtures: a hermetic plugin manager and a tiny recipe that runs in a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from energyflow.testing import plugin_manager, register_plugin  # noqa: F401  (fixtures)

TINY_RECIPE = """\
# tiny: a few training steps on 8 Gaussians, for tests.
[run]
name = "tiny"
seed = 3
device = "cpu"
threads = 1

[data]
kind = "toy2d"
density = "8gaussians"
n_train = 512
n_test = 256

[energy]
kind = "mlp"
hidden = [16, 16]

[sampler]
kind = "langevin"
steps = 5
step_size = 0.02
noise = "ula"
grad_clip = "none"
clamp = [-4.0, 4.0]

[buffer]
kind = "replay"
capacity = 256

[[regularizers]]
kind = "l2_energy"
weight = 0.01

[train]
iterations = 24
batch_size = 32
lr = 3e-3
log_every = 4
checkpoint_every = 10

[task]
kind = "generate"
num_samples = 64
chain_steps = 10
resolution = 16
"""


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    """A recipe file that trains for 24 steps and samples 64 points (about a second)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE)
    return path
