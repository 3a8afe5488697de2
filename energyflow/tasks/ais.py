"""``kind = "ais"``: the test set's log-likelihood under a trained energy, bracketed by forward AIS and RAISE.

Forward AIS (`energyflow.likelihood.ais`) from a base over the data's box estimates log Z from
below, so ``test_ll_forward = mean(-E(x_test)) - log Z_fwd`` is a stochastic upper bound on the
test log-likelihood; RAISE (reverse AIS started at each test point) gives per-point stochastic
lower bounds, ``test_ll_reverse``. Images also get bits per dimension with the discrete-data
correction: a pixel in [0, 1] is one of ``levels`` values, each a bin of width 1/levels, so
``log P(bin) = log p(x) - D log(levels)`` and ``bpd = -log P / (D ln 2)``. On 2-D data the
grid's exact log Z sits beside both bounds. ``ais.png`` shows the estimates against the number
of temperatures, so a reader sees whether they have settled.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from attrs import field, frozen
from attrs import validators as v

from energyflow import metrics as M
from energyflow.likelihood import (
    GaussianBase,
    UniformBase,
    ais,
    class_log_z,
    raise_log_likelihood,
    reverse_ais,
)
from energyflow.recipe.tables import component as component_table
from energyflow.tasks import pictures as viz
from energyflow.tasks.base import Task
from energyflow.tasks.context import TaskContext

PICTURE = "ais.png"


def _schedule(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, str):
        if value not in ("linear", "geometric"):
            raise ValueError(f"must be \"linear\", \"geometric\" or a list of betas from 0 to 1, got {value!r}")
    elif not (len(value) >= 2 and value[0] == 0 and value[-1] == 1 and all(a < b for a, b in zip(value, value[1:]))):
        raise ValueError("a list of betas must increase from 0 to 1, e.g. [0, 0.1, 0.5, 1]")


def bits_per_dim(log_likelihood: float, dim: int, levels: int = 256) -> float:
    """Bits per dimension of a density's log-likelihood (nats per sample) on data quantised to ``levels``
    values per dimension in [0, 1]: ``-(ll - dim * log(levels)) / (dim * log 2)``; uniform density gives log2(levels)."""
    return -(log_likelihood - dim * math.log(levels)) / (dim * math.log(2))


def box_log_z(ctx: TaskContext, energy: Any, *, chains: int, temperatures: int, resolution: int,
              transition: Any = None) -> dict[str, float]:
    """AIS bounds on log Z of a 2-D energy over the data's box, beside the grid's exact value.

    The base is uniform on the same box the grid sums over and transitions reject moves out of it,
    so all three estimate the same integral. Reverse chains start at exact grid samples.
    """
    low, high = ctx.data.value_range
    base = UniformBase(low, high)
    with ctx.phase("AIS log Z", 2 * temperatures) as advance:
        forward = ais(energy, base, (2,), chains=chains, temperatures=temperatures, sampler=transition,
                      generator=ctx.generator, device=ctx.device, progress=advance)
        exact = M.grid_sample(energy, chains, value_range=(low, high), resolution=resolution, generator=ctx.generator)
        reverse = reverse_ais(energy, base, exact.to(ctx.device), temperatures=temperatures, sampler=transition,
                              generator=ctx.generator, step_sizes=forward.step_sizes, progress=advance)
    return {"log_z_forward": forward.log_z, "log_z_forward_se": forward.stderr, "log_z_reverse": reverse.log_z,
            "log_z_reverse_se": reverse.stderr}


@frozen(kw_only=True)
class AISTask(Task):
    """Train (or load a checkpoint), then bound the test log-likelihood by forward AIS and RAISE."""

    requires: ClassVar[tuple[str, ...]] = ()

    checkpoint: str | None = field(default=None, validator=v.optional(v.instance_of(str)),
                                   metadata={"help": "checkpoint.pt to evaluate; none: train per [train] first"})
    chains: int = field(default=256, validator=[v.instance_of(int), v.ge(2)],
                        metadata={"help": "forward AIS chains (per class for a conditional energy)"})
    test_points: int = field(default=256, validator=[v.instance_of(int), v.ge(2)],
                             metadata={"help": "test points, one RAISE chain each"})
    temperatures: int = field(default=1000, validator=[v.instance_of(int), v.ge(1)],
                              metadata={"help": "annealing temperatures K"})
    schedule: str | list[float] = field(default="geometric", validator=_schedule,
                                        metadata={"help": "\"linear\", \"geometric\" (dense near 0) or the betas"})
    transitions: int = field(default=1, validator=[v.instance_of(int), v.ge(1)],
                             metadata={"help": "transition steps per temperature"})
    transition: dict[str, Any] = field(factory=lambda: {"kind": "mala", "step_size": 0.01},
                                       validator=v.instance_of(dict),
                                       metadata={"help": "the transition sampler's table (mala or hmc); its step "
                                                         "size adapts from past temperatures; mala with boundary = "
                                                         "\"reflect\" where data sit on the box's faces"})
    base: Literal["uniform", "gaussian"] = field(default="uniform", validator=v.in_(("uniform", "gaussian")),
                                                 metadata={"help": "uniform on the data's box, or N(0, base_scale^2)"})
    base_scale: float = field(default=1.0, converter=float, validator=v.gt(0.0),
                              metadata={"help": "the Gaussian base's standard deviation"})
    levels: int = field(default=256, validator=[v.instance_of(int), v.ge(2)],
                        metadata={"help": "pixel levels of the discrete-data correction of bits per dimension"})
    curve: tuple[int, ...] = field(default=(10, 30, 100, 300), converter=tuple,
                                   validator=v.deep_iterable(v.and_(v.instance_of(int), v.ge(1))),
                                   metadata={"help": "fewer temperatures also run (forward and reverse) for ais.png"})

    metrics: ClassVar[dict[str, str]] = {
        "test_ll_forward": "mean test log-likelihood (nats per point) with forward AIS's log Z: an upper bound in "
                           "expectation (AIS underestimates log Z)",
        "test_ll_reverse": "mean test log-likelihood (nats per point) by RAISE, chains annealed from the test points "
                           "back to the base: a lower bound in expectation",
        "test_ll_reverse_se": "standard error of test_ll_reverse over the test points",
        "test_ll_gap": "test_ll_forward - test_ll_reverse: how far apart the two bounds are (0: settled)",
        "test_ll_gap_relative": "test_ll_gap / |test_ll_reverse|",
        "test_bpd_forward": "images: test_ll_forward in bits per dimension, with the discrete-data correction for "
                            "task.levels pixel levels (lower is better)",
        "test_bpd_reverse": "images: test_ll_reverse in bits per dimension, the same way",
        "log_z_forward": "log partition function by forward AIS from the base (a lower bound in expectation)",
        "log_z_forward_se": "standard error of log_z_forward (delta method over the chains' weights)",
        "log_z_forward[{CLASS}]": "conditional energies: log Z of one class, by forward AIS",
        "log_z_raise": "the log Z that RAISE's bound implies (mean test energy minus test_ll_reverse, negated)",
        "log_z_exact": "2-D data: log Z summed on a 256 x 256 grid over the data's box, the truth AIS estimates",
        "ess_forward": "effective sample size of forward AIS's weights (at most task.chains)",
        "acceptance": "mean acceptance rate of the transitions in forward AIS",
        "temperatures": "annealing temperatures in each direction",
        "seconds_forward": "seconds taken by forward AIS",
        "seconds_reverse": "seconds taken by RAISE",
        "seconds": "seconds of AIS in both directions",
        "seconds_per_temperature": "seconds per temperature, both directions counted",
    }

    def summary(self, metrics: dict[str, float], out_dir: Path) -> list[str]:
        """Both bounds on the test log-likelihood, their gap, and the curve to check it settled."""
        lines = [f"Test log-likelihood between {metrics['test_ll_reverse']:.3f} (RAISE, lower bound) and "
                 f"{metrics['test_ll_forward']:.3f} (forward AIS, upper bound) nats per point, "
                 f"{int(metrics['temperatures'])} temperatures, {metrics['seconds']:.0f} s -> {PICTURE} "
                 "(the estimates against the number of temperatures: flat means settled)."]
        if "test_bpd_forward" in metrics:
            lines.append(f"In bits per dimension: {metrics['test_bpd_forward']:.3f} to {metrics['test_bpd_reverse']:.3f}.")
        if "log_z_exact" in metrics:
            lines.append(f"log Z: forward AIS {metrics['log_z_forward']:.3f}, the grid's exact value "
                         f"{metrics['log_z_exact']:.3f}.")
        return lines

    def check_recipe(self, recipe: Any, where: Any) -> None:
        """The transition table names a registered sampler with valid options."""
        from energyflow.errors import RecipeError

        try:
            component_table("task.transition", self.transition, "sampler")
        except RecipeError as e:
            raise RecipeError(f"{where('task.transition')}: {e}") from None

    def _estimate(self, ctx: TaskContext, energy: Any, test: torch.Tensor, labels: torch.Tensor | None,
                  temperatures: int, chains: int, advance: Any) -> dict[str, Any]:
        data = ctx.data
        base = UniformBase(*data.value_range) if self.base == "uniform" else GaussianBase(self.base_scale)
        transition = ctx.build(component_table("task.transition", self.transition, "sampler"), what="task.transition")
        options = dict(schedule=self.schedule if isinstance(self.schedule, str) else list(self.schedule),
                       temperatures=temperatures, sampler=transition, transitions=self.transitions,
                       generator=ctx.generator, progress=advance)
        started = time.perf_counter()
        x = test.to(ctx.device)
        with torch.no_grad():
            if labels is None:
                forward = ais(energy, base, data.sample_shape, chains=chains, device=ctx.device, **options)
                log_z = torch.full((test.shape[0],), forward.log_z, dtype=torch.float64)
                energies = energy(x).double().cpu()
            else:
                per_class = class_log_z(energy, base, data.sample_shape, sorted(set(labels.tolist())),
                                        chains=chains, device=ctx.device, **options)
                forward = next(iter(per_class.values()))
                log_z = torch.tensor([per_class[int(c)].log_z for c in labels], dtype=torch.float64)
                energies = energy(x, y=labels.to(ctx.device)).double().cpu()
        forward_s = time.perf_counter() - started
        bound = energy if labels is None else energy.condition(y=labels.to(ctx.device))
        per_point, reverse = raise_log_likelihood(bound, base, x, step_sizes=forward.step_sizes, **options)
        out = {"test_ll_forward": float((-energies - log_z).mean()), "test_ll_reverse": float(per_point.mean()),
               "test_ll_reverse_se": float((per_point + energies).std() / math.sqrt(test.shape[0])),
               "log_z_forward": forward.log_z, "log_z_forward_se": forward.stderr, "ess_forward": forward.ess,
               "acceptance": forward.acceptance, "seconds_forward": forward_s,
               "seconds_reverse": reverse.seconds, "per_class": None if labels is None else per_class}
        out["log_z_raise"] = float(-energies.mean() - per_point.mean())  # the log Z that RAISE's bound implies
        return out

    def run(self, ctx: TaskContext) -> dict[str, float]:
        trainer = ctx.train() if self.checkpoint is None else ctx.load_checkpoint(Path(self.checkpoint))
        energy = trainer.sampling_energy
        was_training = energy.training
        energy.eval()
        try:
            return self._run(ctx, energy)
        finally:
            energy.train(was_training)

    def _run(self, ctx: TaskContext, energy: Any) -> dict[str, float]:
        data = ctx.data
        test, labels = ctx.pick_test(self.test_points)
        labels = labels if ctx.conditional else None
        counts = sorted({*(k for k in self.curve if k < self.temperatures), self.temperatures})
        curve = []
        with ctx.phase("AIS", 2 * sum(counts)) as advance:
            for k in counts:
                curve.append((k, self._estimate(ctx, energy, test, labels, k, self.chains, advance)))
        main = curve[-1][1]
        metrics = {key: value for key, value in main.items() if key != "per_class"}
        if main["per_class"] is not None:
            metrics.update({f"log_z_forward[{c}]": r.log_z for c, r in main["per_class"].items()})
        dim = data.num_features
        metrics["test_ll_gap"] = main["test_ll_forward"] - main["test_ll_reverse"]
        metrics["test_ll_gap_relative"] = metrics["test_ll_gap"] / max(abs(main["test_ll_reverse"]), 1e-12)
        metrics["seconds"] = main["seconds_forward"] + main["seconds_reverse"]
        metrics["seconds_per_temperature"] = metrics["seconds"] / (2 * self.temperatures)
        metrics["temperatures"] = self.temperatures
        if data.kind == "image":
            for side in ("forward", "reverse"):
                metrics[f"test_bpd_{side}"] = bits_per_dim(main[f"test_ll_{side}"], dim, self.levels)
        exact = None
        if data.kind == "points" and dim == 2 and labels is None:
            exact = metrics["log_z_exact"] = M.grid_nll(energy, test, value_range=data.value_range,
                                                        resolution=256)["log_z"]
        viz.save_ais_curve(ctx.out_dir / PICTURE, [(k, r["log_z_forward"], r["log_z_forward_se"], r["log_z_raise"],
                                                    r["test_ll_reverse_se"]) for k, r in curve], exact=exact)
        return metrics
