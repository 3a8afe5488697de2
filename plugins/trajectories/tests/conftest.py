"""Fixtures for the trajectories plugin's tests, hermetic whether or not the plugin is pip-installed.

No ``pytest_plugins`` here: pytest refuses it in a conftest below the rootdir, and the core's
fixtures are imported directly instead (as ``tests/conftest.py`` does). If the distribution is not
installed, its source folder is put on ``sys.path``; every test registers the plugin inline on a
fresh plugin manager, so an installed copy's entry point plays no part either.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

from energyflow.testing import plugin_manager, register_plugin  # noqa: F401  (fixtures)

os.environ.setdefault("ENERGYFLOW_CHECK_METRICS", "1")  # a run fails on a metric its task does not explain

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("energyflow_trajectories") is None:
    sys.path.insert(0, str(PLUGIN_ROOT))

import energyflow_trajectories.plugin


@pytest.fixture
def trajectories(register_plugin):  # noqa: F811
    """The plugin, registered as ``trajectories`` on a fresh plugin manager for the test."""
    register_plugin(energyflow_trajectories.plugin, name="trajectories")
    return energyflow_trajectories.plugin


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test, as the recipes run: on a shared 2-core machine more threads only fight."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
