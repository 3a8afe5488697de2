"""The ``[train]`` table: optimisation, logging, checkpoint and divergence settings of a run.

The options the trainer itself takes (learning rate, Adam betas, weight decay, gradient clip,
EMA decay) are the keyword arguments of `Trainer`; `TrainSpec.trainer` passes exactly those,
read from the trainer's signature, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal

from attrs import field, frozen
from attrs import validators as v

from energyflow.training.contrastive_divergence import ContrastiveDivergence
from energyflow.training.trainer import Trainer

#: the trainer's keyword-only arguments a [train] table sets (label_key is the run's, not the recipe's)
TRAINER_OPTIONS: tuple[str, ...] = tuple(
    p.name for p in inspect.signature(Trainer).parameters.values()
    if p.kind is p.KEYWORD_ONLY and p.name != "label_key"
)


@frozen(kw_only=True)
class TrainSpec:
    """The ``[train]`` table: optimisation and logging settings."""

    iterations: int = field(default=1000, validator=[v.instance_of(int), v.ge(0)], metadata={"help": "training steps"})
    batch_size: int = field(default=128, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "data samples per step"})
    lr: float = field(default=1e-4, converter=float, validator=v.gt(0.0), metadata={"help": "Adam learning rate"})
    betas: tuple[float, float] = field(default=(0.0, 0.999), converter=tuple,
                                       validator=v.deep_iterable(v.and_(v.ge(0.0), v.lt(1.0)), v.instance_of(tuple)),
                                       metadata={"help": "Adam betas (IGEBM: [0.0, 0.999])"})
    weight_decay: float = field(default=0.0, converter=float, validator=v.ge(0.0), metadata={"help": "Adam weight decay"})
    grad_clip: float | None = field(default=None, validator=v.optional(v.gt(0.0)), metadata={"help": "max global gradient norm; none to disable"})
    ema_decay: float | None = field(default=None, validator=v.optional([v.ge(0.0), v.lt(1.0)]),
                                    metadata={"help": "EMA decay of weights used for sampling; none to disable"})
    log_every: int = field(default=10, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "steps between events.jsonl lines"})
    on_divergence: Literal["stop", "rollback"] = field(
        default="stop", validator=v.in_(("stop", "rollback")),
        metadata={"help": "on a non-finite step or a gap past max_gap: stop (keeping the last good checkpoint) or "
                          "roll back to it with a lower learning rate"})
    max_gap: float | None = field(default=None, validator=v.optional(v.gt(0.0)),
                                  metadata={"help": "|E(x-) - E(x+)| beyond this counts as divergence (objectives "
                                                    "that sample); none: only non-finite numbers do"})
    max_rollbacks: int = field(default=3, validator=[v.instance_of(int), v.ge(1)],
                               metadata={"help": "rollbacks allowed before the run stops (on_divergence = rollback)"})
    rollback_lr_factor: float = field(default=0.5, converter=float, validator=[v.gt(0.0), v.lt(1.0)],
                                      metadata={"help": "learning rate multiplier applied at each rollback"})
    checkpoint_every: int = field(default=500, validator=[v.instance_of(int), v.ge(1)], metadata={"help": "steps between checkpoints"})

    def trainer(self, energy: Any, sampler: Any = None, buffer: Any = None, regularizers: Sequence[Any] = (), *,
                objective: Any = None) -> Trainer:
        """A `Trainer` with this table's trainer options (`TRAINER_OPTIONS`): by ``objective``, or without one
        a `ContrastiveDivergence` over ``sampler`` and ``buffer``."""
        options = {name: getattr(self, name) for name in TRAINER_OPTIONS}
        if objective is None:
            return ContrastiveDivergence(energy, sampler, buffer, regularizers, **options)
        return Trainer(energy, objective, regularizers, **options)
