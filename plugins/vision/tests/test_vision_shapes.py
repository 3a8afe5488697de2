"""The ``shapes`` scenes: seeded renders whose pixels agree with their factor labels, and the designs' held-out combinations."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from energyflow_vision.data.shapes import COLOURS, ShapesSpec
from typer.testing import CliRunner
from vision_fixtures import ctx

from energyflow.cli import make_app
from energyflow.compose import LabelCoding, label_columns
from energyflow.registry import get_registry

ALL4 = ("shape", "colour", "size", "position")


def _object(images: torch.Tensor) -> torch.Tensor:
    """Per image, how much each pixel is covered by the object (its brightest channel)."""
    return images.amax(dim=1)


def test_renders_are_fixed_by_the_seed():
    spec = ShapesSpec(factors=ALL4, train_size=40, test_size=30)
    a, b, c = spec.build(ctx(0)), spec.build(ctx(0)), spec.build(ctx(1))
    assert torch.equal(a.train, b.train) and torch.equal(a.train_factors, b.train_factors)
    assert not torch.equal(a.train, c.train)
    assert a.train.shape == (40, 3, 16, 16) and a.test.shape == (30, 3, 16, 16)
    assert a.train.min() >= 0 and a.train.max() < 1 and a.test.max() <= 1


def test_colour_label_is_the_colour_of_the_object_pixels():
    spec = ShapesSpec(factors=("colour",), colours=("red", "green", "blue", "yellow", "cyan"), labels="colour",
                      train_size=50, dequantize=False)
    data = spec.build(ctx(3))
    rgb = torch.tensor([COLOURS[c] for c in spec.colours])
    mask = _object(data.train) > 0.5
    for image, m, label in zip(data.train, mask, data.train_labels):
        mean = image[:, m].mean(dim=1)
        nearest = (mean / mean.max() - rgb).norm(dim=1).argmin()
        assert nearest == label


def test_position_label_is_where_the_centroid_lies():
    data = ShapesSpec(factors=("position",), labels="position", position_grid=2, train_size=40,
                      dequantize=False).build(ctx(4))
    cover = _object(data.train)
    coords = torch.arange(16, dtype=torch.float32) + 0.5
    cy = (cover.sum(2) * coords).sum(1) / cover.sum((1, 2))
    cx = (cover.sum(1) * coords).sum(1) / cover.sum((1, 2))
    cell = (cy > 8).long() * 2 + (cx > 8).long()
    assert torch.equal(cell, data.train_labels)
    assert data.class_names == ("top-left", "top-right", "bottom-left", "bottom-right")


def test_size_and_shape_labels_match_area_and_fill():
    data = ShapesSpec(factors=("shape", "size"), size=32, jitter=0.0, train_size=18, dequantize=False).build(ctx(5))
    cover = _object(data.train)
    area = cover.sum((1, 2))
    rows, cols = (cover > 0.5).any(2), (cover > 0.5).any(1)
    box = rows.sum(1) * cols.sum(1)
    fill = (cover > 0.5).sum((1, 2)) / box
    shape, size = data.train_factors[:, 0], data.train_factors[:, 1]
    for s in range(3):  # bigger size index, bigger area, for each shape
        areas = [area[(shape == s) & (size == k)].mean() for k in range(3)]
        assert areas[0] < areas[1] < areas[2]
    square, circle, triangle = (fill[shape == s].mean() for s in range(3))
    assert square > 0.95 and 0.7 < circle < 0.85 and triangle < 0.65


def test_labels_encodings():
    spec = dict(factors=("shape", "colour"), train_size=20, test_size=18)
    joint = ShapesSpec(**spec).build(ctx())
    assert joint.train_labels.shape == (20, 6) and joint.num_classes == 6
    assert torch.equal(joint.train_labels.sum(1), torch.full((20,), 2.0))
    assert torch.equal(joint.train_labels[:, :3].argmax(1), joint.train_factors[:, 0])
    assert joint.class_names[3] == "colour=red"
    colour = ShapesSpec(**spec, labels="colour").build(ctx())
    assert torch.equal(colour.train_labels, colour.train_factors[:, 1]) and colour.num_classes == 3
    combo = ShapesSpec(**spec, labels="combination").build(ctx())
    assert torch.equal(combo.train_labels, combo.train_factors[:, 0] * 3 + combo.train_factors[:, 1])
    assert combo.class_names[4] == "circle/green"
    columns = ShapesSpec(**spec, labels="columns").build(ctx())
    assert torch.equal(columns.train_labels, columns.train_factors) and columns.class_names == ("shape", "colour")
    # the test split covers every combination evenly
    assert torch.equal(torch.bincount(combo.test_labels, minlength=9), torch.full((9,), 2))


def test_holdout_design_leaves_combinations_out_of_training():
    data = ShapesSpec(design="holdout", train_size=300).build(ctx())
    names = [data.scene.combination_name(c) for c in data.held_out]
    assert names == ["square/blue", "circle/green", "triangle/red"]
    present = {tuple(row.tolist()) for row in data.train_factors}
    assert present == set(data.trained) and not present & set(data.held_out)
    test_combos = {tuple(row.tolist()) for row in data.test_factors}
    assert set(data.held_out) <= test_combos
    chosen = ShapesSpec(design="holdout", holdout=["circle/red"], train_size=200).build(ctx())
    assert [chosen.scene.combination_name(c) for c in chosen.held_out] == ["circle/red"]
    assert not ((chosen.train_factors[:, 0] == 1) & (chosen.train_factors[:, 1] == 0)).any()


def test_cross_design_parts():
    spec = dict(design="cross", train_size=200, colours=("red", "green", "blue", "yellow"))
    shape_part = ShapesSpec(**spec, part="shape", labels="shape").build(ctx())
    colour_part = ShapesSpec(**spec, part="colour", labels="colour").build(ctx())
    union = ShapesSpec(**spec).build(ctx())
    # the shape expert sees every shape, all red; the colour expert every colour, all squares
    assert set(shape_part.train_factors[:, 0].tolist()) == {0, 1, 2} and set(shape_part.train_factors[:, 1].tolist()) == {0}
    assert set(colour_part.train_factors[:, 0].tolist()) == {0} and set(colour_part.train_factors[:, 1].tolist()) == {0, 1, 2, 3}
    assert {tuple(r.tolist()) for r in union.train_factors} == set(union.trained)
    assert len(union.trained) == 3 + 4 - 1 and len(union.held_out) == 12 - 6
    assert shape_part.held_out == union.held_out == colour_part.held_out
    assert (1, 1) in union.held_out and (0, 3) in union.trained and (2, 0) in union.trained


@pytest.mark.parametrize(("options", "message"), [
    ({"colours": ["red", "pink"]}, "colours: unknown colour 'pink'"),
    ({"factors": ["shape", "shape"]}, "factors: factors repeat"),
    ({"labels": "size"}, "data.labels = 'size': expected 'factors', 'combination', 'columns' or one of"),
    ({"design": "cross", "factors": ["shape", "colour", "size"]}, "needs exactly two factors"),
    ({"design": "cross", "part": "size"}, "data.part = 'size': expected 'union' or one of"),
    ({"design": "holdout", "holdout": ["circle/pink"]}, "data.holdout: unknown combination 'circle/pink'"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as info:
        ShapesSpec(**options)
    assert "\n" not in str(info.value)


def test_registered_as_a_dataset():
    assert get_registry("dataset").resolve("shapes").factory is ShapesSpec


# --------------------------------------------------------------------------- several objects, cell columns
def _digest(data) -> str:
    """A hash of a build's pixels (as bytes), labels, factors and names."""
    h = hashlib.sha256()
    for t in (data.train, data.test):
        h.update((t * 255).round().to(torch.uint8).numpy().tobytes())
    for t in (data.train_labels, data.test_labels, data.train_factors, data.test_factors):
        h.update(t.contiguous().numpy().tobytes())
    h.update(repr((data.class_names, data.num_classes, data.trained, data.held_out)).encode())
    return h.hexdigest()[:16]


