"""Long-run evaluation: do chains stay on the data when they run far longer than in training?

Chains start in uniform noise and run ``max(steps)`` transitions, scored at every length in
``steps``; chains continued from replay-buffer states run ``buffer_steps`` and are scored at the
lengths of ``steps`` they reach and at their end. Each snapshot gets the quality figures of
`energyflow_vision.evaluation.sample_quality.ImageQuality` (floor/ceiling ratio, class coverage, class agreement)
and its mean energy, beside the mean energy of held-out data. ``long_run.png`` plots the ratio
against chain length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from energyflow import TaskContext
from energyflow.samplers import to_device
from energyflow.tasks import save_curves
from energyflow_vision.evaluation.sample_quality import QUALITY_FIGURES

KEPT = ("ratio", "cfd", "class_coverage", "class_balance", "cond_accuracy")


RATIO_CAP = 1000.0
#: What the floor/ceiling ratio means, in the tasks' metrics tables.
RATIO_MEANING = ("floor/ceiling ratio (cfd_noise - cfd) / (cfd - cfd_real): how many times closer the samples are "
                 "to real images than to noise in the classifier's features; noise scores 0 (below 0: farther "
                 f"than noise), higher is better, samples as close as real images get {RATIO_CAP:g}")
#: What the floor/ceiling ratio means, where people see it (long_run.png).
RATIO_WORDS = ("floor/ceiling ratio: how many times closer the samples are to real images than to noise, "
               "in a classifier's features (noise scores 0)")

#: What each ``long_<start>_<steps>_<figure>`` number means, by figure.
LONG_RUN_FIGURES: dict[str, str] = {
    "energy": "mean energy of the chains' states (compare with long_energy_data)",
    "ratio": RATIO_MEANING,
    **{key: QUALITY_FIGURES[key] for key in KEPT if key != "ratio"},
}


def floor_ceiling_ratio(scores: dict[str, float]) -> float:
    """``(cfd_noise - cfd) / (cfd - cfd_real)``: how many times closer to the data than to noise.

    Samples at or below the floor (possible with few samples) get `RATIO_CAP`, so the figure stays
    finite in ``metrics.json``.
    """
    span = scores["cfd_noise"] - scores["cfd_real"]
    gap = scores["cfd"] - scores["cfd_real"]
    if gap <= abs(span) / RATIO_CAP:
        return RATIO_CAP
    return (scores["cfd_noise"] - scores["cfd"]) / gap


def run_snapshots(ctx: TaskContext, energy: Any, x0: torch.Tensor, labels: torch.Tensor | None,
                  lengths: Sequence[int], *, batch_size: int, description: str) -> dict[int, torch.Tensor]:
    """Run the recipe's sampler from ``x0`` for ``max(lengths)`` steps; the states at each length (CPU)."""
    lengths = sorted(set(int(n) for n in lengths))
    total = lengths[-1]
    shots: dict[int, list[torch.Tensor]] = {n: [] for n in lengths}
    with ctx.phase(description, x0.shape[0] * total) as advance:
        for start in range(0, x0.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            bound = ctx.bind(energy, to_device(None if labels is None else labels[rows], ctx.device))
            x = x0[rows].to(ctx.device)

            def keep(step: int, state: torch.Tensor, count: int = x.shape[0]) -> None:
                advance(count)
                if step + 1 in shots:
                    shots[step + 1].append(state.detach().cpu())
            if 0 in shots:
                shots[0].append(x.cpu())
            ctx.sampler.sample(bound, x, steps=total, generator=ctx.generator, callback=keep)
    return {n: torch.cat(parts) for n, parts in shots.items()}


def long_run(ctx: TaskContext, energy: Any, quality: Any, *, samples: int, steps: Sequence[int],
             buffer_steps: int, batch_size: int) -> dict[str, float]:
    """The long-run figures (``long_<start>_<length>_<figure>``) and ``long_run.png``; see the module."""
    labels = ctx.draw_labels(samples)
    runs: dict[str, dict[int, torch.Tensor]] = {}
    if steps:
        runs["noise"] = run_snapshots(ctx, energy, ctx.chain_starts(samples), labels, steps,
                                      batch_size=batch_size, description="long chains from noise")
    if buffer_steps and ctx.buffer is not None:
        lengths = [n for n in steps if n < buffer_steps] + [buffer_steps]
        runs["buffer"] = run_snapshots(ctx, energy, ctx.chain_starts(samples, "buffer", labels=labels), labels,
                                       lengths, batch_size=batch_size, description="long chains from the buffer")
    metrics: dict[str, float] = {}
    test_labels = ctx.data.test_labels[:samples] if ctx.conditional else None
    metrics["long_energy_data"] = ctx.mean_energy(energy, ctx.data.test[:samples], test_labels)
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for start, shots in runs.items():
        xs, ys = [], []
        for length, x in shots.items():
            scores = quality.evaluate(x, labels, generator=ctx.generator) if quality is not None else {}
            prefix = f"long_{start}_{length}_"
            metrics[prefix + "energy"] = ctx.mean_energy(energy, x, labels)
            if "cfd" in scores:
                scores["ratio"] = floor_ceiling_ratio(scores)
                metrics.update({prefix + k: float(scores[k]) for k in KEPT if k in scores})
                xs.append(length)
                ys.append(scores["ratio"])
        if xs:
            curves[f"from {start}"] = (xs, ys)
    if curves:
        save_curves(ctx.out_dir / "long_run.png", curves, xlabel=f"{ctx.sampler_name} steps",
                    ylabel="floor/ceiling ratio (higher is better)", title=f"Long chains of {samples} samples: quality "
                    "against chain length", subtitle=RATIO_WORDS)
    return metrics
