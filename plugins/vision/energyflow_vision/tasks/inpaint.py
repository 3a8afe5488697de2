"""``kind = "inpaint"``: hide part of test images and fill it in with masked Langevin dynamics.

The visible pixels are clamped with ``energy.mask(visible, observed)``, so the sampler moves only
the hidden ones and the visible ones stay exactly as observed (``visible_max_change`` is 0).
The hidden region starts (``init``) as uniform noise, as in IGEBM's box-corruption experiment,
as the training mean of each pixel, or as replay-buffer states (per class for per-class
buffers), and runs ``rounds`` x the sampler's steps. Energies trained as short-run samplers
(a few dozen steps from their buffer) often complete better from a start near the data than
from noise. Scores: mean squared error over the hidden pixels against the truth
(``mse_hidden``), beside the start (``mse_start``), filling them with the training mean
(``mse_mean_fill``) or leaving uniform noise (``mse_noise_fill``).
Writes ``inpaint.png`` (columns: input with the hole | completion | truth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import repeat

from energyflow import Task, TaskContext, train_metrics
from energyflow.tasks import TRAIN_METRICS, percent, save_image_columns
from energyflow_vision.evaluation.task_setup import (
    checkpoint_field,
    labels_field,
    require_images,
    restoration_labels,
    trained,
)

REGIONS = ("bottom_half", "top_half", "left_half", "right_half", "box", "random")
INITS = ("noise", "mean", "buffer")
STARTS = {"noise": "uniform noise", "mean": "the training mean", "buffer": "replay-buffer states"}


def hidden_mask(region: str, shape: tuple[int, int, int], n: int, *, box_fraction: float = 0.5,
                random_fraction: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """A bool mask ``(n, C, H, W)``, true where pixels are hidden (all channels of a pixel alike)."""
    channels, height, width = shape
    hide = torch.zeros(n, height, width, dtype=torch.bool)
    if region == "bottom_half":
        hide[:, height // 2 :] = True
    elif region == "top_half":
        hide[:, : height - height // 2] = True
    elif region == "left_half":
        hide[:, :, : width - width // 2] = True
    elif region == "right_half":
        hide[:, :, width // 2 :] = True
    elif region == "box":
        bh, bw = max(1, round(height * box_fraction)), max(1, round(width * box_fraction))
        top, left = (height - bh) // 2, (width - bw) // 2
        hide[:, top : top + bh, left : left + bw] = True
    elif region == "random":
        hide = torch.rand(n, height, width, generator=generator) < random_fraction
    else:
        raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    return repeat(hide, "n h w -> n c h w", c=channels)


@frozen(kw_only=True)
class InpaintTask(Task):
    """Fill a hidden region of test images with masked Langevin; MSE vs the truth and a mean-fill baseline."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "mse_hidden": "mean squared error of the inpainted pixels against the truth, over the hidden pixels (pixel "
                      "values in the data's range; lower is better)",
        "mse_start": "the same error of the chains' start (task.init), before any sampler step",
        "mse_mean_fill": "the same error when the hidden pixels are filled with the training mean of each pixel "
                         "(the baseline to beat)",
        "mse_noise_fill": "the same error when the hidden pixels are left as uniform noise",
        "visible_max_change": "largest change of a visible pixel: 0, since the sampler moves only the hidden ones",
        "hidden_share": "share of the pixels hidden (task.region)",
    }

    checkpoint: str | None = checkpoint_field()
    region: str = field(default="bottom_half", validator=v.in_(REGIONS), metadata={"help": "what to hide: " + ", ".join(REGIONS)})
    box_fraction: float = field(default=0.5, converter=float, validator=[v.gt(0.0), v.le(1.0)],
                                metadata={"help": "side of the centred box, as a share of the image (region = box)"})
    random_fraction: float = field(default=0.5, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                                   metadata={"help": "share of pixels hidden (region = random)"})
    num_images: int = field(default=64, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "test images to inpaint"})
    init: str = field(default="noise", validator=v.in_(INITS),
                      metadata={"help": "start of the hidden pixels: noise (uniform, IGEBM), mean (training mean) "
                                        "or buffer (replay-buffer states)"})
    rounds: int = field(default=10, validator=[v.instance_of(int), v.ge(1)],
                        metadata={"help": "sampler runs in a row (IGEBM: 10)"})
    shown: int = field(default=16, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "rows in inpaint.png"})
    batch_size: int = field(default=256, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "chains run at once"})
    use_labels: bool = labels_field()

    def run(self, ctx: TaskContext) -> dict[str, float]:
        require_images(ctx, "inpaint")
        trainer = trained(ctx, self.checkpoint)
        truth, labels = ctx.pick_test(self.num_images)
        labels = restoration_labels(ctx, labels, self.use_labels, "inpaint")
        n = truth.shape[0]
        hidden = hidden_mask(self.region, ctx.data.sample_shape, n, box_fraction=self.box_fraction,
                             random_fraction=self.random_fraction, generator=ctx.generator)
        noise = ctx.chain_starts(n)
        mean_fill = torch.where(hidden, ctx.chain_starts(n, "mean"), truth)
        if self.init == "noise":
            start = torch.where(hidden, noise, truth)
        elif self.init == "mean":
            start = mean_fill
        else:  # a per-class buffer without labels to use draws classes as in training
            start = torch.where(hidden, ctx.chain_starts(n, "buffer", labels=labels), truth)

        def masked(energy: Any, rows: slice) -> Any:
            return energy.mask(~hidden[rows].to(ctx.device), truth[rows].to(ctx.device))

        filled = ctx.sample(trainer.sampling_energy, start, labels, steps=self.rounds * ctx.sampler.steps,
                            batch_size=self.batch_size, description="inpaint", energy_for=masked)
        shown = slice(0, self.shown)
        low, high = ctx.data.value_range
        hole = torch.where(hidden, torch.full_like(truth, (low + high) / 2), truth)
        save_image_columns(ctx.out_dir / "inpaint.png", [hole[shown], filled[shown], truth[shown]],
                           col_labels=["input (hole)", "inpainted", "truth"], value_range=ctx.data.value_range,
                           title=f"{truth[shown].shape[0]} test images, {self.region.replace('_', ' ')} hidden "
                                 f"(grey), filled from {STARTS[self.init]} by "
                                 f"{ctx.steps_text(self.rounds * ctx.sampler.steps)}")
        return {
            **train_metrics(trainer),
            "mse_hidden": _mse(filled, truth, hidden),
            "mse_mean_fill": _mse(mean_fill, truth, hidden),
            "mse_noise_fill": _mse(torch.where(hidden, noise, truth), truth, hidden),
            "mse_start": _mse(start, truth, hidden),
            "visible_max_change": float((filled - truth).abs()[~hidden].max()) if (~hidden).any() else 0.0,
            "hidden_share": float(hidden.float().mean()),
        }

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """The completion's error over the hidden pixels beside the mean-fill and noise baselines."""
        return [f"Inpainting the hidden {self.region.replace('_', ' ')} ({percent(metrics['hidden_share'])} of the "
                f"pixels) leaves a mean squared error of {metrics['mse_hidden']:.4f} against the truth, against "
                f"{metrics['mse_mean_fill']:.4f} for the training mean and {metrics['mse_noise_fill']:.4f} for "
                "uniform noise (lower is better) -> inpaint.png."]


def _mse(x: torch.Tensor, truth: torch.Tensor, where: torch.Tensor) -> float:
    return float((x - truth).pow(2)[where].mean())
