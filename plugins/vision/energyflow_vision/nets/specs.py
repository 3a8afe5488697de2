"""Recipe specs for the image energies: the ``[energy]`` table's kinds.

Each spec reads the image shape and classes from the built dataset (``ctx.data``); set
``conditional = true`` to condition on the dataset's labels or attribute vectors.
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import field, frozen
from attrs import validators as v

from energyflow import Energy
from energyflow_vision.nets.layers import ACTIVATIONS
from energyflow_vision.nets.mnist import MnistEnergy
from energyflow_vision.nets.resnet import (
    resnet32,
    resnet32_large,
    resnet32_wider,
    resnet128,
)

_int = [v.instance_of(int), v.ge(1)]


def _image_data(ctx: Any, kind: str, conditional: bool) -> tuple[tuple[int, ...], int | None]:
    data = ctx.data
    if data is None:
        raise ValueError(f"{kind} energy: needs the built dataset (ctx.data is None)")
    if len(data.sample_shape) != 3:
        raise ValueError(
            f"{kind} energy: needs images of shape (channels, height, width), but dataset {data.name!r} "
            f"has samples of shape {data.sample_shape}"
        )
    if conditional and data.num_classes is None:
        raise ValueError(
            f"{kind} energy: conditional = true, but dataset {data.name!r} has no labels; "
            "set conditional = false or use a labelled dataset"
        )
    return data.sample_shape, (data.num_classes if conditional else None)


def _width(default: int, help: str) -> Any:
    return field(default=default, validator=_int, metadata={"help": help})


@frozen(kw_only=True)
class _ImageEnergySpec:
    """Options every image energy shares; subclasses name their kind and build their network."""

    kind: ClassVar[str]
    conditional: bool = field(default=False, validator=v.instance_of(bool),
                              metadata={"help": "condition on the dataset's labels or attribute vectors (y)"})
    activation: str = field(default="swish", validator=v.in_(tuple(ACTIVATIONS)),
                            metadata={"help": "activation: " + ", ".join(ACTIVATIONS)})

    def build(self, ctx: Any) -> Energy:
        shape, classes = _image_data(ctx, self.kind, self.conditional)
        return self.network(shape, classes).to(ctx.device)

    def network(self, shape: tuple[int, ...], classes: int | None) -> Energy:
        raise NotImplementedError


def _blocks(paper: str) -> Any:
    return field(default=None, validator=v.optional(_int),
                 metadata={"help": f"residual blocks per stage; none for the paper's {paper}"})


@frozen(kw_only=True)
class ResNet32Spec(_ImageEnergySpec):
    """IGEBM ResNet32 (CIFAR-10): widths f, 2f, 2f, 2 blocks per stage."""

    kind = "resnet32"
    filters: int = _width(128, "base width f (paper: 128)")
    blocks: int | None = _blocks("2")

    def network(self, shape, classes):
        return resnet32(shape[0], filters=self.filters, blocks=self.blocks, num_classes=classes,
                        activation=self.activation)


@frozen(kw_only=True)
class ResNet32LargeSpec(_ImageEnergySpec):
    """IGEBM ResNet32Large (unconditional CIFAR-10): widths f, 2f, 4f (128-256-512), 3 blocks per stage."""

    kind = "resnet32_large"
    filters: int = _width(128, "base width f (paper: 128)")
    blocks: int | None = _blocks("3")

    def network(self, shape, classes):
        return resnet32_large(shape[0], filters=self.filters, blocks=self.blocks, num_classes=classes,
                              activation=self.activation)


@frozen(kw_only=True)
class ResNet32WiderSpec(_ImageEnergySpec):
    """IGEBM ResNet32Wider (ImageNet 32x32): 128-channel stem, widths f, 2f, 4f, 3 blocks per stage."""

    kind = "resnet32_wider"
    filters: int = _width(196, "base width f (paper: 196)")
    stem_filters: int = _width(128, "channels of the stem convolution")
    blocks: int | None = _blocks("3")

    def network(self, shape, classes):
        return resnet32_wider(shape[0], filters=self.filters, stem_filters=self.stem_filters, blocks=self.blocks,
                              num_classes=classes, activation=self.activation)


@frozen(kw_only=True)
class ResNet128Spec(_ImageEnergySpec):
    """IGEBM ResNet128 (128x128 images, CelebA composition): widths f, 2f, 4f, 8f, 8f."""

    kind = "resnet128"
    filters: int = _width(64, "base width f (paper: 64)")
    stem_filters: int = _width(64, "channels of the stem convolution")
    blocks: int | None = _blocks("1,1,1,1,2")

    def network(self, shape, classes):
        return resnet128(shape[0], filters=self.filters, stem_filters=self.stem_filters, blocks=self.blocks,
                         num_classes=classes, activation=self.activation)


@frozen(kw_only=True)
class MnistNetSpec(_ImageEnergySpec):
    """IGEBM's MNIST energy: a 3x3 stem, three 4x4 stride-2 convolutions, a dense layer and the head."""

    kind = "mnist_net"
    filters: int = _width(64, "base width f (paper: 64)")
    stem_filters: int = _width(64, "channels of the stem convolution")

    def network(self, shape, classes):
        return MnistEnergy(shape, filters=self.filters, stem_filters=self.stem_filters, num_classes=classes,
                           activation=self.activation)


#: Registration table: name -> (spec, aliases).
ENERGIES = {
    "resnet32": (ResNet32Spec, ()),
    "resnet32_large": (ResNet32LargeSpec, ()),
    "resnet32_wider": (ResNet32WiderSpec, ()),
    "resnet128": (ResNet128Spec, ()),
    "mnist_net": (MnistNetSpec, ()),
}
