"""`ShapeScene`: how the ``shapes`` dataset draws its objects from their factor values.

A scene is one or more anti-aliased objects (supersampled, then averaged down) on a black
background; an object's factors are shape, colour, size and position, each drawn with a little
jitter of position, size and brightness from a ``torch.Generator``. Several objects sit at distinct
cells of the position grid (`ShapeScene.place`) and are composited "over", in order
(`ShapeScene.render_scenes`). The scene also encodes the factor values as the labels an energy
reads (``ShapeScene.encode``), names them, and says which cells hold an object
(``ShapeScene.occupancy``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from attrs import frozen
from einops import rearrange, repeat

FACTORS = ("shape", "colour", "size", "position")
SHAPES = ("square", "circle", "triangle", "diamond", "cross")
COLOURS = {
    "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0), "cyan": (0.0, 1.0, 1.0), "white": (1.0, 1.0, 1.0), "orange": (1.0, 0.5, 0.0),
}
#: Subpixels per pixel side for anti-aliasing.
_SUPERSAMPLE = 4


def position_names(grid: int) -> tuple[str, ...]:
    """Names of the cells of a ``grid`` x ``grid`` position grid, row-major."""
    if grid == 2:
        return ("top-left", "top-right", "bottom-left", "bottom-right")
    return tuple(f"r{i}c{j}" for i in range(grid) for j in range(grid))


def _coverage(kind: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Inside-mask of each object (``kind`` indexes `SHAPES`) at offsets ``dx, dy`` from its centre."""
    ax, ay = dx.abs(), dy.abs()
    inside = torch.stack([
        torch.maximum(ax, ay) <= 0.85 * r,                       # square, area close to the circle's
        dx * dx + dy * dy <= r * r,                              # circle
        (ay <= r) & (ax <= (dy + r) / 2),                        # triangle, apex up
        ax + ay <= 1.15 * r,                                     # diamond
        ((ax <= r / 3) & (ay <= r)) | ((ay <= r / 3) & (ax <= r)),  # cross
    ])
    return inside.gather(0, repeat(kind, "n -> 1 n h w", h=dx.shape[1], w=dx.shape[2]))[0].float()


def _quantise(image: torch.Tensor) -> torch.Tensor:
    return (image * 255).round().clamp(0, 255).to(torch.uint8)


