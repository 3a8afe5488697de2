"""The shared picture helpers: images enlarged by exact pixel blocks, titles and labels that add room, plots titled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from energyflow.tasks import (
    MIN_SIDE,
    image_table,
    save_curves,
    save_histograms,
    save_image_columns,
    save_image_grid,
    save_labelled_rows,
    save_panels,
)
from energyflow.tasks.image_tables import (
    MIN_CELL,
    grid_table,
    scale_factor,
    to_uint8,
    wrap,
)


def bare(table: torch.Tensor, **kwargs) -> Image.Image:
    """The table alone: no gutters and no minimum picture size, so pixels can be counted."""
    return image_table(table, pad=0, min_side=0, **kwargs)


def test_small_images_are_enlarged_by_exact_nearest_neighbour_blocks():
    images = torch.rand(2, 3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    picture = np.asarray(bare(images))
    factor = MIN_CELL // 8
    assert picture.shape == (2 * 8 * factor + 12, 3 * 8 * factor + 12)  # plus a 6 px white margin round the table
    body = picture[6:-6, 6:-6]
    source = to_uint8(images).numpy()
    for r in range(2):
        for c in range(3):
            cell = body[r * 48:(r + 1) * 48, c * 48:(c + 1) * 48]
            assert (cell == np.kron(source[r, c, 0], np.ones((factor, factor), dtype=np.uint8))).all()


def test_colour_is_kept_and_large_images_are_not_enlarged():
    images = torch.rand(1, 1, 3, 64, 64)
    picture = bare(images)
    assert picture.mode == "RGB" and picture.size == (64 + 12, 64 + 12)
    assert (np.asarray(picture)[6:-6, 6:-6] == to_uint8(images[0, 0]).permute(1, 2, 0).numpy()).all()


def test_the_enlargement_fills_a_small_table_up_to_the_largest_cell():
    assert scale_factor(8, 8, 8) == 6  # 48 px cells, 8 of them: 384 px
    assert scale_factor(8, 2, 3) == 12  # 2 rows of 48 px would be 96 px: cells grow to 96 px
    assert scale_factor(64, 2, 2) == 1 and scale_factor(32, 1, 1) == 3


def test_labels_and_a_title_add_room_and_ink():
    table = torch.zeros(3, 2, 1, 8, 8)
    plain = bare(table)
    rows = bare(table, row_labels=["class 0", "class 1", "class 2"])
    cols = bare(table, col_labels=["sample", "nearest 1"])
    titled = bare(table, title="six black squares")
    assert rows.height == plain.height and rows.width > plain.width
    assert cols.width == plain.width and cols.height > plain.height
    assert titled.width == plain.width and titled.height > plain.height
    left = np.asarray(rows)[:, : rows.width - plain.width]
    top = np.asarray(cols)[: cols.height - plain.height]
    heading = np.asarray(titled)[: titled.height - plain.height]
    for strip in (left, top, heading):
        assert (strip < 128).any(), "no text drawn in the added room"


def test_column_labels_wrap_or_widen_their_cells_instead_of_running_together():
    face_cell = bare(torch.zeros(1, 4, 1, 8, 8), col_labels=["step 0", "step 22", "step 33", "step 44"])
    plain = bare(torch.zeros(1, 4, 1, 8, 8))
    assert face_cell.width == plain.width  # "step 22" fits a 48 px cell once wrapped
    wide = bare(torch.zeros(1, 2, 1, 8, 8), col_labels=["extraordinarily", "long"])
    assert wide.width > bare(torch.zeros(1, 2, 1, 8, 8)).width  # one word wider than a cell widens every column
    from energyflow.tasks.image_tables import font
    assert wrap("nearest 12", 48, font(13)) == ["nearest", "12"]


def test_every_picture_is_at_least_min_side_on_its_shorter_side(tmp_path):
    path = save_image_grid(tmp_path / "g.png", torch.rand(3, 1, 8, 8), title="three")
    assert min(Image.open(path).size) >= MIN_SIDE
    path = save_image_columns(tmp_path / "c.png", [torch.rand(1, 1, 8, 8)] * 2, title="t", col_labels=["a", "b"])
    assert min(Image.open(path).size) >= MIN_SIDE


def test_grids_fill_blanks_white_and_rows_keep_their_labels(tmp_path):
    table = grid_table(torch.zeros(5, 1, 8, 8), ncol=3)
    assert table.shape == (2, 3, 1, 8, 8) and table[1, 2].min() == 1.0 and table[1, 1].max() == 0.0
    with pytest.raises(ValueError, match="no images"):
        grid_table(torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match="expected"):
        image_table(torch.zeros(2, 2, 2, 4, 4))
    path = save_labelled_rows(tmp_path / "sub" / "rows.png", {"a": torch.zeros(2, 1, 8, 8), "a & b": torch.zeros(4, 1, 8, 8)},
                              title="rows", ncol=3)
    assert Image.open(path).format == "PNG"


def test_plots_are_titled_and_big_enough(tmp_path):
    plain = save_curves(tmp_path / "p.png", {"a": [3, 2, 1]}, xlabel="Langevin step", ylabel="mean energy", title="")
    titled = save_curves(tmp_path / "t.png", {"a": ([0, 5, 10], [3, 2, 1]), "b": [1, 2, 3]}, xlabel="Langevin step",
                         ylabel="mean energy", title="a title", subtitle="what the y axis means, in words")
    for path in (plain, titled):
        assert min(Image.open(path).size) >= MIN_SIDE

    def frame_top(path):  # the first row that is mostly dark: the top edge of the axes
        return int(np.argmax(((np.asarray(Image.open(path).convert("L")) < 128).mean(1) > 0.5)))
    assert frame_top(titled) > frame_top(plain) + 30  # two lines of title pushed the axes down
    path = save_panels(tmp_path / "s.png", {"x": {"a": (["svhn", "cifar"], [0.5, 0.9])}}, xlabel="set", ylabel="AUROC",
                       title="t")
    assert min(Image.open(path).size) >= MIN_SIDE
    path = save_histograms(tmp_path / "h.png", {"energy": {"test": torch.randn(50), "ood": torch.randn(50) + 1}},
                           title="t")
    assert min(Image.open(path).size) >= MIN_SIDE
