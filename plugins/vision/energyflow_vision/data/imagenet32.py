"""``imagenet32``: downsampled ImageNet (Chrabaszcz et al. 2017) from its npz batches.

``root`` holds ``train_data_batch_1`` .. ``train_data_batch_10`` and ``val_data`` (each with or
without ``.npz``), with keys ``data`` (N x 3*S*S uint8, channel planes as in CIFAR) and
``labels`` (1..1000). Labels are shifted to 0..999. The same reader serves the 16x16 and 64x64
variants (the size is read off the data). Loading all 1.28M images needs about 16 GB of memory
as float32; ``limit`` stops reading batches once enough images are in.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.layout import find_file, layout_error, require_root

EXPECTED = "train_data_batch_1..10 and val_data (.npz, keys data and labels, labels 1..1000) in the root folder"


def read_npz_batch(path: Path, dataset: str = "imagenet32") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, S, S)`` uint8 and 0-based labels of one downsampled-ImageNet batch."""
    try:
        with np.load(path, allow_pickle=False) as batch:
            data = np.asarray(batch["data"], dtype=np.uint8)
            labels = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise layout_error(dataset, f"malformed batch ({type(e).__name__}: {e})", path, EXPECTED) from e
    side = round((data.shape[1] / 3) ** 0.5) if data.ndim == 2 else 0
    if data.ndim != 2 or 3 * side * side != data.shape[1] or labels.shape != (data.shape[0],):
        raise layout_error(dataset, f"bad shapes data {data.shape}, labels {labels.shape} in", path, EXPECTED)
    if labels.size and (labels.min() < 1 or labels.max() > 1000):
        raise layout_error(dataset, f"labels outside 1..1000 ({labels.min()}..{labels.max()}) in", path, EXPECTED)
    return rearrange(data, "n (c h w) -> n c h w", c=3, h=side, w=side), labels - 1


@frozen(kw_only=True)
class ImageNet32Spec(ImageDataSpec):
    """Downsampled ImageNet 32x32 (1.28M train / 50k val, 1000 classes) from the npz batches."""

    name = "imagenet32"
    root: str | None = root_field("train_data_batch_1..10 and val_data (.npz)")
    batches: tuple[int, ...] = field(default=tuple(range(1, 11)), converter=tuple,
                                     validator=[v.min_len(1), v.deep_iterable(v.and_(v.instance_of(int), v.ge(1), v.le(10)))],
                                     metadata={"help": "which training batches (1..10) to read"})

    def read(self, ctx: Any) -> ImageSplits:
        base = require_root("imagenet32", self.root, EXPECTED)
        images, labels, count = [], [], 0
        for b in self.batches:
            name = f"train_data_batch_{b}"
            x, y = read_npz_batch(find_file("imagenet32", [base], [name + ".npz", name], EXPECTED))
            images.append(x)
            labels.append(y)
            count += x.shape[0]
            if self.limit is not None and count >= self.limit:  # enough read: build keeps the first limit
                break
        test_x, test_y = read_npz_batch(find_file("imagenet32", [base], ["val_data.npz", "val_data"], EXPECTED))
        return ImageSplits(train=np.concatenate(images), test=test_x, train_labels=np.concatenate(labels),
                           test_labels=test_y, num_classes=1000)
