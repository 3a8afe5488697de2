"""`TensorData`: the in-memory form every registered dataset builds."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from attrs import field, frozen


@frozen(kw_only=True, eq=False)
class TensorData:
    """A dataset held as tensors: train and test splits, optional labels.

    Attributes:
        name: registry name of the dataset (``digits``, ``toy2d``).
        train: training samples, shape ``(N, *sample_shape)``.
        test: held-out samples.
        train_labels, test_labels: integer class labels ``(N,)`` or attribute vectors ``(N, A)``.
        num_classes: number of classes (or attributes) when labels exist.
        value_range: the box samples live in; chains are initialised and clamped to it.
        kind: ``"points"`` for vectors such as 2-D toys, ``"image"`` for ``(C, H, W)`` images.
        log_prob: the exact normalised log-density where the data has one (toy densities).
        class_names: readable names for classes or attributes.
    """

    name: str
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    num_classes: int | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    kind: str = "image"
    log_prob: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, eq=False)
    class_names: tuple[str, ...] | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def num_features(self) -> int:
        return math.prod(self.sample_shape)

    @property
    def conditional(self) -> bool:
        return self.train_labels is not None
