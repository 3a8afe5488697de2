"""``image_folder``: any folder of pictures, one subfolder per class.

Layouts, checked in this order:

- ``root/train/<class>/*.png|jpg`` and ``root/test/<class>/*``: the given split;
- ``root/<class>/*.png|jpg``: split by a fixed, stratified ``test_fraction``;
- ``root/*.png|jpg``: one unlabelled set (unconditional models only), split the same way.

Classes are the subfolder names in sorted order. Pictures must share one size unless ``size``
is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow_vision.data.arrays import as_tensor_u8
from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.digits import stratified_split
from energyflow_vision.data.layout import DatasetLayoutError, layout_error, require_root
from energyflow_vision.data.picture_files import PICTURE_SUFFIXES, read_picture

EXPECTED = "root/<class>/*.png|jpg (or root/train/<class>/ and root/test/<class>/, or root/*.png)"


def _pictures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan(folder: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Picture paths, their class indices and the class names under ``folder``."""
    subfolders = _class_folders(folder)
    if classes is None:
        classes = [p.name for p in subfolders if _pictures(p)]
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        found = _pictures(folder / name) if (folder / name).is_dir() else []
        paths += found
        labels += [index] * len(found)
    return paths, labels, classes


@frozen(kw_only=True)
class ImageFolderSpec(ImageDataSpec):
    """Pictures in class subfolders (root/<class>/*.png|jpg), read with Pillow."""

    name = "image_folder"
    root: str | None = root_field("<class>/*.png|jpg subfolders (or train/ and test/ holding them)")
    channels: int = field(default=3, validator=v.in_((1, 3)), metadata={"help": "1 (grey) or 3 (RGB)"})
    crop: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]),
                             metadata={"help": "side of a centred square crop before resizing; none for no crop"})
    test_fraction: float = field(default=0.1, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                                 metadata={"help": "share held out for testing when there is no test/ folder"})
    split_seed: int = field(default=0, validator=v.instance_of(int), metadata={"help": "seed of the fixed split"})

    def _read(self, paths: list[Path]) -> torch.Tensor:
        mode = "L" if self.channels == 1 else "RGB"
        images = [read_picture(p, "image_folder", EXPECTED, mode=mode, crop=self.crop, size=self.size) for p in paths]
        for path, image in zip(paths, images):
            if image.shape != images[0].shape:
                raise layout_error("image_folder", f"picture of size {image.shape[1:]} differs from "
                                   f"{images[0].shape[1:]} of {paths[0].name}:", path,
                                   "pictures of one size, or set data.size")
        return as_tensor_u8(np.stack(images))

    def _split(self, labels: torch.Tensor, labelled: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed train/test indices: stratified when every class can give both splits a picture."""
        if labelled:
            try:
                return stratified_split(labels, self.test_fraction, self.split_seed)
            except ValueError:
                pass  # too few pictures in some class to stratify: fall back to a plain split
        order = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(self.split_seed))
        n_test = min(labels.shape[0] - 1, max(1, round(self.test_fraction * labels.shape[0])))
        return order[n_test:].sort().values, order[:n_test].sort().values

    def read(self, ctx: Any) -> ImageSplits:
        base = require_root("image_folder", self.root, EXPECTED)
        if (base / "train").is_dir() and (base / "test").is_dir():
            train_paths, train_y, classes = scan(base / "train")
            test_paths, test_y, _ = scan(base / "test", classes)
            labelled = bool(classes)
        else:
            paths, labels, classes = scan(base)
            labelled = bool(classes)
            if not labelled:
                paths, labels = _pictures(base), [0] * len(_pictures(base))
            if len(paths) < 2:
                raise layout_error("image_folder", "fewer than 2 pictures found under", base, EXPECTED)
            train_idx, test_idx = self._split(torch.as_tensor(labels), labelled)
            train_paths, train_y = [paths[i] for i in train_idx], [labels[i] for i in train_idx]
            test_paths, test_y = [paths[i] for i in test_idx], [labels[i] for i in test_idx]
        if not train_paths or not test_paths:
            raise layout_error("image_folder", "no pictures in a split under", base, EXPECTED)
        train_paths, test_paths = train_paths[: self.limit], test_paths[: self.test_limit]  # read no more than kept
        train_y, test_y = train_y[: len(train_paths)], test_y[: len(test_paths)]
        train, test = self._read(train_paths), self._read(test_paths)
        if train.shape[1:] != test.shape[1:]:
            raise DatasetLayoutError(f"image_folder: train pictures {tuple(train.shape[1:])} and test pictures "
                                     f"{tuple(test.shape[1:])} differ in size under {base}; set data.size")
        if not labelled:
            return ImageSplits(train=train, test=test)
        return ImageSplits(train=train, test=test, train_labels=torch.as_tensor(train_y),
                           test_labels=torch.as_tensor(test_y), num_classes=len(classes), class_names=classes)
