"""Rolling a next-state model forward, and scoring rollouts against the true trajectories per horizon."""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange, repeat

from energyflow.metrics import frechet_distance
from energyflow_trajectories.data import FEATURES, TrajectoryData

#: next states (n, 4N) from contexts (n, D)
StepFn = Callable[[torch.Tensor], torch.Tensor]


def rollout(step: StepFn, data: TrajectoryData, past: torch.Tensor, springs: torch.Tensor, charges: torch.Tensor,
            horizon: int, advance: Callable[[int], None] = lambda n: None) -> torch.Tensor:
    """Predict ``horizon`` states ahead, each from the ``history`` states before it (predictions included).

    Args:
        step: the model, one next state per context.
        past: ``(n, history, N, 4)`` true states to start from.
        springs, charges: each row's interaction graph.

    Returns:
        ``(n, horizon, N, 4)`` predicted states.
    """
    window, out = past.clone(), []
    for _ in range(horizon):
        nxt = rearrange(step(data.layout.make(window, springs, charges)), "n (p f) -> n p f", f=FEATURES)
        out.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
        advance(1)
    return torch.stack(out, dim=1)


def starts(data: TrajectoryData, n: int, samples: int = 1) -> dict[str, torch.Tensor]:
    """The first ``n`` test trajectories' opening ``history`` states, each repeated ``samples`` times.

    Returns ``past`` ``(n * samples, k, N, 4)``, ``springs``, ``charges`` (rows sample-major within
    a start: start 0's samples come first).
    """
    k = data.history
    past = data.test_trajectories[:n, :k]
    parts = {"past": past, "springs": data.test_springs[:n], "charges": data.test_charges[:n]}
    return {name: repeat(t, "n ... -> (n s) ...", s=samples) for name, t in parts.items()}


def horizon_metrics(data: TrajectoryData, predicted: torch.Tensor, truth: torch.Tensor,
                    springs: torch.Tensor, charges: torch.Tensor) -> dict[str, list[float]]:
    """Per-horizon scores of ``predicted`` ``(n, S, H, N, 4)`` (S samples per start) against ``truth`` ``(n, H, N, 4)``.

    Returns lists of length H:
        ``mse``: mean squared error of positions, over starts, samples, particles and both axes.
        ``fd``: Frechet distance between Gaussians fitted to the predicted and the true states
            (flattened ``4N`` vectors over starts); with several samples, the mean over samples of
            the distance of one sample per start, so every set has as many states as the truth.
        ``energy_drift``: mean |H(state) - H(start)| of the physical energy (kinetic + springs +
            charges), ``H(start)`` that of the last true past state.
    """
    n, samples, horizon = predicted.shape[:3]
    error = (predicted[..., :2] - truth[:, None, ..., :2]).pow(2)
    mse = error.mean((0, 1, 3, 4))
    flat_pred = rearrange(predicted, "n s h p f -> h s n (p f)").double()
    flat_true = rearrange(truth, "n h p f -> h n (p f)").double()
    fd = [sum(frechet_distance(flat_pred[h, s], flat_true[h]) for s in range(samples)) / samples
          for h in range(horizon)]
    graph = springs[:, None, None].double(), charges[:, None, None].double()
    energy = data.system.total_energy(predicted.double(), *graph)
    start = data.system.total_energy(data.test_trajectories[:n, data.history - 1].double(), springs.double(),
                                     charges.double())
    drift = (energy - start[:, None, None]).abs().mean((0, 1))
    return {"mse": mse.tolist(), "fd": fd, "energy_drift": drift.tolist()}


def independent_fd(data: TrajectoryData, truth: torch.Tensor) -> list[float]:
    """Per horizon, the Frechet distance between the true test states ``truth`` ``(n, H, N, 4)`` and the
    states of ``n`` *other* true trajectories (training ones) at the same step: how far apart two samples
    of the true state distribution already are. Empty if the training trajectories are too few or short."""
    n, horizon = truth.shape[:2]
    k, others = data.history, data.train_trajectories
    if others.shape[0] < n or others.shape[1] < k + horizon:
        return []
    flat_other = rearrange(others[:n, k : k + horizon], "n h p f -> h n (p f)").double()
    flat_true = rearrange(truth, "n h p f -> h n (p f)").double()
    return [frechet_distance(flat_other[h], flat_true[h]) for h in range(horizon)]
