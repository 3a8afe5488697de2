"""``celeba``: CelebA aligned faces with their 40 binary attributes as attribute vectors.

``root`` (or ``<root>/celeba/``, torchvision's layout) holds ``img_align_celeba/*.jpg``,
``list_attr_celeba.txt`` (count, attribute names, then ``file v1 .. v40`` with values -1/1) and
``list_eval_partition.txt`` (``file split`` with 0 train, 1 validation, 2 test). Images are
center-cropped and resized; labels are float vectors in {0, 1} over the selected attributes,
the context an attribute-conditional energy receives as ``y``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen
from attrs import validators as v

from energyflow_vision.data.base import (
    SIZE,
    ImageDataSpec,
    ImageSplits,
    root_field,
    square,
)
from energyflow_vision.data.layout import DatasetLayoutError, layout_error, require_root
from energyflow_vision.data.picture_files import read_picture

EXPECTED = "img_align_celeba/*.jpg, list_attr_celeba.txt and list_eval_partition.txt in the root (or <root>/celeba/)"
#: where to get the files, said by every error that means the data is not there
PUBLISHED = ("CelebA is published at https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (the Align&Cropped images "
             "and the annotation files)")
MISSING = f"{EXPECTED}; set data.root to the folder holding them. {PUBLISHED}"


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Attribute names and, per image file, its ``{0, 1}`` vector."""
    try:
        lines = path.read_text().splitlines()
        names = lines[1].split()
        table = {}
        for line in lines[2:]:
            if not line.strip():
                continue
            file, *values = line.split()
            if len(values) != len(names):
                raise ValueError(f"{file} has {len(values)} values for {len(names)} attributes")
            table[file] = (np.asarray(values, dtype=np.int64) > 0).astype(np.float32)
    except (OSError, IndexError, ValueError) as e:
        raise layout_error("celeba", f"malformed attribute list ({e})", path,
                           "a count line, a line of attribute names, then 'file v1 .. vN' with -1/1") from e
    return names, table


def read_partition(path: Path) -> dict[str, int]:
    """Per image file, its split (0 train, 1 validation, 2 test)."""
    try:
        pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
        return {file: int(split) for file, split in pairs}
    except (OSError, ValueError) as e:
        raise layout_error("celeba", f"malformed partition list ({e})", path, "lines 'file split' with split 0, 1 or 2") from e


@frozen(kw_only=True)
class CelebASpec(ImageDataSpec):
    """CelebA aligned faces with binary attribute vectors (center crop, resize)."""

    name = "celeba"
    root: str | None = root_field("img_align_celeba/, list_attr_celeba.txt and list_eval_partition.txt")
    attributes: tuple[str, ...] = field(default=(), converter=tuple, validator=v.deep_iterable(v.instance_of(str)),
                                        metadata={"help": "attribute names to keep, e.g. [\"Smiling\", \"Male\"]; [] keeps all 40"})
    crop: int | None = field(default=140, validator=v.optional([v.instance_of(int), v.ge(1)]),
                             metadata={"help": "side of the centred square crop before resizing; none for no crop"})
    size: int | tuple[int, int] | None = field(default=(128, 128), converter=square, validator=SIZE,
                                         metadata={"help": "resize to this many pixels (int or [height, width])"})
    test_limit: int | None = field(default=1000, validator=v.optional([v.instance_of(int), v.ge(1)]),
                                   metadata={"help": "keep only the first N test images (each is a JPEG to decode); none keeps all"})

    def read(self, ctx: Any) -> ImageSplits:
        if self.root is None:
            raise DatasetLayoutError(f"celeba: no root given; set data.root to a folder holding {EXPECTED}. {PUBLISHED}")
        base = require_root("celeba", self.root, MISSING)
        if not (base / "list_attr_celeba.txt").is_file() and (base / "celeba").is_dir():
            base = base / "celeba"
        for name in ("list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"):
            if not (base / name).exists():
                raise layout_error("celeba", "missing", base / name, MISSING)
        names, table = read_attributes(base / "list_attr_celeba.txt")
        partition = read_partition(base / "list_eval_partition.txt")
        keep = list(self.attributes) or names
        unknown = [a for a in keep if a not in names]
        if unknown:
            raise DatasetLayoutError(f"celeba: unknown attributes {unknown}; the attribute list has: {', '.join(names)}")
        columns = [names.index(a) for a in keep]
        splits = {}
        for split, codes, limit in (("train", (0,), self.limit), ("test", (2,), self.test_limit)):
            files = sorted(f for f, s in partition.items() if s in codes)[:limit]  # decode no more than kept
            images = [read_picture(base / "img_align_celeba" / f, "celeba", EXPECTED, crop=self.crop, size=self.size)
                      for f in files]
            missing = [f for f in files if f not in table]
            if missing:
                raise layout_error("celeba", "no attributes for", missing[0], "every image listed in list_attr_celeba.txt")
            labels = np.stack([table[f][columns] for f in files]) if files else np.zeros((0, len(keep)), np.float32)
            if not images:
                raise layout_error("celeba", f"no {split} images listed in", base / "list_eval_partition.txt", EXPECTED)
            splits[split] = (np.stack(images), labels)
        return ImageSplits(train=splits["train"][0], test=splits["test"][0], train_labels=splits["train"][1],
                           test_labels=splits["test"][1], num_classes=len(keep), class_names=keep)
