"""Multi-process training on PyTorch's own engine: ``torchrun --nproc-per-node N -m energyflow run RECIPE``.

torchrun starts the processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous;
a run joins the process group (gloo on CPU, NCCL on GPU), trains on its own shard of the data with
its own seed and replay buffer, and averages parameter gradients over all processes every step
(an all-reduce of one flat buffer, as DistributedDataParallel does; the DDP wrapper itself is not
used because a step evaluates the energy several times, for data, samples and regularizers, before
its one backward). Rank 0 alone writes the run folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist
from attrs import frozen

T = TypeVar("T")


@frozen
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    joined_here: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes outputs and checkpoints."""
        return self.rank == 0


def join_world() -> World:
    """The world torchrun describes in the environment (a single process when it describes none)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or not dist.is_available():
        return World()
    joined_here = not dist.is_initialized()
    if joined_here:
        # Imported after the group exists (the first optimizer imports it), dynamo keeps references to the
        # group that outlive destroy_process_group; its gloo threads then die with the interpreter, which
        # aborts a rank that exits soon after its last all-reduce ("terminate called without an active exception").
        import torch._dynamo  # noqa: F401

        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), joined_here)


def leave_world(world: World) -> None:
    """Tear down the process group if this run set it up."""
    if world.joined_here and dist.is_initialized():
        dist.destroy_process_group()


def decided_on_main(world: World, decide: Callable[[], T]) -> T:
    """``decide()`` run on rank 0 alone, its result (or its exception) given to every rank.

    For choices about the run folder, which rank 0 alone writes: another rank looking for itself
    could see files rank 0 has just written and choose differently.
    """
    if world.size <= 1:
        return decide()
    outcome: list[object] = [None]
    if world.is_main:
        try:
            outcome[0] = (True, decide())
        except Exception as e:  # every rank raises it, rank 0 after the others have it
            outcome[0] = (False, e)
    dist.broadcast_object_list(outcome, src=0)
    ok, value = outcome[0]  # type: ignore[misc]
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[return-value]


def rank_generator(seed: int, rank: int, step: int = 0) -> torch.Generator:
    """A generator for one rank (and, after a resume, one step): distinct, reproducible streams."""
    return torch.Generator().manual_seed(seed * 1_000_003 + rank * 7_919 + step)


def shard(n: int, world: World) -> torch.Tensor:
    """The indices of the ``n`` training samples this rank draws its batches from."""
    return torch.arange(world.rank, n, world.size)
