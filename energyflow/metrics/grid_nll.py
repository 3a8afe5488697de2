"""Negative log-likelihood of a low-dimensional energy, normalised numerically on a grid."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from einops import rearrange

from energyflow.core.energy import Energy

#: The most grid cells evaluated (about 67 million): resolution ** dim must not exceed it.
MAX_GRID_CELLS = 2**26


def _device_of(energy: Energy, default: torch.device) -> torch.device:
    for tensor in (*energy.parameters(), *energy.buffers()):
        return tensor.device
    return default


def _grid_batches(
    dim: int, lo: float, hi: float, resolution: int, batch_size: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """Cell centres of a ``resolution ** dim`` grid over ``[lo, hi]^dim``, in batches."""
    width = (hi - lo) / resolution
    total = resolution**dim
    for start in range(0, total, batch_size):
        flat = torch.arange(start, min(start + batch_size, total), device=device)
        digits = []
        for _ in range(dim):  # unravel the flat index, last axis fastest
            digits.append(flat % resolution)
            flat = flat // resolution
        index = torch.stack(digits[::-1], dim=1)
        yield lo + (index.to(torch.get_default_dtype()) + 0.5) * width


@torch.no_grad()
def grid_nll(
    energy: Energy,
    test_points: torch.Tensor,
    *,
    value_range: tuple[float, float] = (-4.0, 4.0),
    resolution: int = 256,
    log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 65536,
) -> dict[str, float]:
    """NLL of ``test_points`` under p(x) = exp(-E(x)) / Z, with Z summed on a grid.

    ``log Z = logsumexp(-E(cell centres)) + log(cell volume)`` over a ``resolution ** dim`` grid
    covering ``value_range`` in each dimension; mass outside the box is ignored, so this suits
    2-D toys (and other low-dimensional data). Evaluated without autograd, in batches, with the
    energy in eval mode (its mode is restored afterwards).

    Args:
        energy: an unconditional energy on ``(batch, dim)`` points.
        test_points: held-out points ``(N, dim)``.
        value_range: ``(lo, hi)`` of the box in every dimension.
        resolution: grid cells per dimension.
        log_prob: the exact normalised log-density, if known, for the reference NLL.
        batch_size: points per energy evaluation.

    Returns:
        ``nll`` (nats per point), ``log_z``; with ``log_prob`` also ``true_nll`` and
        ``gap = nll - true_nll`` (>= 0 up to grid and sampling error; 0 for a perfect model).
    """
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"grid_nll: value_range must be (lo, hi) with hi > lo, got {value_range}")
    test_points = rearrange(torch.as_tensor(test_points), "n ... -> n (...)")
    n, dim = test_points.shape
    if n == 0:
        raise ValueError("grid_nll: test_points is empty")
    if resolution < 1 or resolution**dim > MAX_GRID_CELLS:
        raise ValueError(
            f"grid_nll: resolution ** dim = {resolution}**{dim} cells is outside [1, {MAX_GRID_CELLS}]; "
            "grid normalisation only suits low-dimensional data"
        )
    device = _device_of(energy, test_points.device)
    was_training = energy.training
    energy.eval()
    try:
        chunks = [
            torch.logsumexp(-energy(cells).double(), dim=0)
            for cells in _grid_batches(dim, lo, hi, resolution, batch_size, device)
        ]
        log_z = torch.logsumexp(torch.stack(chunks), dim=0).item() + dim * math.log((hi - lo) / resolution)
        energies = [
            energy(batch.to(device, torch.get_default_dtype())).double().sum()
            for batch in test_points.split(batch_size)
        ]
    finally:
        energy.train(was_training)
    nll = torch.stack(energies).sum().item() / n + log_z
    result = {"nll": nll, "log_z": log_z}
    if log_prob is not None:
        true_nll = -log_prob(test_points).double().mean().item()
        result.update(true_nll=true_nll, gap=nll - true_nll)
    return result


@torch.no_grad()
def grid_sample(
    energy: Energy, n: int, *, dim: int = 2, value_range: tuple[float, float] = (-4.0, 4.0), resolution: int = 256,
    generator: torch.Generator | None = None, batch_size: int = 65536,
) -> torch.Tensor:
    """``n`` independent draws from exp(-E) restricted to the box, exact up to the grid (on the CPU).

    A cell of the ``resolution ** dim`` grid is drawn with probability proportional to exp(-E) at
    its centre, then a point uniformly inside it: exact for the piecewise-constant density the
    grid NLL normalises, so it serves as the exact model samples reverse AIS starts from.
    """
    lo, hi = (float(v) for v in value_range)
    if resolution < 1 or resolution**dim > MAX_GRID_CELLS:
        raise ValueError(f"grid_sample: resolution ** dim = {resolution}**{dim} cells is outside [1, {MAX_GRID_CELLS}]")
    device = _device_of(energy, torch.device("cpu"))
    was_training = energy.training
    energy.eval()
    try:
        log_p = torch.cat([-energy(cells).double().cpu()
                           for cells in _grid_batches(dim, lo, hi, resolution, batch_size, device)])
    finally:
        energy.train(was_training)
    flat = torch.multinomial(torch.softmax(log_p, 0), n, replacement=True, generator=generator)
    digits = []
    for _ in range(dim):
        digits.append(flat % resolution)
        flat = flat // resolution
    index = torch.stack(digits[::-1], dim=1).to(torch.get_default_dtype())
    jitter = torch.rand(index.shape, generator=generator)
    return lo + (index + jitter) * (hi - lo) / resolution
