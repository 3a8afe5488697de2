"""``digits``: scikit-learn's 1,797 real 8x8 handwritten digits, embedded, no download.

The default dataset of the CPU recipes. Pixel values 0..16 are mapped to 0..255 (``x * 255 /
16``, rounded) and then treated like any 8-bit image. The train/test split is stratified by
class and fixed by ``split_seed`` (not the run's seed), so every run is scored on the same
held-out digits.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

from energyflow_vision.data.arrays import as_tensor_u8
from energyflow_vision.data.base import ImageDataSpec, ImageSplits


@lru_cache(maxsize=1)
def load_digits_u8() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as ``uint8`` images ``(N, 1, 8, 8)`` and their labels ``(N,)`` (cached; do not modify)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255)
    images = rearrange(images, "n h w -> n 1 h w")
    return as_tensor_u8(images), torch.as_tensor(bunch.target, dtype=torch.long)


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices, stratified by label and fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(labels.shape[0])
    train_idx, test_idx = train_test_split(
        indices, test_size=test_fraction, random_state=seed, stratify=labels.numpy(), shuffle=True
    )
    return torch.as_tensor(np.sort(train_idx)), torch.as_tensor(np.sort(test_idx))


@frozen(kw_only=True)
class DigitsSpec(ImageDataSpec):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), embedded."""

    name = "digits"
    test_fraction: float = field(default=0.2, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                                 metadata={"help": "share of each class held out as the test split"})
    split_seed: int = field(default=0, validator=v.instance_of(int),
                            metadata={"help": "seed of the fixed stratified train/test split"})

    def read(self, ctx: Any) -> ImageSplits:
        images, labels = load_digits_u8()
        train_idx, test_idx = stratified_split(labels, self.test_fraction, self.split_seed)
        return ImageSplits(train=images[train_idx], test=images[test_idx], train_labels=labels[train_idx],
                           test_labels=labels[test_idx], num_classes=10, class_names=[str(d) for d in range(10)])
