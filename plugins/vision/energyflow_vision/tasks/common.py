"""What the image tasks share: getting a trained model, running chains in batches, picking test images."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from attrs import field
from attrs import validators as v
from einops import rearrange

from energyflow.run import RunError


def checkpoint_field() -> Any:
    """The ``checkpoint`` option every image task takes."""
    return field(default=None, validator=v.optional(v.instance_of(str)),
                 metadata={"help": "checkpoint.pt to load instead of training first; none trains per the recipe"})


def labels_field() -> Any:
    """The ``use_labels`` option of the restoration tasks."""
    return field(default=True, validator=v.instance_of(bool),
                 metadata={"help": "condition a conditional model on each image's true label"})


def restoration_labels(run: Any, labels: torch.Tensor | None, use_labels: bool, task: str) -> torch.Tensor | None:
    """The labels to condition on: the images' own for a conditional model, ``None`` otherwise."""
    if not run.conditional:
        return None
    if not use_labels:
        raise RunError(f"task {task}: use_labels = false needs an unconditional energy, but this one is conditional "
                       "(it needs y); set task.use_labels = true or energy.conditional = false")
    return labels


def require_images(run: Any, task: str) -> None:
    """A `RunError` unless the run's data are ``(C, H, W)`` images."""
    if run.data.kind != "image" or len(run.data.sample_shape) != 3:
        raise RunError(f"task {task} needs image data of shape (C, H, W); dataset {run.data.name!r} has "
                       f"{run.data.kind} samples of shape {run.data.sample_shape}")


def trained(run: Any, checkpoint: str | None) -> Any:
    """The trainer: loaded from ``checkpoint`` if given, else trained now per the recipe."""
    if checkpoint is None:
        return run.train()
    trainer = run.load_checkpoint(Path(checkpoint).expanduser())
    run.log(f"loaded {checkpoint} (step {trainer.step_count})")
    return trainer


def train_metrics(run: Any) -> dict[str, float]:
    """The last training step's loss and energies, when the run trained."""
    stats = getattr(run, "train_stats", None) or {}
    out = {k: float(stats[k]) for k in ("loss", "e_pos", "e_neg") if k in stats}
    if "e_pos" in out and "e_neg" in out:
        out["gap"] = out["e_neg"] - out["e_pos"]
    return out


def bind(energy: Any, labels: torch.Tensor | None) -> Any:
    """``energy`` conditioned on ``labels`` (unchanged when ``None``)."""
    return energy if labels is None else energy.condition(y=labels)


def sample_batched(
    run: Any,
    energy: Any,
    x0: torch.Tensor,
    labels: torch.Tensor | None,
    steps: int,
    *,
    batch_size: int,
    description: str,
    energy_for: Callable[[Any, slice], Any] | None = None,
) -> torch.Tensor:
    """Run the recipe's sampler from ``x0`` in batches; returns the final states on the CPU.

    ``energy_for(energy, rows)`` may give each batch its own energy (a mask over those rows);
    by default each batch's energy is ``energy`` conditioned on its labels.
    """
    out = []
    with run.phase(description, total=x0.shape[0] * steps) as advance:
        for start in range(0, x0.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            batch_energy = energy_for(energy, rows) if energy_for else energy
            batch_labels = None if labels is None else labels[rows].to(run.device)
            x = x0[rows].to(run.device)
            count = x.shape[0]
            out.append(run.sampler.sample(bind(batch_energy, batch_labels), x, steps=steps, generator=run.generator,
                                          callback=lambda *_, c=count: advance(c)).cpu())
    return torch.cat(out) if out else x0[:0]


def buffer_starts(run: Any, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    """``n`` states drawn from the replay buffer, with no fresh restarts mixed in."""
    quiet = copy.copy(run.buffer)  # shares the stored chains; only the restart share differs
    quiet.reinit_prob = 0.0
    by_class = labels if getattr(run.buffer, "per_class", False) else None
    return quiet.sample(n, labels=by_class, generator=run.generator)


def uniform(run: Any, n: int) -> torch.Tensor:
    """``n`` uniform-noise images over the data's value range, from the run's generator."""
    low, high = run.data.value_range
    return low + (high - low) * torch.rand((n, *run.data.sample_shape), generator=run.generator)


def pick_test(run: Any, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` test images (and labels) chosen with the run's generator."""
    test = run.data.test
    idx = torch.randperm(test.shape[0], generator=run.generator)[: min(n, test.shape[0])]
    labels = run.data.test_labels[idx] if run.data.test_labels is not None else None
    return test[idx], labels


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
