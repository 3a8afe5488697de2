"""Pictures of 2-D runs: the learned density beside the data and the samples, and point panels.

Figures come from `energyflow.tasks.plots` (matplotlib's Agg canvas, no pyplot); tables of images
from `energyflow.tasks.image_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from energyflow.core.energy import Energy
from energyflow.data.dataset import TensorData
from energyflow.tasks.plots import new_figure, save_figure


@torch.no_grad()
def density_grid(energy: Energy, value_range: tuple[float, float], resolution: int = 200) -> np.ndarray:
    """exp(-E) normalised over a ``resolution x resolution`` grid on ``value_range^2``.

    Returns:
        An array ``(resolution, resolution)``, rows along the second coordinate (for ``imshow``
        with ``origin="lower"``).
    """
    low, high = value_range
    device = next((p.device for p in energy.parameters()), torch.device("cpu"))
    axis = torch.linspace(low, high, resolution)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    points = rearrange(torch.stack([xx, yy]), "c h w -> (h w) c").to(device)
    was_training = energy.training
    energy.eval()
    try:
        log_p = torch.cat([-energy(chunk) for chunk in points.split(65536)]).double()
    finally:
        energy.train(was_training)
    density = torch.softmax(log_p, dim=0)
    return rearrange(density, "(h w) -> h w", h=resolution).cpu().numpy()


def save_density_plot(
    path: str | Path,
    energy: Energy,
    data: TensorData,
    samples: torch.Tensor | Mapping[str, torch.Tensor],
    *,
    title: str = "",
    resolution: int = 200,
) -> Path:
    """Save the learned density exp(-E) beside histograms of the data and of the samples.

    Args:
        path: the PNG to write.
        energy: an unconditional energy on 2-D points.
        data: the dataset; its test split (or train, if the test split is empty) is drawn.
        samples: one tensor ``(n, 2)`` or several, by caption.
        title: what the figure shows, above its panels.
        resolution: grid cells per axis for the density and the histograms.

    Returns:
        ``path``.
    """
    sets = {"samples": samples} if isinstance(samples, torch.Tensor) else dict(samples)
    low, high = data.value_range
    extent = (low, high, low, high)
    reference = data.test if data.test.shape[0] else data.train
    panels = [("learned density exp(-E)", density_grid(energy, (low, high), resolution)), ("data", reference)]
    panels += list(sets.items())
    fig, axes = new_figure(len(panels), width=3.2, height=3.6)
    bins = min(resolution, 120)
    for ax, (caption, values) in zip(axes, panels):
        if isinstance(values, np.ndarray):
            ax.imshow(values, origin="lower", extent=extent, cmap="magma", interpolation="nearest")
        else:
            points = values.detach().cpu().double().numpy()
            ax.hist2d(points[:, 0], points[:, 1], bins=bins, range=[[low, high], [low, high]], cmap="magma")
            caption = f"{caption} (n={len(points)})"
        _square_panel(ax, caption, low, high)
    return save_figure(fig, path, title=title)


def save_point_panels(
    path: str | Path, sets: Mapping[str, torch.Tensor], *, value_range: tuple[float, float], reference: torch.Tensor,
    title: str = "",
) -> Path:
    """Save one scatter panel of 2-D points per caption, over the (grey) ``reference`` points, under ``title``."""
    low, high = value_range
    fig, axes = new_figure(max(1, len(sets)), width=3.2, height=3.6)
    ref = reference.detach().cpu().double().numpy()
    for ax, (caption, points) in zip(axes, sets.items()):
        ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.8")
        pts = points.detach().cpu().double().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="C3")
        _square_panel(ax, caption, low, high)
    return save_figure(fig, path, title=title)


def _square_panel(ax, caption: str, low: float, high: float) -> None:
    """A square panel over ``[low, high]^2`` with a caption, its axes named and no ticks."""
    ax.set_title(caption, fontsize=9)
    ax.set_xlabel("x1", fontsize=8)
    ax.set_ylabel("x2", fontsize=8)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def save_ais_curve(path: str | Path, rows: list[tuple[int, float, float, float, float]], *,
                   exact: float | None = None) -> Path:
    """Save AIS's log Z estimates against the number of temperatures, with +-2 standard errors.

    ``rows`` are ``(temperatures, forward log Z, its stderr, reverse log Z, its stderr)``; both should
    settle as temperatures grow; ``exact`` draws a reference line.
    """
    k, fwd, fwd_se, rev, rev_se = (np.array(column, dtype=float) for column in zip(*rows))
    figure, (ax,) = new_figure(width=5.0)
    ax.errorbar(k, fwd, yerr=2 * fwd_se, marker="o", capsize=3, label="forward AIS (lower bound on log Z)")
    ax.errorbar(k, rev, yerr=2 * rev_se, marker="s", capsize=3, label="RAISE from test data (implied log Z)")
    if exact is not None:
        ax.axhline(exact, color="0.3", linestyle="--", label="grid (exact)")
    ax.set_xscale("log")
    ax.set_xlabel("annealing temperatures")
    ax.set_ylabel("log Z (nats)")
    ax.legend(fontsize=8)
    return save_figure(figure, path, title="log Z by annealed importance sampling against the number of temperatures",
                       subtitle="error bars: 2 standard errors; the estimates settle as the temperatures grow")
