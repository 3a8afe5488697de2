"""What every image dataset shares: layout errors, the paper's dequantization, resizing, the spec base.

Loaders read raw ``uint8`` arrays ``(N, C, H, W)``; `finish` turns them into an energyflow
`TensorData` with values in [0, 1]: the test split is ``x / 255``, the training split is
dequantized as in IGEBM, ``(x + u) / 256`` with ``u ~ U(0, 1)`` drawn from the run's generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

from energyflow import TensorData

#: Grey from RGB as Pillow's ``convert("L")`` weighs the channels (ITU-R 601-2 luma).
LUMA = torch.tensor([0.299, 0.587, 0.114])

#: Rows dequantized at once, so huge datasets never need a second full-size buffer.
_CHUNK = 65536


class DatasetLayoutError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the expected layout."""


def layout_error(dataset: str, problem: str, path: Path | str, expected: str) -> DatasetLayoutError:
    """A one-line `DatasetLayoutError`: ``<dataset>: <problem> <path>; expected <layout>``."""
    return DatasetLayoutError(f"{dataset}: {problem} {path}; expected {expected}")


def require_root(dataset: str, root: str | None, expected: str) -> Path:
    """``root`` as a Path, or a layout error when it is unset or not a folder."""
    if root is None:
        raise DatasetLayoutError(f"{dataset}: no root given; set data.root to a folder holding {expected}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise layout_error(dataset, "root folder not found:", path, expected)
    return path


def find_file(dataset: str, folders: Sequence[Path], names: Sequence[str], expected: str) -> Path:
    """The first of ``names`` found in the first of ``folders`` holding one; else a layout error."""
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    raise layout_error(dataset, "missing file", folders[0] / names[0], expected)


def as_tensor_u8(images: np.ndarray) -> torch.Tensor:
    """A contiguous ``uint8`` tensor from a ``(N, C, H, W)`` array (copied only if read-only or strided)."""
    return torch.from_numpy(np.require(images, dtype=np.uint8, requirements=["C", "W"]))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images to float32 in [0, 1] (``x / 255``)."""
    return images.float().div_(255.0)


def dequantize(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """IGEBM's uniform dequantization of ``uint8`` images: ``(x + U(0, 1)) / 256``, in [0, 1)."""
    out = torch.empty(images.shape, dtype=torch.float32)
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].float()
        noise = torch.rand(chunk.shape, generator=generator)
        out[start : start + _CHUNK] = (chunk + noise) / 256.0
    return out


def _like(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Float results back in the dtype of ``images``: ``uint8`` rounded and clamped, floats as they are."""
    return values.round().clamp(0, 255).to(torch.uint8) if images.dtype == torch.uint8 else values.to(images.dtype)


def resize_images(images: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Bilinear (antialiased) resize of images ``(N, C, H, W)`` (``uint8`` or float) to ``size``; same dtype."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    out = []
    for chunk in images.split(4096):
        resized = F.interpolate(chunk.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
        out.append(_like(resized, chunk))
    return torch.cat(out)


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """Images ``(N, C, H, W)`` (``uint8`` or float) with ``channels`` channels: grey is repeated to RGB, RGB
    becomes grey by the ITU-R 601-2 luma weights (Pillow's ``convert("L")``); ``None`` keeps them."""
    have = images.shape[1]
    if channels is None or have == channels:
        return images
    if have == 1:
        return images.expand(-1, channels, -1, -1).contiguous()
    if have == 3 and channels == 1:
        out = []
        for chunk in images.split(_CHUNK):
            out.append(_like(torch.einsum("nchw,c->nhw", chunk.float(), LUMA), chunk))
        return rearrange(torch.cat(out), "n h w -> n 1 h w")
    raise ValueError(f"cannot turn {have}-channel images into {channels} channels; expected 1 or 3")


def finish(
    name: str,
    train: torch.Tensor,
    test: torch.Tensor,
    *,
    generator: torch.Generator,
    train_labels: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    dequantize_train: bool = True,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> TensorData:
    """Resize, set the channels, scale to [0, 1] (dequantizing the training split), wrap as `TensorData`."""
    train, test = resize_images(train, size), resize_images(test, size)
    train, test = convert_channels(train, channels), convert_channels(test, channels)
    return TensorData(
        name=name,
        train=dequantize(train, generator) if dequantize_train else to_unit(train),
        test=to_unit(test),
        train_labels=train_labels,
        test_labels=test_labels,
        num_classes=num_classes,
        value_range=(0.0, 1.0),
        kind="image",
        class_names=tuple(class_names) if class_names is not None else None,
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
class ImageDataSpec:
    """Options every image dataset takes (subclasses add their own and implement ``load``)."""

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

    def cap(self, images: torch.Tensor, labels: torch.Tensor | None, test: bool = False):
        """The first ``limit`` (or ``test_limit``) images and labels."""
        n = self.test_limit if test else self.limit
        if n is None:
            return images, labels
        return images[:n], (labels[:n] if labels is not None else None)
