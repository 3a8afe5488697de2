"""`ImageDataSpec`, the base of every image dataset read from files: its options and the end of ``build``.

A dataset spec names itself (``name``) and says only how it reads its files: ``read(ctx)`` returns
the raw splits as `ImageSplits` (``uint8`` images ``(N, C, H, W)``, their labels and classes).
`ImageDataSpec.build` does the rest alike for every dataset: keep the first ``limit`` /
``test_limit`` images, resize to ``size``, set the ``channels``, scale to [0, 1] and wrap the
result as an energyflow `TensorData`. The test split is ``x / 255``; the training split is
dequantized as in IGEBM, ``(x + u) / 256`` with ``u ~ U(0, 1)`` drawn from the run's generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import TensorData
from energyflow_vision.data.arrays import (
    as_tensor_u8,
    convert_channels,
    dequantize,
    resize_images,
    to_unit,
)


def square(value: Any) -> Any:
    """Converter: an int ``s`` becomes ``(s, s)``; a list a tuple; anything else is left to the validator."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    return tuple(value) if isinstance(value, list) else value


#: Validator of a ``size`` option: none, or ``(height, width)`` positive integers.
SIZE = v.optional(v.and_(v.instance_of(tuple), v.min_len(2), v.max_len(2),
                         v.deep_iterable(v.and_(v.instance_of(int), v.ge(1)))))


def root_field(layout: str) -> Any:
    """The ``root`` option of a dataset read from files laid out as ``layout``."""
    return field(default=None, validator=v.optional(v.instance_of(str)),
                 metadata={"help": f"folder holding {layout}"})


@frozen(kw_only=True)
class ImageSplits:
    """What a dataset's ``read`` returns: both splits as ``uint8`` images ``(N, C, H, W)`` (arrays or
    tensors), their labels (class indices or attribute vectors; ``None`` when unlabelled), and the classes."""

    train: np.ndarray | torch.Tensor
    test: np.ndarray | torch.Tensor
    train_labels: np.ndarray | torch.Tensor | None = None
    test_labels: np.ndarray | torch.Tensor | None = None
    num_classes: int | None = None
    class_names: Sequence[str] | None = None


def _images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    return images if isinstance(images, torch.Tensor) else as_tensor_u8(images)


def _labels(labels: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
    return None if labels is None else torch.as_tensor(labels)


@frozen(kw_only=True)
class ImageDataSpec:
    """Options every image dataset takes; a subclass sets ``name``, adds its own options and implements ``read``."""

    #: the dataset's registered name, which its `TensorData` carries
    name: ClassVar[str]

    size: int | tuple[int, int] | None = field(default=None, converter=square, validator=SIZE,
                                         metadata={"help": "resize to this many pixels (int or [height, width]); none keeps the size"})
    limit: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]),
                              metadata={"help": "keep only the first N training images; none keeps all"})
    test_limit: int | None = field(default=None, validator=v.optional([v.instance_of(int), v.ge(1)]),
                                   metadata={"help": "keep only the first N test images; none keeps all"})
    channels: int | None = field(default=None, validator=v.optional(v.in_((1, 3))),
                                 metadata={"help": "1 (grey) or 3 (RGB): grey is repeated to RGB, RGB turned grey; "
                                                   "none keeps the dataset's own"})
    dequantize: bool = field(default=True, validator=v.instance_of(bool),
                             metadata={"help": "IGEBM uniform dequantization (x + U(0,1)) / 256 of the training split"})

    def read(self, ctx: Any) -> ImageSplits:
        """The dataset's raw splits, read from its files (a `DatasetLayoutError` when they are not as expected)."""
        raise NotImplementedError

    def build(self, ctx: Any) -> TensorData:
        """`read`, then cap, resize, set the channels, scale to [0, 1] (dequantizing the training split)."""
        splits = self.read(ctx)
        train, train_labels = self.cap(_images(splits.train), _labels(splits.train_labels))
        test, test_labels = self.cap(_images(splits.test), _labels(splits.test_labels), test=True)
        train, test = resize_images(train, self.size), resize_images(test, self.size)
        train, test = convert_channels(train, self.channels), convert_channels(test, self.channels)
        return TensorData(
            name=self.name,
            train=dequantize(train, ctx.generator) if self.dequantize else to_unit(train),
            test=to_unit(test),
            train_labels=train_labels,
            test_labels=test_labels,
            num_classes=splits.num_classes,
            value_range=(0.0, 1.0),
            kind="image",
            class_names=tuple(splits.class_names) if splits.class_names is not None else None,
        )

    def cap(self, images: torch.Tensor, labels: torch.Tensor | None, test: bool = False):
        """The first ``limit`` (or ``test_limit``) images and labels."""
        n = self.test_limit if test else self.limit
        if n is None:
            return images, labels
        return images[:n], (labels[:n] if labels is not None else None)