#: Digests of builds made by the renderer of one-object scenes before scenes of several objects
#: existed: ``objects = 1`` must keep drawing exactly these images and labels from these seeds.
ONE_OBJECT = [
    (dict(factors=ALL4, labels="columns", train_size=64, test_size=48), 0, "7e8b90162de8cc3c"),
    (dict(design="holdout", train_size=60, test_size=27), 1, "81e78e0c5c4cb336"),
    (dict(factors=("shape", "position"), position_grid=3, size=24, labels="combination", train_size=50,
          test_size=27), 2, "246ae28b0d69cbe0"),
    (dict(design="cross", labels="columns", part="colour", train_size=40, test_size=18), 3, "943d180029a749e0"),
]


@pytest.mark.parametrize(("options", "seed", "digest"), ONE_OBJECT)
def test_one_object_scenes_are_unchanged(options, seed, digest):
    data = ShapesSpec(**options, dequantize=False).build(ctx(seed))
    assert _digest(data) == digest
    assert torch.equal(data.train_counts, torch.ones(len(data.train), dtype=torch.long))
    assert torch.equal(data.train_objects[:, 0], data.train_factors) and not data.occupancy
    dequantized = ShapesSpec(factors=("colour", "position"), train_size=30, test_size=12).build(ctx(4))
    assert hashlib.sha256(dequantized.train.numpy().tobytes()).hexdigest()[:16] == "929c1f232580325a"


