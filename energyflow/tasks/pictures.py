"""Pictures of runs: a 2-D learned density beside the data and the samples, and sample grids.

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global backend change),
so this works on machines without a display and inside notebooks alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from energyflow.core.energy import Energy
from energyflow.data.dataset import TensorData


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
    resolution: int = 200,
) -> Path:
    """Save the learned density exp(-E) beside histograms of the data and of the samples.

    Args:
        path: the PNG to write.
        energy: an unconditional energy on 2-D points.
        data: the dataset; its test split (or train, if the test split is empty) is drawn.
        samples: one tensor ``(n, 2)`` or several, by caption.
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
    fig = Figure(figsize=(3.2 * len(panels), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    bins = min(resolution, 120)
    for i, (title, values) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if isinstance(values, np.ndarray):
            ax.imshow(values, origin="lower", extent=extent, cmap="magma", interpolation="nearest")
        else:
            points = values.detach().cpu().double().numpy()
            ax.hist2d(points[:, 0], points[:, 1], bins=bins, range=[[low, high], [low, high]], cmap="magma")
            title = f"{title} (n={len(points)})"
        _square_panel(ax, title, low, high)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def save_image_grid(
    path: str | Path, images: torch.Tensor, *, value_range: tuple[float, float] = (0.0, 1.0), ncol: int | None = None
) -> Path:
    """Save images ``(n, C, H, W)`` (C = 1 or 3) as one PNG grid, ``ncol`` per row (square by default)."""
    images = images.detach().cpu().float()
    n = images.shape[0]
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    pad = torch.zeros((nrow * ncol - n, *images.shape[1:]))
    low, high = value_range
    scaled = ((torch.cat([images, pad]) - low) / (high - low)).clamp(0, 1)
    grid = rearrange(scaled, "(r k) c h w -> (r h) (k w) c", r=nrow, k=ncol).numpy()
    fig = Figure(figsize=(grid.shape[1] / 50 + 0.2, grid.shape[0] / 50 + 0.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.savefig(path)
    return Path(path)


def save_labelled_rows(
    path: str | Path, rows: Mapping[str, torch.Tensor], *, value_range: tuple[float, float] = (0.0, 1.0),
    ncol: int | None = None,
) -> Path:
    """Save one row of images ``(n, C, H, W)`` per label, the label written left of its row (a composition table).

    Rows may hold different numbers of images; each shows at most ``ncol`` (default: the longest row).
    """
    ncol = ncol or max((images.shape[0] for images in rows.values()), default=1)
    low, high = value_range
    cells = []
    for images in rows.values():
        images = images.detach().cpu().float()[:ncol]
        pad = torch.full((ncol - images.shape[0], *images.shape[1:]), float(low))
        cells.append(((torch.cat([images, pad]) - low) / (high - low)).clamp(0, 1))
    table = torch.stack(cells)  # (rows, ncol, C, H, W)
    gap = max(1, table.shape[-1] // 16)
    table = torch.nn.functional.pad(table, (0, gap, 0, gap), value=1.0)
    grid = rearrange(table, "r k c h w -> (r h) (k w) c").numpy()
    label_width = 0.09 * max((len(label) for label in rows), default=1) + 0.3
    scale = max(1.0, 48 / table.shape[-1])  # small images drawn bigger, so the labels stay legible
    width, height = grid.shape[1] * scale / 50, grid.shape[0] * scale / 50
    fig = Figure(figsize=(width + label_width, max(height, 0.3 * len(rows))), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((label_width / (width + label_width), 0, width / (width + label_width), 1))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest",
              aspect="auto")
    row_height = grid.shape[0] / max(1, len(rows))
    for i, label in enumerate(rows):
        ax.text(-gap * 2, (i + 0.5) * row_height, label, ha="right", va="center", fontsize=8)
    ax.axis("off")
    fig.savefig(path)
    return Path(path)


def save_point_panels(
    path: str | Path, sets: Mapping[str, torch.Tensor], *, value_range: tuple[float, float], reference: torch.Tensor
) -> Path:
    """Save one scatter panel of 2-D points per caption, over the (grey) ``reference`` points."""
    low, high = value_range
    fig = Figure(figsize=(3.0 * max(1, len(sets)), 3.3), dpi=100)
    FigureCanvasAgg(fig)
    ref = reference.detach().cpu().double().numpy()
    for i, (title, points) in enumerate(sets.items()):
        ax = fig.add_subplot(1, max(1, len(sets)), i + 1)
        ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.8")
        pts = points.detach().cpu().double().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="C3")
        _square_panel(ax, title, low, high)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def _square_panel(ax, title: str, low: float, high: float) -> None:
    """A square panel over ``[low, high]^2`` with a title and no ticks."""
    ax.set_title(title, fontsize=9)
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
    fig = Figure(figsize=(5.0, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.errorbar(k, fwd, yerr=2 * fwd_se, marker="o", capsize=3, label="forward AIS (lower bound)")
    ax.errorbar(k, rev, yerr=2 * rev_se, marker="s", capsize=3, label="RAISE from test data (implied log Z)")
    if exact is not None:
        ax.axhline(exact, color="0.3", linestyle="--", label="grid (exact)")
    ax.set_xscale("log")
    ax.set_xlabel("temperatures")
    ax.set_ylabel("log Z")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)
