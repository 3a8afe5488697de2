"""``cifar100``: CIFAR-100 (32x32 colour, 100 fine or 20 coarse classes) from ``cifar-100-python``.

``root`` is the ``cifar-100-python`` folder itself or a folder containing it; it holds the
pickles ``train`` and ``test`` (and optionally ``meta``), in the format of CIFAR-10's batches.
IGEBM scores CIFAR-10 models on it as an out-of-distribution set.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.layout import find_file, layout_error, require_root

EXPECTED = "cifar-100-python/ with the pickles train and test"


def read_split(path, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and ``fine`` or ``coarse`` labels of one CIFAR-100 pickle."""
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        y = np.asarray(batch[f"{labels}_labels".encode()], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise layout_error("cifar100", f"malformed pickle ({type(e).__name__}: {e})", path,
                           "a CIFAR-100 python pickle with b'data' (N, 3072) uint8 and b'fine_labels'") from e
    if data.ndim != 2 or data.shape[1] != 3072 or y.shape != (data.shape[0],):
        raise layout_error("cifar100", f"bad shapes data {data.shape}, labels {y.shape} in", path, EXPECTED)
    return rearrange(data, "n (c h w) -> n c h w", c=3, h=32, w=32), y


@frozen(kw_only=True)
class Cifar100Spec(ImageDataSpec):
    """CIFAR-100 (50k train / 10k test, 32x32 colour, 100 fine or 20 coarse classes) from the python pickles."""

    name = "cifar100"
    root: str | None = root_field("cifar-100-python/ (or that folder itself)")
    labels: str = field(default="fine", validator=v.in_(("fine", "coarse")),
                        metadata={"help": "fine (100 classes) or coarse (20 superclasses) labels"})

    def read(self, ctx: Any) -> ImageSplits:
        base = require_root("cifar100", self.root, EXPECTED)
        folders = [base / "cifar-100-python", base]
        train_x, train_y = read_split(find_file("cifar100", folders, ["train"], EXPECTED), self.labels)
        test_x, test_y = read_split(find_file("cifar100", folders, ["test"], EXPECTED), self.labels)
        return ImageSplits(train=train_x, test=test_x, train_labels=train_y, test_labels=test_y,
                           num_classes=100 if self.labels == "fine" else 20)
