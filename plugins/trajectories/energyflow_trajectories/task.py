"""``kind = "rollout"``: train the energy, train a regression baseline, roll both out and score them.

The energy model predicts by sampling: for each step, a chain started by the recipe's buffer (the
``last_state`` buffer: at the last past state plus noise) runs the recipe's sampler on
E(next | context), the sample is appended and the window moves on. Several samples per start show
the spread. The baseline is a feed-forward network of the same widths regressing the next state
(Adam, MSE), rolled out the same way. Both are scored at every horizon against the true test
trajectories: position MSE, the Frechet distance between predicted and true state distributions
and the drift of the physical energy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from attrs import field, frozen
from attrs import validators as v
from einops import rearrange

import energyflow
from energyflow import RunError, train_metrics
from energyflow.tasks import TRAIN_METRICS
from energyflow_trajectories import baseline as B
from energyflow_trajectories import plots
from energyflow_trajectories.data import TrajectoryData, reference, trajectory_data
from energyflow_trajectories.rollout import (
    horizon_metrics,
    independent_fd,
    rollout,
    starts,
)

_count = [v.instance_of(int), v.ge(1)]
SCORES = {"mse": "position MSE", "fd": "Frechet distance of states (to the true ones)",
          "energy_drift": "physical energy drift |H - H(start)|"}
#: the rolled-out predictors, as the metrics name them
PREDICTORS = {"ebm": "the energy model's rollouts (task.samples per start, averaged)",
              "regression": "the regression baseline's rollout",
              "extrapolation": "linear extrapolation of the last two states (no model)"}
MEANINGS = {"fd": "Frechet distance between Gaussians fitted to the predicted and the true states (all particles' "
                  "position and velocity, over the starts) H steps ahead; lower is better",
            "mse": "mean squared error of the predicted positions against the true trajectory H steps ahead",
            "energy_drift": "mean absolute change of the physical energy (kinetic + springs + charges) from the "
                            "start to H steps ahead (compare with true_energy_drift)"}
LABELS = {"energy": "energy model (Langevin samples)", "regression": "regression baseline",
          "extrapolation": "linear extrapolation (no model)", "independent": "other true trajectories"}


@frozen(kw_only=True)
class RolloutTask(energyflow.Task):
    """Train, then roll the energy (Langevin samples) and a regression baseline out and score both per horizon."""

    requires: ClassVar[tuple[str, ...]] = ("sampler", "buffer")
    metrics: ClassVar[dict[str, str]] = {
        **TRAIN_METRICS,
        "baseline_train_mse": "the regression baseline's training loss (MSE of the next state's residual, in units "
                              "of task.baseline_target), mean of its last tenth of steps",
        "starts": "test trajectories rolled out (task.num_starts, at most the test split)",
        "samples": "energy-model rollouts per start (task.samples)",
        **{f"{key}_{score}_h{{H}}": f"{words}: {text}" for key, words in PREDICTORS.items()
           for score, text in MEANINGS.items()},
        "true_energy_drift_h{H}": "the same drift of the true trajectories: the simulator's own (integration error, "
                                  "clipped forces)",
        "independent_fd_h{H}": "Frechet distance between the true states H steps ahead and those of as many other "
                               "true trajectories: the distance two samples of the truth already have",
    }

    num_starts: int = field(default=200, validator=[v.instance_of(int), v.ge(2)],
                            metadata={"help": "test trajectories rolled out (each from its first history states)"})
    samples: int = field(default=4, validator=_count, metadata={"help": "energy-model rollouts per start"})
    horizon: int = field(default=100, validator=_count, metadata={"help": "steps rolled out"})
    horizons: tuple[int, ...] = field(default=(1, 10, 20, 50, 100), converter=tuple,
                                      validator=v.deep_iterable(v.and_(v.instance_of(int), v.ge(1))),
                                      metadata={"help": "horizons reported in metrics.json (others: curves.json)"})
    sampler_steps: int | None = field(default=None, validator=v.optional(_count),
                                      metadata={"help": "sampler steps per predicted state; none: the sampler's"})
    baseline_iterations: int = field(default=3000, validator=[v.instance_of(int), v.ge(0)],
                                     metadata={"help": "Adam steps of the regression baseline"})
    baseline_lr: float = field(default=1e-3, converter=float, validator=v.gt(0.0),
                               metadata={"help": "baseline learning rate (cosine decay to 0)"})
    baseline_batch_size: int = field(default=256, validator=_count, metadata={"help": "baseline minibatch"})
    baseline_hidden: tuple[int, ...] | None = field(
        default=None, converter=lambda x: None if x is None else tuple(x),
        validator=v.optional(v.deep_iterable(v.and_(v.instance_of(int), v.ge(1)))),
        metadata={"help": "baseline widths; none: the energy's"})
    baseline_target: Literal["std", "robust"] = field(default="std", validator=v.in_(("std", "robust")),
                                 metadata={"help": "unit of the baseline's MSE: the residual's std, or its typical "
                                                   "size (robust spread, the energy's unit)"})
    shown: int = field(default=3, validator=_count, metadata={"help": "starts drawn in rollouts.png"})

    def run(self, ctx: energyflow.TaskContext) -> dict[str, float]:
        try:
            data = trajectory_data(ctx.data, "task rollout")
        except ValueError as e:
            raise RunError(f"{ctx.recipe.source}: {e}") from e
        available = data.test_trajectories.shape[1] - data.history
        if available < self.horizon:
            raise RunError(f"{ctx.recipe.source}: task.horizon = {self.horizon}, but test trajectories hold only "
                           f"{available} states after the history; raise data.test_steps to "
                           f"{data.history + self.horizon}")
        n = min(self.num_starts, data.test_trajectories.shape[0])
        trainer = ctx.train()
        energy = trainer.sampling_energy.eval()
        regressor, baseline_loss = self._baseline(ctx, data)

        truth = data.test_trajectories[:n, data.history : data.history + self.horizon]
        with torch.no_grad(), ctx.phase("regression rollout", self.horizon) as advance:
            one = starts(data, n)
            predicted = rollout(lambda y: regressor(y.to(ctx.device)).cpu(), data, **one, horizon=self.horizon,
                                advance=advance)
        models = {"regression": rearrange(predicted, "n h p f -> n 1 h p f")}
        many = starts(data, n, self.samples)
        with ctx.phase("energy rollout", self.horizon) as advance:
            predicted = rollout(lambda y: self._sample(ctx, energy, y), data, **many, horizon=self.horizon,
                                advance=advance)
        models["energy"] = rearrange(predicted, "(n s) h p f -> n s h p f", s=self.samples)
        # no model at all: keep extrapolating the last two states linearly (free flight, no springs, no walls)
        predicted = rollout(lambda y: rearrange(reference(data.layout.split(y)[0]), "n p f -> n (p f)"), data,
                            **one, horizon=self.horizon)
        models["extrapolation"] = rearrange(predicted, "n h p f -> n 1 h p f")
        curves = {name: horizon_metrics(data, pred, truth, data.test_springs[:n], data.test_charges[:n])
                  for name, pred in models.items()}
        curves["truth"] = horizon_metrics(data, truth[:, None], truth, data.test_springs[:n], data.test_charges[:n])
        curves["independent"] = {"fd": independent_fd(data, truth)}
        metrics = {**train_metrics(trainer), "baseline_train_mse": baseline_loss}
        return self._report(ctx, data, models, curves, n, metrics)

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """Distribution distance and position error of each predictor at the longest horizon reported."""
        reported = [int(key.removeprefix("ebm_fd_h")) for key in metrics if key.startswith("ebm_fd_h")]
        if not reported:
            return []
        h = max(reported)
        names = {"ebm": "energy model", "regression": "regression baseline", "extrapolation": "linear extrapolation"}
        fd = ", ".join(f"{words} {metrics[f'{key}_fd_h{h}']:.3g}" for key, words in names.items())
        other = (f", other true trajectories {metrics[f'independent_fd_h{h}']:.3g}"
                 if f"independent_fd_h{h}" in metrics else "")
        mse = ", ".join(f"{words} {metrics[f'{key}_mse_h{h}']:.3g}" for key, words in names.items())
        return [f"{h} steps ahead of {metrics['starts']:.0f} test starts, the Frechet distance of predicted to true "
                f"states (lower is better) is: {fd}{other} -> horizons.png.",
                f"Position MSE {h} steps ahead: {mse} -> rollouts.png."]

    def _baseline(self, ctx: energyflow.TaskContext, data: TrajectoryData) -> tuple[B.NextStateRegressor, float]:
        hidden = self.baseline_hidden or getattr(ctx.energy, "hidden", None) or (256, 256)
        reference = getattr(getattr(ctx.energy, "context", None), "reference", "extrapolate")
        model = B.NextStateRegressor(data.layout, data.scales(), hidden=hidden, reference=reference,
                                     target=self.baseline_target).to(ctx.device)
        with ctx.phase("regression baseline", self.baseline_iterations) as advance:
            loss = B.fit(model, data.train_labels, data.train, iterations=self.baseline_iterations,
                         batch_size=self.baseline_batch_size, lr=self.baseline_lr, generator=ctx.generator,
                         device=ctx.device, advance=advance)
        return model.eval(), loss

    def _sample(self, ctx: energyflow.TaskContext, energy: energyflow.Energy, contexts: torch.Tensor) -> torch.Tensor:
        reinit = getattr(ctx.buffer, "reinit_prob", 0.0)
        x0 = ctx.chain_starts(contexts.shape[0], "buffer", labels=contexts, reinit_prob=reinit).to(ctx.device)
        bound = ctx.bind(energy, contexts.to(ctx.device))
        return ctx.sampler.sample(bound, x0, steps=self.sampler_steps, generator=ctx.generator).cpu()

    def _report(self, ctx: energyflow.TaskContext, data: TrajectoryData, models: dict[str, torch.Tensor],
                curves: dict[str, dict[str, list[float]]], n: int, metrics: dict[str, Any]) -> dict[str, float]:
        ctx.write_json("curves.json", {"horizon": list(range(1, self.horizon + 1)), **curves})
        shown = min(self.shown, n)
        plots.save_rollouts(ctx.out_dir / "rollouts.png", data.test_trajectories[:shown, : data.history + self.horizon],
                            {LABELS[k]: models[k][:shown] for k in ("energy", "regression")}, data.system.box,
                            title=f"{shown} test starts rolled out {self.horizon} steps: the truth, {self.samples} "
                                  f"energy-model rollouts ({ctx.steps_text(self.sampler_steps)} a step), the baseline")
        plots.save_horizon_plot(ctx.out_dir / "horizons.png",
                                {LABELS[k]: curves[k] for k in ("energy", "regression", "extrapolation", "independent")
                                 if curves[k].get("fd")}, SCORES,
                                title=f"Rollout scores of {n} test starts against horizon (log scale)")
        metrics.update(starts=n, samples=self.samples)
        for h in sorted({h for h in self.horizons if h <= self.horizon}):
            for name, key in (("energy", "ebm"), ("regression", "regression"), ("extrapolation", "extrapolation")):
                for score in ("fd", "mse", "energy_drift"):
                    metrics[f"{key}_{score}_h{h}"] = curves[name][score][h - 1]
            metrics[f"true_energy_drift_h{h}"] = curves["truth"]["energy_drift"][h - 1]
            if curves["independent"]["fd"]:
                metrics[f"independent_fd_h{h}"] = curves["independent"]["fd"][h - 1]
        return metrics
