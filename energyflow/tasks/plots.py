"""Plots for people: a title saying what is drawn, axis labels in plain words, at least 300 px a side.

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global backend change), so
this works on machines without a display and inside notebooks alike; matplotlib is imported on
first use.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Figures are drawn at this resolution; a 3-inch side is then 330 px.
DPI = 110


def new_figure(panels: int = 1, *, width: float = 4.2, height: float = 3.4, rows: int = 1) -> tuple[Any, list[Any]]:
    """A figure of ``rows`` x ``panels`` axes, each ``width`` x ``height`` inches; ``(figure, axes)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * panels, height * rows), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(rows, panels, i + 1) for i in range(rows * panels)]


def save_figure(figure: Any, path: Path | str, *, title: str = "", subtitle: str = "") -> Path:
    """``figure`` with ``title`` (and a smaller ``subtitle`` line under it, e.g. what a score means) above its
    panels, laid out and written as PNG, creating the folder; returns the path."""
    if title or subtitle:
        chars = max(30, int(figure.get_figwidth() * 12))  # a character of 10 pt text is about 0.6 * 10 / 72 inch
        figure.suptitle("\n".join(textwrap.wrap(title, chars) + textwrap.wrap(subtitle, chars)), fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def save_curves(path: Path | str, curves: dict[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]], *,
                xlabel: str, ylabel: str, title: str, subtitle: str = "") -> Path:
    """One panel of named curves: values (drawn at 0, 1, 2, ...) or ``(xs, ys)`` pairs."""
    return save_panels(path, {"": curves}, xlabel=xlabel, ylabel=ylabel, title=title, subtitle=subtitle)


def save_panels(path: Path | str, panels: dict[str, dict[str, Any]], *, xlabel: str | dict[str, str], ylabel: str,
                title: str, subtitle: str = "", marker: str | None = None) -> Path:
    """Line plots: one panel per panel title (``""``: none), one curve per name, each values or ``(xs, ys)``.

    Text on the x axis (set names) is tilted so it does not run together.
    """
    figure, axes = new_figure(len(panels), width=5.0 if len(panels) == 1 else 4.2)
    for ax, (panel, curves) in zip(axes, panels.items()):
        for name, curve in curves.items():
            xs, ys = curve if isinstance(curve, tuple) else (range(len(curve)), curve)
            ax.plot(list(xs), list(ys), marker=marker or ("o" if len(list(ys)) < 20 else None), label=name)
            if any(isinstance(x, str) for x in xs):
                ax.tick_params(axis="x", labelrotation=30)
        if panel:
            ax.set_title(panel, fontsize=9)
        plain_numbers(ax)
        ax.set_xlabel(xlabel[panel] if isinstance(xlabel, dict) else xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(curves) > 1:
            ax.legend(fontsize=8)
    return save_figure(figure, path, title=title, subtitle=subtitle)


def plain_numbers(ax: Any) -> None:
    """Tick labels as the numbers themselves (no ``1e-5 + 1.398e-1`` offset); whole steps on an axis of whole numbers."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_formatter(), ScalarFormatter):
            axis.get_major_formatter().set_useOffset(False)
    xs = [x for line in ax.get_lines() for x in line.get_xdata()]
    if xs and all(isinstance(x, (int, np.integer)) for x in xs):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save_histograms(path: Path | str, panels: dict[str, dict[str, torch.Tensor]], *, title: str, bins: int = 40,
                    xlabel: str = "score", ylabel: str = "density (share of images per unit of score)") -> Path:
    """Overlaid histograms: one panel per panel title, one density-normalised histogram per named set."""
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(len(panels))
    for ax, (panel, sets) in zip(axes, panels.items()):
        values = torch.cat([v.flatten().double() for v in sets.values()])
        low, high = float(values.min()), float(values.max())
        edges = torch.linspace(low, high if high > low else low + 1e-6, bins + 1).numpy()
        for label, v in sets.items():
            ax.hist(v.flatten().double().numpy(), bins=edges, density=True, alpha=0.5, label=label)
        ax.set_title(panel, fontsize=9)
        plain_numbers(ax)
        ax.xaxis.set_major_locator(MaxNLocator(5))  # long score values side by side would run together
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return save_figure(figure, path, title=title)
