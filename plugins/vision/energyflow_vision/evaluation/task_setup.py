"""What the image tasks share: their options, getting a trained model, nearest neighbours, PSNR.

Chain starts, batched sampling, label binding and test picks are the core's `TaskContext` helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from attrs import field
from attrs import validators as v
from einops import rearrange

from energyflow import ContrastiveDivergence, RunError, TaskContext


def checkpoint_field() -> Any:
    """The ``checkpoint`` option every image task takes."""
    return field(default=None, validator=v.optional(v.instance_of(str)),
                 metadata={"help": "checkpoint.pt to load instead of training first; none trains per the recipe"})


def labels_field() -> Any:
    """The ``use_labels`` option of the restoration tasks."""
    return field(default=True, validator=v.instance_of(bool),
                 metadata={"help": "condition a conditional model on each image's true label"})


def restoration_labels(ctx: TaskContext, labels: torch.Tensor | None, use_labels: bool,
                       task: str) -> torch.Tensor | None:
    """The labels to condition on: the images' own for a conditional model, ``None`` otherwise."""
    if not ctx.conditional:
        return None
    if not use_labels:
        raise RunError(f"task {task}: use_labels = false needs an unconditional energy, but this one is conditional "
                       "(it needs y); set task.use_labels = true or energy.conditional = false")
    return labels


def require_images(ctx: TaskContext, task: str) -> None:
    """A `RunError` unless the run's data are ``(C, H, W)`` images."""
    if ctx.data.kind != "image" or len(ctx.data.sample_shape) != 3:
        raise RunError(f"task {task} needs image data of shape (C, H, W); dataset {ctx.data.name!r} has "
                       f"{ctx.data.kind} samples of shape {ctx.data.sample_shape}")


def trained(ctx: TaskContext, checkpoint: str | None) -> ContrastiveDivergence:
    """The trainer: loaded from ``checkpoint`` if given, else trained now per the recipe."""
    return ctx.train() if checkpoint is None else ctx.load_checkpoint(Path(checkpoint).expanduser())


def nearest(samples: torch.Tensor, reference: torch.Tensor, k: int = 1, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 distances ``(n, k)`` and indices of each sample's ``k`` nearest reference images."""
    ref = rearrange(reference, "n ... -> n (...)").float()
    dists, idx = [], []
    for part in rearrange(samples, "n ... -> n (...)").float().split(chunk):
        d, i = torch.cdist(part, ref).topk(min(k, ref.shape[0]), dim=1, largest=False)
        dists.append(d)
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def psnr(x: torch.Tensor, truth: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """Mean over images of the peak signal-to-noise ratio (dB); identical images count as 100 dB."""
    peak = value_range[1] - value_range[0]
    mse = (x - truth).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(peak**2 / mse)).mean())
