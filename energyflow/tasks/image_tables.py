"""Tables of images for people: small images enlarged, a title, labels on rows and columns.

A picture is a ``(rows, cols, C, H, W)`` table of images (C = 1 or 3) drawn with Pillow. Images
smaller than `MIN_CELL` pixels are enlarged by an integer factor with nearest-neighbour copies
(each source pixel becomes an exact square block, nothing is smoothed), and the whole picture is
at least `MIN_SIDE` pixels on either side. Text is set in matplotlib's DejaVu Sans at a size
that follows the cell; a column label wider than its cell wraps at spaces, and a word that still
does not fit widens the column, so labels never run together.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image, ImageDraw, ImageFont

#: Small images are enlarged until a cell is at least this many pixels high.
MIN_CELL = 48
#: Cells grow past `MIN_CELL` (up to `MAX_CELL`) when the table would otherwise be smaller than `MIN_SIDE`.
MAX_CELL = 96
#: Every picture is at least this many pixels on its shorter side (white margins make up the rest).
MIN_SIDE = 300
MARGIN = 6


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Images scaled from ``value_range`` to ``uint8`` (clipped)."""
    low, high = value_range
    scaled = (images.detach().float().cpu() - low) / (high - low)
    return (scaled.clamp(0, 1) * 255).round().to(torch.uint8)


def scale_factor(size: int, rows: int, cols: int, *, min_cell: int = MIN_CELL, min_side: int = MIN_SIDE) -> int:
    """The integer enlargement of ``size``-pixel images: at least ``min_cell`` pixels a cell, and more (up to
    `MAX_CELL`) while the ``rows`` x ``cols`` table is under ``min_side`` pixels on its shorter side."""
    factor = max(1, math.ceil(min_cell / size))
    filling = math.ceil(min_side / (size * max(1, min(rows, cols))))
    return max(factor, min(filling, MAX_CELL // size))


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib) at ``size`` pixels; Pillow's default font where that is missing."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default(size)


def text_size(cell: int) -> int:
    """Label text for ``cell``-pixel cells: about a quarter of the cell, 12 to 18 px."""
    return max(12, min(18, round(cell * 0.26)))


def wrap(text: str, width: float, face: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a longer word keeps its own line)."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and face.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def image_table(table: torch.Tensor, *, title: str = "", row_labels: Sequence[str] | None = None,
                col_labels: Sequence[str] | None = None, value_range: tuple[float, float] = (0.0, 1.0),
                pad: int = 2, min_cell: int = MIN_CELL, min_side: int = MIN_SIDE) -> Image.Image:
    """A ``(rows, cols, C, H, W)`` table of images as one picture, titled and labelled.

    Args:
        table: the images, C = 1 (grey) or 3 (colour).
        title: what the picture shows, above everything (wrapped to the picture's width).
        row_labels: one label per row, left of it (e.g. the class of the row).
        col_labels: one label per column, above it (e.g. ``"step 20"``, ``"nearest 1"``).
        value_range: the pixel values drawn black and white.
        pad: white pixels between cells.
        min_cell: images are enlarged (nearest neighbour, by an integer factor) to at least this height.
        min_side: the picture is at least this many pixels on either side.
    """
    if table.dim() != 5 or table.shape[2] not in (1, 3):
        raise ValueError(f"image_table: expected (rows, cols, 1|3, H, W) images, got shape {tuple(table.shape)}")
    rows, cols, channels, height, width = table.shape
    factor = scale_factor(height, rows, cols, min_cell=min_cell, min_side=min_side)
    tiles = to_uint8(rearrange(table, "r c ch h w -> (r c) ch h w"), value_range)
    tiles = tiles.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)  # exact pixel blocks
    cell_h, cell_w = height * factor, width * factor
    face = font(text_size(cell_h))
    line = round(face.size * 1.25)
    heads = [wrap(t, cell_w, face) for t in col_labels] if col_labels else []
    widest = max((face.getlength(ln) for head in heads for ln in head), default=0)
    col_w = max(cell_w, math.ceil(widest) + 2 * pad)  # a word wider than the cell widens every column
    left_pad = (col_w - cell_w) // 2
    tiles = F.pad(tiles, (left_pad, col_w - cell_w - left_pad, 0, 0), value=255)
    tiles = F.pad(tiles, (pad, pad, pad, pad), value=255)
    body = rearrange(tiles, "(r c) ch h w -> (r h) (c w) ch", r=rows, c=cols).numpy()
    body_img = Image.fromarray(body[..., 0] if channels == 1 else body)

    label_w = math.ceil(max((face.getlength(str(t)) for t in row_labels), default=0)) + 2 * MARGIN if row_labels \
        else 0
    head_h = max((len(h) for h in heads), default=0) * line + (MARGIN if heads else 0)
    content_w = label_w + body_img.width
    title_face = font(max(face.size + 2, 15))
    title_line = round(title_face.size * 1.3)
    width_px = max(content_w + 2 * MARGIN, min_side)
    title_lines = wrap(title, width_px - 2 * MARGIN, title_face) if title else []
    title_h = len(title_lines) * title_line + (MARGIN if title_lines else 0)
    height_px = max(MARGIN + title_h + head_h + body_img.height + MARGIN, min_side)

    white = 255 if body_img.mode == "L" else (255, 255, 255)
    canvas = Image.new(body_img.mode, (width_px, height_px), white)
    draw, ink = ImageDraw.Draw(canvas), 0 if body_img.mode == "L" else (0, 0, 0)
    x0 = (width_px - content_w) // 2 + label_w
    y0 = MARGIN + title_h + head_h
    canvas.paste(body_img, (x0, y0))
    for i, text in enumerate(title_lines):
        draw.text((width_px / 2, MARGIN + i * title_line), text, fill=ink, font=title_face, anchor="ma")
    step_w, step_h = body_img.width / cols, body_img.height / rows
    for j, head in enumerate(heads):
        top = y0 - MARGIN // 2 - len(head) * line
        for k, text in enumerate(head):
            draw.text((x0 + (j + 0.5) * step_w, top + k * line), text, fill=ink, font=face, anchor="ma")
    for i, text in enumerate(row_labels or ()):
        draw.text((x0 - MARGIN, y0 + (i + 0.5) * step_h), str(text), fill=ink, font=face, anchor="rm")
    return canvas


