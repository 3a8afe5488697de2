"""What a registered component is, and the context a recipe's components are built in.

A component registered for recipes is an attrs class whose fields are the recipe table's keys.
Instantiating it validates the options. If the instance has ``build(ctx)``, the run calls it
with a `BuildContext` and uses the result (an energy network needs the data's shape); otherwise
the instance itself is the component (a sampler, a regularizer).
"""

from __future__ import annotations

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
    """

    device: torch.device = field(factory=lambda: torch.device("cpu"))
    generator: torch.Generator = field(factory=lambda: torch.Generator().manual_seed(0))
    data: TensorData | None = None
    seed: int = 0
    out_dir: Any = None


def build(component: Any, ctx: BuildContext) -> Any:
    """The live object for a validated component spec."""
    builder = getattr(component, "build", None)
    return builder(ctx) if callable(builder) else component
