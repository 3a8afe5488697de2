"""``kind = "augmented_langevin"``: IGEBM Langevin with data-augmentation transitions (Du et al., 2021)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import Energy, Langevin, SampleResult
from energyflow.samplers import Callback
from energyflow_vision.samplers.image_augment import ImageAugment, unit_pair


@frozen(kw_only=True)
class AugmentedLangevin(Langevin):
    """Langevin chains that augment their states at the start and every ``augment_every`` steps.

    In training the chain starts are replay-buffer states, so augmenting them is the improved-CD
    buffer transform: a chain jumps to a cropped, rescaled or re-lit version of itself and
    Langevin pulls it back towards the data. The augmentation is part of the chain wherever it
    runs (evaluation chains too); ``augment_prob`` is the share of chains moved each time.
    """

    augment_every: int = field(default=0, validator=[v.instance_of(int), v.ge(0)],
                               metadata={"help": "steps between augmentations (0: only at the chain start)"})
    augment_prob: float = field(default=1.0, converter=float, validator=[v.ge(0.0), v.le(1.0)],
                                metadata={"help": "share of chains augmented each time"})
    crop_scale: tuple[float, float] = field(default=(0.7, 1.0), converter=tuple, validator=unit_pair,
                                            metadata={"help": "random resized crop's share of the image area, [low, high]"})
    flip: bool = field(default=False, validator=v.instance_of(bool), metadata={"help": "random left-right flips"})
    brightness: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)],
                              metadata={"help": "brightness factor drawn in [1 - b, 1 + b]"})
    contrast: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)],
                            metadata={"help": "contrast factor drawn in [1 - c, 1 + c]"})
    saturation: float = field(default=0.0, converter=float, validator=[v.ge(0.0), v.lt(1.0)],
                              metadata={"help": "saturation factor drawn in [1 - s, 1 + s] (RGB)"})
    backend: Literal["torch", "kornia"] = field(default="torch", validator=v.in_(("torch", "kornia")),
                                                metadata={"help": "torch (built in) or kornia (optional extra)"})

    def augmenter(self) -> ImageAugment:
        value_range = self.clamp if isinstance(self.clamp, tuple) else (0.0, 1.0)
        return ImageAugment(crop_scale=self.crop_scale, flip=self.flip, brightness=self.brightness,
                            contrast=self.contrast, saturation=self.saturation, value_range=value_range,
                            backend=self.backend)

    def augment(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``x`` with ``augment_prob`` of its chains augmented (the rest unchanged)."""
        moved = self.augmenter()(x, generator)
        if self.augment_prob >= 1.0:
            return moved
        device = generator.device if generator is not None else x.device
        pick = (torch.rand(x.shape[0], generator=generator, device=device) < self.augment_prob).to(x.device)
        return torch.where(pick.view(-1, *(1,) * (x.dim() - 1)), moved, x)

    def run(self, energy: Energy, x0: torch.Tensor, *, steps: int | None = None,
            generator: torch.Generator | None = None, callback: Callback | None = None,
            evaluate: bool = True) -> SampleResult:
        steps = self.steps if steps is None else steps
        x = self.augment(energy.constrain(x0.detach()), generator) if steps else x0
        every = self.augment_every or steps
        done, result = 0, None
        while done < steps or result is None:
            k = min(every, steps - done)
            shifted: Any = None if callback is None else (lambda s, xs, offset=done: callback(offset + s, xs))
            result = super().run(energy, x, steps=k, generator=generator, callback=shifted,
                                 evaluate=evaluate and done + k >= steps)
            done += k
            x = result.x if done >= steps else self.augment(result.x, generator)
        return result
