"""Image datasets: the registration table `DATASETS`, the one list of what the plugin offers.

Each is a recipe spec whose ``build(ctx)`` returns an energyflow `TensorData` of ``(C, H, W)``
float images in [0, 1], the training split dequantized as in IGEBM. The datasets read from files
subclass `ImageDataSpec` (``base``) and only say how they read them; ``layout`` holds their
errors, ``arrays`` the array conversions, ``picture_files`` the Pillow reader. ``shapes`` renders
its scenes (``shape_scene``) and ``faces`` its synthetic CelebA-labelled faces (``face_drawing``)
instead of reading files. `plugin.register_datasets` registers
`DATASETS`, and a test checks that the README names each of them.
"""

from energyflow_vision.data.arrays import convert_channels, dequantize, resize_images
from energyflow_vision.data.base import ImageDataSpec, ImageSplits
from energyflow_vision.data.celeba import CelebASpec
from energyflow_vision.data.cifar import Cifar10Spec
from energyflow_vision.data.cifar100 import Cifar100Spec
from energyflow_vision.data.digits import DigitsSpec
from energyflow_vision.data.face_drawing import FaceDrawing
from energyflow_vision.data.faces import FacesSpec, attribute_probability
from energyflow_vision.data.folder import ImageFolderSpec
from energyflow_vision.data.imagenet32 import ImageNet32Spec
from energyflow_vision.data.layout import DatasetLayoutError
from energyflow_vision.data.mnist import FashionMnistSpec, MnistSpec
from energyflow_vision.data.shapes import ShapesData, ShapesSpec
from energyflow_vision.data.svhn import SvhnSpec

#: Registration table: name -> (spec, aliases).
DATASETS = {
    "digits": (DigitsSpec, ()),
    "mnist": (MnistSpec, ()),
    "fashion_mnist": (FashionMnistSpec, ("fashion-mnist",)),
    "cifar10": (Cifar10Spec, ("cifar-10",)),
    "cifar100": (Cifar100Spec, ("cifar-100",)),
    "svhn": (SvhnSpec, ()),
    "celeba": (CelebASpec, ()),
    "imagenet32": (ImageNet32Spec, ()),
    "image_folder": (ImageFolderSpec, ()),
    "shapes": (ShapesSpec, ()),
    "faces": (FacesSpec, ()),
}

__all__ = [
    "DATASETS", "CelebASpec", "Cifar10Spec", "Cifar100Spec", "DatasetLayoutError", "DigitsSpec", "FaceDrawing",
    "FacesSpec", "FashionMnistSpec", "ImageDataSpec", "ImageFolderSpec", "ImageNet32Spec", "ImageSplits", "MnistSpec",
    "ShapesData", "ShapesSpec", "SvhnSpec", "attribute_probability", "convert_channels", "dequantize", "resize_images",
]
