"""IGEBM's small MNIST energy: four convolutions and two linear layers.

As in the official ``MnistNet``: a 3x3 stem, three 4x4 stride-2 convolutions (f, 2f, 4f
channels, TensorFlow 'SAME' padding, so 28 -> 14 -> 7 -> 4 pixels), a dense layer of width 2f
and a linear ``head``. The official network conditions by concatenating the one-hot label to the
input; here, as in the residual networks, each strided convolution gets a conditional input bias
and output gain instead, so labels and attribute vectors work the same way in every energy.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from energyflow import Energy
from energyflow_vision.nets.layers import (
    ConditionalConv2d,
    condition_matrix,
    make_activation,
    same_padding,
)


class StridedConditionalConv(nn.Module):
    """A 4x4 stride-2 convolution with 'SAME' padding and conditional input bias / output gain."""

    def __init__(self, in_channels: int, out_channels: int, num_conditions: int | None):
        super().__init__()
        self.inner = ConditionalConv2d(in_channels, out_channels, 4, num_conditions=num_conditions, gain=True)
        self.inner.conv.padding = (0, 0)
        self.inner.conv.stride = (2, 2)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], 4, 2)
        left, right = same_padding(x.shape[-1], 4, 2)
        film = self.inner.film
        h = F.pad(film.bias(x, cond), (left, right, top, bottom))
        return film.gain(self.inner.conv(h), cond)


class MnistEnergy(Energy):
    """The IGEBM MNIST energy for ``(batch, channels, H, W)`` images.

    Args:
        image_shape: ``(channels, H, W)`` of the inputs (sets the dense layer's size).
        filters: base width f (the official default is 64).
        stem_filters: channels of the 3x3 stem (64 officially).
        num_classes: classes (or attributes) to condition on; ``None`` for unconditional.
        activation: ``swish`` (default) or ``leaky_relu`` (the official default), ``relu``, ``elu``.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        *,
        filters: int = 64,
        stem_filters: int = 64,
        num_classes: int | None = None,
        activation: str = "swish",
    ):
        super().__init__()
        channels, height, width = (int(s) for s in image_shape)
        if min(channels, height, width, filters, stem_filters) < 1:
            raise ValueError(f"MnistEnergy: sizes must be positive, got image_shape={image_shape}, filters={filters}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"MnistEnergy: num_classes must be >= 1 or None, got {num_classes}")
        self.image_shape = (channels, height, width)
        self.num_classes = num_classes
        self.context_keys = ("y",) if num_classes is not None else ()
        self.stem = nn.Conv2d(channels, stem_filters, 3, padding=1)
        widths = [stem_filters, filters, 2 * filters, 4 * filters]
        self.convs = nn.ModuleList(StridedConditionalConv(a, b, num_classes) for a, b in pairwise(widths))
        for _ in self.convs:
            height, width = -(-height // 2), -(-width // 2)
        self.dense = nn.Linear(4 * filters * height * width, 2 * filters)
        self.act = make_activation(activation)
        self.head = nn.Linear(2 * filters, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"MnistEnergy: expected images of shape (batch, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        cond = condition_matrix(y, self.num_classes, x.shape[0], "MnistEnergy")
        h = self.act(self.stem(x))
        for conv in self.convs:
            h = self.act(conv(h, cond))
        h = self.act(self.dense(rearrange(h, "b c h w -> b (c h w)")))
        return rearrange(self.head(h), "b 1 -> b")

    def extra_repr(self) -> str:
        cond = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        return f"{'x'.join(map(str, self.image_shape))}{cond}"
