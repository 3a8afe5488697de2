"""The context a recipe's components are built in, and the one way a spec becomes a component.

Every registered factory is a spec: an attrs class, a dataclass, or a plain class with a typed
``__init__``, whose options are the recipe table's keys. Its ``build(ctx)`` returns the
component; samplers and regularizers that are their own spec return themselves (resolving
options such as ``clamp = "data"`` from ``ctx``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from attrs import define, field

from energyflow.data.dataset import TensorData


@define(kw_only=True)
class BuildContext:
    """Everything a component's ``build`` may need from the run.

    Attributes:
        device: where tensors and modules live.
        generator: the run's seeded CPU generator (draw with it; never use global RNG).
        data: the built dataset; ``None`` while the dataset itself is being built.
        seed: the recipe's seed.
        out_dir: the run folder, or ``None`` outside a run.
        compile: the run's ``compile`` option (``True``, ``False`` or ``"auto"``), for samplers.
        iterations: training iterations the run plans (samplers size the "auto" compile decision by it).
        log: the run's log (one message per call); ``None`` outside a run.
        sampler, buffer: the run's built sampler and replay buffer, for the objective (built after
            them); ``None`` before that, or without such a table.
    """

    device: torch.device = field(factory=lambda: torch.device("cpu"))
    generator: torch.Generator = field(factory=lambda: torch.Generator().manual_seed(0))
    data: TensorData | None = None
    seed: int = 0
    out_dir: Any = None
    compile: bool | str = "auto"
    iterations: int | None = None
    log: Callable[[str], Any] | None = None
    sampler: Any = None
    buffer: Any = None


def build(spec: Any, ctx: BuildContext) -> Any:
    """The live component for a validated spec: ``spec.build(ctx)``."""
    return spec.build(ctx)