def test_cell_columns_of_one_object_scenes_are_its_position():
    spec = dict(factors=("shape", "position"), labels="columns", train_size=40, test_size=16)
    plain, cells = ShapesSpec(**spec).build(ctx(7)), ShapesSpec(**spec, occupancy=True).build(ctx(7))
    assert torch.equal(plain.train, cells.train) and torch.equal(plain.test, cells.test)  # same images
    assert cells.class_names == ("shape", "position", "cell_top-left", "cell_top-right", "cell_bottom-left",
                                 "cell_bottom-right")
    assert torch.equal(cells.train_labels[:, :2], plain.train_labels)  # the factor columns keep their indices
    assert torch.equal(cells.train_labels[:, 2:], torch.nn.functional.one_hot(plain.train_factors[:, 1], 4))
    assert cells.num_classes == plain.num_classes + 2 * 4 and cells.occupancy
    names, _ = label_columns(cells)
    coding = LabelCoding.of(cells, names[2:])
    assert coding.sizes == (2, 2, 2, 2) and coding.indices == (2, 3, 4, 5)


# (layout, grid, centres of the cells' rows and columns as a share of the side)
LAYOUTS = [("central", 2, (0.32, 0.68)), ("tiled", 3, (1 / 6, 1 / 2, 5 / 6))]


@pytest.mark.parametrize(("layout", "grid", "centres"), LAYOUTS)
def test_cell_columns_agree_with_the_pixels(layout, grid, centres):
    side, n = 32, 120
    data = ShapesSpec(factors=("shape", "colour", "position"), objects=3, min_objects=0, position_grid=grid,
                      layout=layout, sizes=(0.25,), size=side, labels="columns", train_size=n, test_size=18,
                      dequantize=False).build(ctx(8))
    cover = _object(data.train)
    half = round(0.06 * side)
    pixel = [round(c * side) for c in centres]
    window = torch.stack([cover[:, y - half:y + half, x - half:x + half].amax((1, 2)) for y in pixel for x in pixel],
                         dim=1)  # (N, cells), row-major: the brightest pixel close to each cell's centre
    cells = data.train_labels[:, 3:]
    assert cells.shape == (n, grid * grid) and set(cells.unique().tolist()) <= {0, 1}
    assert (window[cells == 1] > 0.5).all()  # an occupied cell is bright near its centre
    assert (window[cells == 0] == 0).all()  # an empty one is background there
    assert torch.equal(cells.sum(1), data.train_counts)  # as many occupied cells as objects drawn
    assert torch.equal((window > 0.5).sum(1), data.train_counts)
    assert torch.equal(cover.flatten(1).amax(1) == 0, data.train_counts == 0)  # empty scenes are black


def test_object_counts_cells_and_first_object():
    spec = ShapesSpec(factors=("shape", "colour", "position"), objects=3, min_objects=1, design="holdout",
                      labels="columns", train_size=600, test_size=36)
    data = spec.build(ctx(9))
    counts = data.train_counts
    assert set(counts.tolist()) == {1, 2, 3}  # uniform over min_objects..objects
    assert all(abs(int((counts == k).sum()) - 200) < 50 for k in (1, 2, 3))
    for objects, count in zip(data.train_objects, counts):
        cells = objects[:count, 2].tolist()
        assert len(set(cells)) == count  # distinct cells
        # every object (not only the first) is a combination of the design's training set
        assert {tuple(o.tolist()) for o in objects} <= set(data.trained)
    assert torch.equal(data.train_objects[:, 0], data.train_factors)
    assert torch.equal(data.train_labels[:, :3], data.train_factors)  # the factor columns: the first object's
    assert data.train_labels.shape == (600, 3 + 4) and data.num_classes == 3 + 3 + 4 + 2 * 4
    assert data.class_names[3:] == ("cell_top-left", "cell_top-right", "cell_bottom-left", "cell_bottom-right")
    assert set(data.test_counts.tolist()) <= {1, 2, 3}
    # the first objects of the test split still spread over every combination evenly
    assert torch.equal(torch.bincount(data.scene.combination_index(data.test_factors), minlength=36),
                       torch.ones(36, dtype=torch.long))


