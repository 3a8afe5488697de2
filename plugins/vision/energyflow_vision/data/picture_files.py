"""Reading picture files (PNG, JPEG) into ``uint8`` arrays with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from einops import rearrange
from PIL import Image, UnidentifiedImageError

from energyflow_vision.data.layout import layout_error

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_picture(
    path: Path,
    dataset: str,
    expected: str,
    *,
    mode: str = "RGB",
    crop: int | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """One picture as ``(C, H, W)`` uint8: converted to ``mode``, center-cropped, resized.

    Args:
        path: the file.
        dataset, expected: for the error message when the file cannot be read.
        mode: ``"RGB"`` (3 channels) or ``"L"`` (grey, 1 channel).
        crop: side of a centred square crop, clipped to the picture; ``None`` for no crop.
        size: ``(height, width)`` to resize to (bilinear, antialiased by Pillow); ``None`` keeps it.
    """
    try:
        with Image.open(path) as picture:
            picture = picture.convert(mode)
            if crop is not None:
                side = min(crop, picture.width, picture.height)
                left, top = (picture.width - side) // 2, (picture.height - side) // 2
                picture = picture.crop((left, top, left + side, top + side))
            if size is not None and (picture.height, picture.width) != tuple(size):
                picture = picture.resize((size[1], size[0]), Image.Resampling.BILINEAR, reducing_gap=None)
            array = np.asarray(picture, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise layout_error(dataset, f"unreadable picture ({type(e).__name__})", path, expected) from e
    if array.ndim == 2:
        return rearrange(array, "h w -> 1 h w")
    return rearrange(array, "h w c -> c h w")
