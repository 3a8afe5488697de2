"""Picture helpers: grids and tables of images, written as PNG with Pillow; curves with matplotlib."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from energyflow_vision.pictures import (
    grid,
    save_curves,
    save_grid,
    save_table,
    tile_table,
    to_uint8,
)
from PIL import Image


def test_grid_layout_and_values(tmp_path):
    images = torch.zeros(5, 1, 32, 32)
    images[1] = 1.0
    picture = grid(images, ncol=3, pad=1)
    assert picture.mode == "L" and picture.size == (3 * 34 + 2, 2 * 34 + 2)
    array = np.asarray(picture)
    assert array[2, 2] == 0 and array[2, 36] == 255  # tile 0 black, tile 1 white
    assert array[40, 80] == 255  # the blank sixth tile is white
    path = save_grid(tmp_path / "sub" / "g.png", images, ncol=3)
    assert Image.open(path).size == picture.size


def test_small_tiles_are_enlarged_and_colour_kept(tmp_path):
    images = torch.rand(4, 3, 8, 8)
    picture = grid(images, pad=0)
    assert picture.mode == "RGB" and picture.size == (64, 64)  # 8 px tiles scaled x4 to 32
    array = np.asarray(picture)
    assert (array[:4, :4] == to_uint8(images[0])[:, 0, 0].numpy()).all()


def test_table_puts_columns_side_by_side(tmp_path):
    a, b = torch.zeros(2, 1, 32, 32), torch.ones(2, 1, 32, 32)
    path = save_table(tmp_path / "t.png", [a, b], pad=0)
    array = np.asarray(Image.open(path))
    assert array.shape == (64, 64) and array[0, 0] == 0 and array[0, 40] == 255 and array[40, 40] == 255
    with pytest.raises(ValueError, match="expected"):
        tile_table(torch.zeros(2, 2, 2, 4, 4))


def test_value_range_and_curves(tmp_path):
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0, 2.0]), (-1.0, 1.0)).tolist() == [0, 128, 255, 255]
    path = save_curves(tmp_path / "c.png", {"a": [3, 2, 1], "b": [1, 2, 3]}, xlabel="step", ylabel="energy")
    assert Image.open(path).format == "PNG"


def test_tables_and_grids_carry_their_row_and_column_labels(tmp_path):
    from energyflow_vision.pictures import save_grid, save_table

    images = torch.zeros(6, 1, 8, 8)
    plain = Image.open(save_table(tmp_path / "plain.png", [images[:3], images[3:]]))
    labelled = Image.open(save_table(tmp_path / "labelled.png", [images[:3], images[3:]], col_labels=["sample", "nearest 1"],
                                     row_labels=["a", "b", "c"]))
    assert labelled.width > plain.width and labelled.height > plain.height
    margin = np.asarray(labelled.convert("L"))[: labelled.height - plain.height]  # the column-label strip
    assert (margin < 128).any(), "no text drawn above the columns"
    rows = Image.open(save_grid(tmp_path / "rows.png", images, ncol=2, row_labels=["zero", "one", "two"]))
    left = np.asarray(rows.convert("L"))[:, : rows.width - Image.open(save_grid(tmp_path / "g.png", images, ncol=2)).width]
    assert left.shape[1] > 0 and (left < 128).any(), "no text drawn left of the rows"