@frozen(kw_only=True, eq=False)
class ShapeScene:
    """The factor values and how a scene is drawn from them.

    Attributes:
        factors: the varying factors, in label order.
        values: per varying factor, its value names.
        shapes, colours, sizes: the catalogue in use (sizes are the object's extent, a share of the side).
        position_grid: positions are the cells of this square grid (row-major).
        layout: where the cells' centres lie: ``"central"`` (evenly from 0.32 to 0.68 of the side,
            room for one big object) or ``"tiled"`` (the centres of the grid's tiles of the image).
        fixed: index of every factor in `FACTORS` order where it does not vary (position: the centre).
        size: image side in pixels.
        jitter: position jitter (share of the side), size jitter (twice as much, relative) and
            brightness jitter (down to ``1 - 2*jitter``), drawn per image.
    """

    factors: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[float, ...]
    position_grid: int
    size: int
    jitter: float
    layout: str = "central"

    @property
    def combinations(self) -> list[tuple[int, ...]]:
        """Every combination of the varying factors' indices, in row-major order."""
        return list(itertools.product(*(range(len(vals)) for vals in self.values)))

    def combination_name(self, combo: Sequence[int]) -> str:
        return "/".join(vals[i] for vals, i in zip(self.values, combo))

    def combination_index(self, factors: torch.Tensor) -> torch.Tensor:
        """Row-major index of each row of factor indices ``(N, F)``."""
        index = torch.zeros(factors.shape[0], dtype=torch.long)
        for k, vals in enumerate(self.values):
            index = index * len(vals) + factors[:, k]
        return index

    def _column(self, factors: torch.Tensor, name: str) -> torch.Tensor | None:
        return factors[:, self.factors.index(name)] if name in self.factors else None

    def centres(self) -> torch.Tensor:
        """Centre of each row (column) of the position grid, a share of the side."""
        g = self.position_grid
        if self.layout == "tiled":
            return (torch.arange(g, dtype=torch.float32) + 0.5) / g
        return torch.linspace(0.32, 0.68, g) if g > 1 else torch.tensor([0.5])

    def _paint(self, factors: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Coverage ``(N, 1, size, size)`` and colour ``(N, 3)`` of one object per row of factor indices."""
        n, side = factors.shape[0], self.size
        shape = self._column(factors, "shape")
        colour = self._column(factors, "colour")
        extent = self._column(factors, "size")
        cell = self._column(factors, "position")
        shape = torch.zeros(n, dtype=torch.long) if shape is None else shape
        colour = torch.zeros(n, dtype=torch.long) if colour is None else colour
        kind = torch.tensor([SHAPES.index(s) for s in self.shapes])[shape]
        rgb = torch.tensor([COLOURS[c] for c in self.colours])[colour]
        sizes = torch.tensor(self.sizes)
        radius = (sizes[len(sizes) // 2] if extent is None else sizes[extent]).expand(n) / 2
        if cell is None:
            cx = cy = torch.full((n,), 0.5)
        else:
            centres = self.centres()
            cy, cx = centres[cell // self.position_grid], centres[cell % self.position_grid]
        u = torch.rand(n, 4, generator=generator)
        cx = cx + (2 * u[:, 0] - 1) * self.jitter
        cy = cy + (2 * u[:, 1] - 1) * self.jitter
        radius = radius * (1 + (2 * u[:, 2] - 1) * 2 * self.jitter)
        bright = 1 - 2 * self.jitter * u[:, 3]
        fine = side * _SUPERSAMPLE
        grid = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine
        cover = torch.empty(n, 1, side, side)
        for s in range(0, n, 1024):
            sl = slice(s, s + 1024)
            dx = rearrange(grid, "w -> 1 1 w") - rearrange(cx[sl], "n -> n 1 1")
            dy = rearrange(grid, "h -> 1 h 1") - rearrange(cy[sl], "n -> n 1 1")
            mask = _coverage(kind[sl], dx.expand(-1, fine, -1), dy.expand(-1, -1, fine), rearrange(radius[sl], "n -> n 1 1"))
            cover[sl] = F.avg_pool2d(rearrange(mask, "n h w -> n 1 h w"), _SUPERSAMPLE)
        return cover, rgb * bright[:, None]

    def render(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``uint8`` images ``(N, 3, size, size)`` of one object per row of factor indices ``(N, F)``."""
        cover, colour = self._paint(factors, generator)
        return _quantise(cover * rearrange(colour, "n c -> n c 1 1"))

    def render_scenes(self, objects: torch.Tensor, counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``uint8`` images of scenes: the first ``counts[i]`` objects of ``objects[i]`` ``(N, K, F)``, each
        composited over the ones before it (one object: the same image as `render`)."""
        image = torch.zeros(objects.shape[0], 3, self.size, self.size)
        for k in range(objects.shape[1]):
            cover, colour = self._paint(objects[:, k], generator)
            cover = cover * rearrange(counts > k, "n -> n 1 1 1")
            image = image * (1 - cover) + cover * rearrange(colour, "n c -> n c 1 1")
        return _quantise(image)

    def place(self, first: torch.Tensor, combos: Sequence[Sequence[int]], objects: int,
              generator: torch.Generator) -> torch.Tensor:
        """Factor rows ``(N, objects, F)``: ``first`` ``(N, F)``, then objects drawn uniformly from ``combos``
        among those at cells no earlier object of the scene holds. Needs ``position`` among the factors."""
        if objects == 1:
            return first[:, None].clone()
        p = self.factors.index("position")
        table = torch.tensor([list(c) for c in combos], dtype=torch.long).reshape(len(combos), len(self.factors))
        rows = [first]
        used = F.one_hot(first[:, p], self.position_grid ** 2).bool()
        for _ in range(1, objects):
            free = (~used[:, table[:, p]]).float()  # (N, combos): combinations at a free cell
            pick = table[torch.multinomial(free, 1, generator=generator)[:, 0]]
            used = used | F.one_hot(pick[:, p], self.position_grid ** 2).bool()
            rows.append(pick)
        return torch.stack(rows, dim=1)

    def occupancy(self, objects: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Per scene and grid cell (row-major), 1 where one of its first ``counts`` objects sits ``(N, cells)``."""
        cells = self.position_grid ** 2
        present = torch.arange(objects.shape[1]) < counts[:, None]  # (N, K)
        hot = F.one_hot(objects[..., self.factors.index("position")], cells) * present[..., None]
        return hot.amax(dim=1).long()

    def draw(self, combos: Sequence[Sequence[int]], n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` factor rows ``(n, F)``: rounds of ``combos`` in random order, so every one occurs equally often."""
        table = torch.tensor([list(c) for c in combos], dtype=torch.long).reshape(len(combos), len(self.factors))
        rounds = -(-n // len(combos))
        order = torch.cat([torch.randperm(len(combos), generator=generator) for _ in range(rounds)])[:n]
        return table[order]

    def encode(self, factors: torch.Tensor, labels: str) -> torch.Tensor:
        """What the energy reads as ``y``: one-hot factors concatenated, one factor's index, the combination's,
        or (``"columns"``) every factor's index, one column per factor ``(N, F)``."""
        if labels == "factors":
            return torch.cat([F.one_hot(factors[:, k], len(vals)).float() for k, vals in enumerate(self.values)], dim=1)
        if labels == "combination":
            return self.combination_index(factors)
        if labels == "columns":
            return factors.clone()
        return factors[:, self.factors.index(labels)].clone()

    def label_names(self, labels: str) -> tuple[str, ...]:
        if labels == "factors":
            return tuple(f"{name}={val}" for name, vals in zip(self.factors, self.values) for val in vals)
        if labels == "combination":
            return tuple(self.combination_name(c) for c in self.combinations)
        if labels == "columns":
            return self.factors
        return self.values[self.factors.index(labels)]
