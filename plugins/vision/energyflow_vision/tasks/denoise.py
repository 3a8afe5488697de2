"""``kind = "denoise"``: remove salt-and-pepper noise from test images with Langevin dynamics.

The corruption follows IGEBM's ``anticorrupt`` experiment: for each pixel (all channels alike)
draw u ~ U(0, 1); pixels with u < fraction / 2 become ``low`` (0.1) and those with
fraction / 2 <= u < fraction become ``high`` (0.9), so 10% of pixels are hit by default. The
corrupted images are then run through the sampler ``rounds`` times (IGEBM: 5), unmasked.
Scores: PSNR (dB) and MSE of the corrupted and the denoised images against the clean ones.
Writes ``denoise.png`` (columns: corrupted | denoised | clean).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import repeat

from energyflow import Task, TaskContext, train_metrics
from energyflow.tasks import TRAIN_METRICS, percent, save_image_columns
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    labels_field,
    psnr,
    require_images,
    restoration_labels,
    trained,
)


def salt_and_pepper(images: torch.Tensor, fraction: float = 0.1, low: float = 0.1, high: float = 0.9,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupted copies of ``images`` ``(N, C, H, W)`` and the bool mask of hit pixels."""
    n, channels, height, width = images.shape
    u = repeat(torch.rand(n, height, width, generator=generator), "n h w -> n c h w", c=channels)
    pepper, salt = u < fraction / 2, (u >= fraction / 2) & (u < fraction)
    corrupted = images.clone()
    corrupted[pepper] = low
    corrupted[salt] = high
    return corrupted, pepper | salt


@frozen(kw_only=True)
class DenoiseTask(Task):
    """Salt-and-pepper corruption of test images, restored by the sampler; PSNR before and after."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "psnr_corrupted": "peak signal-to-noise ratio (dB) of the corrupted test images against the clean ones, "
                          "mean over images (higher is closer)",
        "psnr_denoised": "the same for the denoised images: above psnr_corrupted when denoising helped",
        "mse_corrupted": "mean squared error of the corrupted images against the clean ones (pixel values in the "
                         "data's range)",
        "mse_denoised": "the same for the denoised images: below mse_corrupted when denoising helped",
        "corrupted_share": "share of the pixels hit by salt-and-pepper noise (about task.fraction)",
    }

    checkpoint: str | None = checkpoint_field()
    fraction: float = field(default=0.1, converter=float, validator=[v.gt(0.0), v.le(1.0)],
                            metadata={"help": "share of pixels corrupted, half to low and half to high (IGEBM: 0.1)"})
    low: float = field(default=0.1, converter=float, metadata={"help": "value of 'pepper' pixels (IGEBM: 0.1)"})
    high: float = field(default=0.9, converter=float, metadata={"help": "value of 'salt' pixels (IGEBM: 0.9)"})
    num_images: int = field(default=64, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "test images to denoise"})
    rounds: int = field(default=5, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "sampler runs in a row (IGEBM: 5)"})
    shown: int = field(default=16, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "rows in denoise.png"})
    batch_size: int = field(default=256, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "chains run at once"})
    use_labels: bool = labels_field()

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "denoise")
        trainer = trained(ctx, self.checkpoint)
        clean, labels = ctx.pick_test(self.num_images)
        labels = restoration_labels(ctx, labels, self.use_labels, "denoise")
        corrupted, hit = salt_and_pepper(clean, self.fraction, self.low, self.high, generator=ctx.generator)
        denoised = ctx.sample(trainer.sampling_energy, corrupted, labels, steps=self.rounds * ctx.sampler.steps,
                              batch_size=self.batch_size, description="denoise")
        shown = slice(0, self.shown)
        value_range = ctx.data.value_range
        save_image_columns(ctx.out_dir / "denoise.png", [corrupted[shown], denoised[shown], clean[shown]],
                           col_labels=["corrupted", "denoised", "clean"], value_range=value_range,
                           title=f"{clean[shown].shape[0]} test images, {self.fraction:.0%} of pixels salt-and-pepper "
                                 f"noise, denoised by {ctx.steps_text(self.rounds * ctx.sampler.steps)}")
        return {
            **train_metrics(trainer),
            "psnr_corrupted": psnr(corrupted, clean, value_range),
            "psnr_denoised": psnr(denoised, clean, value_range),
            "mse_corrupted": float((corrupted - clean).pow(2).mean()),
            "mse_denoised": float((denoised - clean).pow(2).mean()),
            "corrupted_share": float(hit.float().mean()),
        }

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """PSNR before and after denoising."""
        return [f"Denoising test images with {percent(metrics['corrupted_share'])} of their pixels hit by "
                f"salt-and-pepper noise takes their PSNR from {metrics['psnr_corrupted']:.2f} dB to "
                f"{metrics['psnr_denoised']:.2f} dB (higher is closer to the clean images) -> denoise.png."]
