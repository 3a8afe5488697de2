"""``kind = "generate"``: train by contrastive divergence, then sample and score the model."""

from __future__ import annotations

from typing import ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import metrics as M
from energyflow.tasks import pictures as viz
from energyflow.tasks.ais import box_log_z
from energyflow.tasks.base import Task
from energyflow.tasks.context import TaskContext
from energyflow.training.contrastive_divergence import ContrastiveDivergence
from energyflow.training.stats import train_metrics


@frozen(kw_only=True)
class SamplingOptions(Task):
    """What the ``generate`` and ``sample`` tasks draw and score: samples, chain length, density grid."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")

    num_samples: int = field(default=2000, validator=[v.instance_of(int), v.ge(2)],
                             metadata={"help": "samples drawn for the picture and the metrics"})
    chain_steps: int = field(default=500, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "steps of the long chains started from noise"})
    resolution: int = field(default=200, validator=[v.instance_of(int), v.ge(8)],
                            metadata={"help": "grid cells per axis for the density picture and grid NLL (2-D data)"})
    ais_temperatures: int = field(default=100, validator=[v.instance_of(int), v.ge(0)],
                                  metadata={"help": "AIS temperatures for log_z_forward / log_z_reverse beside the "
                                                    "grid's log_z_exact (2-D data); 0: skip"})
    ais_chains: int = field(default=500, validator=[v.instance_of(int), v.ge(2)],
                            metadata={"help": "AIS chains in each direction (2-D data)"})


@frozen(kw_only=True)
class GenerateTask(SamplingOptions):
    """Train with contrastive divergence, then sample from the replay buffer and long fresh chains."""

    def run(self, ctx: TaskContext) -> dict[str, float]:
        trainer = ctx.train()
        return sample_and_score(ctx, trainer, self, buffer=True)


def sample_and_score(ctx: TaskContext, trainer: ContrastiveDivergence, options: SamplingOptions, *,
                     buffer: bool) -> dict[str, float]:
    """Draw samples (from the buffer when ``buffer``, and from fresh chains), score them, draw them.

    Returns the metrics: the last training step's numbers (``loss``, ``e_pos``, ``e_neg``,
    ``gap``), the mean energy and MMD to the test set of each sample set, and for 2-D data the
    grid NLL (``nll``, ``log_z`` = ``log_z_exact``, with ``true_nll`` and ``nll_gap`` when the density is known)
    and AIS's bounds on the same log Z over the data's box (``log_z_forward``, ``log_z_reverse`` and their
    ``_se``; see `energyflow.tasks.ais.box_log_z`).
    """
    n, chain_steps, resolution = options.num_samples, options.chain_steps, options.resolution
    energy = trainer.sampling_energy
    labels = ctx.draw_labels(n)
    sets: dict[str, torch.Tensor] = {}
    if buffer:
        x0 = ctx.chain_starts(n, "buffer", labels=labels, reinit_prob=ctx.buffer.reinit_prob)
        sets["replay"] = ctx.sample(energy, x0, labels, batch_size=n, description="sample buffer")
    sets["chains"] = ctx.sample(energy, ctx.chain_starts(n), labels, steps=chain_steps, batch_size=n,
                                description="sample chains")
    result = train_metrics(trainer)
    test = ctx.data.test
    for name, samples in sets.items():
        result[f"energy_{name}"] = ctx.mean_energy(energy, samples, labels, batch_size=n)
        result[f"mmd_{name}"] = M.mmd(samples[: min(n, 2000)], test[:2000])
    points_2d = ctx.data.kind == "points" and ctx.data.num_features == 2 and labels is None
    if points_2d:
        scores = M.grid_nll(energy, test, value_range=ctx.data.value_range, resolution=resolution,
                            log_prob=ctx.data.log_prob)
        result.update(nll=scores["nll"], log_z=scores["log_z"], log_z_exact=scores["log_z"])
        if options.ais_temperatures:
            result.update(box_log_z(ctx, energy, chains=options.ais_chains, temperatures=options.ais_temperatures,
                                    resolution=resolution))
        if "true_nll" in scores:
            result.update(true_nll=scores["true_nll"], nll_gap=scores["gap"])
        captions = {"replay": "replay buffer samples", "chains": f"{chain_steps}-step chains from noise"}
        viz.save_density_plot(ctx.out_dir / "samples.png", energy, ctx.data,
                              {captions[k]: x for k, x in sets.items()}, resolution=resolution)
    elif ctx.data.kind == "image":
        viz.save_image_grid(ctx.out_dir / "samples.png", sets.get("replay", sets["chains"])[:64],
                            value_range=ctx.data.value_range)
    return result
