"""``kind = "generate"``: train by the recipe's objective, then sample and score the model."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import metrics as M
from energyflow.tasks import pictures as viz
from energyflow.tasks.ais import box_log_z
from energyflow.tasks.base import Task
from energyflow.tasks.context import TaskContext
from energyflow.tasks.image_tables import save_image_grid
from energyflow.tasks.report import TRAIN_METRICS
from energyflow.training.stats import train_metrics
from energyflow.training.trainer import Trainer


@frozen(kw_only=True)
class SamplingOptions(Task):
    """What the ``generate`` and ``sample`` tasks draw and score: samples, chain length, density grid."""

    requires: ClassVar[tuple[str, ...]] = ("sampler",)  # the objective names the tables training needs
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "energy_replay": "mean energy of samples drawn from the replay buffer (its states after one more sampler run)",
        "energy_chains": "mean energy of samples from long chains started from noise (task.chain_steps steps)",
        "mmd_replay": "squared MMD (Gaussian kernel) between replay-buffer samples and held-out data; 0 is a match",
        "mmd_chains": "squared MMD between the long chains' samples and held-out data; 0 is a match",
        "nll": "2-D data: mean negative log-likelihood (nats) of held-out points under exp(-E) normalised on a grid",
        "log_z": "2-D data: log of the partition function, summed on the grid over the data's value range",
        "log_z_exact": "2-D data: the same grid log Z, named as the truth AIS's estimates are compared with",
        "log_z_forward": "2-D data: log Z over the same box by forward AIS (task.ais_temperatures; a lower bound "
                         "in expectation)",
        "log_z_forward_se": "standard error of log_z_forward",
        "log_z_reverse": "2-D data: log Z by reverse AIS from exact samples of the grid density (an upper bound "
                         "in expectation)",
        "log_z_reverse_se": "standard error of log_z_reverse",
        "true_nll": "2-D data with a known density: the true density's mean NLL (nats) of the same held-out points",
        "nll_gap": "nll - true_nll: how many nats the learned density loses to the truth per point (0 is perfect)",
    }

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

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """The grid NLL beside the truth (2-D data) and how close the samples are to held-out data."""
        lines = []
        if "nll_gap" in metrics:
            lines.append(f"On held-out points the learned density scores {metrics['nll']:.3f} nats per point against "
                         f"the true density's {metrics['true_nll']:.3f}: a gap of {metrics['nll_gap']:.3f} nats "
                         "-> samples.png (learned density beside the data and the samples).")
        elif "nll" in metrics:
            lines.append(f"On held-out points the learned density scores {metrics['nll']:.3f} nats per point "
                         "-> samples.png.")
        sources = {"mmd_replay": "replay-buffer samples", "mmd_chains": f"{self.chain_steps}-step chains from noise"}
        found = [f"{text} {metrics[key]:.4f}" for key, text in sources.items() if key in metrics]
        if found:
            lines.append("Squared MMD to held-out data (0 means indistinguishable): " + "; ".join(found) + ".")
        return lines


@frozen(kw_only=True)
class GenerateTask(SamplingOptions):
    """Train by the recipe's objective, then sample from the replay buffer (if training kept one) and long fresh chains."""

    def run(self, ctx: TaskContext) -> dict[str, float]:
        trainer = ctx.train()
        return sample_and_score(ctx, trainer, self, buffer=True)


def sample_and_score(ctx: TaskContext, trainer: Trainer, options: SamplingOptions, *,
                     buffer: bool) -> dict[str, float]:
    """Draw samples (from the trainer's replay buffer when ``buffer`` and it has one, and from fresh chains),
    score them, draw them.

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
    if buffer and trainer.buffer is not None:  # objectives without a buffer (dsm, ssm, nce) sample fresh chains only
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
                              {captions[k]: x for k, x in sets.items()}, resolution=resolution,
                              title=f"Learned density, data and {n} samples per set "
                                    f"(replay buffer: {ctx.steps_text()}; chains: {ctx.steps_text(chain_steps)})")
    elif ctx.data.kind == "image":
        shown = sets.get("replay", sets["chains"])[:64]
        start = f"replay-buffer states after {ctx.steps_text()}" if "replay" in sets else \
            f"uniform noise after {ctx.steps_text(chain_steps)}"
        save_image_grid(ctx.out_dir / "samples.png", shown, value_range=ctx.data.value_range,
                        title=f"{shown.shape[0]} samples: {start}")
    return result
