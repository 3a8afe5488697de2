"""Pictures of rollouts and of the scores against horizon, drawn on the core's figures (`energyflow.tasks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from energyflow.tasks import new_figure, save_figure

REFERENCE_COLOURS = ("0.55", "black")
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _paths(ax, paths: np.ndarray, alpha: float = 1.0) -> None:
    """Draw ``(T, N, 4)`` particle paths, a dot at the end of each."""
    for i in range(paths.shape[1]):
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(paths[:, i, 0], paths[:, i, 1], color=colour, lw=0.9, alpha=alpha)
        ax.plot(paths[-1, i, 0], paths[-1, i, 1], "o", color=colour, ms=2.5, alpha=alpha)


def save_rollouts(path: str | Path, truth: torch.Tensor, models: Mapping[str, torch.Tensor], box: float, *,
                  title: str) -> Path:
    """Rows of starts; columns: the true paths, then each model's rollouts (all samples overlaid), under ``title``.

    Args:
        truth: ``(m, T, N, 4)`` true states, past included.
        models: caption -> ``(m, S, H, N, 4)`` predictions, drawn on from the last past state.
        box: the walls' half-width.
    """
    rows, cols = truth.shape[0], 1 + len(models)
    fig, axes = new_figure(cols, width=2.8, height=2.8, rows=rows)
    k = truth.shape[1] - next(iter(models.values())).shape[2]
    for r in range(rows):
        panels = [("truth", truth[r, None, k - 1 :].numpy())]
        for name, pred in models.items():
            last = truth[r, None, None, k - 1].expand(pred.shape[1], 1, *pred.shape[3:])
            panels.append((name, torch.cat([last, pred[r]], dim=1).numpy()))
        for c, (caption, paths) in enumerate(panels):
            ax = axes[r * cols + c]
            for sample in paths:
                _paths(ax, sample, alpha=1.0 if len(paths) == 1 else 0.5)
            ax.set_xlim(-box, box)
            ax.set_ylim(-box, box)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(caption, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"start {r + 1}")
    return save_figure(fig, path, title=title)


def save_horizon_plot(path: str | Path, curves: Mapping[str, Mapping[str, Sequence[float]]],
                      titles: Mapping[str, str], *, title: str) -> Path:
    """One panel per score (``titles``: key -> panel title), one line per model that has it, against horizon (log y),
    under ``title``.

    The first two models are drawn solid, the rest (references) dashed.
    """
    fig, axes = new_figure(len(titles), width=4.0, height=3.6)
    for ax, (key, caption) in zip(axes, titles.items()):
        for j, (name, scores) in enumerate(curves.items()):
            if not scores.get(key):
                continue
            values = np.asarray(scores[key], dtype=float)
            style = {"color": COLOURS[j]} if j < 2 else {"color": REFERENCE_COLOURS[(j - 2) % 2], "linestyle": "--"}
            ax.plot(np.arange(1, len(values) + 1), np.clip(values, 1e-12, None), label=name, **style)
        ax.set_yscale("log")
        ax.set_xlabel("horizon (simulation steps ahead)")
        ax.set_ylabel(f"{caption.split(' (')[0].split(' |')[0]} (log scale)")
        ax.set_title(caption, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path, title=title)
