"""Likelihoods of class-conditional energies E(x, y): log Z per class and log p(x).

A conditional energy defines p(x | y) = exp(-E(x, y)) / Z_y, with one partition function per
class. `class_log_z` estimates every Z_y in one batch of chains (each chain bound to its class);
`marginal_log_likelihood` turns them into log p(x) = log sum_y p(y) exp(-E(x, y)) / Z_y.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from energyflow.core.energy import Energy
from energyflow.likelihood.ais import AISResult, ais, log_mean_exp, weight_stats
from energyflow.likelihood.bases import BaseDistribution


def class_log_z(energy: Energy, base: BaseDistribution, shape: Sequence[int], classes: Sequence[int], *,
                chains: int = 256, key: str = "y", **options: Any) -> dict[int, AISResult]:
    """Forward AIS for each class at once: ``chains`` chains per class, bound to it through ``key``.

    Returns one `AISResult` per class (its ``seconds`` is the shared run's); ``options`` are `ais`'s.
    """
    classes = [int(c) for c in classes]
    labels = torch.tensor(classes).repeat_interleave(chains)
    device = options.get("device") or next((t.device for t in energy.parameters()), torch.device("cpu"))
    joint = ais(energy.condition(**{key: labels.to(device)}), base, shape, chains=len(labels), **options)
    out = {}
    for i, c in enumerate(classes):
        rows = slice(i * chains, (i + 1) * chains)
        log_w = joint.log_weights[rows]
        ess, stderr = weight_stats(log_w)
        out[c] = AISResult(float(log_mean_exp(log_w)), log_w, ess, stderr, "forward", joint.samples[rows],
                           joint.step_sizes, joint.acceptance, joint.seconds)
    return out


@torch.no_grad()
def marginal_log_likelihood(energy: Energy, x: torch.Tensor, log_z: dict[int, float], *,
                            prior: dict[int, float] | None = None, key: str = "y") -> torch.Tensor:
    """log p(x) = logsumexp_y(log p(y) - E(x, y) - log Z_y) per row of ``x`` (float64, CPU).

    Args:
        energy: the conditional energy.
        x: the points ``(n, ...)``.
        log_z: log Z_y per class (say, ``{c: r.log_z for c, r in class_log_z(...).items()}``).
        prior: p(y) per class; default uniform over ``log_z``'s classes.
        key: the context name of the label.
    """
    prior = prior or {c: 1.0 / len(log_z) for c in log_z}
    terms = []
    for c, lz in log_z.items():
        labels = torch.full((x.shape[0],), c, device=x.device)
        terms.append(math.log(prior[c]) - energy(x, **{key: labels}).double().cpu() - lz)
    return torch.logsumexp(torch.stack(terms), dim=0)
