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


def save_picture(picture: Image.Image, path: Path | str) -> Path:
    """Write a PNG, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def save_grid(path: Path | str, images: torch.Tensor, ncol: int | None = None, **kwargs) -> Path:
    """`grid` written to ``path``."""
    return save_picture(grid(images, ncol, **kwargs), path)


def save_table(path: Path | str, columns: Sequence[torch.Tensor], **kwargs) -> Path:
    """Side-by-side columns (each ``(rows, C, H, W)``, e.g. input | output | truth) written to ``path``."""
    table = rearrange(torch.stack([c.detach().float().cpu() for c in columns]), "c r ... -> r c ...")
    return save_picture(tile_table(table, **kwargs), path)


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
