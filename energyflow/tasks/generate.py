"""``kind = "generate"``: train by contrastive divergence, then sample and score the model."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import metrics as M
from energyflow import viz


@frozen(kw_only=True)
class GenerateTask:
    """Train with contrastive divergence, then sample from the replay buffer and long fresh chains."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")

    num_samples: int = field(default=2000, validator=[v.instance_of(int), v.ge(2)],
                             metadata={"help": "samples drawn for the picture and the metrics"})
    chain_steps: int = field(default=500, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "steps of the long chains started from noise"})
    resolution: int = field(default=200, validator=[v.instance_of(int), v.ge(8)],
                            metadata={"help": "grid cells per axis for the density picture and grid NLL (2-D data)"})

    def run(self, run: Any) -> dict[str, float]:
        trainer = run.train()
        return sample_and_score(run, trainer, self.num_samples, self.chain_steps, self.resolution,
                                buffer=True, train_stats=run.train_stats)


def sample_and_score(run: Any, trainer: Any, n: int, chain_steps: int, resolution: int, *,
                     buffer: bool, train_stats: dict[str, float] | None = None) -> dict[str, float]:
    """Draw samples (from the buffer when ``buffer``, and from fresh chains), score them, draw them.

    Returns the metrics: the last training step's numbers (``loss``, ``e_pos``, ``e_neg``,
    ``gap``), the mean energy and MMD to the test set of each sample set, and for 2-D data the
    grid NLL (``nll``, ``log_z``, with ``true_nll`` and ``nll_gap`` when the density is known).
    """
    energy = trainer.sampling_energy
    labels = run.draw_labels(n)
    bound = energy if labels is None else energy.condition(y=labels)
    sets: dict[str, torch.Tensor] = {}
    if buffer:
        with run.phase("sample buffer", total=run.sampler.steps) as advance:
            buffer_labels = labels if getattr(run.buffer, "per_class", False) else None
            x0 = run.buffer.sample(n, labels=buffer_labels, generator=run.generator, device=run.device)
            sets["replay"] = run.sampler.sample(bound, x0, generator=run.generator, callback=lambda *_: advance(1))
    with run.phase("sample chains", total=chain_steps) as advance:
        low, high = run.data.value_range
        noise = low + (high - low) * torch.rand((n, *run.data.sample_shape), generator=run.generator)
        sets["chains"] = run.sampler.sample(bound, noise.to(run.device), steps=chain_steps, generator=run.generator,
                                            callback=lambda *_: advance(1))
    result: dict[str, float] = {}
    if train_stats:
        result.update({k: train_stats[k] for k in ("loss", "e_pos", "e_neg") if k in train_stats})
        result["gap"] = train_stats["e_neg"] - train_stats["e_pos"]
    test = run.data.test
    for name, samples in sets.items():
        with torch.no_grad():
            result[f"energy_{name}"] = float(bound(samples).mean())
        result[f"mmd_{name}"] = M.mmd(samples[: min(n, 2000)].cpu(), test[:2000])
    points_2d = run.data.kind == "points" and run.data.num_features == 2 and labels is None
    if points_2d:
        scores = M.grid_nll(energy, test, value_range=run.data.value_range, resolution=resolution,
                            log_prob=run.data.log_prob)
        result.update(nll=scores["nll"], log_z=scores["log_z"])
        if "true_nll" in scores:
            result.update(true_nll=scores["true_nll"], nll_gap=scores["gap"])
        captions = {"replay": "replay buffer samples", "chains": f"{chain_steps}-step chains from noise"}
        viz.save_density_plot(run.out_dir / "samples.png", energy, run.data,
                              {captions[k]: x for k, x in sets.items()}, resolution=resolution)
    elif run.data.kind == "image":
        viz.save_image_grid(run.out_dir / "samples.png", sets.get("replay", sets["chains"])[:64],
                            value_range=run.data.value_range)
    return result
