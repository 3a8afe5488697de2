"""The ``shapes`` scenes: seeded renders whose pixels agree with their factor labels, and the designs' held-out combinations."""

from __future__ import annotations

import pytest
import torch
from energyflow_vision.data.shapes import COLOURS, ShapesSpec
from vision_fixtures import ctx

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
