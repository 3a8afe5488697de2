"""Likelihoods of energies whose partition function is unknown: annealed importance sampling.

`ais` estimates log Z from below, `reverse_ais` from above (from exact model samples), and
`raise_log_likelihood` bounds a test set's log-likelihood from below (RAISE), so forward and
reverse bracket the truth; `class_log_z` and `marginal_log_likelihood` serve conditional
energies. Transitions are the registered samplers (MALA or HMC), run on the tempered energy
``(1 - beta) * E_0 + beta * E`` the `Energy` algebra builds.
"""

from energyflow.likelihood.ais import (
    AISResult,
    ais,
    anneal,
    log_mean_exp,
    raise_log_likelihood,
    reverse_ais,
    tempered,
    weight_stats,
)
from energyflow.likelihood.bases import BaseDistribution, GaussianBase, UniformBase
from energyflow.likelihood.conditional import class_log_z, marginal_log_likelihood
from energyflow.likelihood.schedule import SCHEDULES, betas

__all__ = [
    "SCHEDULES", "AISResult", "BaseDistribution", "GaussianBase", "UniformBase", "ais", "anneal", "betas",
    "class_log_z", "log_mean_exp", "marginal_log_likelihood", "raise_log_likelihood", "reverse_ais", "tempered",
    "weight_stats",
]
