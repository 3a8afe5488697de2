"""What a run says when it ends: a few plain sentences (``summary.txt``) and the meaning of each metric.

A task explains its numbers in a class attribute ``metrics``: metric name -> one plain sentence.
A name may hold ``{PLACEHOLDER}`` parts for a family (``satisfied[{EXPR}]`` covers
``satisfied[young & smiling]``). The same table is in the task's docs (`metrics_table` writes
it), and a test run with ``ENERGYFLOW_CHECK_METRICS=1`` fails on any metric a task writes
without explaining it. A task's ``summary(metrics, out_dir)`` returns its headline sentences.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from energyflow.errors import RunError

SUMMARY = "summary.txt"

#: numbers the run itself adds to any task's metrics
RUN_METRICS: dict[str, str] = {
    "compile_s": "seconds spent compiling the sampler's step (torch.compile), when a step was compiled",
    "world_size": "processes that trained together under torchrun (absent for one process)",
}

#: numbers of the last training step, written by every task that trains (`energyflow.train_metrics`)
TRAIN_METRICS: dict[str, str] = {
    "loss": "the last training step's loss (contrastive divergence plus regularizer terms)",
    "e_pos": "mean energy of the last training batch of data",
    "e_neg": "mean energy of the last training step's samples (the negatives)",
    "gap": "e_neg - e_pos at the last training step: near 0 when samples and data score alike",
}


def _pattern(name: str) -> re.Pattern[str]:
    parts = re.split(r"\{[A-Z_]+\}", name)
    return re.compile(".+?".join(re.escape(p) for p in parts) + r"\Z")


def explanations(task: Any) -> dict[str, str]:
    """Every metric ``task`` may write, with its meaning (the task's own and the run's)."""
    return {**dict(getattr(task, "metrics", {}) or {}), **RUN_METRICS}


def explain(task: Any, key: str) -> str | None:
    """The meaning of metric ``key`` of ``task``, or ``None`` when the task does not explain it."""
    table = explanations(task)
    if key in table:
        return table[key]
    return next((text for name, text in table.items() if "{" in name and _pattern(name).match(key)), None)


def undocumented(task: Any, metrics: Mapping[str, float]) -> list[str]:
    """The metric names in ``metrics`` that ``task`` does not explain."""
    return [key for key in metrics if explain(task, key) is None]


def check_documented(task: Any, metrics: Mapping[str, float]) -> None:
    """With ``ENERGYFLOW_CHECK_METRICS`` set (the test suites set it), a `RunError` naming unexplained metrics."""
    if os.environ.get("ENERGYFLOW_CHECK_METRICS") and (missing := undocumented(task, metrics)):
        raise RunError(f"task {type(task).__name__} wrote metrics it does not explain: {', '.join(missing)}; "
                       "add them to its `metrics` table and its docs")


def metrics_table(task: Any) -> str:
    """The task's ``metrics`` as a Markdown table (the form its docs show, checked by the tests)."""
    rows = [f"| `{name}` | {text} |" for name, text in dict(getattr(task, "metrics", {}) or {}).items()]
    return "\n".join(["| metric | meaning |", "|---|---|", *rows])


def summary_lines(task: Any, metrics: Mapping[str, float], out_dir: Path) -> list[str]:
    """The task's sentences, then the pictures to open and where every number is."""
    lines = list(task.summary(dict(metrics), out_dir)) if hasattr(task, "summary") else []
    pictures = sorted(p.name for p in out_dir.glob("*.png"))
    if pictures:
        lines.append("Pictures: " + ", ".join(pictures) + f" (in {out_dir}).")
    lines.append(f"All {len(metrics)} numbers are in metrics.json; `energyflow describe task NAME` explains each.")
    return lines


def percent(value: float) -> str:
    """``0.9861`` -> ``98.6%``."""
    return f"{100 * value:.1f}%"