def grid_table(images: torch.Tensor, ncol: int | None = None,
               value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """A batch ``(N, C, H, W)`` as a ``(rows, ncol, C, H, W)`` table (``ncol`` square by default), blanks (white)
    filling the last row."""
    n = images.shape[0]
    if n == 0:
        raise ValueError("image grid: no images")
    ncol = ncol or max(1, round(n**0.5))
    rows = -(-n // ncol)
    blank = torch.full((rows * ncol - n, *images.shape[1:]), float(value_range[1]))
    return rearrange(torch.cat([images.detach().float().cpu(), blank]), "(r c) ... -> r c ...", r=rows, c=ncol)


def save_picture(picture: Image.Image, path: Path | str) -> Path:
    """Write a PNG, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def save_image_grid(path: Path | str, images: torch.Tensor, ncol: int | None = None, *, title: str,
                    value_range: tuple[float, float] = (0.0, 1.0), **layout) -> Path:
    """Images ``(N, C, H, W)`` as a grid ``ncol`` wide (square by default), titled; ``layout``: the
    `image_table` options (``row_labels`` (e.g. the class of each row), ``col_labels``, ``pad``, ...)."""
    table = grid_table(images, ncol, value_range)
    return save_picture(image_table(table, title=title, value_range=value_range, **layout), path)


def save_image_columns(path: Path | str, columns: Sequence[torch.Tensor], *, title: str, **layout) -> Path:
    """Columns side by side (each ``(rows, C, H, W)``, e.g. input | output | truth), titled; ``layout``: the
    `image_table` options (``col_labels`` heading each column, ``row_labels``, ``value_range``, ...)."""
    table = rearrange(torch.stack([c.detach().float().cpu() for c in columns]), "c r ... -> r c ...")
    return save_picture(image_table(table, title=title, **layout), path)


def save_labelled_rows(path: Path | str, rows: Mapping[str, torch.Tensor], *, title: str, ncol: int | None = None,
                       value_range: tuple[float, float] = (0.0, 1.0), **layout) -> Path:
    """One row of images ``(n, C, H, W)`` per label, the label left of its row (a composition table).

    Rows may hold different numbers of images; each shows at most ``ncol`` (default: the longest row),
    blanks (white) filling the shorter ones.
    """
    ncol = ncol or max((images.shape[0] for images in rows.values()), default=1)
    cells = []
    for images in rows.values():
        images = images.detach().float().cpu()[:ncol]
        cells.append(torch.cat([images, torch.full((ncol - images.shape[0], *images.shape[1:]), value_range[1])]))
    picture = image_table(torch.stack(cells), title=title, row_labels=list(rows), value_range=value_range, **layout)
    return save_picture(picture, path)
