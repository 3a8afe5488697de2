"""``shapes``: procedural scenes of objects whose factors are shape, colour, size and position.

Rendered on the fly from the run's seed (no download) by `energyflow_vision.data.shape_scene`: an
anti-aliased object on a black background, 16x16 RGB by default. Each image carries its factor values; the ``labels`` option
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

Several objects: with ``objects = k > 1`` a scene holds a number of objects drawn uniformly from
``min_objects..objects`` (0: an empty scene), at distinct cells of the position grid, so
``position`` must be a varying factor. The first object is drawn as a single one (the design's
combinations, evenly); each further one uniformly from the same combinations among those at a
free cell; later objects are composited over earlier ones. The factor labels (every ``labels``
kind, and ``train_factors``) are the FIRST object's, also in an empty scene, where that object is
not drawn; ``train_objects`` ``(N, objects, F)`` and ``train_counts`` hold every object. With
``labels = "columns"`` and ``occupancy`` (by default: whenever a scene is not exactly one object)
one binary column per cell, ``cell_<position name>``, follows the factor columns: 1 where an object
sits. ``objects = 1`` (the default) draws exactly the images of one-object scenes. ``layout =
"tiled"`` puts the cells' centres at the centres of the grid's tiles of the image (objects of
extent up to ``1 / position_grid`` then stay apart) instead of close to the image's centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import TensorData
from energyflow_vision.data.arrays import unit_splits
from energyflow_vision.data.shape_scene import (
    COLOURS,
    FACTORS,
    SHAPES,
    ShapeScene,
    position_names,
)


@frozen(kw_only=True, eq=False)
class ShapesData(TensorData):
    """`TensorData` of shape scenes, with the factor indices and the combinations held out of training.

    Attributes:
        scene: renders factor indices (`ShapeScene.render`) and names them.
        labels: what ``train_labels`` / ``test_labels`` hold (``"factors"``, a factor name, ``"combination"``,
            ``"columns"``).
        train_factors, test_factors: factor indices ``(N, F)`` of each image (its first object).
        train_objects, test_objects: factor indices ``(N, objects, F)`` of each object slot.
        train_counts, test_counts: how many objects each image holds (the first ones of its slots).
        occupancy: whether the label columns end with one ``cell_*`` column per grid cell.
        trained: combinations present in the training split (of the whole design, every part).
        held_out: combinations absent from every part of the design's training data.
    """

    scene: ShapeScene | None = None
    labels: str = "factors"
    train_factors: torch.Tensor | None = None
    test_factors: torch.Tensor | None = None
    train_objects: torch.Tensor | None = None
    test_objects: torch.Tensor | None = None
    train_counts: torch.Tensor | None = None
    test_counts: torch.Tensor | None = None
    occupancy: bool = False
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
    """Procedural scenes of objects (shape, colour, size, position), rendered from the seed; no download."""

    factors: tuple[str, ...] = _names(("shape", "colour"), FACTORS, "factor")
    shapes: tuple[str, ...] = _names(("square", "circle", "triangle"), SHAPES, "shape")
    colours: tuple[str, ...] = _names(("red", "green", "blue"), tuple(COLOURS), "colour")
    sizes: tuple[float, ...] = field(default=(0.35, 0.5, 0.65), converter=lambda x: tuple(float(s) for s in x),
                                     validator=[v.min_len(1), v.deep_iterable(v.and_(v.gt(0.0), v.le(1.0)))],
                                     metadata={"help": "object extents as a share of the side (the middle one when size is fixed)"})
    position_grid: int = field(default=2, validator=[v.instance_of(int), v.ge(1), v.le(4)],
                               metadata={"help": "positions are the cells of this square grid"})
    layout: Literal["central", "tiled"] = field(default="central", validator=v.in_(("central", "tiled")),
                                                metadata={"help": "cell centres: 'central' (0.32..0.68 of the side) or "
                                                                  "'tiled' (centres of the grid's tiles, for several objects)"})
    objects: int = field(default=1, validator=[v.instance_of(int), v.ge(1), v.le(4)],
                         metadata={"help": "the most objects per scene, at distinct cells (> 1 needs factor position)"})
    min_objects: int = field(default=1, validator=[v.instance_of(int), v.ge(0), v.le(4)],
                             metadata={"help": "the fewest objects per scene (0: empty scenes); counts are uniform"})
    occupancy: bool | None = field(default=None, validator=v.optional(v.instance_of(bool)),
                                   metadata={"help": "labels 'columns': add a cell_<position> column per grid cell "
                                                     "(1: an object there); none: when scenes are not one object"})
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
        self._check_objects(where)

    @property
    def several(self) -> bool:
        """Whether a scene may hold other than exactly one object."""
        return (self.min_objects, self.objects) != (1, 1)

    @property
    def cell_columns(self) -> bool:
        """Whether the label columns end with the ``cell_*`` occupancy columns."""
        return self.labels == "columns" and (self.several if self.occupancy is None else self.occupancy)

    def _check_objects(self, where: str) -> None:
        if self.min_objects > self.objects:
            raise ValueError(f"{where}.min_objects = {self.min_objects}: more than {where}.objects = {self.objects}")
        if self.occupancy and self.labels != "columns":
            raise ValueError(f"{where}.occupancy = true: the cell columns are label columns; set {where}.labels = 'columns'")
        if (self.several or self.occupancy) and "position" not in self.factors:
            what = (f"{where}.objects = {self.objects}" if self.objects > 1 else
                    f"{where}.min_objects = {self.min_objects}" if self.several else f"{where}.occupancy = true")
            raise ValueError(f"{what} needs 'position' among {where}.factors {list(self.factors)}: objects sit at grid cells")
        if self.objects > 1:
            cells = self.position_grid ** 2
            if self.objects > cells:
                raise ValueError(f"{where}.objects = {self.objects}: more objects than the {cells} cell(s) of a "
                                 f"{self.position_grid}x{self.position_grid} position_grid")
            parts, p = self.parts(self.scene()), self.factors.index("position")
            free = len({c[p] for c in parts[self.part if self.design == "cross" else "union"]})
            if free < self.objects:
                raise ValueError(f"{where}.objects = {self.objects}: the training combinations of part {self.part!r} "
                                 f"put objects at only {free} distinct cell(s)")

    def scene(self) -> ShapeScene:
        catalogue = {"shape": self.shapes, "colour": self.colours, "size": tuple(f"{s:g}" for s in self.sizes),
                     "position": position_names(self.position_grid)}
        return ShapeScene(factors=self.factors, values=tuple(catalogue[f] for f in self.factors), shapes=self.shapes,
                          colours=self.colours, sizes=self.sizes, position_grid=self.position_grid, size=self.size,
                          jitter=self.jitter, layout=self.layout)

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

    def _counts(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.min_objects == self.objects:
            return torch.full((n,), self.objects, dtype=torch.long)
        return torch.randint(self.min_objects, self.objects + 1, (n,), generator=generator)

    def build(self, ctx: Any) -> ShapesData:
        scene = self.scene()
        parts = self.parts(scene)
        union = parts["union"]
        mine = parts[self.part] if self.design == "cross" else union
        generator = ctx.generator
        train_factors = scene.draw(mine, self.train_size, generator)
        test_factors = scene.draw(scene.combinations, self.test_size, generator)
        train_objects = scene.place(train_factors, mine, self.objects, generator)
        train_counts = self._counts(self.train_size, generator)
        test_objects = scene.place(test_factors, scene.combinations, self.objects, generator)
        test_counts = self._counts(self.test_size, generator)
        train = scene.render_scenes(train_objects, train_counts, generator)
        test = scene.render_scenes(test_objects, test_counts, generator)
        names = scene.label_names(self.labels)
        widths = sum(len(vals) for vals in scene.values) if self.labels == "columns" else len(names)
        train_labels = scene.encode(train_factors, self.labels)
        test_labels = scene.encode(test_factors, self.labels)
        if self.cell_columns:  # binary columns after the factor columns: existing columns keep their indices
            names = (*names, *(f"cell_{p}" for p in position_names(self.position_grid)))
            widths += 2 * self.position_grid ** 2
            train_labels = torch.cat([train_labels, scene.occupancy(train_objects, train_counts)], dim=1)
            test_labels = torch.cat([test_labels, scene.occupancy(test_objects, test_counts)], dim=1)
        return ShapesData(
            name="shapes",
            **unit_splits(train, test, generator, self.dequantize),
            train_labels=train_labels,
            test_labels=test_labels,
            num_classes=widths,
            class_names=names,
            scene=scene,
            labels=self.labels,
            train_factors=train_factors,
            test_factors=test_factors,
            train_objects=train_objects,
            test_objects=test_objects,
            train_counts=train_counts,
            test_counts=test_counts,
            occupancy=self.cell_columns,
            trained=tuple(union),
            held_out=tuple(c for c in scene.combinations if c not in union),
        )
