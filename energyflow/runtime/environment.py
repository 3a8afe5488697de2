"""Where a run computes and where its randomness starts: the device and the seeded generators."""

from __future__ import annotations

import random

import numpy as np
import torch

from energyflow.errors import RunError
from energyflow.runtime.distributed import World


def choose_device(name: str, world: World | None = None) -> torch.device:
    """``auto`` picks CUDA when available (under torchrun, the process's local GPU), else CPU; an unavailable
    device is a `RunError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", world.local_rank if world is not None and world.size > 1 else 0)
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"run.device = {name!r}, but CUDA is not available here; use \"auto\" or \"cpu\"")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RunError("run.device = 'mps', but MPS is not available here; use \"auto\" or \"cpu\"")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (for layer initialisation) and return the run's generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
