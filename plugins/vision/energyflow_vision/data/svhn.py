"""``svhn``: Street View House Numbers, cropped digits (32x32 colour, 10 classes), from the .mat files.

``root`` holds ``train_32x32.mat`` and ``test_32x32.mat`` (format 2 of the SVHN site, MATLAB
files with ``X`` of shape (32, 32, 3, N) and ``y`` of shape (N, 1), the digit 0 labelled 10),
read with SciPy. Labels are 0..9. IGEBM scores CIFAR-10 models on it as an out-of-distribution set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import frozen
from einops import rearrange

from energyflow_vision.data.base import ImageDataSpec, ImageSplits, root_field
from energyflow_vision.data.layout import find_file, layout_error, require_root

EXPECTED = "train_32x32.mat and test_32x32.mat (SVHN format 2: X (32, 32, 3, N) uint8, y (N, 1) with 10 for 0)"


def read_mat(path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels 0..9 of one SVHN .mat file."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        x, y = np.asarray(mat["X"], dtype=np.uint8), np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    except (OSError, ValueError, KeyError, TypeError, NotImplementedError) as e:
        raise layout_error("svhn", f"unreadable .mat file ({type(e).__name__}: {e})", path, EXPECTED) from e
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != y.shape[0]:
        raise layout_error("svhn", f"bad shapes X {x.shape}, y {y.shape} in", path, EXPECTED)
    return rearrange(x, "h w c n -> n c h w"), y % 10


@frozen(kw_only=True)
class SvhnSpec(ImageDataSpec):
    """SVHN cropped digits (73k train / 26k test, 32x32 colour, 10 classes) from the .mat files."""

    name = "svhn"
    root: str | None = root_field("train_32x32.mat and test_32x32.mat")

    def read(self, ctx: Any) -> ImageSplits:
        base = require_root("svhn", self.root, EXPECTED)
        train_x, train_y = read_mat(find_file("svhn", [base], ["train_32x32.mat"], EXPECTED))
        test_x, test_y = read_mat(find_file("svhn", [base], ["test_32x32.mat"], EXPECTED))
        return ImageSplits(train=train_x, test=test_x, train_labels=train_y, test_labels=test_y, num_classes=10,
                           class_names=[str(d) for d in range(10)])
