"""The IGEBM residual energies (Du & Mordatch 2019, official ``models.py``), sizes as options.

Every network is: a 3x3 stem convolution, stages of `ResBlock` (the first block of each stage
changes the width and halves the resolution), the activation, a sum over pixels, and a linear
``head`` to one energy. Architectures differ only in their stage plan:

=================  ==========  =============================  ======================
network            stem        stage widths x blocks           paper use
=================  ==========  =============================  ======================
``ResNet32``       f           f x2, 2f x2, 2f x2              CIFAR-10 (f=128)
``ResNet32Large``  f           f x3, 2f x3, 4f x3              CIFAR-10 (128-256-512)
``ResNet32Wider``  128         f x3, 2f x3, 4f x3              ImageNet 32x32 (f=196)
``ResNet128``      64          f, 2f, 4f, 8f, 8f x2            CelebA / 128x128 (f=64)
=================  ==========  =============================  ======================

``filters`` scales the widths and ``blocks`` overrides the blocks per stage, so the same
network runs on 8x8 digits on a laptop CPU. Spectral normalisation is not built in: the
``spectral_norm`` regularizer applies it to every layer except ``head``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange, reduce
from torch import nn

from energyflow import Energy
from energyflow_vision.nets.layers import ResBlock, condition_matrix, make_activation


class ResNetEnergy(Energy):
    """A residual image energy E(x, y) built from a stage plan.

    Args:
        in_channels: image channels (1 for digits, 3 for colour).
        stages: ``(width, blocks)`` per stage; each stage's first block downsamples by 2.
        stem_filters: channels of the 3x3 stem convolution.
        num_classes: classes (or attributes) to condition on; ``None`` for unconditional.
        activation: ``swish`` (default), ``leaky_relu``, ``relu`` or ``elu``.
        name: the architecture's name, used when printing.
    """

    def __init__(
        self,
        in_channels: int,
        stages: Sequence[tuple[int, int]],
        *,
        stem_filters: int,
        num_classes: int | None = None,
        activation: str = "swish",
        name: str = "ResNetEnergy",
    ):
        super().__init__()
        if in_channels < 1 or stem_filters < 1 or not stages:
            raise ValueError(f"{name}: need in_channels >= 1, stem_filters >= 1 and at least one stage")
        if any(width < 1 or blocks < 1 for width, blocks in stages):
            raise ValueError(f"{name}: every stage needs width >= 1 and blocks >= 1, got {list(stages)}")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"{name}: num_classes must be >= 1 or None, got {num_classes}")
        self.arch = name
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.context_keys = ("y",) if num_classes is not None else ()
        self.stem = nn.Conv2d(in_channels, stem_filters, 3, padding=1)
        self.stem_act = make_activation(activation)
        blocks: list[ResBlock] = []
        width_in = stem_filters
        for width, count in stages:
            for i in range(count):
                blocks.append(ResBlock(width_in, width, downsample=i == 0, num_conditions=num_classes,
                                       activation=activation))
                width_in = width
        self.blocks = nn.ModuleList(blocks)
        self.final_act = make_activation(activation)
        self.head = nn.Linear(width_in, 1)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled features ``(batch, width)`` fed to the head."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.arch}: expected images of shape (batch, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        cond = condition_matrix(y, self.num_classes, x.shape[0], self.arch)
        h = self.stem_act(self.stem(x))
        for block in self.blocks:
            h = block(h, cond)
        return reduce(self.final_act(h), "b c h w -> b c", "sum")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return rearrange(self.head(self.features(x, y)), "b 1 -> b")

    def formula_name(self) -> str:
        return self.arch

    def extra_repr(self) -> str:
        cond = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        return f"{len(self.blocks)} blocks{cond}"


def _plan(widths: Sequence[int], blocks: Sequence[int], override: int | None) -> list[tuple[int, int]]:
    counts = list(blocks) if override is None else [override] * len(widths)
    return list(zip(widths, counts))


def resnet32(in_channels: int = 3, *, filters: int = 128, blocks: int | None = None,
             num_classes: int | None = None, activation: str = "swish") -> ResNetEnergy:
    """IGEBM's CIFAR-10 network: widths f, 2f, 2f with 2 blocks each (f = 128 in the paper)."""
    return ResNetEnergy(in_channels, _plan([filters, 2 * filters, 2 * filters], [2, 2, 2], blocks),
                        stem_filters=filters, num_classes=num_classes, activation=activation, name="ResNet32")


def resnet32_large(in_channels: int = 3, *, filters: int = 128, blocks: int | None = None,
                   num_classes: int | None = None, activation: str = "swish") -> ResNetEnergy:
    """IGEBM's large CIFAR-10 network: widths f, 2f, 4f (128-256-512) with 3 blocks each."""
    return ResNetEnergy(in_channels, _plan([filters, 2 * filters, 4 * filters], [3, 3, 3], blocks),
                        stem_filters=filters, num_classes=num_classes, activation=activation, name="ResNet32Large")


def resnet32_wider(in_channels: int = 3, *, filters: int = 196, stem_filters: int = 128, blocks: int | None = None,
                   num_classes: int | None = None, activation: str = "swish") -> ResNetEnergy:
    """IGEBM's ImageNet 32x32 network: a 128-channel stem, widths f, 2f, 4f with 3 blocks each."""
    return ResNetEnergy(in_channels, _plan([filters, 2 * filters, 4 * filters], [3, 3, 3], blocks),
                        stem_filters=stem_filters, num_classes=num_classes, activation=activation,
                        name="ResNet32Wider")


def resnet128(in_channels: int = 3, *, filters: int = 64, stem_filters: int = 64, blocks: int | None = None,
              num_classes: int | None = None, activation: str = "swish") -> ResNetEnergy:
    """IGEBM's 128x128 network (CelebA composition): widths f, 2f, 4f, 8f, 8f, the last with 2 blocks."""
    widths = [filters, 2 * filters, 4 * filters, 8 * filters, 8 * filters]
    return ResNetEnergy(in_channels, _plan(widths, [1, 1, 1, 1, 2], blocks), stem_filters=stem_filters,
                        num_classes=num_classes, activation=activation, name="ResNet128")
