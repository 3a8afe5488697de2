"""Image arrays ``(N, C, H, W)`` between their files and a dataset: ``uint8`` tensors, [0, 1] floats,
IGEBM's dequantization, resizing and channel conversion."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

#: Grey from RGB as Pillow's ``convert("L")`` weighs the channels (ITU-R 601-2 luma).
LUMA = torch.tensor([0.299, 0.587, 0.114])

#: Rows dequantized at once, so huge datasets never need a second full-size buffer.
_CHUNK = 65536


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


def unit_splits(train: torch.Tensor, test: torch.Tensor, generator: torch.Generator, dequantize_train: bool) -> dict:
    """A rendered dataset's image fields: ``uint8`` splits to [0, 1] (the training split dequantized, as the
    file datasets are), and ``value_range`` and ``kind``, as `TensorData` keywords."""
    return {"train": dequantize(train, generator) if dequantize_train else to_unit(train), "test": to_unit(test),
            "value_range": (0.0, 1.0), "kind": "image"}


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
