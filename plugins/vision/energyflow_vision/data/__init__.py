"""Image datasets: embedded digits, MNIST / Fashion-MNIST, CIFAR-10, CelebA, ImageNet 32x32, folders.

Each is a recipe spec whose ``build(ctx)`` returns an energyflow `TensorData` of ``(C, H, W)``
float images in [0, 1], the training split dequantized as in IGEBM.
"""

from energyflow_vision.data.celeba import CelebASpec
from energyflow_vision.data.cifar import Cifar10Spec
from energyflow_vision.data.common import DatasetLayoutError, ImageDataSpec, dequantize
from energyflow_vision.data.digits import DigitsSpec
from energyflow_vision.data.folder import ImageFolderSpec
from energyflow_vision.data.imagenet32 import ImageNet32Spec
from energyflow_vision.data.mnist import FashionMnistSpec, MnistSpec
from energyflow_vision.data.shapes import ShapesSpec

#: Registration table: name -> (spec, aliases).
DATASETS = {
    "digits": (DigitsSpec, ()),
    "mnist": (MnistSpec, ()),
    "fashion_mnist": (FashionMnistSpec, ("fashion-mnist",)),
    "cifar10": (Cifar10Spec, ("cifar-10",)),
    "celeba": (CelebASpec, ()),
    "imagenet32": (ImageNet32Spec, ()),
    "image_folder": (ImageFolderSpec, ()),
    "shapes": (ShapesSpec, ()),
}

__all__ = [
    "DATASETS", "CelebASpec", "Cifar10Spec", "DatasetLayoutError", "DigitsSpec", "FashionMnistSpec", "ImageDataSpec",
    "ImageFolderSpec", "ImageNet32Spec", "MnistSpec", "dequantize",
]
