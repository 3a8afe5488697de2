"""A training step across torchrun's processes: the same starting weights, averaged gradients and numbers.

The all-reduce of one flat gradient buffer is what DistributedDataParallel does; the DDP wrapper
itself is not used because a step evaluates the energy several times (data, samples,
regularizers) before its one backward. The processes themselves are `energyflow.runtime`'s.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist


def in_world() -> int:
    """The number of training processes (1 without an initialised process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def broadcast_parameters(params: Iterable[torch.Tensor]) -> None:
    """Give every rank rank 0's parameter values."""
    for p in params:
        dist.broadcast(p.data, src=0)


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over all ranks with one all-reduce of a flat buffer (missing grads count as zero)."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()


def average_stats(stats: dict[str, float]) -> dict[str, float]:
    """A step's numbers averaged over all ranks (a NaN on any rank is a NaN on every rank).

    Every rank then judges divergence, and rolls back, on the same numbers; a rank rolling back
    alone would fall out of step with the others' all-reduces.
    """
    values = torch.tensor(list(stats.values()), dtype=torch.float64)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return dict(zip(stats, values.tolist(), strict=True))
