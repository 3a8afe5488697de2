"""Batched, seeded image augmentations for chain transitions (improved contrastive divergence).

Du et al. (2021) move replay-buffer states by data augmentation (random resized crop,
horizontal flip, colour jitter) before each Langevin run, so chains jump between modes instead
of settling into one. `ImageAugment` does this for a whole batch at once on the batch's
device, drawing every random number from a ``torch.Generator`` (reproducible runs). The
``kornia`` backend (``pip install 'energyflow-vision[augment]'``) runs the same transforms
through ``kornia.augmentation``, seeded from the same generator.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from attrs import field, frozen
from attrs import validators as v


def unit_pair(instance, attribute, value) -> None:
    """Validator: ``[low, high]`` with ``0 < low <= high <= 1`` (a share of the image area)."""
    if not (isinstance(value, tuple) and len(value) == 2 and 0.0 < value[0] <= value[1] <= 1.0):
        raise ValueError(f"{attribute.name} must be [low, high] with 0 < low <= high <= 1, got {list(value)}")


@frozen(kw_only=True)
class ImageAugment:
    """Random resized crop, optional horizontal flip and brightness/contrast/saturation jitter.

    Attributes:
        crop_scale: the crop's share of the image area, drawn uniformly in ``[low, high]``
            (``[1, 1]``: no crop); the aspect ratio is drawn log-uniformly in [3/4, 4/3].
        flip: flip half the images left-right (not for digits).
        brightness, contrast, saturation: multiply by a factor drawn in ``[1 - s, 1 + s]``
            (contrast about each image's mean, saturation towards its grey version; RGB only).
        value_range: the images' value range; results are clamped to it.
        backend: ``torch`` (built in) or ``kornia``.
    """

    crop_scale: tuple[float, float] = field(default=(0.7, 1.0), converter=tuple, validator=unit_pair)
    flip: bool = field(default=False, validator=v.instance_of(bool))
    brightness: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)])
    contrast: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)])
    saturation: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)])
    value_range: tuple[float, float] = field(default=(0.0, 1.0), converter=tuple)
    backend: Literal["torch", "kornia"] = field(default="torch", validator=v.in_(("torch", "kornia")))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augmented copies of a batch ``(N, C, H, W)``, same shape, device and dtype, within ``value_range``."""
        if x.dim() != 4:
            raise ValueError(f"ImageAugment: expected images of shape (N, C, H, W), got {tuple(x.shape)}")
        out = self._kornia(x, generator) if self.backend == "kornia" else self._torch(x, generator)
        return out.clamp(*self.value_range)

    def _uniform(self, n: int, low: float, high: float, generator, like: torch.Tensor) -> torch.Tensor:
        device = generator.device if generator is not None else like.device
        u = torch.rand(n, generator=generator, device=device, dtype=like.dtype).to(like.device)
        return low + (high - low) * u

    def _torch(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n = x.shape[0]
        if self.crop_scale != (1.0, 1.0) or self.flip:
            area = self._uniform(n, *self.crop_scale, generator, x)
            ratio = torch.exp(self._uniform(n, math.log(3 / 4), math.log(4 / 3), generator, x))
            w = torch.sqrt(area * ratio).clamp(max=1.0)
            h = (area / w).clamp(max=1.0)
            w = (area / h).clamp(max=1.0)  # sides within the image: a full-area crop is the whole image
            cx = self._uniform(n, -1.0, 1.0, generator, x) * (1 - w)
            cy = self._uniform(n, -1.0, 1.0, generator, x) * (1 - h)
            sign = torch.ones_like(w)
            if self.flip:
                sign = torch.where(self._uniform(n, 0.0, 1.0, generator, x) < 0.5, -1.0, 1.0).to(x)
            zero = torch.zeros_like(w)
            theta = torch.stack([torch.stack([w * sign, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        shape = (n,) + (1,) * (x.dim() - 1)
        if self.brightness:
            x = x * self._uniform(n, 1 - self.brightness, 1 + self.brightness, generator, x).view(shape)
        if self.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * self._uniform(n, 1 - self.contrast, 1 + self.contrast, generator, x).view(shape) + mean
        if self.saturation and x.shape[1] == 3:
            grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)).sum(
                1, keepdim=True)
            x = (x - grey) * self._uniform(n, 1 - self.saturation, 1 + self.saturation, generator, x).view(shape) + grey
        return x

    def _kornia(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        try:
            import kornia.augmentation as K
        except ImportError as e:
            raise ImportError("augmentation backend 'kornia' needs kornia: pip install 'energyflow-vision[augment]'") from e
        steps = [K.RandomResizedCrop(tuple(x.shape[-2:]), scale=self.crop_scale, p=1.0)]
        if self.flip:
            steps.append(K.RandomHorizontalFlip(p=0.5))
        if self.brightness or self.contrast or self.saturation:
            steps.append(K.ColorJiggle(self.brightness, self.contrast, self.saturation if x.shape[1] == 3 else 0.0, p=1.0))
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device if generator else "cpu"))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return K.AugmentationSequential(*steps)(x)