def test_scenes_of_several_objects_are_fixed_by_the_seed():
    spec = ShapesSpec(factors=("colour", "position"), objects=4, min_objects=0, layout="tiled", labels="columns",
                      train_size=50, test_size=20)
    a, b, c = spec.build(ctx(0)), spec.build(ctx(0)), spec.build(ctx(1))
    for field in ("train", "test", "train_labels", "test_labels", "train_objects", "train_counts"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not torch.equal(a.train, c.train) and not torch.equal(a.train_counts, c.train_counts)
    factors = ShapesSpec(factors=("colour", "position"), objects=4, min_objects=0, labels="factors",
                         train_size=50, test_size=20).build(ctx(0))
    assert factors.train_labels.shape == (50, 3 + 4) and not factors.occupancy  # cell columns only with "columns"


@pytest.mark.parametrize(("options", "message"), [
    ({"objects": 3}, "data.objects = 3 needs 'position' among data.factors"),
    ({"min_objects": 0}, "data.min_objects = 0 needs 'position' among data.factors"),
    ({"occupancy": True, "labels": "columns"}, "data.occupancy = true needs 'position' among data.factors"),
    ({"occupancy": True, "factors": ["position"]}, "data.occupancy = true: the cell columns are label columns"),
    ({"factors": ["position"], "objects": 2, "min_objects": 3}, "data.min_objects = 3: more than data.objects = 2"),
    ({"factors": ["position"], "objects": 2, "position_grid": 1}, "data.objects = 2: more objects than the 1 cell"),
    ({"factors": ["shape", "position"], "design": "cross", "part": "shape", "objects": 2},
     "data.objects = 2: the training combinations of part 'shape' put objects at only 1 distinct cell"),
    ({"objects": 5}, "'objects' must be <= 4"),
    ({"layout": "grid"}, "'layout' must be in"),
])
def test_bad_object_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as info:
        ShapesSpec(**options)
    assert "\n" not in str(info.value)


CELLS = '["cell_top-left", "cell_top-right", "cell_bottom-left", "cell_bottom-right"]'
POSITIONS = f"""\
[run]
name = "positions"
seed = 0
threads = 1

[data]  # one object per scene, with the cell columns
kind = "shapes"
factors = ["colour", "position"]
layout = "tiled"
sizes = [0.35]
labels = "columns"
occupancy = true
train_size = 40
test_size = 12

[energy]
kind = "mnist_net"
filters = 4
stem_filters = 4
conditional = true

[energies.cells]  # multi-hot over the cells, some unobserved
labels = {CELLS}
drop = 0.5
iterations = 2

[concepts]
at_tl = {{ energy = "cells", cell_top-left = 1 }}
at_br = {{ energy = "cells", cell_bottom-right = 1 }}

[classifier]  # judges which cells hold an object, on scenes of 0..3 objects
data = {{ objects = 3, min_objects = 0 }}
labels = {CELLS}
iterations = 2
batch_size = 8

[sampler]
kind = "langevin"
steps = 2
step_size = 10.0
noise = 0.005

[buffer]
kind = "replay"
capacity = 64

[train]
iterations = 2
batch_size = 8

[task]
kind = "compose"
expressions = ["at_tl & at_br"]
samples = 3
steps = 2
"""


def test_cell_columns_reach_named_energies_and_the_classifier(tmp_path):
    path = tmp_path / "positions.toml"
    path.write_text(POSITIONS)
    result = CliRunner().invoke(make_app(), ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert 0.0 <= metrics["satisfied[at_tl & at_br]"] <= 1.0
    assert {f"classifier_accuracy[{c}]" for c in json.loads(CELLS)} <= set(metrics)
