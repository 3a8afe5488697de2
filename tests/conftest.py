"""Shared fixtures: a hermetic plugin manager and a tiny recipe that runs in a few seconds."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from energyflow.testing import plugin_manager, register_plugin  # noqa: F401  (fixtures)

os.environ.setdefault("ENERGYFLOW_CHECK_METRICS", "1")  # a run fails on a metric its task does not explain

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


@pytest.fixture(scope="session")
def pip_install_target():
    """``pip_install_target(src, site)``: pip-install the project in ``src`` into ``site`` and put it on sys.path."""

    def install(src: Path, site: Path) -> None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(site), str(src)],
                       check=True, capture_output=True, env={**os.environ, "PIP_NO_INPUT": "1"})
        if str(site) not in sys.path:
            sys.path.insert(0, str(site))
        importlib.invalidate_caches()

    return install


@pytest.fixture
def fake_distribution(monkeypatch):
    """``fake_distribution(site, dist, entry_points, modules)``: a dist-info folder (and modules) on sys.path."""
    created = []

    def make(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None) -> None:
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            "[energyflow]\n" + "".join(f"{name} = {value}\n" for name, value in entry_points.items()))
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)
        monkeypatch.syspath_prepend(str(site))

    yield make
    for module in created:
        sys.modules.pop(module, None)
