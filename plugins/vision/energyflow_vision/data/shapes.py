"""``shapes``: procedural scenes of one object whose factors are shape, colour, size and position.

Rendered on the fly from the run's seed (no download): an anti-aliased object on a black
background, 16x16 RGB by default. Each image carries its factor values; the ``labels`` option
says what the energy sees as ``y``: the concatenated one-hot factors (``"factors"``, what a jointly
conditioned energy reads), one factor's index (``"shape"``, what a factor expert reads), the
combination's index (``"combination"``), or one column of indices per factor (``"columns"``, named
``class_names``: what a recipe's named energies pick their columns from). Training sets for composition hold combinations out:

* ``design = "holdout"``: every combination except a few (``holdout``, or by default those whose
  factor indices sum to -1 modulo the smallest number of values: an anti-diagonal, so each value
  still occurs with others). The weakly confounded design.
* ``design = "cross"`` (two varying factors A, B, as the compositional papers' cross-product
  data): part A holds every value of A at B's first value; part B holds every value of B over the
  first ``cross_ratio`` share of A's values. ``part`` picks what this dataset holds: ``"A"`` or
  ``"B"`` by factor name, or ``"union"`` (both, what a joint baseline trains on).

The test split renders every combination evenly, so classifiers and held-out scores see them all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange, repeat

from energyflow import TensorData
from energyflow_vision.data.common import dequantize, to_unit

FACTORS = ("shape", "colour", "size", "position")
SHAPES = ("square", "circle", "triangle", "diamond", "cross")
COLOURS = {
    "red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0), "cyan": (0.0, 1.0, 1.0), "white": (1.0, 1.0, 1.0), "orange": (1.0, 0.5, 0.0),
}
#: Subpixels per pixel side for anti-aliasing.
_SUPERSAMPLE = 4


def _position_names(grid: int) -> tuple[str, ...]:
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


@frozen(kw_only=True, eq=False)
class ShapeScene:
    """The factor values and how a scene is drawn from them.

    Attributes:
        factors: the varying factors, in label order.
        values: per varying factor, its value names.
        shapes, colours, sizes: the catalogue in use (sizes are the object's extent, a share of the side).
        position_grid: positions are the cells of this square grid (row-major).
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

    def render(self, factors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``uint8`` images ``(N, 3, size, size)`` of the factor indices ``(N, F)``, jitter from ``generator``."""
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
            centres = torch.linspace(0.32, 0.68, self.position_grid) if self.position_grid > 1 else torch.tensor([0.5])
            cy, cx = centres[cell // self.position_grid], centres[cell % self.position_grid]
        u = torch.rand(n, 4, generator=generator)
        cx = cx + (2 * u[:, 0] - 1) * self.jitter
        cy = cy + (2 * u[:, 1] - 1) * self.jitter
        radius = radius * (1 + (2 * u[:, 2] - 1) * 2 * self.jitter)
        bright = 1 - 2 * self.jitter * u[:, 3]
        fine = side * _SUPERSAMPLE
        grid = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine
        out = torch.empty(n, 3, side, side, dtype=torch.uint8)
        for s in range(0, n, 1024):
            sl = slice(s, s + 1024)
            dx = rearrange(grid, "w -> 1 1 w") - rearrange(cx[sl], "n -> n 1 1")
            dy = rearrange(grid, "h -> 1 h 1") - rearrange(cy[sl], "n -> n 1 1")
            mask = _coverage(kind[sl], dx.expand(-1, fine, -1), dy.expand(-1, -1, fine), rearrange(radius[sl], "n -> n 1 1"))
            cover = F.avg_pool2d(rearrange(mask, "n h w -> n 1 h w"), _SUPERSAMPLE)
            image = cover * rearrange(rgb[sl] * bright[sl, None], "n c -> n c 1 1")
            out[sl] = (image * 255).round().clamp(0, 255).to(torch.uint8)
        return out

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


@frozen(kw_only=True, eq=False)
class ShapesData(TensorData):
    """`TensorData` of shape scenes, with the factor indices and the combinations held out of training.

    Attributes:
        scene: renders factor indices (`ShapeScene.render`) and names them.
        labels: what ``train_labels`` / ``test_labels`` hold (``"factors"``, a factor name, ``"combination"``,
            ``"columns"``).
        train_factors, test_factors: factor indices ``(N, F)`` of each image.
        trained: combinations present in the training split (of the whole design, every part).
        held_out: combinations absent from every part of the design's training data.
    """

    scene: ShapeScene | None = None
    labels: str = "factors"
    train_factors: torch.Tensor | None = None
    test_factors: torch.Tensor | None = None
    trained: tuple[tuple[int, ...], ...] = ()
    held_out: tuple[tuple[int, ...], ...] = ()


def _names(values: Sequence[str], allowed: Sequence[str], what: str) -> Any:
    def check(instance, attribute, value):
        unknown = [x for x in value if x not in allowed]
        if unknown:
            raise ValueError(f"{attribute.name}: unknown {what} {unknown[0]!r}; expected some of {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise ValueError(f"{attribute.name}: {what}s repeat in {list(value)}")

    return field(default=tuple(values), converter=tuple, validator=[v.min_len(1), check],
                 metadata={"help": f"the {what}s in use, from: {', '.join(allowed)}"})


@frozen(kw_only=True)
class ShapesSpec:
    """Procedural one-object scenes (shape, colour, size, position), rendered from the seed; no download."""

    factors: tuple[str, ...] = _names(("shape", "colour"), FACTORS, "factor")
    shapes: tuple[str, ...] = _names(("square", "circle", "triangle"), SHAPES, "shape")
    colours: tuple[str, ...] = _names(("red", "green", "blue"), tuple(COLOURS), "colour")
    sizes: tuple[float, ...] = field(default=(0.35, 0.5, 0.65), converter=lambda x: tuple(float(s) for s in x),
                                     validator=[v.min_len(1), v.deep_iterable(v.and_(v.gt(0.0), v.le(1.0)))],
                                     metadata={"help": "object extents as a share of the side (the middle one when size is fixed)"})
    position_grid: int = field(default=2, validator=[v.instance_of(int), v.ge(1), v.le(4)],
                               metadata={"help": "positions are the cells of this square grid"})
    size: int = field(default=16, validator=[v.instance_of(int), v.ge(8), v.le(128)],
                      metadata={"help": "image side in pixels"})
    jitter: float = field(default=0.04, converter=float, validator=[v.ge(0.0), v.le(0.1)],
                          metadata={"help": "per-image position jitter (share of the side); size and brightness jitter follow it"})
    labels: str = field(default="factors", validator=v.instance_of(str),
                        metadata={"help": "y: 'factors' (concatenated one-hot), a factor name (its index), 'combination', "
                                                  "or 'columns' (a column of indices per factor, for named energies)"})
    design: Literal["all", "holdout", "cross"] = field(default="all", validator=v.in_(("all", "holdout", "cross")),
                                                      metadata={"help": "training combinations: all, all but held-out ones, or the cross-product parts"})
    holdout: tuple[str, ...] | None = field(default=None, converter=lambda x: None if x is None else tuple(x),
                                            validator=v.optional(v.deep_iterable(v.instance_of(str))),
                                            metadata={"help": "design holdout: combinations left out, as 'circle/red'; none: an anti-diagonal"})
    part: str = field(default="union", validator=v.instance_of(str),
                      metadata={"help": "design cross: 'union', or a factor name for the part that factor's expert sees"})
    cross_ratio: float = field(default=0.5, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                               metadata={"help": "design cross: share of the first factor's values seen with every value of the second"})
    train_size: int = field(default=3000, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "training images"})
    test_size: int = field(default=900, validator=[v.instance_of(int), v.ge(1)],
                           metadata={"help": "test images, spread over every combination"})
    dequantize: bool = field(default=True, validator=v.instance_of(bool),
                             metadata={"help": "IGEBM uniform dequantization (x + U(0,1)) / 256 of the training split"})

    def __attrs_post_init__(self):
        where = "data"
        if self.labels not in ("factors", "combination", "columns", *self.factors):
            raise ValueError(f"{where}.labels = {self.labels!r}: expected 'factors', 'combination', 'columns' or one of the "
                             f"varying factors {list(self.factors)}")
        if self.design == "cross":
            if len(self.factors) != 2:
                raise ValueError(f"{where}.design = 'cross' needs exactly two factors, got {list(self.factors)}")
            if self.part not in ("union", *self.factors):
                raise ValueError(f"{where}.part = {self.part!r}: expected 'union' or one of {list(self.factors)}")
        if self.design == "holdout" and self.holdout is None and min(len(vals) for vals in self.scene().values) < 2:
            raise ValueError(f"{where}.design = 'holdout' needs at least two values of every factor")
        if self.holdout is not None:
            scene = self.scene()
            names = {scene.combination_name(c) for c in scene.combinations}
            for name in self.holdout:
                if name not in names:
                    raise ValueError(f"{where}.holdout: unknown combination {name!r}; "
                                     f"expected values of {'/'.join(self.factors)} joined by '/', e.g. {sorted(names)[0]!r}")

    def scene(self) -> ShapeScene:
        catalogue = {"shape": self.shapes, "colour": self.colours, "size": tuple(f"{s:g}" for s in self.sizes),
                     "position": _position_names(self.position_grid)}
        return ShapeScene(factors=self.factors, values=tuple(catalogue[f] for f in self.factors), shapes=self.shapes,
                          colours=self.colours, sizes=self.sizes, position_grid=self.position_grid, size=self.size,
                          jitter=self.jitter)

    def parts(self, scene: ShapeScene) -> dict[str, list[tuple[int, ...]]]:
        """The training combinations of each part of the design (``union`` is all of them)."""
        every = scene.combinations
        if self.design == "all":
            return {"union": every}
        if self.design == "holdout":
            if self.holdout is None:
                k = min(len(vals) for vals in scene.values)
                held = {c for c in every if sum(c) % k == k - 1}
            else:
                held = {c for c in every if scene.combination_name(c) in self.holdout}
            return {"union": [c for c in every if c not in held]}
        first, second = scene.factors
        seen = max(1, math.floor(self.cross_ratio * len(scene.values[0]) + 1e-9))
        part_a = [c for c in every if c[1] == 0]
        part_b = [c for c in every if c[0] < seen]
        return {first: part_a, second: part_b, "union": [c for c in every if c in part_a or c in part_b]}

    def build(self, ctx: Any) -> ShapesData:
        scene = self.scene()
        parts = self.parts(scene)
        union = parts["union"]
        mine = parts[self.part] if self.design == "cross" else union
        generator = ctx.generator
        train_factors = scene.draw(mine, self.train_size, generator)
        test_factors = scene.draw(scene.combinations, self.test_size, generator)
        train = scene.render(train_factors, generator)
        test = scene.render(test_factors, generator)
        names = scene.label_names(self.labels)
        widths = sum(len(vals) for vals in scene.values) if self.labels == "columns" else len(names)
        return ShapesData(
            name="shapes",
            train=dequantize(train, generator) if self.dequantize else to_unit(train),
            test=to_unit(test),
            train_labels=scene.encode(train_factors, self.labels),
            test_labels=scene.encode(test_factors, self.labels),
            num_classes=widths,
            value_range=(0.0, 1.0),
            kind="image",
            class_names=names,
            scene=scene,
            labels=self.labels,
            train_factors=train_factors,
            test_factors=test_factors,
            trained=tuple(union),
            held_out=tuple(c for c in scene.combinations if c not in union),
        )
