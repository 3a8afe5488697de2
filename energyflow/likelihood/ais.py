"""Annealed importance sampling (Neal 2001) and its reverse (RAISE, Burda et al. 2015).

The path from a normalised base p_0 = exp(-E_0) to exp(-E) runs through

    log f_k(x) = -(1 - beta_k) E_0(x) - beta_k E(x),    0 = beta_0 < ... < beta_K = 1,

and each f_k is sampled by the energy ``(1 - beta_k) * E_0 + beta_k * E`` built with the
`Energy` algebra, so any registered sampler's one loop is the transition. Sign conventions:

- forward (`ais`): chains start exactly in p_0; at each k the log weight gains
  ``log f_k(x) - log f_{k-1}(x) = -(beta_k - beta_{k-1}) (E(x) - E_0(x))``, then a transition
  leaving f_k invariant moves x. ``E[w] = Z``, so ``log Z_fwd = log mean(w)`` is a stochastic
  lower bound on log Z (Jensen).
- reverse (`reverse_ais`): chains start in exp(-E)/Z; for k = K..1 a transition leaving f_k
  invariant moves x, then the log weight gains ``log f_{k-1}(x) - log f_k(x)``. ``E[w] = 1/Z``,
  so ``log Z_rev = -log mean(w)`` is a stochastic upper bound. Started from a test point x
  instead, ``-E(x) + log w`` is RAISE's estimate of log p(x), whose mean is a stochastic lower
  bound on the log-likelihood of the annealing model (which tends to exp(-E)/Z as K grows).

Step sizes adapt to a target acceptance from the acceptance at past temperatures only, so every
transition is a fixed valid kernel when it runs; the reverse pass reuses the forward pass's
step sizes, temperature by temperature, when given them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
from attrs import frozen

from energyflow.core.energy import Energy, energy_and_grad
from energyflow.core.nodes import scale
from energyflow.likelihood.bases import BaseDistribution
from energyflow.likelihood.schedule import betas as make_betas
from energyflow.samplers.base import Sampler
from energyflow.samplers.hmc import HMC
from energyflow.samplers.mala import MALA

#: acceptance rates step sizes adapt to (Roberts & Rosenthal's 0.574 for MALA; 0.65 for HMC)
TARGET_ACCEPTANCE = {MALA: 0.574, HMC: 0.65}
#: log step size change per unit of acceptance error, per temperature
ADAPT_GAIN = 1.0

Schedule = str | Sequence[float] | torch.Tensor


@frozen
class AISResult:
    """One AIS run.

    Attributes:
        log_z: the estimate of log Z (forward: a stochastic lower bound; reverse: upper).
        log_weights: per-chain log weights, float64 on the CPU (forward: estimates of Z; reverse:
            of 1/Z).
        ess: effective sample size of the weights, ``(sum w)^2 / sum w^2``, in [1, chains].
        stderr: delta-method standard error of ``log_z``, ``std(w) / (mean(w) sqrt(chains))``.
        direction: ``"forward"`` or ``"reverse"``.
        samples: the final chain states (forward: approximately from exp(-E); reverse: from p_0).
        step_sizes: the transition step size used at each temperature, in forward order
            (``beta_1 .. beta_K``); empty for samplers without a step size.
        acceptance: the mean acceptance of the transitions (NaN without Metropolis).
        seconds: wall time of the annealing.
    """

    log_z: float
    log_weights: torch.Tensor
    ess: float
    stderr: float
    direction: str
    samples: torch.Tensor
    step_sizes: tuple[float, ...]
    acceptance: float
    seconds: float


def log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    """log(mean(exp(t))) over the first axis, computed stably."""
    return torch.logsumexp(t, dim=0) - math.log(t.shape[0])


def weight_stats(log_w: torch.Tensor) -> tuple[float, float]:
    """``(ess, stderr)`` of importance weights given by their logs."""
    log_w = log_w.double()
    ess = float(torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)))
    if log_w.shape[0] < 2:
        return ess, math.nan
    normalised = torch.exp(log_w - log_mean_exp(log_w))
    return ess, float(normalised.std() / math.sqrt(log_w.shape[0]))


def tempered(energy: Energy, base: BaseDistribution, beta: float) -> Energy:
    """The energy of f_beta: ``(1 - beta) * E_0 + beta * E`` (a term of weight 0 is left out)."""
    if beta <= 0.0:
        return base
    if beta >= 1.0:
        return energy
    return scale(base, 1.0 - beta) + scale(energy, beta)


def transition_for(sampler: Sampler | None, base: BaseDistribution) -> Sampler:
    """The sampler as a transition: MALA by default; confined to the base's support when it has one."""
    sampler = MALA(steps=1, step_size=0.01) if sampler is None else sampler
    if base.bounds is None:
        return sampler
    if not (attrs.has(type(sampler)) and "bounds" in attrs.fields_dict(type(sampler))):
        raise ValueError(f"the base is bounded to {list(base.bounds)} but the {type(sampler).__name__} transition "
                         "cannot reject moves outside it; use mala or hmc")
    return attrs.evolve(sampler, bounds=base.bounds)


