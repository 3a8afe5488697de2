"""``cifar10``: CIFAR-10 (32x32 colour, 10 classes) from the ``cifar-10-batches-py`` pickles.

``root`` is either the ``cifar-10-batches-py`` folder itself or a folder containing it; it
holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and (optionally) ``batches.meta``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen
from einops import rearrange

from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.layout import find_file, layout_error, require_root

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
EXPECTED = "cifar-10-batches-py/ with data_batch_1..5 and test_batch (the python pickles)"


def read_batch(path: Path, dataset: str = "cifar10", num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` in ``0..num_classes-1`` of one CIFAR pickle batch."""
    expected = "a CIFAR python pickle with b'data' (N, 3072) uint8 and b'labels'"
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels")), dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise layout_error(dataset, f"malformed batch ({type(e).__name__}: {e})", path, expected) from e
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise layout_error(dataset, f"bad shapes data {data.shape}, labels {labels.shape} in", path, expected)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise layout_error(dataset, f"labels outside 0..{num_classes - 1} ({labels.min()}..{labels.max()}) in", path,
                           expected)
    return rearrange(data, "n (c h w) -> n c h w", c=3, h=32, w=32), labels


@frozen(kw_only=True)
class Cifar10Spec(ImageDataSpec):
    """CIFAR-10 (50k train / 10k test, 32x32 colour, 10 classes) from the python pickles."""

    name = "cifar10"
    root: str | None = root_field("cifar-10-batches-py/ (or that folder itself)")

    def read(self, ctx: Any) -> ImageSplits:
        base = require_root("cifar10", self.root, EXPECTED)
        folders = [base / "cifar-10-batches-py", base]
        folder = next((f for f in folders if (f / "data_batch_1").is_file()), folders[0])
        train = [read_batch(find_file("cifar10", [folder], [f"data_batch_{i}"], EXPECTED)) for i in range(1, 6)]
        test_images, test_labels = read_batch(find_file("cifar10", [folder], ["test_batch"], EXPECTED))
        return ImageSplits(train=np.concatenate([b[0] for b in train]), test=test_images,
                           train_labels=np.concatenate([b[1] for b in train]), test_labels=test_labels,
                           num_classes=10, class_names=CIFAR10_CLASSES)
