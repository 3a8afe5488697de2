"""Pictures of image batches: grids arranged with einops, written with Pillow; plots with matplotlib.

Small images (8x8 digits) are enlarged with nearest-neighbour upsampling so a grid is legible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image

#: Grids are upscaled until each tile is at least this many pixels high.
MIN_TILE = 32


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Images scaled from ``value_range`` to ``uint8`` (clipped)."""
    low, high = value_range
    scaled = (images.detach().float().cpu() - low) / (high - low)
    return (scaled.clamp(0, 1) * 255).round().to(torch.uint8)


def tile_table(table: torch.Tensor, *, value_range: tuple[float, float] = (0.0, 1.0), pad: int = 1,
               min_tile: int = MIN_TILE) -> Image.Image:
    """A ``(rows, cols, C, H, W)`` table of images as one picture with ``pad``-pixel white gutters."""
    if table.dim() != 5 or table.shape[2] not in (1, 3):
        raise ValueError(f"tile_table: expected (rows, cols, 1|3, H, W) images, got shape {tuple(table.shape)}")
    rows, cols = table.shape[:2]
    tiles = to_uint8(rearrange(table, "r c ch h w -> (r c) ch h w"), value_range)
    factor = max(1, -(-min_tile // tiles.shape[-2]))
    if factor > 1:
        tiles = F.interpolate(tiles.float(), scale_factor=factor, mode="nearest").to(torch.uint8)
    tiles = F.pad(tiles, (pad, pad, pad, pad), value=255)
    picture = rearrange(tiles, "(r c) ch h w -> (r h) (c w) ch", r=rows, c=cols)
    picture = F.pad(rearrange(picture, "h w ch -> ch h w"), (pad, pad, pad, pad), value=255)
    array = rearrange(picture, "ch h w -> h w ch").numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def grid(images: torch.Tensor, ncol: int | None = None, **kwargs) -> Image.Image:
    """A batch ``(N, C, H, W)`` as a grid ``ncol`` wide (square by default); blanks fill the last row."""
    n = images.shape[0]
    if n == 0:
        raise ValueError("grid: no images")
    ncol = ncol or max(1, round(n**0.5))
    rows = -(-n // ncol)
    blank = torch.full((rows * ncol - n, *images.shape[1:]), float(kwargs.get("value_range", (0.0, 1.0))[1]))
    table = torch.cat([images.detach().float().cpu(), blank])
    return tile_table(rearrange(table, "(r c) ... -> r c ...", r=rows, c=ncol), **kwargs)


def with_labels(picture: Image.Image, rows: int, cols: int, row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None) -> Image.Image:
    """``picture`` (a ``rows`` x ``cols`` table) with a label left of each row and above each column."""
    from PIL import ImageDraw, ImageFont

    if not row_labels and not col_labels:
        return picture
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(picture)
    width = max((measure.textlength(str(t), font=font) for t in row_labels or ()), default=0)
    left, top = int(width) + 8 if row_labels else 0, 16 if col_labels else 0
    canvas = Image.new(picture.mode, (picture.width + left, picture.height + top), 255 if picture.mode == "L" else
                       (255, 255, 255))
    canvas.paste(picture, (left, top))
    draw, ink = ImageDraw.Draw(canvas), 0 if picture.mode == "L" else (0, 0, 0)
    cell_h, cell_w = picture.height / rows, picture.width / cols
    for i, text in enumerate(row_labels or ()):
        draw.text((2, top + (i + 0.5) * cell_h), str(text), fill=ink, font=font, anchor="lm")
    for j, text in enumerate(col_labels or ()):
        draw.text((left + (j + 0.5) * cell_w, 2), str(text), fill=ink, font=font, anchor="mt")
    return canvas


def save_picture(picture: Image.Image, path: Path | str) -> Path:
    """Write a PNG, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def save_grid(path: Path | str, images: torch.Tensor, ncol: int | None = None, *,
              row_labels: Sequence[str] | None = None, **kwargs) -> Path:
    """`grid` written to ``path``, with a label left of each row if given (e.g. the class of the row)."""
    picture = grid(images, ncol, **kwargs)
    rows = -(-images.shape[0] // (ncol or max(1, round(images.shape[0] ** 0.5))))
    return save_picture(with_labels(picture, rows, 1, row_labels), path)


def save_table(path: Path | str, columns: Sequence[torch.Tensor], *, col_labels: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, **kwargs) -> Path:
    """Side-by-side columns (each ``(rows, C, H, W)``, e.g. input | output | truth) written to ``path``,
    each column headed by its label."""
    table = rearrange(torch.stack([c.detach().float().cpu() for c in columns]), "c r ... -> r c ...")
    picture = with_labels(tile_table(table, **kwargs), table.shape[0], table.shape[1], row_labels, col_labels)
    return save_picture(picture, path)


def save_curves(path: Path | str, curves: dict[str, Sequence[float]], *, xlabel: str, ylabel: str,
                title: str = "") -> Path:
    """A line plot of named curves (matplotlib's Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 3.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, values in curves.items():
        axes.plot(range(len(values)), list(values), label=name)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    if len(curves) > 1:
        axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _figure(panels: int, width: float = 4.2, height: float = 3.2):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * panels, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(1, panels, i + 1) for i in range(panels)]


def _save(figure, path: Path | str) -> Path:
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def save_histograms(path: Path | str, panels: dict[str, dict[str, torch.Tensor]], *, bins: int = 40,
                    xlabel: str = "score") -> Path:
    """Overlaid histograms: one panel per title, one density-normalised histogram per named set."""
    figure, axes = _figure(len(panels))
    for ax, (title, sets) in zip(axes, panels.items()):
        values = torch.cat([v.flatten().double() for v in sets.values()])
        low, high = float(values.min()), float(values.max())
        edges = torch.linspace(low, high if high > low else low + 1e-6, bins + 1).numpy()
        for label, v in sets.items():
            ax.hist(v.flatten().double().numpy(), bins=edges, density=True, alpha=0.5, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
    return _save(figure, path)


def save_panels(path: Path | str, panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]], *,
                xlabel: str | dict[str, str], ylabel: str) -> Path:
    """Line plots with markers: one panel per title, one ``(xs, ys)`` curve per name."""
    figure, axes = _figure(len(panels))
    for ax, (title, curves) in zip(axes, panels.items()):
        for name, (xs, ys) in curves.items():
            ax.plot(list(xs), list(ys), marker="o", label=name)
            if any(isinstance(x, str) for x in xs):
                ax.tick_params(axis="x", labelrotation=30)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel[title] if isinstance(xlabel, dict) else xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return _save(figure, path)