def anneal(
    energy: Energy, base: BaseDistribution, x: torch.Tensor, betas: torch.Tensor, sampler: Sampler, *,
    reverse: bool = False, transitions: int = 1, generator: torch.Generator | None = None,
    adapt: bool = True, target_acceptance: float | None = None, step_sizes: Sequence[float] | None = None,
    progress: Callable[[int], Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[float], list[float]]:
    """Anneal chains ``x`` along ``betas`` (increasing), forward or in reverse (module docstring).

    Returns the final states, the log weights (float64, on x's device), the step sizes used per
    temperature in forward order, and the acceptance per temperature.
    """
    K = betas.shape[0] - 1
    has_step = attrs.has(type(sampler)) and "step_size" in attrs.fields_dict(type(sampler))
    target = target_acceptance if target_acceptance is not None else TARGET_ACCEPTANCE.get(type(sampler), 0.6)
    if step_sizes is not None and len(step_sizes) != K:
        raise ValueError(f"step_sizes: expected one per temperature ({K}), got {len(step_sizes)}")
    log_h = math.log(sampler.step_size) if has_step else 0.0
    used: dict[int, float] = {}
    accepted: list[float] = []
    log_w = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    # E and dE/dx at the chains, carried from temperature to temperature: the weight increment and the
    # transition's first evaluation both need them at the same x, and after a transition the tempered
    # energy at the new x (which the transition computed) gives them back once the base's analytic part
    # is taken off, so each temperature costs the transition's own evaluations and nothing more.
    x = energy.constrain(x.detach())
    e, g = energy_and_grad(energy, x)
    e = e.double()

    def base_parts(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e0, g0 = energy_and_grad(base, x)
        return e0.double(), g0

    e0, g0 = base_parts(x)  # the base's energy and gradient are carried too: one evaluation per new x

    def move(x: torch.Tensor, e: torch.Tensor, g: torch.Tensor, e0: torch.Tensor, g0: torch.Tensor, k: int):
        nonlocal log_h
        beta = float(betas[k])
        start = (((1 - beta) * e0 + beta * e).to(x.dtype), (1 - beta) * g0 + beta * g)
        step = sampler
        if has_step:
            h = step_sizes[k - 1] if step_sizes is not None else math.exp(log_h)
            step, used[k] = attrs.evolve(sampler, step_size=h), h
        out = step.run(tempered(energy, base, beta), x, steps=transitions, generator=generator, evaluate=False,
                       start=start)
        rate = out.stats.get("acceptance_rate")
        if rate is not None:
            accepted.append(rate)
            if has_step and adapt and step_sizes is None:
                log_h += ADAPT_GAIN * (rate - target)
        if progress is not None:
            progress(1)
        x = out.x
        e0, g0 = base_parts(x)
        if out.energy is None or out.grad is None:  # a transition that leaves the state unevaluated
            e, g = energy_and_grad(energy, x)
            return x, e.double(), g, e0, g0
        # E = (E_beta - (1 - beta) E_0) / beta, beta > 0 for every move
        return x, (out.energy.double() - (1 - beta) * e0) / beta, (out.grad - (1 - beta) * g0) / beta, e0, g0

    for k in (range(K, 0, -1) if reverse else range(1, K + 1)):
        d_beta = float(betas[k] - betas[k - 1])
        if reverse:  # log f_{k-1}(x) - log f_k(x) = (beta_k - beta_{k-1}) (E(x) - E_0(x)), after the move
            x, e, g, e0, g0 = move(x, e, g, e0, g0, k)
            log_w += d_beta * (e - e0)
        else:  # log f_k(x) - log f_{k-1}(x) = -(beta_k - beta_{k-1}) (E(x) - E_0(x)), before it
            log_w -= d_beta * (e - e0)
            x, e, g, e0, g0 = move(x, e, g, e0, g0, k)
    return x, log_w, [used[k] for k in sorted(used)], accepted


def _run(energy: Energy, base: BaseDistribution, x: torch.Tensor, reverse: bool, schedule: Schedule,
         temperatures: int, sampler: Sampler | None, **options: Any) -> AISResult:
    energy.check_samplable()
    started = time.perf_counter()
    was_training = energy.training
    energy.eval()
    try:
        x, log_w, steps, accepted = anneal(energy, base, x, make_betas(schedule, temperatures),
                                           transition_for(sampler, base), reverse=reverse, **options)
    finally:
        energy.train(was_training)
    log_w = log_w.cpu()
    log_z = -float(log_mean_exp(log_w)) if reverse else float(log_mean_exp(log_w))
    ess, stderr = weight_stats(log_w)
    return AISResult(log_z, log_w, ess, stderr, "reverse" if reverse else "forward", x.detach(), tuple(steps),
                     sum(accepted) / len(accepted) if accepted else math.nan, time.perf_counter() - started)


def ais(energy: Energy, base: BaseDistribution, shape: Sequence[int], *, chains: int = 256,
        schedule: Schedule = "geometric", temperatures: int = 1000, sampler: Sampler | None = None,
        transitions: int = 1, generator: torch.Generator | None = None, device: torch.device | str | None = None,
        adapt: bool = True, target_acceptance: float | None = None,
        progress: Callable[[int], Any] | None = None) -> AISResult:
    """Forward AIS: estimate log Z = log ∫ exp(-E(x)) dx (over the base's support) from below.

    Args:
        energy: the energy (bind any context first: ``energy.condition(y=3)``).
        base: the normalised start, e.g. `GaussianBase` or `UniformBase` over the data's range.
        shape: the shape of one sample.
        chains: independent AIS chains, run as one batch.
        schedule, temperatures: the betas (see `energyflow.likelihood.schedule.betas`).
        sampler: the transition (default MALA, one step, step size 0.01, adapted); it is confined
            to a bounded base's support.
        transitions: sampler steps per temperature.
        generator: the source of every random number (the base draws and the transitions).
        device: where the chains live (default: the energy's parameters' device, else CPU).
        adapt: adapt the step size to ``target_acceptance`` from past temperatures.
        progress: called with 1 after each temperature.
    """
    if device is None:
        device = next((t.device for t in (*energy.parameters(), *energy.buffers())), torch.device("cpu"))
    x = base.sample(chains, tuple(shape), generator, device)
    return _run(energy, base, x, False, schedule, temperatures, sampler, transitions=transitions,
                generator=generator, adapt=adapt, target_acceptance=target_acceptance, progress=progress)


def reverse_ais(energy: Energy, base: BaseDistribution, x: torch.Tensor, *, schedule: Schedule = "geometric",
                temperatures: int = 1000, sampler: Sampler | None = None, transitions: int = 1,
                generator: torch.Generator | None = None, adapt: bool = True, target_acceptance: float | None = None,
                step_sizes: Sequence[float] | None = None,
                progress: Callable[[int], Any] | None = None) -> AISResult:
    """Reverse AIS from ``x`` back to the base: log Z from above when ``x`` are exact model samples.

    Arguments as `ais`, with the chains starting at ``x`` (one chain per row) and ``step_sizes``
    (say, a forward result's ``step_sizes``) fixing the step size per temperature instead of
    adapting. With test data as ``x``, ``-E(x) + log_weights`` are RAISE's per-point estimates
    of log p(x) (see `raise_log_likelihood`).
    """
    return _run(energy, base, x.detach(), True, schedule, temperatures, sampler, transitions=transitions,
                generator=generator, adapt=adapt, target_acceptance=target_acceptance, step_sizes=step_sizes,
                progress=progress)


def raise_log_likelihood(energy: Energy, base: BaseDistribution, x: torch.Tensor,
                         **options: Any) -> tuple[torch.Tensor, AISResult]:
    """RAISE: per-point stochastic lower bounds on log p(x) (float64, CPU) and the reverse run.

    Each row of ``x`` starts its own reverse chain; ``options`` are `reverse_ais`'s.
    """
    result = reverse_ais(energy, base, x, **options)
    with torch.no_grad():
        was_training = energy.training
        energy.eval()
        try:
            log_f = -energy(x).double().cpu()
        finally:
            energy.train(was_training)
    return log_f + result.log_weights, result
