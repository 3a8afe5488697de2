"""Issue 19: every vision task explains each number it writes, in its class and in the plugin's README.

That each written metric is explained is checked on every tiny run (conftest.py sets
``ENERGYFLOW_CHECK_METRICS``); each tiny-run test also reads the task's sentences in ``summary.txt``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from energyflow_vision.tasks import TASKS

from energyflow.tasks import report

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_vision_task_explains_its_metrics_in_the_readme(name):
    task = TASKS[name][0]
    assert task.metrics, f"task {name!r} explains none of its metrics"
    text = README.read_text(encoding="utf-8")
    assert "## Tasks and their metrics" in text
    assert f"### `{name}`" in text, f"task {name!r} has no section under 'Tasks and their metrics'"
    assert report.metrics_table(task) in text, f"task {name!r}: its metrics table is not in the README"


@pytest.mark.parametrize(("name", "key", "meaning"), [
    ("generate_images", "buffer_cond_accuracy", "share of samples the classifier puts in the class"),
    ("generate_images", "long_noise_1000_ratio", "floor/ceiling ratio"),
    ("generate_images", "long_buffer_3_class_coverage", "share of the classes"),
    ("ood", "auroc_svhn_energy_min", "lowest energy over the classes"),
    ("ood", "auroc_my_set_softmax", "softmax baseline"),
    ("robust", "linf_0.0313725_energy_refined", "transfer"),
    ("robust", "l2_1_energy_refined_bpda", "BPDA"),
    ("robust", "linf_0.1_softmax_subset", "first task.adaptive_images"),
    ("robust", "clean_accuracy_energy", "test accuracy of the energy classifier"),
    ("continual", "softmax_present_after_task3", "current task's classes only"),
    ("continual", "ewc_final_average", "elastic weight consolidation"),
])
def test_dynamic_metric_names_get_their_own_meaning(name, key, meaning):
    assert meaning in report.explain(TASKS[name][0], key)
