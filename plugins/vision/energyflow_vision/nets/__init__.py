"""Image energies: the IGEBM residual networks and the small MNIST network."""

from energyflow_vision.nets.mnist import MnistEnergy
from energyflow_vision.nets.resnet import (
    ResNetEnergy,
    resnet32,
    resnet32_large,
    resnet32_wider,
    resnet128,
)
from energyflow_vision.nets.specs import (
    ENERGIES,
    MnistNetSpec,
    ResNet32LargeSpec,
    ResNet32Spec,
    ResNet32WiderSpec,
    ResNet128Spec,
)

__all__ = [
    "ENERGIES", "MnistEnergy", "MnistNetSpec", "ResNet32LargeSpec", "ResNet32Spec", "ResNet32WiderSpec",
    "ResNet128Spec", "ResNetEnergy", "resnet32", "resnet32_large", "resnet32_wider", "resnet128",
]
